"""Emergence, measured: per-digit accuracy, seed summaries and a testable definition.

Used by the chapter "The log-axis emergence illusion". The functional forms themselves and the
logistic fit with profile-likelihood intervals live in :mod:`scaling_debate.forms`; this module
adds what the chapter needs around them:

* :func:`per_digit_accuracy` turns an exact-match rate into the per-digit accuracy it implies
  when digits are right independently (Schaeffer et al. 2023's argument);
* :func:`gpt3_arithmetic` joins Brown et al.'s Table H.1 with the training compute of Table D.1;
* :func:`seed_summary` gives, per model size, the mean of a metric over seeds and its range;
* :func:`points_needed` reads the form-recovery simulation: how many sampled sizes it takes
  before the true form reliably wins;
* :func:`seed_bootstrap_emergence_test` and :func:`binomial_bootstrap_emergence_test` apply one
  testable definition of emergence (below), with bootstrap intervals over training seeds or
  over test problems.

**The definition.** A metric (higher is better) *emerges* with size x when the logistic in
``ln x``, ``lo + (hi - lo) / (1 + exp(-(ln x - m) / w))``, fitted by least squares, has

1. a rise ``hi - lo`` whose interval lies above 0 (something emerges at all);
2. a width ``w`` whose interval lies wholly below the median gap between sampled sizes, in
   ``ln x`` (the rise is sharper than the sampling resolves);
3. a midpoint ``m`` whose interval lies inside the sampled range (the transition is in the
   data: ``y = x`` is the left tail of a logistic whose midpoint lies beyond them).

Intervals are percentile bootstrap intervals (`uncertainty.replicate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scaling_debate import _checks, published
from scaling_debate.analysis import uncertainty
from scaling_debate.analysis.forms import fit_form

__all__ = [
    "binomial_bootstrap_emergence_test",
    "gpt3_arithmetic",
    "largest_step",
    "meets_definition",
    "per_digit_accuracy",
    "points_needed",
    "seed_bootstrap_emergence_test",
    "seed_summary",
]


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def per_digit_accuracy(exact_match: ArrayLike, answer_digits: int | ArrayLike) -> np.ndarray:
    """The per-digit accuracy ``p`` for which ``p ** answer_digits`` equals ``exact_match``.

    If each of ``k`` answer digits is right independently with probability ``p``, the whole
    answer is right with probability ``p**k``; so ``exact_match ** (1 / k)`` is the per-digit
    accuracy a given exact-match rate implies. ``exact_match`` is a fraction in [0, 1].
    """
    accuracy = np.asarray(exact_match, dtype=float)
    digits = np.asarray(answer_digits, dtype=float)
    bad = ~np.isfinite(accuracy) | (accuracy < 0) | (accuracy > 1)
    if bad.any():
        value = accuracy.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]]
        raise ValueError(f"exact_match must be a fraction in [0, 1]; got {value!r}")
    if np.any(~np.isfinite(digits) | (digits < 1) | (digits != np.round(digits))):
        raise ValueError(f"answer_digits must be whole numbers >= 1; got {answer_digits!r}")
    return accuracy ** (1.0 / digits)


def gpt3_arithmetic() -> pd.DataFrame:
    """GPT-3's few-shot arithmetic accuracy (Table H.1) with training compute (Table D.1).

    One row per model and task, with the published columns plus ``accuracy`` (a fraction),
    ``compute_flops`` (total training compute from Table D.1, joined by model name),
    ``answer_digits`` and ``per_digit_accuracy``. ``answer_digits`` is the operand digit count
    for addition and subtraction, a conservative count (a sum can have one digit more) that
    gives the lower per-digit accuracy; other operations get NaN, because their answers have
    no fixed length.
    """
    accuracy = published.load("gpt3_arithmetic_fewshot")
    compute = published.load("gpt3_training_compute")[["model", "total_compute_flops"]]
    table = accuracy.merge(compute, on="model", how="left", validate="many_to_one")
    unmatched = table.loc[table["total_compute_flops"].isna(), "model"].unique()
    if len(unmatched):
        raise ValueError(f"models without a Table D.1 compute row: {list(unmatched)}")
    table = table.rename(columns={"total_compute_flops": "compute_flops"})
    table["accuracy"] = table["accuracy_pct"] / 100
    fixed_length = table["operation"].isin(["addition", "subtraction"])
    table["answer_digits"] = table["operand_digits_count"].where(fixed_length)
    table["per_digit_accuracy"] = np.nan
    table.loc[fixed_length, "per_digit_accuracy"] = per_digit_accuracy(
        table.loc[fixed_length, "accuracy"], table.loc[fixed_length, "answer_digits"]
    )
    return table


def seed_summary(
    frame: pd.DataFrame, metrics: Sequence[str], size: str = "n_params_non_embedding"
) -> pd.DataFrame:
    """Per model size and metric: the mean over seeds, the lowest and highest seed.

    ``frame`` has one row per run (for example ``runs.final_points(results)``) with a ``seed``
    column. Returns columns ``size``, ``metric``, ``mean``, ``lo``, ``hi``, ``n_seeds``, with
    ``size`` holding the values of the ``size`` column. The range over seeds is reported rather
    than a t-interval: with two or three seeds the range is what the data show.
    """
    _require_columns(frame, [size, "seed", *metrics])
    if not metrics:
        raise ValueError("metrics must name at least one column")
    grouped = frame.groupby(size)
    parts = [
        pd.DataFrame(
            {
                "size": grouped[metric].mean().index,
                "metric": metric,
                "mean": grouped[metric].mean().to_numpy(),
                "lo": grouped[metric].min().to_numpy(),
                "hi": grouped[metric].max().to_numpy(),
                "n_seeds": grouped["seed"].nunique().to_numpy(),
            }
        )
        for metric in metrics
    ]
    return pd.concat(parts, ignore_index=True)


def largest_step(sizes: ArrayLike, values: ArrayLike) -> dict[str, float]:
    """The biggest increase between neighbouring sizes, as a share of the values' whole range.

    ``sizes`` and ``values`` are one curve (one value per size, e.g. a mean over seeds). The
    increase from each size to the next larger one is divided by ``max(values) -
    min(values)``; the largest gives ``share`` with the two sizes ``from_size`` and
    ``to_size``. A straight line over n evenly spaced sizes has share ``1 / (n - 1)``; on
    log-spaced sizes most of its rise falls in the last gap, the picture of a "jump".
    ``share`` is NaN when the values are constant.
    """
    x = _positive_sizes(sizes)
    y = np.asarray(values, dtype=float).reshape(-1)
    if y.shape != x.shape or x.size < 2:
        raise ValueError(
            f"need one value per size and at least 2 sizes; got {x.size} sizes, {y.size} values"
        )
    order = np.argsort(x)
    x, y = x[order], y[order]
    steps = np.diff(y)
    biggest = int(np.argmax(steps))
    value_range = float(y.max() - y.min())
    share = float(steps[biggest]) / value_range if value_range > 0 else math.nan
    return {"share": share, "from_size": float(x[biggest]), "to_size": float(x[biggest + 1])}


# --------------------------------------------------------------------------------------------
# Reading the recovery simulation
# --------------------------------------------------------------------------------------------


def points_needed(recovery: pd.DataFrame, threshold: float = 0.8) -> pd.DataFrame:
    """The fewest sampled sizes from which the true form wins at least ``threshold`` of trials.

    ``recovery`` is a table from :func:`scaling_debate.forms.recovery_table` (columns
    ``true_form``, ``noise_sd``, ``n_points``, ``rate``). For each true form and noise level,
    ``n_points_needed`` is the smallest sample size whose rate, *and the rate at every larger
    size tried*, reaches ``threshold``; NaN when no size tried gets there. ``max_rate`` is the
    best rate reached at any size.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold!r}")
    _require_columns(recovery, ["true_form", "noise_sd", "n_points", "rate"])
    rows = []
    for (true_form, noise_sd), cell in recovery.groupby(["true_form", "noise_sd"], sort=True):
        cell = cell.sort_values("n_points")
        sizes, rates = cell["n_points"].to_numpy(), cell["rate"].to_numpy()
        # reversed cumulative minimum: the worst rate at this size or any larger one
        worst_from_here = np.minimum.accumulate(rates[::-1])[::-1]
        reaching = np.flatnonzero(worst_from_here >= threshold)
        needed = float(sizes[reaching[0]]) if reaching.size else math.nan
        rows.append(
            {
                "true_form": true_form,
                "noise_sd": float(noise_sd),
                "n_points_needed": needed,
                "max_rate": float(rates.max()),
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# A testable definition of emergence
# --------------------------------------------------------------------------------------------


def meets_definition(
    x: ArrayLike,
    rise_interval: tuple[float, float],
    width_interval: tuple[float, float],
    midpoint_interval: tuple[float, float],
) -> dict[str, Any]:
    """Apply the module's definition of emergence to intervals for the logistic's parameters.

    ``x`` are the sampled sizes. The intervals are for the rise ``hi - lo``, the width ``w``
    and the midpoint ``m`` (the last two in ``ln x``). Returns the median gap ``spacing_ln_x``
    between distinct sizes and the three conditions: ``rises`` (the rise's interval lies above
    0), ``narrower_than_spacing`` (the width's upper end is below the spacing) and
    ``midpoint_within_data`` (the midpoint's interval lies strictly inside the sampled range,
    so the curve is seen on both sides of its transition); then
    ``emergent``, all three. A NaN interval end fails its condition.
    """
    distinct = np.unique(np.log(_positive_sizes(x)))
    if distinct.size < 2:
        raise ValueError(f"need at least 2 distinct sizes to define a spacing; got {distinct}")
    spacing = float(np.median(np.diff(distinct)))
    rises = bool(rise_interval[0] > 0)
    narrower = bool(width_interval[1] < spacing)
    within = bool(distinct[0] < midpoint_interval[0] and midpoint_interval[1] < distinct[-1])
    return {
        "spacing_ln_x": spacing,
        "rises": rises,
        "narrower_than_spacing": narrower,
        "midpoint_within_data": within,
        "emergent": rises and narrower and within,
    }


def seed_bootstrap_emergence_test(
    frame: pd.DataFrame,
    metric: str,
    size: str = "n_params_non_embedding",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """The definition with bootstrap intervals over runs, for models trained with several seeds.

    ``frame`` has one row per run. Each replicate draws, at every size, as many runs as there
    are, with replacement (a stratified bootstrap: every size stays in every replicate, which a
    logistic fit needs), and refits the logistic in ``ln size``. Returns the row the definition
    gives: each estimate with its percentile interval at ``level`` (``rise``, ``width_ln_x`` and
    ``midpoint_x = exp(m)``, each with ``_lo`` and ``_hi``), the keys of
    :func:`meets_definition`, ``n_failed`` (replicates whose fit failed, left out of the
    intervals) and ``message``. A failed fit to the data is reported there, with NaN
    intervals and ``emergent`` False; it is not raised.
    """
    _require_columns(frame, [size, metric])
    ordered = frame.sort_values(size, kind="stable")
    x = ordered[size].to_numpy(dtype=float)
    y = ordered[metric].to_numpy(dtype=float)
    # positions of the runs of each size; a replicate redraws positions within each block
    blocks = [np.flatnonzero(x == value) for value in np.unique(x)]

    def draw(rng: np.random.Generator) -> np.ndarray:
        return y[np.concatenate([rng.choice(block, size=block.size) for block in blocks])]

    return _bootstrap_test(x, y, draw, n_boot, seed, level)


def binomial_bootstrap_emergence_test(
    x: ArrayLike,
    accuracy: ArrayLike,
    n_problems: int,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The definition with bootstrap intervals over test problems, for one model per size.

    ``accuracy`` (fractions) were measured on ``n_problems`` problems per model. Resampling the
    problems with replacement makes each replicate's accuracy ``Binomial(n_problems, acc) /
    n_problems``. ``transform``, when given, maps accuracies to the metric that is tested (for
    example the per-digit accuracy they imply), in the data and in every replicate alike. This
    captures the test set's sampling noise only: with one model per size, how much another
    training run would differ is not in the data. Returns a row as
    :func:`seed_bootstrap_emergence_test` does.
    """
    if isinstance(n_problems, bool) or not isinstance(n_problems, int) or n_problems < 1:
        raise ValueError(f"n_problems must be a positive integer; got {n_problems!r}")
    sizes = _positive_sizes(x)
    observed = np.asarray(accuracy, dtype=float).reshape(-1)
    if observed.shape != sizes.shape:
        raise ValueError(
            f"x and accuracy must have the same length; got {sizes.size} and {observed.size}"
        )
    per_digit_accuracy(observed, 1)  # validates that every accuracy is a fraction

    metric = transform or (lambda values: values)

    def draw(rng: np.random.Generator) -> np.ndarray:
        return metric(rng.binomial(n_problems, observed) / n_problems)

    return _bootstrap_test(sizes, metric(observed), draw, n_boot, seed, level)


def _bootstrap_test(
    x: np.ndarray,
    y: np.ndarray,
    draw: Callable[[np.random.Generator], np.ndarray],
    n_boot: int,
    seed: int,
    level: float,
) -> dict[str, Any]:
    """Refit the logistic to ``n_boot`` replicates ``draw(rng)`` of y; apply the definition."""
    _checks.positive_int("n_boot", n_boot, minimum=2)
    _checks.in_range("level", level, 0, 1, closed="neither")
    point = _logistic_shape(x, y)
    message, n_failed = "", n_boot
    intervals = dict.fromkeys(("rise", "w", "m"), (math.nan, math.nan))
    if not math.isfinite(point["w"]):
        message = "the logistic fit to the data failed"
    else:
        try:
            boot = uncertainty.replicate(
                lambda: point, lambda rng: _logistic_shape(x, draw(rng)), n_boot, seed
            )
        except RuntimeError as error:  # fewer than two replicate fits succeeded
            message = str(error)
        else:
            n_failed = boot.n_failed
            intervals = {name: boot.interval(name, level) for name in intervals}
    row = {
        "rise": point["rise"],
        "rise_lo": intervals["rise"][0],
        "rise_hi": intervals["rise"][1],
        "width_ln_x": point["w"],
        "width_ln_x_lo": intervals["w"][0],
        "width_ln_x_hi": intervals["w"][1],
        "midpoint_x": math.exp(point["m"]),
        "midpoint_x_lo": math.exp(intervals["m"][0]),
        "midpoint_x_hi": math.exp(intervals["m"][1]),
    }
    row |= meets_definition(x, intervals["rise"], intervals["w"], intervals["m"])
    return row | {"n_failed": n_failed, "message": message}


def _logistic_shape(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Rise ``hi - lo``, midpoint ``m`` and width ``w`` (in ln x) of the logistic fit.

    All NaN when the fit fails.
    """
    fit = fit_form("logistic", x, y)
    if not fit.converged:
        return dict.fromkeys(("rise", "m", "w"), math.nan)
    params = fit.params
    return {"rise": params["hi"] - params["lo"], "m": params["m"], "w": params["w"]}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame; got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; columns present: {list(frame.columns)}")


def _positive_sizes(x: ArrayLike) -> np.ndarray:
    sizes = np.asarray(x, dtype=float).reshape(-1)
    bad = ~np.isfinite(sizes) | (sizes <= 0)
    if bad.any():
        raise ValueError(f"sizes must be positive and finite; got {sizes[bad][0]!r}")
    return sizes
