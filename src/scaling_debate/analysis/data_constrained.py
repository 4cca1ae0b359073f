"""Repeated data: Muennighoff et al. (2023)'s effective tokens for "train it longer" questions.

Chinchilla's law is fitted on runs that read each token about once. A small model given a big
model's compute reads more tokens than its corpus holds, so it repeats data. Muennighoff et al.
model a repeated token as worth less than a fresh one: with ``U`` unique tokens read ``D`` times
in all (``R = D/U - 1`` repetitions), the effective data are

    D' = U + U R* (1 - exp(-R / R*)),

which equals ``D`` while nothing repeats and tends to ``U (1 + R*)`` however long one trains.
A training mixture repeats each subset at its own rate; its effective data are the sum over
subsets. ``D'`` replaces ``D`` in ``L = E + A/N^alpha + B/D^beta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from scaling_debate import _checks, published
from scaling_debate.analysis import laws as fit


@dataclass(frozen=True)
class DecayConstants:
    """Muennighoff et al.'s decay constants: repeated tokens (``r_d_star``), excess parameters."""

    r_d_star: float
    r_n_star: float


def published_decay() -> DecayConstants:
    """The decay constants of ``data/published/muennighoff2023_fit.csv`` (unrounded)."""
    return DecayConstants(
        r_d_star=published.constant("muennighoff2023_fit", "R_D_star"),
        r_n_star=published.constant("muennighoff2023_fit", "R_N_star"),
    )


def published_law() -> fit.ChinchillaFit:
    """Muennighoff et al.'s own fit of ``E + A/N'^alpha + B/D'^beta`` (C4, GPT-2 tokens)."""
    values = {
        key: published.constant("muennighoff2023_fit", key)
        for key in ("E", "A", "B", "alpha", "beta")
    }
    return fit.ChinchillaFit(**values, loss=math.nan, n=0)


def effective_tokens(tokens: ArrayLike, unique_tokens: ArrayLike, r_d_star: float) -> np.ndarray:
    """Effective data of ``tokens`` read from ``unique_tokens`` distinct ones (elementwise).

    Fewer tokens than the unique ones means no repetition: the effective data are the tokens.
    """
    _checks.positive_number("r_d_star", r_d_star)
    total = np.asarray(tokens, dtype=float)
    unique = np.asarray(unique_tokens, dtype=float)
    if np.any(total < 0) or np.any(unique <= 0):
        raise ValueError("tokens must be non-negative and unique_tokens positive")
    repeats = np.maximum(total / unique - 1, 0.0)
    repeated = unique + unique * r_d_star * (1 - np.exp(-repeats / r_d_star))
    return np.where(total <= unique, total, repeated)


def mixture_unique_tokens(
    shares_pct: ArrayLike, epochs: ArrayLike, trained_tokens: float
) -> np.ndarray:
    """Unique tokens of each subset of a mixture, from its share and its passes in a run.

    A subset that took ``share`` of ``trained_tokens`` in ``epochs`` passes holds
    ``share * trained_tokens / epochs`` tokens (LLaMA's and Chinchilla's tables print shares and
    epochs, not sizes).
    """
    share = _checks.finite_array("shares_pct", shares_pct, positive=True) / 100
    passes = _checks.finite_array("epochs", epochs, positive=True)
    _checks.positive_number("trained_tokens", trained_tokens)
    return share * trained_tokens / passes


def mixture_epochs(tokens: float, shares_pct: ArrayLike, unique_tokens: ArrayLike) -> np.ndarray:
    """Passes over each subset when ``tokens`` are drawn with the mixture's shares."""
    share = _checks.finite_array("shares_pct", shares_pct, positive=True) / 100
    unique = _checks.finite_array("unique_tokens", unique_tokens, positive=True)
    return share / share.sum() * tokens / unique


def mixture_effective_tokens(
    tokens: float, shares_pct: ArrayLike, unique_tokens: ArrayLike, r_d_star: float
) -> float:
    """Effective data of ``tokens`` drawn from a mixture, each subset repeating at its own rate."""
    share = _checks.finite_array("shares_pct", shares_pct, positive=True) / 100
    unique = _checks.finite_array("unique_tokens", unique_tokens, positive=True)
    per_subset = share / share.sum() * tokens
    return float(effective_tokens(per_subset, unique, r_d_star).sum())


def mixture_effective_ceiling(unique_tokens: ArrayLike, r_d_star: float) -> float:
    """The most effective data a mixture can give, however long one trains: ``sum U (1 + R*)``."""
    unique = _checks.finite_array("unique_tokens", unique_tokens, positive=True)
    return float(unique.sum() * (1 + _checks.positive_number("r_d_star", r_d_star)))


def tokens_for_effective(
    effective: float, shares_pct: ArrayLike, unique_tokens: ArrayLike, r_d_star: float
) -> float:
    """Tokens to read from the mixture to get ``effective`` effective tokens (inf: never).

    The effective data grow strictly with the tokens read and stay below
    `mixture_effective_ceiling`; a target at or above the ceiling returns ``math.inf``.
    """
    _checks.positive_number("effective", effective)
    if effective >= mixture_effective_ceiling(unique_tokens, r_d_star):
        return math.inf

    def shortfall(log_tokens: float) -> float:
        tokens = math.exp(log_tokens)
        reached = mixture_effective_tokens(tokens, shares_pct, unique_tokens, r_d_star)
        return math.log(reached) - math.log(effective)

    low = math.log(effective)  # effective data never exceed the tokens read
    high = low + 1.0
    while shortfall(high) < 0:
        high += 1.0
    return math.exp(brentq(shortfall, low, high, xtol=1e-12))


def params_with_optimal_data(law: fit.ChinchillaFit, tokens: float) -> float:
    """The model size for which ``tokens`` are the law's compute-optimal data (``U_N``).

    From the law's closed-form allocation ``D_opt = (C/6)^b / G``, ``N_opt = G (C/6)^a``.
    Muennighoff et al. discount parameters beyond this size; a smaller model has none in excess.
    """
    _checks.positive_number("tokens", tokens)
    g = (law.alpha * law.A / (law.beta * law.B)) ** (1 / (law.alpha + law.beta))
    return float(g * (tokens * g) ** (law.a / law.b))


def constrained_loss(
    law: fit.ChinchillaFit,
    n_params: float,
    tokens: float,
    shares_pct: ArrayLike,
    unique_tokens: ArrayLike,
    decay: DecayConstants,
) -> float:
    """``law``'s loss with Muennighoff et al.'s effective data and effective parameters.

    Parameters beyond `params_with_optimal_data` for the mixture's unique tokens are discounted
    with ``r_n_star`` as in their eq. for ``N'``; data with ``r_d_star``.
    """
    data = mixture_effective_tokens(tokens, shares_pct, unique_tokens, decay.r_d_star)
    base = min(n_params, params_with_optimal_data(law, float(np.sum(unique_tokens))))
    excess = max(n_params / base - 1, 0.0)
    params = base + base * decay.r_n_star * (1 - math.exp(-excess / decay.r_n_star))
    return float(law.predict(params, data))
