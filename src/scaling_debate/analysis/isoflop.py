"""Approach 2 of Hoffmann et al. (2022) on our own runs: isoFLOP slices, their minima, and the
allocation exponent ``a`` in ``N_opt ∝ C^a``, with the uncertainty that the design allows.

Each slice holds runs of one compute budget at several model sizes (and seeds). A parabola in
``log N`` through the slice's mean losses gives the loss-minimising size. The exponent's interval
comes from a bootstrap that resamples both seeds at each size and the sizes within each slice,
so that the misfit of the parabola counts, not only seed noise (a slice whose minimum rests on
one size moves when that size is left out). How parameters and compute are counted changes
``a``; `sensitivity_table` shows by how much.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling_debate import _checks
from scaling_debate.analysis import laws as fit

# the size columns a results frame carries, and the compute counts we re-express budgets in
PARAMETER_COUNTS = {"non-embedding": "n_params_non_embedding", "total": "n_params"}


@dataclass(frozen=True)
class SliceMinimum:
    """The loss-minimising size of one isoFLOP slice and whether it lies inside the sizes
    sampled (a vertex outside them is an extrapolation, not a measured optimum)."""

    n_opt: float
    loss_at_opt: float
    interior: bool
    curvature: float


def slice_minimum(n_params: Sequence[float], loss: Sequence[float]) -> SliceMinimum:
    """Vertex of a parabola in ``log N`` through ``(N, loss)`` (one mean loss per size).

    A slice whose parabola opens downwards, or whose vertex lies outside the sizes sampled, has
    no measured minimum: the best sampled size is returned and marked as not interior.
    """
    n = _checks.finite_array("n_params", n_params, positive=True, min_size=3)
    y = _checks.finite_array("loss", loss, min_size=3)
    if len(n) != len(y):
        raise ValueError(f"{len(n)} sizes but {len(y)} losses")
    log_n = np.log(n)
    c2, c1, c0 = np.polyfit(log_n, y, 2)
    vertex = -c1 / (2 * c2) if c2 > 0 else math.nan
    if not log_n.min() < vertex < log_n.max():
        best = int(np.argmin(y))
        return SliceMinimum(float(n[best]), float(y[best]), False, float(c2))
    return SliceMinimum(float(np.exp(vertex)), float(c0 - c1**2 / (4 * c2)), True, float(c2))


def _mean_by_size(rows: pd.DataFrame, n_col: str, loss: str) -> pd.DataFrame:
    return rows.groupby(n_col, as_index=False)[loss].mean().sort_values(n_col)


def slice_minima(
    runs: pd.DataFrame,
    n_col: str = "n_params_non_embedding",
    loss: str = "val_loss",
    budget: str = "budget",
) -> pd.DataFrame:
    """One row per budget: ``n_opt``, ``loss_at_opt``, ``interior``, the sizes sampled, and
    where the best sampled size sits (0 = smallest)."""
    _checks.require_columns("runs", runs, [n_col, loss, budget])
    rows = []
    for value, slice_ in runs.groupby(budget):
        means = _mean_by_size(slice_, n_col, loss)
        found = slice_minimum(means[n_col], means[loss])
        rows.append(
            {
                "budget": float(value),
                "n_opt": found.n_opt,
                "loss_at_opt": found.loss_at_opt,
                "interior": found.interior,
                "n_min": float(means[n_col].min()),
                "n_max": float(means[n_col].max()),
                "sizes": len(means),
                "best_sampled_rank": int(np.argmin(means[loss].to_numpy())),
            }
        )
    return pd.DataFrame(rows)


def slope(budgets: Sequence[float], n_opt: Sequence[float]) -> float:
    """Least-squares slope of ``log N_opt`` on ``log C``: the allocation exponent ``a``."""
    return fit.allocation_exponent(budgets, n_opt).a


def compute_at_optimum(
    runs: pd.DataFrame, minima: pd.DataFrame, cost: str, n_col: str, budget: str = "budget"
) -> np.ndarray:
    """Each slice's budget re-expressed in another count: ``cost`` (a run column, e.g. 6·N·D)
    interpolated in ``log``-``log`` against size to the slice's ``n_opt``.

    Our slices are isoFLOP in the count they were designed with; in another count the runs of a
    slice spend different amounts, and this reads that count at the optimum.
    """
    _checks.require_columns("runs", runs, [cost, n_col, budget])
    values = []
    for row in minima.itertuples():
        slice_ = runs[runs[budget] == row.budget].groupby(n_col)[cost].mean().sort_index()
        values.append(
            float(np.exp(np.interp(np.log(row.n_opt), np.log(slice_.index), np.log(slice_))))
        )
    return np.array(values)


def _exponent(minima: pd.DataFrame, runs: pd.DataFrame, cost: str | None, n_col: str) -> float:
    """``a`` from slice minima, with budgets in the design's count or re-expressed in ``cost``."""
    x = minima["budget"] if cost is None else compute_at_optimum(runs, minima, cost, n_col)
    return slope(x, minima["n_opt"])


@dataclass(frozen=True)
class ExponentBootstrap:
    """The exponent from all runs and from bootstrap replicates that resample seeds and sizes."""

    point: float
    replicates: np.ndarray
    n_failed: int
    n_opt_point: pd.Series
    n_opt_replicates: pd.DataFrame

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of the replicates (NaN when every replicate failed)."""
        return _percentiles(self.replicates, level)

    def n_opt_interval(self, budget: float, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of one budget's optimal size."""
        if budget not in self.n_opt_replicates:
            return math.nan, math.nan
        return _percentiles(self.n_opt_replicates[budget].dropna().to_numpy(), level)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    if len(values) == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def _resample_slice(
    slice_: pd.DataFrame, n_col: str, loss: str, rng: np.random.Generator
) -> pd.DataFrame:
    sizes = np.sort(slice_[n_col].unique())
    chosen = rng.choice(sizes, size=len(sizes), replace=True)
    rows = []
    for size in chosen:
        seeds = slice_.loc[slice_[n_col] == size, loss].to_numpy()
        rows.append({n_col: size, loss: rng.choice(seeds, size=len(seeds)).mean()})
    return pd.DataFrame(rows)


def exponent_bootstrap(
    runs: pd.DataFrame,
    n_col: str = "n_params_non_embedding",
    loss: str = "val_loss",
    budget: str = "budget",
    cost: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> ExponentBootstrap:
    """``a`` with a bootstrap over sizes within each slice and seeds within each size.

    ``cost`` names a run column to re-express budgets in (see `compute_at_optimum`); without
    it the design's budgets are used. A replicate fails when a slice keeps fewer than three
    distinct sizes or its minimum falls outside the sizes it kept; failures are counted, not
    hidden (if every replicate fails, the interval is NaN: the design has no measured minimum).
    """
    _checks.positive_int("n_boot", n_boot)
    point_minima = slice_minima(runs, n_col, loss, budget)
    point = _exponent(point_minima, runs, cost, n_col)
    rng = np.random.default_rng(seed)
    slices = {value: part for value, part in runs.groupby(budget)}
    replicates, n_opts, failed = [], [], 0
    for _ in range(n_boot):
        found = {}
        for value, part in slices.items():
            sample = _resample_slice(part, n_col, loss, rng)
            means = _mean_by_size(sample, n_col, loss)
            if len(means) < 3:
                break
            minimum = slice_minimum(means[n_col], means[loss])
            if not minimum.interior:
                break
            found[value] = minimum.n_opt
        if len(found) < len(slices):
            failed += 1
            continue
        minima = pd.DataFrame({"budget": list(found), "n_opt": list(found.values())})
        replicates.append(_exponent(minima, runs, cost, n_col))
        n_opts.append(found)
    return ExponentBootstrap(
        point=point,
        replicates=np.array(replicates),
        n_failed=failed,
        n_opt_point=point_minima.set_index("budget")["n_opt"],
        n_opt_replicates=pd.DataFrame(n_opts),
    )


def leave_one_size_out(
    runs: pd.DataFrame,
    n_col: str = "n_params_non_embedding",
    loss: str = "val_loss",
    budget: str = "budget",
    cost: str | None = None,
) -> np.ndarray:
    """``a`` with each sampled size of each slice left out in turn (slices left with an
    exterior minimum are skipped): how much one design point moves the answer."""
    values = []
    for value in runs[budget].unique():
        for size in runs.loc[runs[budget] == value, n_col].unique():
            kept = runs[~((runs[budget] == value) & (runs[n_col] == size))]
            minima = slice_minima(kept, n_col, loss, budget)
            if not minima["interior"].all():
                continue
            values.append(_exponent(minima, kept, cost, n_col))
    return np.array(values)


def argmin_exponent(
    runs: pd.DataFrame, n_col: str, loss: str = "val_loss", budget: str = "budget"
) -> float:
    """``a`` from each slice's best sampled size, no interpolation."""
    minima = runs.groupby([budget, n_col])[loss].mean().reset_index()
    best = minima.loc[minima.groupby(budget)[loss].idxmin()]
    return slope(best[budget], best[n_col])


def sensitivity_table(
    runs: pd.DataFrame,
    costs: Mapping[str, str | None],
    loss: str = "val_loss",
    budget: str = "budget",
) -> pd.DataFrame:
    """``a`` under every parameter count and compute count: parabola on all sizes, best sampled
    size, and the range when one size is left out. ``costs`` maps a label to a run column
    (``None``: the design's own budgets)."""
    rows = []
    for n_label, n_col in PARAMETER_COUNTS.items():
        for c_label, cost in costs.items():
            minima = slice_minima(runs, n_col, loss, budget)
            dropped = leave_one_size_out(runs, n_col, loss, budget, cost)
            best = runs.groupby([budget, n_col])[loss].mean().reset_index()
            best = best.loc[best.groupby(budget)[loss].idxmin()].sort_values(budget)
            best_x = (
                best[budget]
                if cost is None
                else runs.set_index([budget, n_col])[cost]
                .groupby(level=[0, 1])
                .mean()
                .loc[list(zip(best[budget], best[n_col], strict=True))]
                .to_numpy()
            )
            rows.append(
                {
                    "parameters": n_label,
                    "compute": c_label,
                    "a (parabola)": _exponent(minima, runs, cost, n_col),
                    "a (best sampled size)": slope(best_x, best[n_col]),
                    "a, one size left out: lowest": _min_or_nan(dropped),
                    "a, one size left out: highest": -_min_or_nan(-dropped),
                }
            )
    return pd.DataFrame(rows)


def _min_or_nan(values: np.ndarray) -> float:
    return float(values.min()) if len(values) else math.nan


def approach3_exponent(
    E: float,
    A: float,
    B: float,
    alpha: float,
    beta: float,
    budgets: Sequence[float],
    ladder_n: Sequence[float],
    ladder_flops_per_token: Sequence[float],
) -> tuple[np.ndarray, float]:
    """Optimal sizes under a fitted ``L = E + A/N**alpha + B/D**beta`` when a model of size
    ``N`` costs ``f(N)`` FLOPs per token (``f`` interpolated log-log along the ladder),
    and the slope ``a``.

    This is Approach 3 under the same cost function as the isoFLOP slices: minimise ``L(N,
    C/f(N))`` over ``N`` for each budget, on a fine grid within the ladder's range.
    """
    n_grid = np.geomspace(min(ladder_n), max(ladder_n), 4000)
    log_f = np.interp(np.log(n_grid), np.log(ladder_n), np.log(ladder_flops_per_token))
    n_opt = []
    for c in _checks.finite_array("budgets", budgets, positive=True, min_size=2):
        tokens = c / np.exp(log_f)
        losses = E + A * n_grid**-alpha + B * tokens**-beta
        n_opt.append(n_grid[int(np.argmin(losses))])
    n_opt_arr = np.array(n_opt)
    return n_opt_arr, slope(budgets, n_opt_arr)


def cut_short_pairs(final: pd.DataFrame, cut_sweep: str = "cut_short") -> pd.DataFrame:
    """Each cut-short run beside the run whose cosine schedule ended at the same step (same
    width, budget and seed): the loss difference and the matched run's length in steps."""
    _checks.require_columns("final", final, ["sweep", "budget", "d_model", "seed", "val_loss"])
    keys = ["budget", "d_model", "seed"]
    cut = final[final["sweep"] == cut_sweep][[*keys, "val_loss"]]
    matched = final[final["sweep"] == "isoflop"][
        [*keys, "val_loss", "step", "n_params_non_embedding"]
    ]
    pairs = cut.merge(matched, on=keys, suffixes=("_cut_short", "_matched"))
    pairs["excess"] = pairs["val_loss_cut_short"] - pairs["val_loss_matched"]
    return pairs.rename(columns={"step": "steps"}).sort_values("steps").reset_index(drop=True)
