"""The datasets a run can name: one registry with what the trainer and the budgets need to know.

A dataset is registered once, with its vocabulary size, natural context, the entropy rate a
perfect model would reach where it is known exactly, and a factory that builds it. `RunSpec`
validation, the trainer's loader and FLOP budgeting all read this registry, so a new dataset is
one registration, never edits in several modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the registry itself stays torch-free; only building a dataset needs torch
    import torch


class Dataset(Protocol):
    """What the trainer needs: a name, a vocabulary, batches, and optional final metrics."""

    name: str
    vocab_size: int

    def batch(
        self, split: str, batch_size: int, context: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def evaluate(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]: ...


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset family: ``pattern`` matches the names a spec may use."""

    pattern: str  # a full-match regular expression, e.g. "sotu" or r"addition-(\d+)"
    description: str
    vocab_size: Callable[[str], int]
    context: Callable[[str], int]
    factory: Callable[[str], Dataset]
    entropy_nats: Callable[[str], float | None] = lambda name: None

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


_REGISTRY: dict[str, DatasetInfo] = {}


def register(key: str, info: DatasetInfo) -> None:
    """Add a dataset family; ``key`` names it in error messages."""
    if key in _REGISTRY:
        raise ValueError(f"dataset family {key!r} is registered already")
    _REGISTRY[key] = info


def registered() -> list[str]:
    """The registered families' patterns, for messages and documentation."""
    return [info.pattern for info in _REGISTRY.values()]


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for a dataset name; a clear error for an unknown one."""
    for info in _REGISTRY.values():
        if isinstance(name, str) and info.matches(name):
            return info
    raise ValueError(
        f"data={name!r}: must be a registered dataset, one of {', '.join(registered())}"
    )


def vocab_size(name: str) -> int:
    """Vocabulary size of the named dataset (without building it)."""
    return dataset_info(name).vocab_size(name)


def default_context(name: str) -> int:
    """The context the book's runs use on the named dataset."""
    return dataset_info(name).context(name)


def entropy_nats(name: str) -> float | None:
    """Exact entropy rate (nats per token) where the dataset's generator makes it known."""
    return dataset_info(name).entropy_nats(name)


@cache
def load_dataset(name: str) -> Dataset:
    """Build (once per process) the dataset a spec names."""
    return dataset_info(name).factory(name)
