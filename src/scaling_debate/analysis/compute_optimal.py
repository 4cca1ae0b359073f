"""Compute-optimal allocation under Chinchilla's loss law, published or fitted to our runs.

The law ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022, Approach 3) answers "what
if this model had been trained longer" questions: losses at a compute budget, the tokens or
compute a model needs to match another, the optimum and its flatness, with bootstraps of the
fit. Approach 2 on our own isoFLOP slices is in `scaling_debate.analysis.isoflop`.
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
