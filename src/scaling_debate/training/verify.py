"""``python -m scaling_debate verify``: retrain stored runs and compare them bit for bit.

The cheapest K runs of the store (by executed FLOPs) are retrained into a temporary store with
the same code and pinned kernels (on the local process pool, or on Dask with ``--executor``),
and every number that training produced is compared exactly: parameter and token counts, FLOPs,
and every evaluation point's losses and learning rate, plus the final metrics. Timing fields
(``wall_seconds``, ``elapsed_seconds``), the creation date and the environment describe the
machine, not the run, and are left out.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling_debate import _checks
from scaling_debate.training.executors import sweep_executor
from scaling_debate.training.store import RunResult, RunStore
from scaling_debate.training.sweep import run_all

# describe the machine and the moment, not the run
_NOT_COMPARED = {"wall_seconds", "elapsed_seconds", "created", "environment"}


@dataclass(frozen=True)
class Difference:
    key: str
    field: str
    stored: Any
    retrained: Any


@dataclass(frozen=True)
class VerifyReport:
    keys: list[str]
    differences: list[Difference]

    @property
    def identical(self) -> int:
        return len(self.keys) - len({d.key for d in self.differences})

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        lines = [f"{self.identical} of {len(self.keys)} identical"]
        if self.differences:
            lines.append(f"{'run':<22}{'field':<34}{'stored':>22}{'retrained':>22}")
            for d in self.differences:
                lines.append(f"{d.key:<22}{d.field:<34}{d.stored!r:>22}{d.retrained!r:>22}")
        return "\n".join(lines)


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name in sorted(value):
            if name not in _NOT_COMPARED:
                yield from _leaves(value[name], f"{prefix}.{name}" if prefix else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _same(a: Any, b: Any) -> bool:
    # bit for bit: equal floats (NaN only matches NaN), same type family
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def compare_records(stored: dict[str, Any], retrained: dict[str, Any]) -> list[Difference]:
    """Every compared field whose value differs, including fields present in only one."""
    left, right = dict(_leaves(stored)), dict(_leaves(retrained))
    missing = object()
    return [
        Difference(stored["key"], field, left.get(field, missing), right.get(field, missing))
        for field in sorted(set(left) | set(right))
        if not _same(left.get(field, missing), right.get(field, missing))
    ]


def cheapest_results(store: RunStore, count: int) -> list[RunResult]:
    """The ``count`` stored runs with the fewest executed FLOPs (ties by key)."""
    _checks.positive_int("verify --runs", count)
    results = store.results()
    if not results:
        raise ValueError(f"verify: no stored runs in {store.directory}")
    results.sort(key=lambda result: (result.flops_exact, result.key))
    return results[:count]


def verify_store(
    count: int = 3,
    store: RunStore | None = None,
    keep: Path | None = None,
    executor: str | None = None,
) -> VerifyReport:
    """Retrain the ``count`` cheapest stored runs into a scratch store and compare them.

    ``keep`` names a folder to keep the retrained records in (otherwise they are discarded).
    ``executor`` (``local``, ``dask`` or a Dask scheduler address; by default the one
    ``SCALING_DEBATE_EXECUTOR`` names, else ``local``) is where they retrain.
    """
    store = store or RunStore()
    stored = cheapest_results(store, count)
    with tempfile.TemporaryDirectory() as scratch:
        target = RunStore(keep if keep is not None else scratch)
        with sweep_executor(executor) as pool:
            run_all([r.spec for r in stored], executor=pool, store=target, allow_training=True)
        differences = [
            difference
            for result in stored
            for difference in compare_records(
                result.to_json(), json.loads(target.path(result.spec).read_text())
            )
        ]
    return VerifyReport([result.key for result in stored], differences)
