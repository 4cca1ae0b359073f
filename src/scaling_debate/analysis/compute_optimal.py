"""Compute-optimal allocation: published fits applied, and our own isoFLOP sweeps analysed.

Chinchilla's loss law ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022, Approach 3)
answers "what if this model had been trained longer" questions; isoFLOP parabolas (Approach 2)
locate the best model size for each compute budget directly from runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scaling_debate import _checks, published
from scaling_debate.analysis import laws as fit
from scaling_debate.analysis import uncertainty


def published_chinchilla_fit(name: str) -> fit.ChinchillaFit:
    """A published Approach 3 fit from ``data/published/chinchilla_fits.csv`` as a fit object."""
    table = published.load("chinchilla_fits")
    available = sorted(table["fit"].unique())
    if name not in available:
        raise ValueError(f"unknown published fit {name!r}; available: {', '.join(available)}")
    rows = table[table["fit"] == name].set_index("quantity")["value"]
    return law_from_values({key: float(rows[key]) for key in ("E", "A", "B", "alpha", "beta")})


def epoch_points(exclude_highest: int = 5) -> pd.DataFrame:
    """Besiroglu et al.'s points reconstructed from Hoffmann et al.'s Figure 4, as they fit them.

    Their published refit drops the ``exclude_highest`` highest-loss points (five, in their
    notebook) as outliers; all 245 points give a different fit (B about six times larger).
    """
    points = published.load("epoch_chinchilla_points")
    if exclude_highest <= 0:
        return points
    cutoff = points["loss_nats"].sort_values().iloc[-exclude_highest]
    return points[points["loss_nats"] < cutoff].reset_index(drop=True)


def tokens_at_compute(n_params: float | np.ndarray, compute_flops: float) -> np.ndarray:
    """Tokens a model of ``n_params`` reads when it spends ``compute_flops`` (C = 6ND)."""
    return compute_flops / (6.0 * np.asarray(n_params, dtype=float))


def isoflop_penalty(
    law: fit.ChinchillaFit, compute_flops: float, shrink_factors: Sequence[float]
) -> pd.DataFrame:
    """Loss of models ``k`` times smaller than optimal at the same compute, and their cost.

    ``extra_compute`` is the factor by which the smaller model's compute must grow (more tokens
    at its size) to reach the optimum's loss; infinite when its size alone cannot get there.
    """
    n_opt, d_opt = law.optimal_allocation(compute_flops)
    best = float(law.predict(n_opt, d_opt))
    rows = []
    for factor in shrink_factors:
        n_small = n_opt / factor
        loss = float(law.predict(n_small, tokens_at_compute(n_small, compute_flops)))
        data_term_needed = best - law.E - law.A * n_small**-law.alpha
        if data_term_needed > 0:
            tokens_needed = (law.B / data_term_needed) ** (1 / law.beta)
            extra = 6 * n_small * tokens_needed / compute_flops
        else:
            extra = float("inf")
        rows.append(
            {
                "shrink_factor": factor,
                "n_params": n_small,
                "loss_nats": loss,
                "penalty_nats": loss - best,
                "extra_compute": extra,
            }
        )
    return pd.DataFrame(rows)


def tokens_to_match(law: fit.ChinchillaFit, n_params: float, target_loss: float) -> float:
    """Tokens a model of ``n_params`` needs to reach ``target_loss`` (inf if it never can)."""
    data_term = target_loss - loss_floor(law, n_params)
    return float((law.B / data_term) ** (1 / law.beta)) if data_term > 0 else float("inf")


def loss_floor(law: fit.ChinchillaFit, n_params: float) -> float:
    """Loss of a model of ``n_params`` trained on infinite data: ``E + A / N**alpha``."""
    return float(law.E + law.A * _checks.positive_number("n_params", n_params) ** -law.alpha)


def compute_to_match(
    law: fit.ChinchillaFit, n_params: float, target_loss: float
) -> tuple[float, float]:
    """Tokens and compute (``6ND``) a model of ``n_params`` needs to reach ``target_loss``.

    Both are ``math.inf`` when the target lies at or below `loss_floor`: no amount of data
    brings a model of that size there.
    """
    tokens = tokens_to_match(law, n_params, target_loss)
    return tokens, 6.0 * n_params * tokens


def params_to_match_at_infinite_data(law: fit.ChinchillaFit, target_loss: float) -> float:
    """The smallest model that can reach ``target_loss`` at all (with infinite data).

    ``math.inf`` when the target is at or below the irreducible loss E.
    """
    room = target_loss - law.E
    return float((law.A / room) ** (1 / law.alpha)) if room > 0 else math.inf


def tokens_per_parameter(law: fit.ChinchillaFit, compute_flops: ArrayLike) -> np.ndarray:
    """Compute-optimal tokens per parameter ``D_opt / N_opt`` at each budget (``C = 6ND``)."""
    n_opt, d_opt = law.optimal_allocation(np.atleast_1d(np.asarray(compute_flops, dtype=float)))
    return d_opt / n_opt


def preferred_size(law: fit.ChinchillaFit, n_params: ArrayLike, compute_flops: float) -> float:
    """Of the sizes ``n_params``, the one with the lowest loss when each spends the compute."""
    sizes = _checks.finite_array("n_params", n_params, positive=True)
    losses = law.predict(sizes, tokens_at_compute(sizes, compute_flops))
    return float(sizes[int(np.argmin(losses))])


def extrapolation_factors(
    points: pd.DataFrame,
    n_params: float,
    tokens: float,
    params: str = "model_params",
    data: str = "train_tokens",
) -> dict[str, float]:
    """How far a query ``(N, D)`` lies beyond the largest fitted ``N``, ``D``, ``D/N`` and ``6ND``.

    Each value is the query's quantity over the fitted data's maximum: above 1 is extrapolation.
    """
    _checks.require_columns("points", points, [params, data])
    n = points[params].to_numpy(dtype=float)
    d = points[data].to_numpy(dtype=float)
    return {
        "N": n_params / n.max(),
        "D": tokens / d.max(),
        "D/N": (tokens / n_params) / (d / n).max(),
        "C": (n_params * tokens) / (n * d).max(),
    }


def log_residuals(
    law: fit.ChinchillaFit,
    points: pd.DataFrame,
    params: str = "model_params",
    tokens: str = "train_tokens",
    loss: str = "loss_nats",
) -> np.ndarray:
    """``log(observed loss) - log(predicted loss)`` at each point, the residual Approach 3 fits."""
    _checks.require_columns("points", points, [params, tokens, loss])
    predicted = law.predict(points[params].to_numpy(dtype=float), points[tokens].to_numpy(float))
    return np.log(points[loss].to_numpy(dtype=float)) - np.log(predicted)


_LAW_PARAMETERS = ("A", "B", "E", "alpha", "beta")


def parameter_distance(law: fit.ChinchillaFit, replicates: pd.DataFrame) -> tuple[float, int]:
    """Mahalanobis distance of ``law``'s parameters from bootstrap replicates of another fit.

    The parameters are taken as ``(log A, log B, log E, alpha, beta)``; the distance uses the
    replicates' mean and covariance. Returns the squared distance and its degrees of freedom,
    to be read against a chi-squared distribution when the replicates are roughly Gaussian.
    """
    _checks.require_columns("replicates", replicates, list(_LAW_PARAMETERS))
    if len(replicates) <= len(_LAW_PARAMETERS):
        raise ValueError(
            f"{len(replicates)} replicates cannot estimate a {len(_LAW_PARAMETERS)}-parameter "
            "covariance"
        )

    def vector(values: Mapping[str, float] | pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [
                np.log(np.asarray(values["A"], dtype=float)),
                np.log(np.asarray(values["B"], dtype=float)),
                np.log(np.asarray(values["E"], dtype=float)),
                np.asarray(values["alpha"], dtype=float),
                np.asarray(values["beta"], dtype=float),
            ]
        )

    cloud = vector(replicates)
    difference = vector(law.as_dict())[0] - cloud.mean(axis=0)
    covariance = np.cov(cloud, rowvar=False)
    return float(difference @ np.linalg.solve(covariance, difference)), len(_LAW_PARAMETERS)


def equivalence(lo: float, hi: float, margin: float) -> str:
    """Whether a loss gap (small model minus big model, nats) is within ``margin`` of zero.

    ``lo`` and ``hi`` are the ends of the gap's interval (equal for a point estimate). A gap
    whose whole interval lies at or below ``margin`` is ``"within"`` (level or ahead, up to the
    margin); one whose whole interval lies above it is ``"beyond"``; otherwise ``"undecided"``.
    """
    _checks.positive_number("margin", margin)
    if lo > hi:
        raise ValueError(f"interval ends out of order: lo={lo!r} > hi={hi!r}")
    if hi <= margin:
        return "within"
    if lo > margin:
        return "beyond"
    return "undecided"


def seed_noise_sd(final: pd.DataFrame, loss: str = "val_loss") -> float:
    """Pooled standard deviation of final loss between seeds of otherwise identical runs."""
    spec_columns = [c for c in ("data", "d_model", "tokens", "schedule") if c in final]
    groups = final.groupby(spec_columns)[loss]
    deviations = groups.transform(lambda s: s - s.mean())[groups.transform("size") > 1]
    sizes = groups.size()
    dof = int((sizes[sizes > 1] - 1).sum())
    if dof == 0:
        raise ValueError("no configuration was trained with more than one seed")
    return float(np.sqrt((deviations**2).sum() / dof))


def isoflop_minima(
    final: pd.DataFrame, loss: str = "val_loss", params: str = "n_params_non_embedding"
) -> pd.DataFrame:
    """Approach 2: the loss-minimising size of each budget from a parabola in log N.

    Seeds are averaged first. Rows need a ``budget`` column (the label `isoflop_specs` gives).
    """
    mean = final.groupby(["budget", params], as_index=False)[loss].mean()
    rows = []
    for budget, slice_ in mean.groupby("budget"):
        rows.append(
            {"budget": budget, "n_opt": fit.isoflop_minimum(np.log(slice_[params]), slice_[loss])}
        )
    return pd.DataFrame(rows)


def isoflop_bootstrap(
    final: pd.DataFrame,
    noise_sd: float,
    n_boot: int = 1000,
    seed: int = 0,
    loss: str = "val_loss",
    params: str = "n_params_non_embedding",
) -> uncertainty.BootstrapResult:
    """Parametric bootstrap of the isoFLOP minima and the exponent ``a`` of N_opt ∝ C^a.

    Each replicate adds Gaussian noise with the measured seed-to-seed standard deviation to
    every run's final loss and repeats Approach 2, so the interval says how far seed noise
    alone could move the minima. Replicates whose parabola has no minimum are counted as failed.
    """
    _checks.in_range("noise_sd", noise_sd, 0, math.inf)

    def estimate(losses: np.ndarray) -> dict[str, float]:
        minima = isoflop_minima(final.assign(**{loss: losses}), loss, params)
        values = {
            f"n_opt_{b:.3g}": n for b, n in zip(minima["budget"], minima["n_opt"], strict=True)
        }
        values["a"] = fit.allocation_exponent(minima["budget"], minima["n_opt"]).a
        return values

    observed = final[loss].to_numpy(dtype=float)
    return uncertainty.replicate(
        lambda: estimate(observed),
        lambda rng: estimate(observed + rng.normal(0, noise_sd, observed.size)),
        n_boot=n_boot,
        seed=seed,
    )


def loss_at_compute(
    curve: pd.DataFrame, compute_flops: float, compute: str = "flops_exact", loss: str = "val_loss"
) -> float:
    """Loss of one run's training curve at ``compute_flops``, interpolated in log-log space.

    This is Kaplan et al.'s reading of a long run cut short: the loss the run had reached when
    it had spent ``compute_flops``, with its learning rate still on a longer schedule.
    """
    x = np.log(curve[compute].to_numpy(dtype=float))
    y = np.log(curve[loss].to_numpy(dtype=float))
    target = np.log(compute_flops)
    if not x.min() <= target <= x.max():
        raise ValueError(
            f"compute {compute_flops:.3g} outside the curve's range "
            f"[{np.exp(x.min()):.3g}, {np.exp(x.max()):.3g}]"
        )
    return float(np.exp(np.interp(target, x, y)))


def cut_short_frame(
    results: pd.DataFrame, long_keys: Sequence[str], budgets: Sequence[float]
) -> pd.DataFrame:
    """Losses read off long runs at smaller budgets, as Kaplan et al. read their curves.

    One row per long run and budget, with the columns `isoflop_minima` needs (``budget``,
    ``d_model``, ``n_params_non_embedding``, ``val_loss``).
    """
    rows = []
    for key in long_keys:
        curve = results[results["key"] == key]
        for budget in budgets:
            rows.append(
                {
                    "budget": budget,
                    "d_model": int(curve["d_model"].iloc[0]),
                    "n_params_non_embedding": int(curve["n_params_non_embedding"].iloc[0]),
                    "val_loss": loss_at_compute(curve, budget),
                }
            )
    return pd.DataFrame(rows)


def cut_short_vs_matched(cut_short: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """Cut-short readings next to the final loss of runs whose schedule matched that budget.

    ``matched`` holds final points with a ``budget`` column; seeds are averaged.
    """
    matched_mean = matched.groupby(["budget", "d_model"], as_index=False)["val_loss"].mean()
    frame = cut_short.merge(
        matched_mean, on=["budget", "d_model"], suffixes=("_cut_short", "_matched")
    )
    frame["cut_short_excess"] = frame["val_loss_cut_short"] - frame["val_loss_matched"]
    return frame


# Smallest scale a start may take: a fit with E at its boundary (zero, or so small that exp()
# underflowed) starts its replicates here instead of at log(0).
_SMALLEST_START = 1e-12


def local_grid(law: fit.ChinchillaFit) -> dict[str, tuple[float, ...]]:
    """A 9-start grid around ``law``: exponents scaled by 0.7, 1 and 1.4, scales as fitted."""

    def log_start(value: float) -> tuple[float]:
        return (float(np.log(max(value, _SMALLEST_START))),)

    return {
        "a": log_start(law.A),
        "b": log_start(law.B),
        "e": log_start(law.E),
        "alpha": (law.alpha * 0.7, law.alpha, law.alpha * 1.4),
        "beta": (law.beta * 0.7, law.beta, law.beta * 1.4),
    }


def chinchilla_bootstrap(
    frame: pd.DataFrame,
    n_boot: int,
    seed: int = 0,
    start: fit.ChinchillaFit | None = None,
    params: str = "n_params",
    tokens: str = "tokens",
    loss: str = "loss",
) -> uncertainty.BootstrapResult:
    """Approach 3 with a row bootstrap; every fit starts from a small grid around ``start``.

    Without ``start``, the full data are first fitted from `fit.COARSE_GRID`. Starting the
    replicates near the full fit finds the same basin at a fiftieth of a grid search's cost;
    the full-grid search itself is exercised against Besiroglu et al.'s refit in the tests.
    """
    if start is None:
        start = fit.fit_chinchilla(
            frame[params], frame[tokens], frame[loss], init_grid=fit.COARSE_GRID
        )
    grid = local_grid(start)

    def fit_frame(sample: pd.DataFrame) -> dict[str, float]:
        law = fit.fit_chinchilla(sample[params], sample[tokens], sample[loss], init_grid=grid)
        return {**law.as_dict(), "a": law.a}

    return uncertainty.bootstrap(fit_frame, frame, n_boot=n_boot, seed=seed)


def law_from_values(values: dict[str, float]) -> fit.ChinchillaFit:
    """A fit object from a dict of E, A, B, alpha, beta (a bootstrap replicate, say)."""
    return fit.ChinchillaFit(
        E=values["E"],
        A=values["A"],
        B=values["B"],
        alpha=values["alpha"],
        beta=values["beta"],
        loss=float("nan"),
        n=0,
    )


def allocation_exponent_6nd(
    n_opt_by_budget: Mapping[float, float],
    ladder_n: ArrayLike,
    ladder_exact_over_6nd: ArrayLike,
) -> float:
    """Allocation exponent with each budget re-expressed as 6·N·D for its optimal model.

    ``n_opt_by_budget`` maps exact-FLOP budgets to their loss-minimising N; ``ladder_n`` and
    ``ladder_exact_over_6nd`` give, for the model ladder, N and the ratio of exact FLOPs per
    token to 6N, interpolated log-log at each N_opt.
    """
    if not n_opt_by_budget:
        raise ValueError(f"n_opt_by_budget={n_opt_by_budget!r}: must hold at least two budgets")
    n_opt = np.asarray(list(n_opt_by_budget.values()), dtype=float)
    budgets = np.asarray(list(n_opt_by_budget), dtype=float)
    ladder = _checks.finite_array("ladder_n", ladder_n, positive=True, min_size=2)
    ratios = _checks.finite_array(
        "ladder_exact_over_6nd", ladder_exact_over_6nd, positive=True, min_size=2
    )
    ratio = np.exp(np.interp(np.log(n_opt), np.log(ladder), np.log(ratios)))
    return fit.allocation_exponent(budgets / ratio, n_opt).a
