"""Recognition memory: forced-choice accuracy from per-item losses (torch-free).

The training room's exposure protocol (``scaling_debate.training.exposure``) stores, for every
run, the mean token loss of each test item before study (exposure 0) and after each tested
number of exposures, plus the trials: pairs (studied item, foil) per condition. This module
turns those plain numbers into the two-alternative forced choice:

``raw``
    Orhan's rule: the model picks the item with the lower loss after study. Two different
    pictures or sentences differ in how predictable they are anyway, so this choice mixes
    memory with item difficulty.
``calibrated``
    The model picks the item whose loss *dropped more* through study, measured against the
    same model before study (a reference that did not study either item). Difficulty cancels:
    an easy foil no longer wins for being easy (Watson et al. 2022's difficulty calibration).

A tie counts as half a correct answer (a coin flip). Intervals: Wilson intervals for
accuracies over items (and seeds), and bootstrap intervals over items, drawn within each run,
for the number of exposures needed to reach a target accuracy, both through
:mod:`scaling_debate.analysis.uncertainty`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scaling_debate import _checks
from scaling_debate.analysis import uncertainty

SCORINGS = ("raw", "calibrated")
SPEC_COLUMNS = (
    "stimuli",
    "d_model",
    "n_layers",
    "n_heads",
    "n_items",
    "batch_size",
    "lr",
    "seed",
    "pretrain_steps",
)


def choice_scores(
    studied: np.ndarray,
    foil: np.ndarray,
    studied_before: np.ndarray | None = None,
    foil_before: np.ndarray | None = None,
) -> np.ndarray:
    """1 where the studied item is chosen, 0 where the foil is, 0.5 for a tie.

    Without ``*_before`` the choice is raw (lower loss wins); with them it is calibrated
    (larger drop in loss wins).
    """
    studied = np.asarray(studied, dtype=float)
    foil = np.asarray(foil, dtype=float)
    if (studied_before is None) != (foil_before is None):
        raise ValueError("give both studied_before and foil_before, or neither")
    if studied_before is not None:
        studied = studied - np.asarray(studied_before, dtype=float)
        foil = foil - np.asarray(foil_before, dtype=float)
    return np.where(studied < foil, 1.0, np.where(studied > foil, 0.0, 0.5))


def trials_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run, condition, trial and tested exposure (exposure 0 = before study).

    Columns: the spec fields (``pretrained`` added), ``key``, ``n_params``, ``condition``,
    ``item`` (the trial's index in its run), ``exposure``, ``studied_loss``, ``foil_loss``,
    ``studied_before``, ``foil_before``, ``raw`` and ``calibrated`` (1, 0 or 0.5).
    """
    frames = []
    for record in records:
        spec = record["spec"]
        losses = {int(e): np.asarray(v, dtype=float) for e, v in record["losses"].items()}
        before = losses[0]
        for condition, pairs in record["trials"].items():
            pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
            s, f = pairs[:, 0], pairs[:, 1]
            for exposure, after in sorted(losses.items()):
                frame = pd.DataFrame(
                    {
                        "condition": condition,
                        "item": np.arange(len(pairs)),
                        "exposure": exposure,
                        "studied_loss": after[s],
                        "foil_loss": after[f],
                        "studied_before": before[s],
                        "foil_before": before[f],
                    }
                )
                frame["raw"] = choice_scores(after[s], after[f])
                frame["calibrated"] = choice_scores(after[s], after[f], before[s], before[f])
                for column in SPEC_COLUMNS:
                    frame[column] = spec[column]
                frame["pretrained"] = spec["pretrain_steps"] > 0
                frame["key"] = record["key"]
                frame["n_params"] = record.get("n_params")
                frames.append(frame)
    if not frames:
        raise ValueError("records: must hold at least one recognition record")
    return pd.concat(frames, ignore_index=True)


def accuracy(
    trials: pd.DataFrame, by: Sequence[str], scoring: str = "raw", level: float = 0.95
) -> pd.DataFrame:
    """Accuracy per group with a Wilson interval over its trials (items and seeds pooled).

    Returns ``by`` plus ``trials``, ``correct`` (ties as halves), ``accuracy_pct``, ``lo_pct``,
    ``hi_pct``. The interval treats trials as independent draws, which is what a binomial
    interval over items assumes; seeds are pooled as more items.
    """
    _checks.one_of("scoring", scoring, SCORINGS)
    _checks.require_columns("trials", trials, [*by, scoring])
    rows = []
    for values, group in trials.groupby(list(by), sort=True):
        values = values if isinstance(values, tuple) else (values,)
        n = len(group)
        correct = float(group[scoring].sum())
        lo, hi = uncertainty.wilson_interval(math.floor(correct + 0.5), n, level)
        rows.append(
            {
                **dict(zip(by, values, strict=True)),
                "trials": n,
                "correct": correct,
                "accuracy_pct": 100 * correct / n,
                "lo_pct": 100 * lo,
                "hi_pct": 100 * hi,
            }
        )
    return pd.DataFrame(rows)


def exposures_to_reach(
    exposures: Sequence[float], accuracy_pct: Sequence[float], target_pct: float
) -> float:
    """Exposures at which accuracy first reaches ``target_pct``; ``inf`` if it never does.

    Between two tested exposure counts the accuracy is interpolated linearly in log2 of the
    exposures (they are tested at 1, 2, 4, 8, 16); at or above the target at the first tested
    count gives that count. Exposure 0 (before study) is ignored.
    """
    x = np.asarray(exposures, dtype=float)
    y = np.asarray(accuracy_pct, dtype=float)
    keep = x > 0
    x, y = x[keep], y[keep]
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x.size == 0:
        raise ValueError("exposures: must include at least one count above 0")
    above = np.flatnonzero(y >= target_pct)
    if above.size == 0:
        return math.inf
    first = int(above[0])
    if first == 0:
        return float(x[0])
    x0, x1 = np.log2(x[first - 1]), np.log2(x[first])
    y0, y1 = y[first - 1], y[first]
    return float(2 ** (x0 + (target_pct - y0) / (y1 - y0) * (x1 - x0)))


def exposures_to_human(
    trials: pd.DataFrame,
    target_pct: float | Mapping[str, float],
    scoring: str = "raw",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Exposures a group of trials needs to reach a target accuracy, with a bootstrap interval.

    ``target_pct`` is one target for all of ``trials`` (one condition of one design, several
    seeds allowed), or a mapping condition -> target: then the answer is the number of
    exposures after which *every* condition has reached its own target (the largest of the
    conditions' crossings). Items are resampled with replacement within each run (a run's items
    were studied together; an item's trials in the different conditions move together). A curve
    that never reaches its target within the tested range is *censored*: it counts as twice the
    largest tested count, so an interval end at that value reads "more than the largest count".
    Returns ``estimate``, ``lo``, ``hi``, ``max_exposure``, ``censored_at`` and
    ``reached_share`` (the share of replicates that reached the target).
    """
    _checks.one_of("scoring", scoring, SCORINGS)
    targets = dict(target_pct) if isinstance(target_pct, Mapping) else {None: target_pct}
    for value in targets.values():
        _checks.in_range("target_pct", value, 0, 100)
    _checks.require_columns("trials", trials, ["key", "item", "exposure", scoring])
    tested = trials[trials["exposure"] > 0]
    if None not in targets:
        _checks.require_columns("trials", trials, ["condition"])
        tested = tested[tested["condition"].isin(list(targets))]
    if tested.empty:
        raise ValueError("trials: must hold tested exposures above 0")
    max_exposure = float(tested["exposure"].max())
    censored_at = 2 * max_exposure
    columns = ["exposure"] if None in targets else ["condition", "exposure"]
    wide = tested.pivot_table(
        index=["key", "item"], columns=columns, values=scoring, aggfunc="mean"
    )
    matrix = wide.to_numpy()
    if np.isnan(matrix).any():
        raise ValueError("trials: every item must be tested in every condition and exposure")
    if None in targets:
        parts = {None: (np.arange(matrix.shape[1]), np.asarray(wide.columns, dtype=float))}
    else:
        labels = wide.columns.get_level_values("condition")
        counts = np.asarray(wide.columns.get_level_values("exposure"), dtype=float)
        parts = {c: (np.flatnonzero(labels == c), counts[labels == c]) for c in targets}
    runs = wide.index.get_level_values("key").to_numpy()
    blocks = [np.flatnonzero(runs == key) for key in pd.unique(runs)]

    def crossing(rows: np.ndarray) -> dict[str, float]:
        curve = 100 * matrix[rows].mean(axis=0)
        values = [
            exposures_to_reach(counts, curve[cols], targets[condition])
            for condition, (cols, counts) in parts.items()
        ]
        value = max(values)
        return {"exposures": value if math.isfinite(value) else censored_at}

    def draw(rng: np.random.Generator) -> dict[str, float]:
        rows = np.concatenate([rng.choice(block, size=block.size) for block in blocks])
        return crossing(rows)

    boot = uncertainty.replicate(
        lambda: crossing(np.arange(len(matrix))), draw, n_boot=n_boot, seed=seed
    )
    lo, hi = boot.interval("exposures", level)
    samples = boot.samples["exposures"].to_numpy()
    return {
        "estimate": boot.point["exposures"],
        "lo": lo,
        "hi": hi,
        "max_exposure": max_exposure,
        "censored_at": censored_at,
        "reached_share": float(np.mean(samples < censored_at)),
    }


def describe_exposures(result: Mapping[str, float], digits: int = 1) -> str:
    """Words for an exposures estimate: ``"3.2 (2.1 to 5.0)"``, ``"more than 16"``."""

    def word(value: float) -> str:
        if value >= result["censored_at"]:
            return f"more than {result['max_exposure']:.0f}"
        return f"{value:.{digits}f}"

    if result["estimate"] >= result["censored_at"]:
        return f"more than {result['max_exposure']:.0f} (not reached)"
    return f"{word(result['estimate'])} ({word(result['lo'])} to {word(result['hi'])})"


def loss_change(trials: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean change in loss through study (after minus before) of studied items and foils."""
    _checks.require_columns("trials", trials, [*by, "studied_loss", "studied_before"])
    frame = trials.assign(
        studied_change=trials["studied_loss"] - trials["studied_before"],
        foil_change=trials["foil_loss"] - trials["foil_before"],
    )
    return frame.groupby(list(by), as_index=False)[["studied_change", "foil_change"]].mean()
