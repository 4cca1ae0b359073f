"""Approach 2 on isoFLOP slices: minima, the exponent and its bootstrap, Approach 3 under a cost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling_debate.analysis import isoflop

TRUE_A = 0.6


def synthetic_slices(noise: float = 0.003, seeds: int = 2, rng_seed: int = 0) -> pd.DataFrame:
    """Three budgets, seven sizes each centred near the optimum, losses a parabola in log N
    around N_opt = 50 * C**0.6, plus Gaussian noise per seed."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for budget in (1e10, 3e10, 1e11):
        n_opt = 50 * budget**TRUE_A
        for n in n_opt * np.geomspace(1 / 4, 4, 7):
            for seed in range(seeds):
                loss = 2.0 - 0.1 * math.log10(budget) + 0.08 * math.log(n / n_opt) ** 2
                rows.append(
                    {
                        "budget": budget,
                        "n_params_non_embedding": n,
                        "n_params": 1.5 * n,
                        "seed": seed,
                        "val_loss": loss + rng.normal(0, noise),
                        "cost_6nd": budget * 0.9,
                    }
                )
    return pd.DataFrame(rows)


def test_slice_minimum_finds_the_vertex_of_a_parabola_in_log_n():
    n = np.geomspace(100, 10_000, 7)
    found = isoflop.slice_minimum(n, (np.log(n) - np.log(1_000)) ** 2 + 1.5)
    assert found.n_opt == pytest.approx(1_000, rel=1e-9)
    assert found.loss_at_opt == pytest.approx(1.5)
    assert found.interior


def test_a_slice_without_a_minimum_is_flagged_not_extrapolated():
    n = np.geomspace(100, 10_000, 5)
    falling = isoflop.slice_minimum(n, 3 - 0.1 * np.log(n))
    assert not falling.interior
    assert falling.n_opt == pytest.approx(n.max())  # the best sampled size, not a far vertex
    concave = isoflop.slice_minimum(n, -((np.log(n) - 7) ** 2))
    assert not concave.interior and concave.curvature < 0


def test_exponent_bootstrap_recovers_a_known_exponent_and_covers_it():
    runs = synthetic_slices()
    boot = isoflop.exponent_bootstrap(runs, n_boot=300, seed=1)
    assert boot.point == pytest.approx(TRUE_A, abs=0.05)
    lo, hi = boot.interval()
    assert lo <= TRUE_A <= hi
    assert hi - lo < 0.3
    assert boot.n_failed < 30


def test_noisier_slices_give_wider_intervals():
    quiet = isoflop.exponent_bootstrap(synthetic_slices(noise=0.002), n_boot=200, seed=2)
    noisy = isoflop.exponent_bootstrap(synthetic_slices(noise=0.02), n_boot=200, seed=2)
    assert np.diff(noisy.interval())[0] > np.diff(quiet.interval())[0]


def test_a_design_without_minima_reports_nan_not_a_number():
    runs = synthetic_slices()
    runs["val_loss"] = 3 - 0.01 * np.log(runs["n_params_non_embedding"])  # bigger always better
    boot = isoflop.exponent_bootstrap(runs, n_boot=20)
    assert boot.n_failed == 20
    assert all(math.isnan(v) for v in boot.interval())


def test_sensitivity_table_covers_both_parameter_counts_and_each_cost():
    runs = synthetic_slices()
    table = isoflop.sensitivity_table(runs, {"design": None, "6ND": "cost_6nd"})
    assert set(table["parameters"]) == {"non-embedding", "total"}
    assert len(table) == 4
    # a cost proportional to the design budget leaves the slope unchanged
    assert table["a (parabola)"].to_numpy() == pytest.approx(table["a (parabola)"].iloc[0])
    assert table["a (parabola)"].iloc[0] == pytest.approx(TRUE_A, abs=0.05)
    assert (table["a, one size left out: lowest"] <= table["a (parabola)"] + 1e-12).all()


def test_approach3_under_a_6n_cost_gives_beta_over_alpha_plus_beta():
    alpha, beta = 0.34, 0.28
    ladder_n = np.geomspace(1e3, 1e9, 50)
    n_opt, a = isoflop.approach3_exponent(
        1.7, 400.0, 410.0, alpha, beta, [1e18, 1e19, 1e20], ladder_n, 6 * ladder_n
    )
    assert a == pytest.approx(beta / (alpha + beta), abs=0.01)
    assert np.all(np.diff(n_opt) > 0)


def test_cut_short_pairs_match_width_budget_and_seed():
    final = pd.DataFrame(
        {
            "sweep": ["isoflop", "cut_short", "isoflop", "cut_short"],
            "budget": [1e10, 1e10, 1e10, 1e10],
            "d_model": [16, 16, 32, 32],
            "seed": [0, 0, 0, 0],
            "val_loss": [2.0, 2.1, 1.9, 1.85],
            "step": [400, 400, 200, 200],
            "n_params_non_embedding": [100, 100, 400, 400],
        }
    )
    pairs = isoflop.cut_short_pairs(final)
    assert list(pairs["steps"]) == [200, 400]
    assert pairs["excess"].to_numpy() == pytest.approx([-0.05, 0.1])
