"""Uncertainty: every bootstrap and interval in the book goes through this module.

One replicate loop (`replicate`) with one rule for failed replicates, one place where quantiles
are taken (`BootstrapResult.interval`), row and cluster resampling (`bootstrap`), bands for
extrapolations (`extrapolate`) and the Wilson interval for proportions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from scaling_debate import _checks


def _level(level: float) -> float:
    return _checks.in_range("level", level, 0, 1, closed="neither")


# Errors a fitter raises on a degenerate resample (too few distinct points, singular system,
# no finite optimum); anything else is a bug and propagates.
_REPLICATE_FAILURES = (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError)


def _named_floats(
    result: Any, stat: Callable[[Any], Mapping[str, float]] | None
) -> dict[str, float]:
    if stat is not None:
        values = stat(result)
    elif hasattr(result, "as_dict"):
        values = result.as_dict()
    elif isinstance(result, Mapping):
        values = result
    else:
        raise TypeError(
            "fit_fn must return a mapping of named floats or an object with as_dict(); got "
            f"{type(result).__name__} (or pass stat= to convert it)"
        )
    return {str(name): float(value) for name, value in values.items()}


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate estimates from :func:`bootstrap`.

    ``samples`` has one row per successful replicate and one column per named value;
    ``point`` is the fit on the full data; ``n_failed`` counts replicates whose fit raised or
    returned a non-finite value (they are left out of ``samples``).
    """

    samples: pd.DataFrame
    point: dict[str, float]
    n_boot: int
    n_failed: int

    def _column(self, name: str) -> pd.Series:
        if name not in self.samples.columns:
            raise ValueError(f"unknown name {name!r}; available: {list(self.samples.columns)}")
        return self.samples[name]

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval for ``name`` covering ``level`` of the replicates."""
        _level(level)
        tail = (1 - level) / 2
        lo, hi = np.quantile(self._column(name).to_numpy(), [tail, 1 - tail])
        return float(lo), float(hi)

    def interval_of(
        self, quantity: Callable[[dict[str, float]], float], level: float = 0.95
    ) -> tuple[float, float]:
        """Percentile interval of a derived ``quantity(replicate)`` over the replicates.

        Each replicate is passed as a dict of its named values; the quantile rule is the same as
        `interval`'s, so derived and direct intervals are comparable.
        """
        tail = (1 - _level(level)) / 2
        values = [quantity(row) for row in self.samples.to_dict("records")]
        lo, hi = np.quantile(np.asarray(values, dtype=float), [tail, 1 - tail])
        return float(lo), float(hi)

    def standard_error(self, name: str) -> float:
        """Standard deviation of the replicates of ``name``."""
        return float(self._column(name).std(ddof=1))

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per name: ``name, estimate, se, lo, hi`` (percentile interval)."""
        rows = []
        for name in self.samples.columns:
            lo, hi = self.interval(name, level)
            rows.append(
                {
                    "name": name,
                    "estimate": self.point[name],
                    "se": self.standard_error(name),
                    "lo": lo,
                    "hi": hi,
                }
            )
        return pd.DataFrame(rows, columns=["name", "estimate", "se", "lo", "hi"])


def _resample(data: pd.DataFrame, rng: np.random.Generator, groups: str | None) -> pd.DataFrame:
    if groups is None:
        rows = rng.integers(0, len(data), size=len(data))
        return data.iloc[rows].reset_index(drop=True)
    labels = data[groups].unique()
    chosen = rng.choice(labels, size=len(labels), replace=True)
    # Whole clusters are drawn so that correlated rows (one seed, one budget) move together.
    return pd.concat([data[data[groups] == label] for label in chosen], ignore_index=True)


def bootstrap(
    fit_fn: Callable[[pd.DataFrame], Any],
    data: pd.DataFrame,
    n_boot: int = 200,
    seed: int = 0,
    stat: Callable[[Any], Mapping[str, float]] | None = None,
    groups: str | None = None,
) -> BootstrapResult:
    """Nonparametric bootstrap of any fit.

    ``fit_fn(df)`` fits one data frame and returns named floats: a mapping, or a fit with
    ``as_dict()``; ``stat``, when given, turns ``fit_fn``'s return value into that mapping.
    Rows are resampled with replacement, or, with ``groups`` naming a column, whole groups are
    (cluster bootstrap: use it when rows share a seed or a run, so they are not independent).
    Replicates whose fit fails are counted in ``n_failed``, not raised; a failure of the fit on
    the full data is raised.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer of at least 2; got {n_boot!r}")
    if groups is not None and groups not in data.columns:
        raise ValueError(f"groups column {groups!r} not in data; columns: {list(data.columns)}")
    if len(data) == 0:
        raise ValueError("data is empty")
    return replicate(
        lambda: fit_fn(data),
        lambda rng: fit_fn(_resample(data, rng, groups)),
        n_boot=n_boot,
        seed=seed,
        stat=stat,
    )


def replicate(
    estimate: Callable[[], Any],
    draw: Callable[[np.random.Generator], Any],
    n_boot: int,
    seed: int = 0,
    stat: Callable[[Any], Mapping[str, float]] | None = None,
) -> BootstrapResult:
    """The one replicate loop every bootstrap in the book goes through.

    ``estimate()`` gives the point estimate (its failure is raised); ``draw(rng)`` gives one
    replicate from resampled or simulated data, drawing all its randomness from ``rng``. A
    replicate whose fit raises one of the expected failures or returns a non-finite value is
    counted in ``n_failed`` and left out; fewer than two good replicates is an error.
    """
    _checks.positive_int("n_boot", n_boot, minimum=2)
    point = _named_floats(estimate(), stat)
    rng = np.random.default_rng(seed)
    replicates, n_failed = [], 0
    for _ in range(n_boot):
        try:
            values = _named_floats(draw(rng), stat)
        except _REPLICATE_FAILURES:
            n_failed += 1
            continue
        if all(math.isfinite(v) for v in values.values()):
            replicates.append(values)
        else:
            n_failed += 1
    if len(replicates) < 2:
        raise RuntimeError(
            f"bootstrap: only {len(replicates)} of {n_boot} replicate fits succeeded"
        )
    samples = pd.DataFrame(replicates, columns=list(point))
    return BootstrapResult(samples=samples, point=point, n_boot=n_boot, n_failed=n_failed)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (scipy's implementation)."""
    _checks.positive_int("trials", trials)
    _checks.positive_int("successes", successes, minimum=0)
    if successes > trials:
        raise ValueError(f"successes={successes!r}: must be at most trials={trials}")
    ci = binomtest(successes, trials).proportion_ci(confidence_level=_level(level), method="wilson")
    return float(ci.low), float(ci.high)


# Draws of observation noise per bootstrap replicate when residual_sd_log is given: enough
# that the Monte Carlo error in the interval ends is small next to the interval itself.
_NOISE_DRAWS_PER_REPLICATE = 50


def extrapolate(
    boot: BootstrapResult,
    predict_fn: Callable[[dict[str, float], np.ndarray], ArrayLike],
    x_new: ArrayLike,
    level: float = 0.95,
    residual_sd_log: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Predictions at ``x_new`` with bootstrap intervals: columns ``x, estimate, lo, hi``.

    ``predict_fn(params, x_new)`` is evaluated at the full-data estimate (``estimate``) and at
    every bootstrap replicate (the percentile interval ``lo, hi``). That interval reflects
    *parameter* uncertainty only: it is a confidence band for the curve, not a prediction
    interval for a new observation. Pass ``residual_sd_log`` (the standard deviation of log
    residuals, e.g. a fit's ``rmse_log``) to add log-normal observation noise to each
    replicate's prediction, which widens the band into a prediction interval.
    """
    _level(level)
    x_array = np.asarray(x_new, dtype=float)
    if x_array.ndim != 1:
        raise ValueError(f"x_new must be one-dimensional; got shape {x_array.shape}")
    if residual_sd_log is not None and not (
        residual_sd_log >= 0 and math.isfinite(residual_sd_log)
    ):
        raise ValueError(f"residual_sd_log must be a finite number >= 0; got {residual_sd_log!r}")
    estimate = np.asarray(predict_fn(dict(boot.point), x_array), dtype=float)
    replicate_predictions = np.array(
        [
            np.asarray(predict_fn(params, x_array), dtype=float)
            for params in boot.samples.to_dict(orient="records")
        ]
    )
    if residual_sd_log:
        rng = np.random.default_rng(seed)
        noise = rng.normal(
            0.0,
            residual_sd_log,
            size=(len(replicate_predictions), _NOISE_DRAWS_PER_REPLICATE, len(x_array)),
        )
        replicate_predictions = (replicate_predictions[:, None, :] * np.exp(noise)).reshape(
            -1, len(x_array)
        )
    tail = (1 - level) / 2
    lo, hi = np.quantile(replicate_predictions, [tail, 1 - tail], axis=0)
    return pd.DataFrame({"x": x_array, "estimate": estimate, "lo": lo, "hi": hi})
