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


def test_isoflop_minima_recover_the_laws_allocation_exponent():
    budgets = [1e18, 1e19, 1e20, 1e21]
    sweep = synthetic_sweep(LAW, budgets, noise=0.0)
    minima = co.isoflop_minima(sweep)
    slope = fit.allocation_exponent(minima["budget"], minima["n_opt"]).a
    # parabolas in log N are an approximation of the law's slice: close, not exact
    assert slope == pytest.approx(LAW.a, abs=0.02)


def test_isoflop_bootstrap_interval_covers_the_truth_and_widens_with_noise():
    budgets = [1e18, 1e19, 1e20]
    quiet = synthetic_sweep(LAW, budgets, noise=0.002)
    noisy = synthetic_sweep(LAW, budgets, noise=0.02)
    narrow = co.isoflop_bootstrap(quiet, co.seed_noise_sd(quiet), n_boot=200)
    wide = co.isoflop_bootstrap(noisy, co.seed_noise_sd(noisy), n_boot=200)
    lo, hi = narrow.interval("a")
    assert lo < LAW.a + 0.02 and hi > LAW.a - 0.02

    def width(boot):
        return np.subtract(*boot.interval("a")[::-1])

    assert width(wide) > width(narrow)
    assert co.seed_noise_sd(noisy) == pytest.approx(0.02, rel=0.5)


def test_seed_noise_needs_repeated_seeds():
    single = synthetic_sweep(LAW, [1e18], noise=0.01, seeds=(0,))
    with pytest.raises(ValueError, match="more than one seed"):
        co.seed_noise_sd(single)


def test_loss_at_compute_interpolates_in_log_space_and_refuses_extrapolation():
    curve = pd.DataFrame({"flops_exact": [1e10, 1e12], "val_loss": [4.0, 1.0]})
    assert co.loss_at_compute(curve, 1e11) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="outside the curve"):
        co.loss_at_compute(curve, 1e13)


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
