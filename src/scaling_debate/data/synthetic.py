"""A synthetic language whose entropy is known exactly: a Santa Fe process scored on its facts.

Dębowski's Santa Fe process (Dębowski 2023) writes ``X_t = (K_t, Z_{K_t})``: a "narration"
``K_t`` drawn i.i.d. from a Zipf law over keys, and for each key a fixed random bit ``Z_k`` of
"knowledge". A predictor that has seen key ``k`` knows ``Z_k``; one that has not pays ``ln 2``
nats for it. Keys are Zipf-distributed, so the share of probability held by keys not yet seen
falls as a power of the amount of data (Hutter 2021: ``n**(-alpha / (1 + alpha))`` for
``P(k) ∝ k**-(1 + alpha)``), and so does the loss above the floor.

Here each key is written as two base-32 digit tokens followed by its bit as a value token, so a
model has to store the facts in its weights (a key is not one embedding row), and only the
value tokens are scored (the other targets are ``-100``, which the trainer ignores). Two
versions share every fact and every key:

- ``santa-fe-zero``: the bit is always ``Z_k``. A model that knew every fact would have loss 0,
  so the floor is exactly zero and a pure power law is the right form.
- ``santa-fe-floor``: the bit is flipped with probability ``NOISE`` (0.1), independently at each
  occurrence. The best possible loss is the binary entropy ``h(0.1) = 0.3251`` nats per scored
  token, a floor a fit with an irreducible term should find.

Everything is deterministic given the name: the facts and the key code come from a fixed seed,
and batches draw all their randomness from the generator the trainer passes in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

PATTERN = r"santa-fe-(floor|zero)"
BASE = 32  # digit tokens 0..31 write a key
KEY_DIGITS = 2
N_KEYS = BASE**KEY_DIGITS  # 1,024 keys
VALUE_TOKENS = (BASE, BASE + 1)  # the bit 0 or 1
VOCAB_SIZE = BASE + 2
FACT_TOKENS = KEY_DIGITS + 1  # key digits, then the value
CONTEXT = 16 * FACT_TOKENS  # 16 facts per row
ZIPF_EXPONENT = 1.5  # P(k) ∝ k**-1.5, i.e. alpha = 0.5 in Hutter's notation
NOISE = 0.1  # flip probability of the bit in the floor version
FACT_SEED = 2023  # the facts and the key code; fixed, so the language is fixed
IGNORE_INDEX = -100
SPLITS = ("train", "val")


def binary_entropy_nats(p: float) -> float:
    """``h(p) = -p ln p - (1 - p) ln (1 - p)`` in nats (0 at p = 0 or 1)."""
    if not 0 <= p <= 1:
        raise ValueError(f"p={p!r}: must be a probability in [0, 1]")
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0)


def variant(name: str) -> str:
    """``"floor"`` or ``"zero"`` for a registered name; a clear error otherwise."""
    match = re.fullmatch(PATTERN, name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"name={name!r}: must be 'santa-fe-floor' or 'santa-fe-zero'")
    return match.group(1)


def noise_of(name: str) -> float:
    return NOISE if variant(name) == "floor" else 0.0


def entropy_nats(name: str) -> float:
    """Exact entropy of a scored (value) token, in nats: the loss of a model knowing every fact."""
    return binary_entropy_nats(noise_of(name))


def key_probabilities() -> np.ndarray:
    """``P(k)`` for keys ranked 1..N_KEYS: a Zipf law truncated at N_KEYS and normalised."""
    weights = np.arange(1, N_KEYS + 1, dtype=float) ** -ZIPF_EXPONENT
    return weights / weights.sum()


def ideal_excess_nats(n_facts: float | np.ndarray, name: str = "santa-fe-zero") -> np.ndarray:
    """Loss above the floor of an ideal learner after ``n_facts`` training facts.

    It knows the bit of every key it has seen (the majority bit, taken as exact here) and
    guesses 50:50 otherwise, paying ``ln 2 - h(noise)`` per unseen key:
    ``sum_k P(k) (1 - P(k))**n * (ln 2 - h)``. A reference curve, not a bound for a transformer.
    """
    p = key_probabilities()
    n = np.asarray(n_facts, dtype=float)
    unseen = np.sum(p * np.exp(np.multiply.outer(n, np.log1p(-p))), axis=-1)
    return unseen * (math.log(2) - entropy_nats(name))


@dataclass(frozen=True)
class SantaFeLanguage:
    """The Santa Fe language ``name`` (``santa-fe-floor`` or ``santa-fe-zero``)."""

    name: str
    vocab_size: int = VOCAB_SIZE
    noise: float = field(init=False)
    facts: torch.Tensor = field(init=False, repr=False, compare=False)  # Z_k by rank
    codes: torch.Tensor = field(init=False, repr=False, compare=False)  # digits by rank
    probs: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise", noise_of(self.name))
        rng = np.random.default_rng(FACT_SEED)
        facts = rng.integers(0, 2, size=N_KEYS)
        # a fixed random code, so that the digits of a key say nothing about its frequency
        code = rng.permutation(N_KEYS)
        digits = np.stack([code // BASE, code % BASE], axis=1)
        object.__setattr__(self, "facts", torch.as_tensor(facts, dtype=torch.int64))
        object.__setattr__(self, "codes", torch.as_tensor(digits, dtype=torch.int64))
        object.__setattr__(self, "probs", torch.as_tensor(key_probabilities()))

    @property
    def entropy_nats(self) -> float:
        return binary_entropy_nats(self.noise)

    def sample(
        self, batch_size: int, n_facts: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(tokens (B, 3 n), ranks (B, n), flipped (B, n))`` for ``n`` facts per row."""
        ranks = torch.multinomial(
            self.probs.expand(batch_size, -1), n_facts, replacement=True, generator=generator
        )
        flipped = torch.rand(batch_size, n_facts, generator=generator) < self.noise
        bits = self.facts[ranks] ^ flipped.long()
        tokens = torch.cat([self.codes[ranks], (VALUE_TOKENS[0] + bits)[..., None]], dim=-1)
        return tokens.reshape(batch_size, n_facts * FACT_TOKENS), ranks, flipped

    def batch(
        self, split: str, batch_size: int, context: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of whole facts; targets are the value tokens, every other target is -100."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: must be one of {', '.join(SPLITS)}")
        for label, value in (("batch_size", batch_size), ("context", context)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label}={value!r}: must be a positive integer")
        n_facts = math.ceil((context + 1) / FACT_TOKENS)
        tokens, _, _ = self.sample(batch_size, n_facts, generator)
        row = tokens[:, : context + 1]
        x, y = row[:, :-1].clone(), row[:, 1:].clone()
        y[y < VALUE_TOKENS[0]] = IGNORE_INDEX
        return x, y

    def bayes_loss(self, batch_size: int, n_facts: int, generator: torch.Generator) -> float:
        """Mean loss per value token of the true model (knows every fact) on a fresh sample.

        Its expectation is ``entropy_nats``: the empirical check that the entropy is right.
        """
        _, _, flipped = self.sample(batch_size, n_facts, generator)
        if self.noise == 0:
            return 0.0
        p_right = 1 - self.noise
        losses = torch.where(flipped, -math.log(self.noise), -math.log(p_right))
        return float(losses.double().mean())

    def evaluate(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        return {}


def load_santa_fe(name: str) -> SantaFeLanguage:
    variant(name)
    return SantaFeLanguage(name)
