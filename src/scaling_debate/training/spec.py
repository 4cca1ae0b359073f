"""What to train: `RunSpec`, the frozen description of one run, and its content hash.

A run is a pure function of its spec: same spec, same hash, same stored result. The hash covers
every field that changes a result plus ``TRAINING_CODE_VERSION``, which is bumped whenever the
training code's semantics change, so stale results are never reused silently. Design labels
(which sweep, which budget) ride along outside the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from scaling_debate import _checks
from scaling_debate.data import dataset_info

# Bump when a change to the trainer, the model or a dataset would change any stored number.
TRAINING_CODE_VERSION = 2

SCHEDULES = ("cosine", "fixed")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run's result.

    ``tokens`` is the training budget in tokens. ``schedule="cosine"`` decays the learning rate
    over the run's own length (Hoffmann et al. 2022); ``schedule="fixed"`` decays it over
    ``schedule_tokens`` and stops at ``tokens``, the "one long schedule cut short" setup that
    Kaplan et al. (2020) used to read off intermediate losses.
    """

    data: str
    d_model: int
    n_layers: int
    n_heads: int
    context: int
    tokens: int
    batch_size: int = 32
    lr: float = 3e-3
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    schedule: str = "cosine"
    schedule_tokens: int | None = None
    n_evals: int = 8
    eval_tokens: int = 65_536
    seed: int = 0
    labels: tuple[tuple[str, Any], ...] = dataclasses.field(default=(), compare=False)

    def __post_init__(self) -> None:
        dataset_info(self.data)  # raises, listing the registered datasets
        for name in ("d_model", "n_layers", "n_heads", "context", "batch_size", "n_evals"):
            _checks.positive_int(f"RunSpec.{name}", getattr(self, name))
        _checks.positive_int("RunSpec.tokens (training budget)", self.tokens)
        _checks.positive_int("RunSpec.seed", self.seed, minimum=0)
        if self.schedule_tokens is not None:
            _checks.positive_int("RunSpec.schedule_tokens", self.schedule_tokens)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"RunSpec.d_model={self.d_model!r}: must be divisible by n_heads={self.n_heads}"
            )
        _checks.positive_number("RunSpec.lr", self.lr)
        _checks.in_range("RunSpec.warmup_fraction", self.warmup_fraction, 0, 1, closed="left")
        _checks.in_range("RunSpec.min_lr_fraction", self.min_lr_fraction, 0, 1, closed="left")
        _checks.in_range("RunSpec.weight_decay", self.weight_decay, 0, math.inf)
        _checks.positive_number("RunSpec.grad_clip", self.grad_clip)
        _checks.one_of("RunSpec.schedule", self.schedule, SCHEDULES)
        _checks.positive_int("RunSpec.eval_tokens", self.eval_tokens)
        if self.schedule == "fixed" and (
            self.schedule_tokens is None or self.schedule_tokens < self.tokens
        ):
            raise ValueError(
                f"RunSpec.schedule_tokens={self.schedule_tokens!r}: must be >= "
                f"tokens={self.tokens} with schedule='fixed'"
            )
        if self.schedule != "fixed" and self.schedule_tokens is not None:
            raise ValueError(
                f"RunSpec.schedule_tokens={self.schedule_tokens!r}: must be None unless "
                "schedule='fixed'"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields that determine the result (labels excluded): what the hash covers."""
        values = dataclasses.asdict(self)
        del values["labels"]
        return values

    def labeled(self, **labels: str | float | int) -> RunSpec:
        """The same run with design labels (sweep, budget, ...) that ride outside the hash.

        Labels name the role a run plays in a chapter's design; two chapters may label one run
        differently and still share its stored result.
        """
        return dataclasses.replace(
            self, labels=tuple(sorted({**dict(self.labels), **labels}.items()))
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)} - {"labels"}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown RunSpec field(s): {sorted(unknown)}")
        return cls(**values)

    def key(self) -> str:
        """Content hash of the spec and the training code's version: the run's file name."""
        payload = json.dumps(
            {"spec": self.to_dict(), "code_version": TRAINING_CODE_VERSION}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def describe(self) -> str:
        return (
            f"{self.data} d={self.d_model} L={self.n_layers} tokens={self.tokens:,} "
            f"schedule={self.schedule} seed={self.seed}"
        )
