"""Unit conversions used across the book, kept in one place.

Losses are in nats per token unless a name says otherwise; compute is in FLOPs or in
petaflop/s-days (PF-days), the unit of Kaplan et al. (2020) and Brown et al. (2020).
The functions work on plain floats and elementwise on numpy arrays or pandas Series.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

# One petaflop/s sustained for a day: 1e15 FLOP/s x 86,400 s, as defined in Kaplan et al.
# (2020, section 1.3) and in the caption of Brown et al. (2020, Table D.1).
PF_DAY_FLOPS = 1e15 * 24 * 3600

Quantity = TypeVar("Quantity", float, np.ndarray)


def _require_non_negative(name: str, value: float | np.ndarray) -> None:
    values = np.asarray(value, dtype=float)
    negative = values[values < 0]
    if negative.size:
        raise ValueError(
            f"{name} must be non-negative (an amount of compute); got {negative.flat[0]!r}"
        )


def pf_days_to_flops(pf_days: Quantity) -> Quantity:
    """Convert petaflop/s-days to floating-point operations (1 PF-day = 8.64e19 FLOPs)."""
    _require_non_negative("pf_days", pf_days)
    return pf_days * PF_DAY_FLOPS


def flops_to_pf_days(flops: Quantity) -> Quantity:
    """Convert floating-point operations to petaflop/s-days (1 PF-day = 8.64e19 FLOPs)."""
    _require_non_negative("flops", flops)
    return flops / PF_DAY_FLOPS


def nats_to_bits(nats: Quantity) -> Quantity:
    """Convert an information quantity (a loss, or a difference of losses) from nats to bits."""
    return nats / math.log(2)


def bits_to_nats(bits: Quantity) -> Quantity:
    """Convert an information quantity from bits to nats (1 bit = ln 2 nats)."""
    return bits * math.log(2)


def _require_perplexity(perplexity: float | np.ndarray) -> None:
    values = np.asarray(perplexity, dtype=float)
    bad = values[~(values >= 1)]
    if bad.size:
        raise ValueError(f"perplexity must be at least 1 (e**loss); got {bad.flat[0]!r}")


def perplexity_to_nats(perplexity: Quantity) -> Quantity:
    """The loss in nats per token of a perplexity: ln(perplexity). A perplexity of 10 is 2.303."""
    _require_perplexity(perplexity)
    return np.log(perplexity) if isinstance(perplexity, np.ndarray) else math.log(perplexity)


def perplexity_to_bits(perplexity: Quantity) -> Quantity:
    """The loss in bits per token of a perplexity: log2(perplexity). 10 gives 3.322 bits."""
    return nats_to_bits(perplexity_to_nats(perplexity))


def nats_to_perplexity(nats: Quantity) -> Quantity:
    """The perplexity of a loss in nats per token: e**loss."""
    return np.exp(nats)


def bits_per_byte(nats_per_token: Quantity, bytes_per_token: float) -> Quantity:
    """Bits per byte of UTF-8 text from a loss in nats per token and the tokenizer's bytes per
    token (the Pile's tokenizer-free unit, Gao et al. 2020): loss / ln 2 / bytes_per_token."""
    if not (isinstance(bytes_per_token, int | float) and bytes_per_token > 0):
        raise ValueError(f"bytes_per_token must be a positive number; got {bytes_per_token!r}")
    return nats_to_bits(nats_per_token) / bytes_per_token
