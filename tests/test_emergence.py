"""Tests for scaling_debate.analysis.emergence: metrics, summaries, the definition."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from scaling_debate.analysis.emergence import (
    binomial_bootstrap_emergence_test,
    gpt3_arithmetic,
    largest_step,
    meets_definition,
    per_digit_accuracy,
    points_needed,
    seed_bootstrap_emergence_test,
    seed_summary,
)
from scaling_debate.data.arithmetic import AdditionTask
from scaling_debate.training.ladder import addition_ladder

SIZES = np.geomspace(1e3, 1e6, 7)  # a factor 10**0.5 between neighbours


def logistic_in_log(x: np.ndarray, midpoint: float, width: float) -> np.ndarray:
    return special.expit((np.log(x) - math.log(midpoint)) / width)


# ----------------------------------------------------------------------------- metrics


def test_per_digit_accuracy_inverts_the_power_of_independent_digits() -> None:
    assert per_digit_accuracy(0.81, 2) == pytest.approx(0.9)
    np.testing.assert_allclose(per_digit_accuracy([0.0, 0.125, 1.0], [3, 3, 5]), [0, 0.5, 1])


@pytest.mark.parametrize("accuracy", [1.5, -0.1, math.nan])
def test_per_digit_accuracy_rejects_values_outside_zero_one(accuracy: float) -> None:
    with pytest.raises(ValueError, match=r"exact_match must be a fraction in \[0, 1\]"):
        per_digit_accuracy([0.5, accuracy], 2)


@pytest.mark.parametrize("digits", [0, 1.5])
def test_per_digit_accuracy_rejects_bad_digit_counts(digits: float) -> None:
    with pytest.raises(ValueError, match="answer_digits must be whole numbers >= 1"):
        per_digit_accuracy(0.5, digits)


def test_gpt3_arithmetic_joins_compute_and_derives_per_digit_accuracy() -> None:
    table = gpt3_arithmetic().set_index(["task", "model"])
    assert len(table) == 80  # 10 tasks x 8 models
    assert table.loc[("2D+", "GPT-3 175B"), "accuracy"] == pytest.approx(1.0)
    assert table.loc[("2D+", "GPT-3 13B"), "accuracy"] == pytest.approx(0.555)
    assert table.loc[("3D+", "GPT-3 175B"), "compute_flops"] == pytest.approx(3.14e23)
    assert table.loc[("3D+", "GPT-3 175B"), "per_digit_accuracy"] == pytest.approx(0.804 ** (1 / 3))
    assert math.isnan(table.loc[("2Dx", "GPT-3 175B"), "per_digit_accuracy"])


def test_seed_summary_gives_mean_and_range_over_seeds() -> None:
    frame = pd.DataFrame(
        {
            "n_params_non_embedding": [10, 10, 10, 20, 20, 20],
            "seed": [0, 1, 2, 0, 1, 2],
            "score": [0.1, 0.2, 0.6, 0.5, 0.7, 0.9],
        }
    )
    summary = seed_summary(frame, ["score"]).set_index("size")
    assert summary.loc[10, "mean"] == pytest.approx(0.3)
    assert (summary.loc[10, "lo"], summary.loc[10, "hi"]) == (0.1, 0.6)
    assert summary.loc[20, "n_seeds"] == 3
    with pytest.raises(ValueError, match=r"missing column\(s\) \['loss'\]"):
        seed_summary(frame, ["loss"])


# ----------------------------------------------------------------------------- simulation


def test_points_needed_wants_the_rate_to_stay_above_the_threshold() -> None:
    recovery = pd.DataFrame(
        {
            "true_form": ["linear"] * 5 + ["logistic"] * 5,
            "noise_sd": 0.05,
            "n_points": list(range(4, 9)) * 2,
            # linear reaches 0.8 at 5, dips at 6 and stays from 7; logistic never gets there
            "rate": [0.5, 0.85, 0.7, 0.9, 0.95, 0.0, 0.1, 0.3, 0.5, 0.6],
        }
    )
    needed = points_needed(recovery, threshold=0.8).set_index("true_form")
    assert needed.loc["linear", "n_points_needed"] == 7
    assert math.isnan(needed.loc["logistic", "n_points_needed"])
    assert needed.loc["logistic", "max_rate"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="threshold must lie in"):
        points_needed(recovery, threshold=0.0)


# ----------------------------------------------------------------------------- the definition


def test_meets_definition_needs_a_rise_a_narrow_width_and_an_inner_midpoint() -> None:
    spacing = math.log(10) / 2
    inside = (math.log(1e4), math.log(1e5))
    verdict = meets_definition(SIZES, (0.5, 0.9), (0.1, 0.5 * spacing), inside)
    assert verdict["spacing_ln_x"] == pytest.approx(spacing)
    assert verdict["emergent"]
    assert not meets_definition(SIZES, (0.0, 0.9), (0.1, 0.5), inside)["rises"]
    assert not meets_definition(SIZES, (0.5, 0.9), (0.1, 2 * spacing), inside)["emergent"]
    beyond = (math.log(1e5), math.log(1e7))
    assert not meets_definition(SIZES, (0.5, 0.9), (0.1, 0.5), beyond)["midpoint_within_data"]
    assert not meets_definition(SIZES, (0.5, 0.9), (0.1, math.nan), inside)["emergent"]


def test_a_straight_line_sampled_on_a_log_grid_is_not_emergent() -> None:
    # y = x looks like a jump on a semilog plot, but its "midpoint" lies beyond the data
    row = binomial_bootstrap_emergence_test(SIZES, SIZES / SIZES.max(), 2000, n_boot=30)
    assert row["rises"]
    assert not row["midpoint_within_data"]
    assert not row["emergent"]


def test_a_step_between_two_sampled_sizes_is_emergent() -> None:
    accuracy = logistic_in_log(SIZES, midpoint=5e4, width=0.1)
    row = binomial_bootstrap_emergence_test(SIZES, accuracy, 2000, n_boot=30)
    assert row["emergent"], row
    assert row["midpoint_x_lo"] < 5e4 < row["midpoint_x_hi"] * 1.5


def test_binomial_bootstrap_applies_the_transform_to_data_and_replicates() -> None:
    accuracy = logistic_in_log(SIZES, midpoint=5e4, width=1.5)
    plain = binomial_bootstrap_emergence_test(SIZES, accuracy, 500, n_boot=20)
    per_digit = binomial_bootstrap_emergence_test(
        SIZES, accuracy, 500, n_boot=20, transform=lambda a: per_digit_accuracy(a, 4)
    )
    # the fourth root lifts the low end and shrinks the rise
    assert per_digit["rise"] < plain["rise"]
    assert not plain["emergent"]


def test_binomial_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n_problems must be a positive integer"):
        binomial_bootstrap_emergence_test(SIZES, SIZES / SIZES.max(), 0)
    with pytest.raises(ValueError, match="same length"):
        binomial_bootstrap_emergence_test(SIZES, [0.1, 0.2], 100)
    with pytest.raises(ValueError, match="n_boot=1: must be an integer >= 2"):
        binomial_bootstrap_emergence_test(SIZES, SIZES / SIZES.max(), 100, n_boot=1)


def runs_frame(curve: np.ndarray, noise_sd: float, n_seeds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"n_params_non_embedding": size, "seed": seed, "metric": value + rng.normal(0, noise_sd)}
        for size, value in zip(SIZES, curve, strict=True)
        for seed in range(n_seeds)
    ]
    return pd.DataFrame(rows)


def test_seed_bootstrap_finds_a_sharp_transition_and_rejects_a_gradual_one() -> None:
    sharp = runs_frame(logistic_in_log(SIZES, midpoint=5e4, width=0.1), noise_sd=0.02)
    assert seed_bootstrap_emergence_test(sharp, "metric", n_boot=30)["emergent"]
    gradual = runs_frame(logistic_in_log(SIZES, midpoint=3e4, width=2.0), noise_sd=0.02)
    row = seed_bootstrap_emergence_test(gradual, "metric", n_boot=30)
    assert not row["narrower_than_spacing"]
    assert not row["emergent"]


def test_a_flat_metric_is_not_emergent() -> None:
    flat = runs_frame(np.zeros(len(SIZES)), noise_sd=0.0)
    row = seed_bootstrap_emergence_test(flat, "metric", n_boot=10)
    assert not row["rises"]
    assert not row["emergent"]


# ----------------------------------------------------------------------------- runs


def test_addition_ladder_fits_one_problem_per_row() -> None:
    specs = addition_ladder(3, [16, 32], steps=100, seeds=[0, 1], batch_size=8)
    context = AdditionTask(3).problem_length - 1
    assert len({spec.key() for spec in specs}) == 4
    assert all(spec.context == context for spec in specs)
    assert all(spec.tokens == 100 * 8 * context for spec in specs)
    assert [spec.data for spec in specs] == ["addition-3"] * 4
    with pytest.raises(ValueError, match="steps=0: must be an integer >= 1"):
        addition_ladder(3, [16], steps=0, seeds=[0])


def test_largest_step_finds_the_jump_that_a_log_grid_gives_a_line() -> None:
    sizes = np.geomspace(1, 1000, 4)  # 1, 10, 100, 1000
    step = largest_step(sizes, sizes)
    assert step["share"] == pytest.approx(900 / 999)
    assert (step["from_size"], step["to_size"]) == pytest.approx((100, 1000))
    # on an evenly spaced grid the same line rises by equal steps
    assert largest_step([1, 2, 3, 4], [1, 2, 3, 4])["share"] == pytest.approx(1 / 3)
    assert math.isnan(largest_step([1, 2, 3], [0, 0, 0])["share"])
    with pytest.raises(ValueError, match="one value per size"):
        largest_step([1, 2, 3], [0, 1])
