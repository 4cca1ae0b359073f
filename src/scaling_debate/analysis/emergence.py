"""Emergence, measured: definitions a smooth curve cannot pass, counts with intervals, baselines.

Used by the chapter "The log-axis emergence illusion". The functional forms and their comparison
live in :mod:`scaling_debate.analysis.forms`; this module adds what the chapter needs around them:

* :func:`extrapolation_backtest` makes Wei et al.'s (2022) definition operational: an ability
  is emergent when its performance "cannot be predicted simply by extrapolating the performance
  of smaller models". At every size, the forms are fitted to all smaller sizes, the selected form
  predicts the next one, and the observed value is compared with a prediction interval that
  holds the uncertainty of the fit and the noise of the measurement. :func:`unpredicted_rises`
  reads the verdict: a size whose value lies *above* that interval.
* :func:`breakthroughness` is BIG-bench's breakthroughness (Srivastava et al. 2022), the score
  Schaeffer et al. (2023) call the emergence score.
* :func:`count_interval` gives every count of successes (a model's correct answers, the runs
  that left a plateau) its Wilson interval, so that 0 of n is an upper bound, not a zero.
* :func:`escape_counts` counts, per model size, the runs that left a training plateau;
  :func:`carry_free_share` is the share of addition problems a model that ignores carries gets
  right, which marks that plateau.
* :func:`per_token_law` is Schaeffer et al.'s metric mechanism on synthetic numbers: a smooth
  per-token loss becomes a sharp exact match through ``p ** L``.
* :func:`addition_chance` gives the chance baselines of the addition metrics.
* :func:`gpt3_arithmetic`, :func:`seed_summary`, :func:`largest_step` and
  :func:`points_needed` prepare the published table, our runs and the recovery simulation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scaling_debate import _checks, published
from scaling_debate.analysis import uncertainty
from scaling_debate.analysis.forms import FORMS, binomial_sigma, compare_forms, fit_form

__all__ = [
    "BACKTEST_FORMS",
    "addition_chance",
    "breakthroughness",
    "carry_free_share",
    "count_interval",
    "escape_counts",
    "extrapolation_backtest",
    "gpt3_arithmetic",
    "largest_step",
    "per_digit_accuracy",
    "per_token_law",
    "points_needed",
    "seed_summary",
    "unpredicted_rises",
]

# Forms a backtest may extrapolate with: the ones that stay monotone beyond the data whatever
# their fitted parameters (a quadratic, a cubic or an exponential fitted to a few sizes can turn
# round just past the last one, and such a prediction says nothing about the next model).
BACKTEST_FORMS = ("linear", "logarithmic", "power", "logistic")
# A form whose AICc is more than this above the best has "essentially no support" (Burnham &
# Anderson 2002, section 2.6); every form within it may make the prediction.
SUPPORT_MARGIN = 10.0


# --------------------------------------------------------------------------------------------
# Metrics and baselines
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


def addition_chance(digits: int) -> dict[str, float]:
    """Chance levels of the addition metrics for ``digits``-digit operands.

    The answer has ``digits + 1`` digits; its leading digit (the final carry) can only be 0 or 1,
    every other digit 0 to 9. A guesser that knows this and picks each digit uniformly among the
    values it can take gets ``digit_accuracy = (digits / 10 + 1 / 2) / (digits + 1)``,
    ``exact_match = 10 ** -digits / 2`` and ``answer_logprob_nats = -(digits ln 10 + ln 2)``.
    """
    _checks.positive_int("digits", digits)
    return {
        "digit_accuracy": (digits / 10 + 0.5) / (digits + 1),
        "exact_match": 0.5 * 10.0**-digits,
        "answer_logprob_nats": -(digits * math.log(10) + math.log(2)),
    }


def carry_free_share(a: ArrayLike, b: ArrayLike) -> float:
    """Share of the problems ``a + b`` whose column sums never carry.

    A model that adds each column of digits but ignores carries gets exactly these problems
    right, and the other ones wrong: the plateau on which small models of addition sit.
    """
    left = np.asarray(a, dtype=np.int64).reshape(-1)
    right = np.asarray(b, dtype=np.int64).reshape(-1)
    if left.shape != right.shape or left.size == 0:
        raise ValueError(
            f"a and b must be non-empty and of equal length; got {left.size}, {right.size}"
        )
    if np.any(left < 0) or np.any(right < 0):
        raise ValueError("operands must be non-negative integers")
    carry_free = np.ones(left.shape, dtype=bool)
    while np.any((left > 0) | (right > 0)):
        carry_free &= (left % 10 + right % 10) < 10
        left, right = left // 10, right // 10
    return float(carry_free.mean())


def per_token_law(
    n_params: ArrayLike, scale: float, exponent: float, answer_tokens: Sequence[int]
) -> pd.DataFrame:
    """Schaeffer et al.'s (2023) metric mechanism on synthetic numbers.

    The per-token cross-entropy falls smoothly with size, ``CE(N) = (N / scale) ** -exponent``
    nats; the probability of one right token is ``p = exp(-CE)``; and an answer of ``L`` tokens
    is right exactly with probability ``p ** L``, if tokens are right independently. Returns one
    row per size and answer length: ``n_params``, ``answer_tokens``, ``cross_entropy``,
    ``token_accuracy`` and ``exact_match``.
    """
    sizes = _positive_sizes(n_params)
    _checks.positive_number("scale", scale)
    _checks.positive_number("exponent", exponent)
    if not answer_tokens:
        raise ValueError("answer_tokens must name at least one answer length")
    cross_entropy = (sizes / scale) ** -exponent
    token_accuracy = np.exp(-cross_entropy)
    parts = []
    for length in answer_tokens:
        _checks.positive_int("answer_tokens", length)
        parts.append(
            pd.DataFrame(
                {
                    "n_params": sizes,
                    "answer_tokens": length,
                    "cross_entropy": cross_entropy,
                    "token_accuracy": token_accuracy,
                    "exact_match": token_accuracy**length,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def gpt3_arithmetic() -> pd.DataFrame:
    """GPT-3's few-shot arithmetic accuracy (Table H.1) with training compute (Table D.1).

    One row per model and task, with the published columns plus ``accuracy`` (a fraction),
    ``compute_flops`` (total training compute from Table D.1, joined by model name) and
    ``correct`` (the number of correct answers the printed accuracy implies on the task's test
    problems, rounded).
    """
    accuracy = published.load("gpt3_arithmetic_fewshot")
    compute = published.load("gpt3_training_compute")[["model", "total_compute_flops"]]
    table = accuracy.merge(compute, on="model", how="left", validate="many_to_one")
    unmatched = table.loc[table["total_compute_flops"].isna(), "model"].unique()
    if len(unmatched):
        raise ValueError(f"models without a Table D.1 compute row: {list(unmatched)}")
    table = table.rename(columns={"total_compute_flops": "compute_flops"})
    table["accuracy"] = table["accuracy_pct"] / 100
    table["correct"] = (table["accuracy"] * table["test_problems_count"]).round().astype(int)
    return table


# --------------------------------------------------------------------------------------------
# Counts and their intervals
# --------------------------------------------------------------------------------------------


def count_interval(
    successes: ArrayLike, trials: ArrayLike, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson intervals for counts of successes, element by element: (lo, hi) arrays.

    Zero successes give ``[0, hi]`` with ``hi > 0``: the resolution of ``trials`` problems, not
    proof of an accuracy of zero (Schaeffer et al.'s resolution argument).
    """
    k = np.asarray(successes).reshape(-1)
    n = np.broadcast_to(np.asarray(trials), k.shape)
    bounds = [uncertainty.wilson_interval(int(s), int(t), level) for s, t in zip(k, n, strict=True)]
    lo, hi = (np.array(side, dtype=float) for side in zip(*bounds, strict=True))
    return lo, hi


def escape_counts(
    frame: pd.DataFrame, escaped: str, size: str = "n_params_non_embedding", level: float = 0.95
) -> pd.DataFrame:
    """Per size: how many runs left the plateau, with the Wilson interval of that share.

    ``frame`` has one row per run and a boolean column ``escaped``. Returns columns ``size``,
    ``runs``, ``escaped``, ``share``, ``share_lo`` and ``share_hi``.
    """
    _require_columns(frame, [size, escaped])
    grouped = frame.groupby(size)[escaped]
    counts = pd.DataFrame(
        {"runs": grouped.size(), "escaped": grouped.sum().astype(int)}
    ).reset_index(names="size")
    counts["share"] = counts["escaped"] / counts["runs"]
    counts["share_lo"], counts["share_hi"] = count_interval(
        counts["escaped"], counts["runs"], level
    )
    return counts


# --------------------------------------------------------------------------------------------
# Definitions of emergence
# --------------------------------------------------------------------------------------------


def breakthroughness(sizes: ArrayLike, values: ArrayLike) -> float:
    """BIG-bench's breakthroughness of one scaling curve (Srivastava et al. 2022).

    With the values ``y`` ordered by size, ``sign(argmax y - argmin y) * (max y - min y)``
    divided by the root median square of the differences between neighbours,
    ``sqrt(median((y[i+1] - y[i]) ** 2))``: large when most of the rise happens in a few steps.
    Schaeffer et al. (2023) use it as the "emergence score". The score sees only the order of
    the sizes, not their spacing, and it is infinite when more than half of the steps are
    exactly flat (a curve at zero until its last sizes); NaN for a constant curve.
    """
    x = _positive_sizes(sizes)
    y = np.asarray(values, dtype=float).reshape(-1)
    if y.shape != x.shape or x.size < 2:
        raise ValueError(f"need one value per size and at least 2 sizes; got {x.size}, {y.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("values must be finite")
    y = y[np.argsort(x, kind="stable")]
    signed_range = math.copysign(1.0, np.argmax(y) - np.argmin(y)) * (y.max() - y.min())
    if signed_range == 0:
        return math.nan
    root_median_square = math.sqrt(float(np.median(np.diff(y) ** 2)))
    if root_median_square == 0:
        return math.copysign(math.inf, signed_range)
    return signed_range / root_median_square


def extrapolation_backtest(
    sizes: ArrayLike,
    values: ArrayLike,
    n_problems: int | ArrayLike,
    forms: Iterable[str] = BACKTEST_FORMS,
    level: float = 0.99,
    n_boot: int = 200,
    seed: int = 0,
    min_points: int = 5,
) -> pd.DataFrame:
    """Predict each size from all smaller ones; compare the prediction with what was measured.

    ``values`` are accuracies (fractions) measured on ``n_problems`` problems (a number or one
    per size; for a share of training runs, the number of runs). For each size after the first
    ``min_points``, the ``forms`` are fitted to all smaller sizes and ranked as
    :func:`~scaling_debate.analysis.forms.compare_forms` ranks them (AICc, near-ties to fewer
    parameters, each point weighted by its binomial variance). Every form the smaller sizes
    support (AICc within ``SUPPORT_MARGIN`` of the best) predicts the next size, capped to
    [0, 1]; ``form`` and ``predicted`` are the selected form's. The prediction interval at
    ``level`` comes from a bootstrap: ``n_boot`` times, each smaller size's accuracy is redrawn
    from its Jeffreys posterior (``Beta(k + 1/2, n - k + 1/2)`` for k of n right, so 0 of n
    stays uncertain), every supported form is refitted, and its prediction is measured again on
    the next size's number of problems; the interval runs from the lowest lower end to the
    highest upper end over the supported forms. So it holds the fits' uncertainty, the test's
    noise and the choice among forms the data do not rule out: a value above it is one that no
    supported extrapolation of the smaller models predicts. The first prediction uses the
    ``min_points`` smallest sizes: with five, forms of up to three parameters can be ranked
    (AICc needs more points than parameters plus one), enough for a curve that bends in
    ``ln x`` (a power law with an offset); with four, only straight lines in x or ln x compete,
    and the lower half of a smooth sigmoid already rises faster than both.

    Returns one row per predicted size: ``size``, ``observed``, ``form``, ``supported``
    (the forms that made the interval), ``predicted``, ``lo``, ``hi``, ``miss`` (observed
    minus predicted), ``miss_sd`` (the miss in standard deviations of the selected form's
    bootstrap predictions) and ``verdict``: ``"above"``, ``"below"`` or ``"within"`` the
    interval. Sizes whose fits all fail are reported with ``form`` None, NaN numbers and
    verdict ``"not predicted"``, never raised.
    """
    x = _positive_sizes(sizes)
    y = np.asarray(values, dtype=float).reshape(-1)
    if y.shape != x.shape:
        raise ValueError(f"need one value per size; got {x.size} sizes and {y.size} values")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n = np.broadcast_to(np.asarray(n_problems), x.shape)[order]
    binomial_sigma(y, n)  # validates the accuracies and the counts
    if np.unique(x).size != x.size:
        raise ValueError("sizes must be distinct: one accuracy per size")
    _checks.positive_int("min_points", min_points, minimum=2)
    _checks.positive_int("n_boot", n_boot, minimum=10)
    _checks.in_range("level", level, 0, 1, closed="neither")
    names = list(forms)
    rng = np.random.default_rng(seed)
    rows = [
        _predict_next(x[:k], y[:k], n[:k], x[k], y[k], int(n[k]), names, level, n_boot, rng)
        for k in range(min_points, len(x))
    ]
    return pd.DataFrame(rows)


def _predict_next(
    x: np.ndarray,
    y: np.ndarray,
    n: np.ndarray,
    x_next: float,
    y_next: float,
    n_next: int,
    names: list[str],
    level: float,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    row: dict[str, Any] = {"size": x_next, "observed": y_next, "form": None, "supported": ""}
    row |= dict.fromkeys(("predicted", "lo", "hi", "miss", "miss_sd"), math.nan)
    row["verdict"] = "not predicted"
    table = compare_forms(x, y, forms=names, n_problems=n, cv=False)
    best = float(table["aicc"].iloc[0])
    if not math.isfinite(best):
        return row
    supported = table[table["aicc"] <= table["aicc"].min() + SUPPORT_MARGIN]
    correct = np.round(y * n)
    draws = [rng.beta(correct + 0.5, n - correct + 0.5) for _ in range(n_boot)]
    tail = (1 - level) / 2
    ends, selected = [], None
    for form_name in supported["form"]:
        replicates = []
        for y_star in draws:
            fit = fit_form(form_name, x, y_star, sigma=binomial_sigma(y_star, n))
            if fit.converged:
                p_star = _capped_prediction(FORMS[form_name], fit.params, x_next)
                if math.isfinite(p_star):
                    replicates.append(rng.binomial(n_next, p_star) / n_next)
        if len(replicates) < n_boot / 2:
            continue
        ends.append(np.quantile(replicates, [tail, 1 - tail]))
        if selected is None:
            selected = (form_name, float(np.std(replicates)))
    if selected is None:
        return row | {"form": str(table["form"].iloc[0])}
    form, spread = selected
    params = supported.set_index("form").loc[form, "params"]
    predicted = _capped_prediction(FORMS[form], params, x_next)
    lo, hi = min(end[0] for end in ends), max(end[1] for end in ends)
    miss = y_next - predicted
    verdict = "above" if y_next > hi else "below" if y_next < lo else "within"
    return row | {
        "form": form,
        "supported": ", ".join(supported["form"]),
        "predicted": predicted,
        "lo": float(lo),
        "hi": float(hi),
        "miss": miss,
        "miss_sd": miss / spread if spread > 0 else math.copysign(math.inf, miss) if miss else 0.0,
        "verdict": verdict,
    }


def _capped_prediction(form: Any, params: dict[str, float], x_next: float) -> float:
    with np.errstate(all="ignore"):
        value = float(form.model(np.array([x_next]), *params.values())[0])
    return float(np.clip(value, 0.0, 1.0)) if math.isfinite(value) else math.nan


def unpredicted_rises(backtest: pd.DataFrame) -> pd.DataFrame:
    """The rows of a backtest whose measured value lies above the prediction interval.

    Wei et al.'s emergence, made operational: performance at a size that extrapolating the
    smaller models does not predict. An empty frame means the curve was predictable at every
    size tested.
    """
    _require_columns(backtest, ["verdict"])
    return backtest[backtest["verdict"] == "above"]


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def seed_summary(
    frame: pd.DataFrame, metrics: Sequence[str], size: str = "n_params_non_embedding"
) -> pd.DataFrame:
    """Per model size and metric: the mean over seeds, the lowest and highest seed.

    ``frame`` has one row per run (for example ``runs.final_points(results)``) with a ``seed``
    column. Returns columns ``size``, ``metric``, ``mean``, ``lo``, ``hi``, ``n_seeds``, with
    ``size`` holding the values of the ``size`` column.
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

    ``sizes`` and ``values`` are one curve (one value per size). The increase from each size to
    the next larger one is divided by ``max(values) - min(values)``; the largest gives
    ``share`` with the two sizes ``from_size`` and ``to_size``. A straight line over n evenly
    spaced sizes has share ``1 / (n - 1)``; on log-spaced sizes most of its rise falls in the
    last gap, the picture of a "jump". ``share`` is NaN when the values are constant.
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


def points_needed(
    recovery: pd.DataFrame, threshold: float = 0.8, noise: str = "noise_sd"
) -> pd.DataFrame:
    """The fewest sampled sizes from which the true form wins at least ``threshold`` of trials.

    ``recovery`` is a table from :func:`scaling_debate.analysis.forms.recovery_table` for one
    criterion (columns ``true_form``, ``noise``, ``n_points``, ``rate``; ``noise`` names the
    column of noise levels, ``"noise_sd"`` or ``"n_problems"``). For each true form and noise
    level, ``n_points_needed`` is the smallest sample size whose rate, *and the rate at every
    larger size tried*, reaches ``threshold``; NaN when no size tried gets there. ``max_rate``
    is the best rate reached at any size.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold!r}")
    _require_columns(recovery, ["true_form", noise, "n_points", "rate"])
    if "criterion" in recovery and recovery["criterion"].nunique() > 1:
        raise ValueError("recovery holds several criteria; pass the rows of one")
    rows = []
    for (true_form, level), cell in recovery.groupby(["true_form", noise], sort=True):
        cell = cell.sort_values("n_points")
        sizes, rates = cell["n_points"].to_numpy(), cell["rate"].to_numpy()
        # reversed cumulative minimum: the worst rate at this size or any larger one
        worst_from_here = np.minimum.accumulate(rates[::-1])[::-1]
        reaching = np.flatnonzero(worst_from_here >= threshold)
        needed = float(sizes[reaching[0]]) if reaching.size else math.nan
        rows.append(
            {
                "true_form": true_form,
                noise: float(level),
                "n_points_needed": needed,
                "max_rate": float(rates.max()),
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


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
