"""k-digit addition as a next-token task, for the emergence chapter.

A problem is written ``a+b=c``. Both operands are zero-padded to ``digits``, and the sum is padded
to ``digits + 1`` so that the final carry has room: ``042+917=0959`` for three digits. With
``reverse_answer=True`` (the default) the sum is written least-significant digit first,
``042+917=9590``, so the model emits each digit after the lower digits whose carry it needs.
Lee et al. (2023), "Teaching Arithmetic to Small Transformers", found that small transformers
trained from scratch learn addition in this reversed format with far fewer examples than in the
plain format; the plain format is kept as a comparison.

Tokens: ids 0 to 9 are the digits themselves, then ``+``, ``=``, and a pad token that fills a
row after the answer (so it also marks the end of the problem). Only the answer digits are
scored, so the loss is the answer's cross-entropy.

Held-out problems are a fixed fraction of all ``(a, b)`` pairs, chosen by hashing the pair with
the task's seed. Training batches never contain them; validation batches and ``evaluate`` use
only them, so the metrics measure generalisation to unseen problems, not memory. Spaces of up to
a million pairs (``digits <= 3``) are enumerated and exactly ``round(heldout_fraction * pairs)``
pairs are held out, at least one and leaving at least one; with ``digits=1`` that is 10 of the
100 pairs, and the evaluation set is those 10 problems. Larger spaces hold out the pairs whose
hash falls below a threshold, which is the requested fraction up to sampling noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TOKEN_TEXT = "0123456789+=."
PLUS, EQUALS, PAD = 10, 11, 12
IGNORE_INDEX = -100  # torch cross_entropy's default ignore_index
SPLITS = ("train", "val")
MAX_DIGITS = 9  # keeps the pair index a * 10**digits + b inside int64
_ENUMERATE_UP_TO = 10**6  # pair spaces up to this size are listed explicitly


def problem_length(digits: int) -> int:
    """Tokens in one problem of ``digits`` digits: two operands, ``+``, ``=`` and the sum."""
    return 3 * digits + 3


class LanguageModel(Protocol):
    """What ``evaluate`` needs: ``model(tokens (B, T)) -> logits (B, T, vocab)``."""

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class AdditionTask:
    """Addition of two ``digits``-digit numbers, with a fixed held-out set of problems."""

    digits: int
    seed: int = 0
    reverse_answer: bool = True
    heldout_fraction: float = 0.1
    n_eval: int = 500

    vocab_size: ClassVar[int] = len(TOKEN_TEXT)

    # Derived in __post_init__. For enumerated spaces: a held-out flag per pair index, and the
    # pair indices of each split (held-out ones in hash order). Then the evaluation pairs.
    _heldout_table: np.ndarray | None = field(init=False, repr=False, compare=False)
    _pools: dict[str, torch.Tensor] | None = field(init=False, repr=False, compare=False)
    _eval_pairs: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("digits", self.digits, low=1, high=MAX_DIGITS)
        _check_int("seed", self.seed, low=0, high=2**63 - 1)
        _check_int("n_eval", self.n_eval, low=1)
        if not isinstance(self.reverse_answer, bool):
            raise ValueError(f"reverse_answer must be True or False, got {self.reverse_answer!r}")
        fraction = self.heldout_fraction
        if not (isinstance(fraction, int | float) and 0 < fraction < 1):
            raise ValueError(f"heldout_fraction must be strictly between 0 and 1, got {fraction!r}")
        table = self._enumerate_heldout()
        object.__setattr__(self, "_heldout_table", table)
        object.__setattr__(self, "_pools", None if table is None else self._pools_from(table))
        object.__setattr__(self, "_eval_pairs", self._choose_eval_pairs())

    @property
    def name(self) -> str:
        """``addition-<digits>``, the trainer's dataset name; ``-plain`` marks the plain order."""
        return f"addition-{self.digits}" + ("" if self.reverse_answer else "-plain")

    @property
    def problem_length(self) -> int:
        """Tokens in one problem: two operands, ``+``, ``=`` and the (digits + 1)-digit sum."""
        return problem_length(self.digits)

    @property
    def answer_start(self) -> int:
        """Position of the first answer token in a problem."""
        return 2 * self.digits + 2

    @property
    def eval_problems(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Operands ``(a, b)`` of the fixed evaluation problems (distinct, all held out).

        ``min(n_eval, number of held-out pairs)`` problems.
        """
        return self._split_pairs(self._eval_pairs)

    def encode(self, a: torch.Tensor | int, b: torch.Tensor | int) -> torch.Tensor:
        """Token ids of the problems ``a + b``: shape ``(n, problem_length)``, int64."""
        a, b = (torch.as_tensor(v, dtype=torch.int64).reshape(-1) for v in (a, b))
        limit = 10**self.digits
        for name, values in (("a", a), ("b", b)):
            if values.numel() and (values.min() < 0 or values.max() >= limit):
                raise ValueError(f"operand {name} must lie in [0, {limit}), got {values.tolist()}")
        msd_first = 10 ** torch.arange(self.digits - 1, -1, -1)
        answer_powers = 10 ** torch.arange(self.digits + 1)
        if not self.reverse_answer:
            answer_powers = answer_powers.flip(0)
        n = a.numel()
        return torch.cat(
            [
                _digits(a, msd_first),
                torch.full((n, 1), PLUS),
                _digits(b, msd_first),
                torch.full((n, 1), EQUALS),
                _digits(a + b, answer_powers),
            ],
            dim=1,
        )

    @staticmethod
    def to_text(tokens: torch.Tensor) -> str:
        """Readable text of one row of token ids, e.g. ``"042+917=9590..."``."""
        return "".join(TOKEN_TEXT[token] for token in tokens.reshape(-1).tolist())

    def is_heldout(self, a: torch.Tensor | int, b: torch.Tensor | int) -> torch.Tensor:
        """Whether each problem ``a + b`` belongs to the held-out set (bool tensor)."""
        a, b = (torch.as_tensor(v, dtype=torch.int64).reshape(-1) for v in (a, b))
        pairs = (a * 10**self.digits + b).numpy()
        return torch.from_numpy(self._heldout_mask(pairs))

    def batch(
        self, split: str, batch_size: int, context: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One problem per row, padded to ``context`` tokens; only answer digits are targets.

        ``x`` and ``y`` are int64 tensors of shape ``(batch_size, context)``; ``y`` is
        ``IGNORE_INDEX`` (-100) everywhere except the ``digits + 1`` positions that predict the
        answer. ``"train"`` draws uniformly from the non-held-out pairs, ``"val"`` from the
        held-out ones. All randomness comes from ``generator``.
        """
        _check_split(split)
        _check_int("batch_size", batch_size, low=1)
        if context < self.problem_length - 1:
            raise ValueError(
                f"context={context} is shorter than a problem needs: problem_length - 1 = "
                f"{self.problem_length - 1} for {self.digits}-digit addition"
            )
        a, b = self._split_pairs(self._sample_pairs(split, batch_size, generator))
        rows = torch.full((batch_size, context + 1), PAD)
        rows[:, : self.problem_length] = self.encode(a, b)
        x, targets = rows[:, :-1], rows[:, 1:]
        y = torch.full_like(targets, IGNORE_INDEX)
        scored = slice(self.answer_start - 1, self.problem_length - 1)
        y[:, scored] = targets[:, scored]
        return x, y

    def evaluate(self, model: LanguageModel, device: torch.device | str) -> dict[str, float]:
        """Metrics on the fixed held-out evaluation problems.

        - ``exact_match``: fraction of problems whose whole answer greedy decoding gets right;
        - ``digit_accuracy``: fraction of answer digits right under greedy decoding (a wrong
          digit is fed back, as in real generation);
        - ``answer_logprob_nats``: mean over problems of the log-likelihood of the full correct
          answer under teacher forcing (negative, 0 is perfect);
        - ``answer_nll_per_digit_nats``: the same per answer digit, negated.

        Likelihoods use the model's distribution over the whole vocabulary, not renormalised
        over digits, so a model with uniform logits scores ``ln(1 / vocab_size)`` per digit.
        An ``nn.Module`` is put in eval mode and returned to its previous mode.
        """
        model_context = getattr(model, "context", None)
        if model_context is not None and model_context < self.problem_length - 1:
            raise ValueError(
                f"model.context={model_context} is shorter than problem_length - 1 = "
                f"{self.problem_length - 1} for {self.digits}-digit addition"
            )
        problems = self.encode(*self.eval_problems).to(device)
        answers = problems[:, self.answer_start :]
        was_training = model.training if isinstance(model, nn.Module) else None
        if isinstance(model, nn.Module):
            model.eval()
        try:
            with torch.no_grad():
                logprobs = self._answer_logprobs(model, problems)
                guesses = self._greedy_answers(model, problems[:, : self.answer_start])
        finally:
            if isinstance(model, nn.Module):
                model.train(was_training)
        correct = guesses == answers
        return {
            "exact_match": correct.all(dim=1).float().mean().item(),
            "digit_accuracy": correct.float().mean().item(),
            "answer_logprob_nats": logprobs.sum(dim=1).mean().item(),
            "answer_nll_per_digit_nats": -logprobs.mean().item(),
        }

    def _answer_logprobs(self, model: LanguageModel, problems: torch.Tensor) -> torch.Tensor:
        """Log-probability of each correct answer digit under teacher forcing, (n, digits+1)."""
        logits = model(problems[:, :-1]).float()
        answer_logits = logits[:, self.answer_start - 1 :]
        answers = problems[:, self.answer_start :]
        logprobs = F.log_softmax(answer_logits, dim=-1)
        return logprobs.gather(-1, answers.unsqueeze(-1)).squeeze(-1)

    def _greedy_answers(self, model: LanguageModel, prompts: torch.Tensor) -> torch.Tensor:
        """The model's own answer after ``=``: digits + 1 argmax tokens, each fed back."""
        sequence = prompts
        for _ in range(self.digits + 1):
            next_token = model(sequence)[:, -1].argmax(dim=-1, keepdim=True)
            sequence = torch.cat([sequence, next_token], dim=1)
        return sequence[:, prompts.shape[1] :]

    @property
    def _n_pairs(self) -> int:
        return 10 ** (2 * self.digits)

    def _split_pairs(self, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return pairs // 10**self.digits, pairs % 10**self.digits

    def _heldout_mask(self, pairs: np.ndarray) -> np.ndarray:
        if self._heldout_table is not None:
            return self._heldout_table[pairs]
        # 53 high bits of the hash as a uniform number in [0, 1), compared exactly as integers
        threshold = math.floor(self.heldout_fraction * 2**53)
        return (_pair_hash(pairs, self.seed) >> 11) < threshold

    def _enumerate_heldout(self) -> np.ndarray | None:
        """Held-out flag per pair index: the pairs with the smallest hashes, in exact number."""
        if self._n_pairs > _ENUMERATE_UP_TO:
            return None
        n_heldout = min(max(round(self.heldout_fraction * self._n_pairs), 1), self._n_pairs - 1)
        hashes = _pair_hash(np.arange(self._n_pairs), self.seed)
        table = np.zeros(self._n_pairs, dtype=bool)
        table[np.argpartition(hashes, n_heldout)[:n_heldout]] = True
        return table

    def _pools_from(self, heldout_table: np.ndarray) -> dict[str, torch.Tensor]:
        heldout = np.flatnonzero(heldout_table)
        # hash order, so the first n_eval held-out pairs are a pseudo-random choice
        heldout = heldout[np.argsort(_pair_hash(heldout, self.seed))]
        train = np.flatnonzero(~heldout_table)
        return {"train": torch.from_numpy(train), "val": torch.from_numpy(heldout)}

    def _choose_eval_pairs(self) -> torch.Tensor:
        if self._pools is not None:
            return self._pools["val"][: self.n_eval]
        # Rejection-sample held-out pairs from a generator seeded by the task, keeping the
        # first occurrence of each so the evaluation problems are distinct.
        generator = torch.Generator().manual_seed(self.seed)
        chosen = np.empty(0, dtype=np.int64)
        while chosen.size < self.n_eval:
            drawn = self._sample_pairs("val", self.n_eval, generator).numpy()
            merged = np.concatenate([chosen, drawn])
            _, first_seen = np.unique(merged, return_index=True)
            chosen = merged[np.sort(first_seen)]
        return torch.from_numpy(chosen[: self.n_eval])

    def _sample_pairs(self, split: str, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` pair indices drawn uniformly (with replacement) from one split."""
        if self._pools is not None:
            pool = self._pools[split]
            return pool[torch.randint(pool.numel(), (n,), generator=generator)]
        want_heldout = split == "val"
        acceptance = self.heldout_fraction if want_heldout else 1.0 - self.heldout_fraction
        kept, n_kept = [], 0
        while n_kept < n:
            draws = torch.randint(
                self._n_pairs, (int(1.2 * n / acceptance) + 16,), generator=generator
            )
            accepted = draws[torch.from_numpy(self._heldout_mask(draws.numpy()) == want_heldout)]
            kept.append(accepted)
            n_kept += accepted.numel()
        return torch.cat(kept)[:n]


def _digits(values: torch.Tensor, powers: torch.Tensor) -> torch.Tensor:
    """Decimal digits of each value at the given powers of ten, one column per power."""
    return values[:, None] // powers % 10


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection on uint64 in which every
    input bit affects every output bit, so nearby pairs get unrelated hashes."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB
    return x ^ (x >> 31)


def _pair_hash(pairs: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit hash of each pair index, different for every task seed."""
    salt = _mix64(np.array([seed], dtype=np.uint64) + 0x9E3779B97F4A7C15)
    return _mix64(_mix64(pairs.astype(np.uint64)) ^ salt)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def _check_int(name: str, value: int, low: int, high: int | None = None) -> None:
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
