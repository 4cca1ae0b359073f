"""Compute-optimal analysis: published fits applied, isoFLOP minima and their bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling_debate.analysis import compute_optimal as co
from scaling_debate.analysis import laws as fit
from scaling_debate.training import ladder as sweeps

LAW = fit.ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, loss=0.0, n=0)


def test_published_fits_load_and_unknown_fit_is_refused():
    hoffmann = co.published_chinchilla_fit("hoffmann_unrounded")
    assert hoffmann.E == pytest.approx(math.exp(0.5267228), rel=1e-6)
    with pytest.raises(ValueError, match="available:"):
        co.published_chinchilla_fit("gopher")


def test_penalty_is_zero_at_the_optimum_and_grows_as_the_model_shrinks():
    table = co.isoflop_penalty(LAW, 5.76e23, [1, 2, 5, 10])
    assert table["penalty_nats"].iloc[0] == pytest.approx(0, abs=1e-12)
    assert table["extra_compute"].iloc[0] == pytest.approx(1, rel=1e-6)
    assert table["penalty_nats"].is_monotonic_increasing
    assert table["extra_compute"].is_monotonic_increasing


def test_tokens_to_match_inverts_the_law():
    tokens = co.tokens_to_match(LAW, 1e10, float(LAW.predict(1e10, 3e12)))
    assert tokens == pytest.approx(3e12, rel=1e-6)
    assert co.tokens_to_match(LAW, 1e6, LAW.E + 1e-3) == math.inf  # size alone cannot get there


def synthetic_sweep(law: fit.ChinchillaFit, budgets, noise: float, seeds=(0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for budget in budgets:
        n_opt, _ = law.optimal_allocation(budget)
        for factor in (0.25, 0.5, 1, 2, 4):
            n = n_opt * factor
            for seed in seeds:
                loss = float(law.predict(n, budget / (6 * n))) + rng.normal(0, noise)
                rows.append(
                    {
                        "budget": budget,
                        "n_params_non_embedding": n,
                        "val_loss": loss,
                        "seed": seed,
                        "d_model": factor,
                        "tokens": budget / (6 * n),
                        "data": "synthetic",
                    }
                )
    return pd.DataFrame(rows)


def test_isoflop_specs_spend_their_budget_and_carry_it_as_a_label():
    specs = sweeps.isoflop_specs("stdlib", {1e12: [32, 64], 3e12: [32]})
    assert [s.d_model for s in specs] == [32, 64, 32]
    assert specs[0].tokens > specs[1].tokens  # the smaller model reads more tokens
    assert [dict(s.labels)["budget"] for s in specs] == [1e12, 1e12, 3e12]
    assert {dict(s.labels)["sweep"] for s in specs} == {"isoflop"}
    for spec in specs:
        spent = sweeps.flops.training_flops_exact(
            256, 64, spec.d_model, spec.n_layers, spec.n_heads, spec.tokens
        )
        assert spent == pytest.approx(dict(spec.labels)["budget"], rel=1e-3)
    with pytest.raises(ValueError, match="positive finite number"):
        sweeps.tokens_for_budget(-1.0, 32, "stdlib")
    with pytest.raises(ValueError, match="at least one budget"):
        sweeps.isoflop_specs("stdlib", {})


def test_budgets_follow_the_datasets_vocabulary():
    # a 13-symbol arithmetic vocabulary makes the output layer cheaper than 256 bytes do
    assert sweeps.tokens_for_budget(1e12, 32, "addition-3") > sweeps.tokens_for_budget(
        1e12, 32, "stdlib", context=11
    )


def test_a_floor_at_zero_is_flagged_and_does_not_crash_the_bootstrap():
    # losses that are pure power laws with no irreducible term drive E to its boundary at 0,
    # as the ci runs did on one machine; the fit must say so rather than take log(0)
    no_floor = fit.ChinchillaFit(E=0.0, A=30.0, B=60.0, alpha=0.3, beta=0.3, loss=0.0, n=0)
    rng = np.random.default_rng(1)
    n = np.repeat(np.geomspace(1e4, 1e6, 6), 4)
    d = np.tile(np.geomspace(1e6, 1e8, 4), 6)
    loss = no_floor.predict(n, d) * np.exp(rng.normal(0, 0.0005, n.size))
    frame = pd.DataFrame({"n_params": n, "tokens": d, "loss": loss})
    law = fit.fit_chinchilla(n, d, loss, init_grid=fit.COARSE_GRID)
    assert law.at_boundary == ("E",)
    assert "irreducible loss E is estimated at zero" in law.boundary_note
    assert all(np.isfinite(v) for v in co.local_grid(law)["e"])
    underflowed = fit.ChinchillaFit(E=0.0, A=30.0, B=60.0, alpha=0.3, beta=0.3, loss=0.0, n=0)
    assert np.isfinite(co.local_grid(underflowed)["e"][0])
    boot = co.chinchilla_bootstrap(frame, n_boot=5, start=underflowed)
    assert boot.point["a"] == pytest.approx(0.5, abs=0.05)


def test_an_interior_floor_is_not_flagged():
    rng = np.random.default_rng(2)
    n = np.repeat(np.geomspace(1e4, 1e6, 6), 4)
    d = np.tile(np.geomspace(1e6, 1e8, 4), 6)
    loss = LAW.predict(n, d) * np.exp(rng.normal(0, 0.002, n.size))
    assert fit.fit_chinchilla(n, d, loss, init_grid=fit.COARSE_GRID).at_boundary == ()


# ---------------------------------------------------------------- scoring the argument's claims


def test_compute_to_match_recovers_the_tokens_and_compute_that_made_the_target():
    target = float(LAW.predict(1e10, 2.5e13))
    tokens, compute = co.compute_to_match(LAW, 1e10, target)
    assert tokens == pytest.approx(2.5e13, rel=1e-9)
    assert compute == pytest.approx(6 * 1e10 * 2.5e13, rel=1e-9)


def test_compute_to_match_is_infinite_when_the_size_alone_cannot_get_there():
    floor = co.loss_floor(LAW, 1e10)
    assert floor == pytest.approx(LAW.E + LAW.A * 1e10**-LAW.alpha)
    assert co.compute_to_match(LAW, 1e10, floor) == (math.inf, math.inf)
    assert co.compute_to_match(LAW, 1e10, floor - 0.01) == (math.inf, math.inf)
    assert math.isfinite(co.compute_to_match(LAW, 1e10, floor + 0.01)[0])


def test_smallest_size_that_can_match_sits_exactly_at_the_target_floor():
    target = 1.9
    n_min = co.params_to_match_at_infinite_data(LAW, target)
    assert co.loss_floor(LAW, n_min) == pytest.approx(target, rel=1e-12)
    assert co.params_to_match_at_infinite_data(LAW, LAW.E) == math.inf


def test_tokens_per_parameter_follows_the_closed_form_allocation():
    budgets = np.array([1e21, 1e23, 1e25])
    ratio = co.tokens_per_parameter(LAW, budgets)
    n_opt, d_opt = LAW.optimal_allocation(budgets)
    np.testing.assert_allclose(ratio, d_opt / n_opt)
    # a < 0.5 for this law (beta < alpha), so tokens per parameter grow with compute
    assert np.all(np.diff(ratio) > 0)
    equal = fit.ChinchillaFit(E=1.0, A=400.0, B=400.0, alpha=0.3, beta=0.3, loss=0.0, n=0)
    flat = co.tokens_per_parameter(equal, budgets)
    np.testing.assert_allclose(flat, flat[0], rtol=1e-9)  # a = 0.5: a constant ratio, here 1
    assert flat[0] == pytest.approx(1.0, rel=1e-9)


def test_preferred_size_is_the_closed_form_optimum_when_it_is_on_offer():
    budget = 1e23
    n_opt, _ = LAW.optimal_allocation(budget)
    sizes = [n_opt / 8, n_opt / 2, n_opt, n_opt * 3]
    assert co.preferred_size(LAW, sizes, budget) == pytest.approx(n_opt)
    assert co.preferred_size(LAW, [n_opt / 8, n_opt * 1.5], budget) == pytest.approx(n_opt * 1.5)


def test_extrapolation_factors_are_ratios_to_the_largest_fitted_values():
    points = pd.DataFrame({"model_params": [1e8, 1e9], "train_tokens": [4e9, 2e10]})
    factors = co.extrapolation_factors(points, 2e9, 4e11)
    assert factors["N"] == pytest.approx(2.0)
    assert factors["D"] == pytest.approx(20.0)
    assert factors["D/N"] == pytest.approx(200 / 40)
    assert factors["C"] == pytest.approx(8e20 / 2e19)


def test_log_residuals_vanish_on_the_law_itself_and_see_a_shift():
    n = np.geomspace(1e8, 1e10, 6)
    d = np.geomspace(1e9, 1e11, 6)
    points = pd.DataFrame({"model_params": n, "train_tokens": d, "loss_nats": LAW.predict(n, d)})
    np.testing.assert_allclose(co.log_residuals(LAW, points), 0, atol=1e-12)
    shifted = points.assign(loss_nats=points["loss_nats"] * math.exp(0.01))
    np.testing.assert_allclose(co.log_residuals(LAW, shifted), 0.01, atol=1e-12)


def test_parameter_distance_is_small_inside_the_cloud_and_large_outside():
    rng = np.random.default_rng(1)
    cloud = pd.DataFrame(
        {
            "A": np.exp(rng.normal(math.log(400), 0.1, 4000)),
            "B": np.exp(rng.normal(math.log(400), 0.2, 4000)),
            "E": np.exp(rng.normal(math.log(1.7), 0.01, 4000)),
            "alpha": rng.normal(0.34, 0.01, 4000),
            "beta": rng.normal(0.28, 0.01, 4000),
        }
    )
    centre = fit.ChinchillaFit(E=1.7, A=400, B=400, alpha=0.34, beta=0.28, loss=0.0, n=0)
    d2, dof = co.parameter_distance(centre, cloud)
    assert dof == 5 and d2 < 0.1
    # three standard deviations along alpha alone: a squared distance of about 9
    off = fit.ChinchillaFit(E=1.7, A=400, B=400, alpha=0.37, beta=0.28, loss=0.0, n=0)
    assert co.parameter_distance(off, cloud)[0] == pytest.approx(9, rel=0.1)
    with pytest.raises(ValueError, match="replicates cannot"):
        co.parameter_distance(centre, cloud.head(5))


@pytest.mark.parametrize(
    ("lo", "hi", "verdict"),
    [
        (-0.05, 0.01, "within"),
        (0.02, 0.02, "within"),
        (0.03, 0.08, "beyond"),
        (0.01, 0.04, "undecided"),
    ],
)
def test_equivalence_reads_the_whole_interval_against_the_margin(lo, hi, verdict):
    assert co.equivalence(lo, hi, 0.02) == verdict


def test_equivalence_refuses_a_reversed_interval_and_a_non_positive_margin():
    with pytest.raises(ValueError, match="out of order"):
        co.equivalence(0.03, 0.01, 0.02)
    with pytest.raises(ValueError):
        co.equivalence(0.0, 0.01, 0.0)
