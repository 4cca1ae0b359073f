"""Where results live: `RunResult`, the typed record of one run, and `RunStore`, its JSON files.

The store is plain JSON (no pickle), one file per spec hash, written atomically (temp file, then
rename) and validated on read. A corrupt or partial file is reported, moved aside and re-run; a
CPU run trained without pinned kernels is not served as a reproducible result.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling_debate.kernels import FAST_KERNELS_ENV, fast_kernels_requested
from scaling_debate.paths import repo_root
from scaling_debate.training.spec import TRAINING_CODE_VERSION, RunSpec

STORE_ENV = "SCALING_DEBATE_STORE"

log = logging.getLogger(__name__)


class CorruptRunError(ValueError):
    """A stored run file cannot be trusted (unparsable, wrong hash, missing fields)."""


@dataclass(frozen=True)
class RunResult:
    """One finished run: its spec, sizes, costs, evaluation points and final metrics.

    ``evals`` holds one mapping per evaluation point (step, tokens, flops_6nd, flops_exact,
    val_loss, train_loss, lr, elapsed_seconds); ``environment`` says where it was trained.
    """

    spec: RunSpec
    n_params: int
    n_params_non_embedding: int
    tokens_trained: int
    flops_6nd: float
    flops_exact: float
    wall_seconds: float
    evals: list[dict[str, Any]]
    final_metrics: dict[str, float]
    environment: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def key(self) -> str:
        return self.spec.key()

    @property
    def final_val_loss(self) -> float:
        return float(self.evals[-1]["val_loss"])

    @property
    def reproducible(self) -> bool:
        """True for CPU runs trained with pinned kernels, and for GPU runs (never bit-for-bit
        across devices, and said so; the pin concerns CPUs only)."""
        if self.environment.get("device", "cpu") != "cpu":
            return True
        return bool((self.environment.get("kernels") or {}).get("pinned"))

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "key": self.key,
            "code_version": TRAINING_CODE_VERSION,
            "n_params": self.n_params,
            "n_params_non_embedding": self.n_params_non_embedding,
            "tokens_trained": self.tokens_trained,
            "flops_6nd": self.flops_6nd,
            "flops_exact": self.flops_exact,
            "wall_seconds": self.wall_seconds,
            "evals": self.evals,
            "final_metrics": self.final_metrics,
            "environment": self.environment,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, record: object, where: str = "record") -> RunResult:
        """A validated result; `CorruptRunError` naming ``where`` if anything is off."""
        if not isinstance(record, dict):
            raise CorruptRunError(f"{where}: expected a JSON object")
        missing = _REQUIRED - set(record)
        if missing:
            raise CorruptRunError(f"{where}: missing field(s) {sorted(missing)}")
        try:
            spec = RunSpec.from_dict(record["spec"])
        except (TypeError, ValueError) as error:
            raise CorruptRunError(f"{where}: invalid spec ({error})") from error
        if record["key"] != spec.key():
            raise CorruptRunError(f"{where}: stored spec does not match its hash {spec.key()}")
        if record["code_version"] != TRAINING_CODE_VERSION:
            raise CorruptRunError(
                f"{where}: code_version {record['code_version']} != {TRAINING_CODE_VERSION}"
            )
        evals = record["evals"]
        if not isinstance(evals, list) or not evals:
            raise CorruptRunError(f"{where}: no evaluation points")
        for point in evals:
            loss = point.get("val_loss") if isinstance(point, dict) else None
            if (
                isinstance(loss, bool)
                or not isinstance(loss, int | float)
                or not math.isfinite(loss)
            ):
                raise CorruptRunError(
                    f"{where}: evaluation point without a finite val_loss: {point}"
                )
        return cls(
            spec=spec,
            **{name: record[name] for name in _REQUIRED - {"spec", "key", "code_version"}},
            environment=record.get("environment") or {},
            created=record.get("created", ""),
        )


_REQUIRED = {
    "spec",
    "key",
    "code_version",
    "n_params",
    "n_params_non_embedding",
    "tokens_trained",
    "flops_6nd",
    "flops_exact",
    "wall_seconds",
    "evals",
    "final_metrics",
}


def default_store_dir() -> Path:
    return Path(os.environ.get(STORE_ENV) or repo_root() / "data" / "runs")


class RunStore:
    """Plain-JSON results, one file per spec hash, written atomically and validated on read."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_store_dir()

    def path(self, spec: RunSpec) -> Path:
        return self.directory / f"{spec.key()}.json"

    def load(self, spec: RunSpec) -> RunResult | None:
        """The stored result, or None when absent. Raises CorruptRunError on a bad file."""
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptRunError(f"{path}: not valid JSON ({error})") from error
        result = RunResult.from_json(record, str(path))
        if result.spec != spec:
            raise CorruptRunError(f"{path}: stored spec does not match its hash {spec.key()}")
        return result

    def get(self, spec: RunSpec) -> RunResult | None:
        """Like `load`, but a corrupt file is reported, moved aside and treated as missing.

        A CPU run trained without pinned kernels is not served as a reproducible result: it is
        treated as missing (and retrained, replacing it) unless this process opted out of
        pinning too (``SCALING_DEBATE_FAST_KERNELS=1``).
        """
        try:
            result = self.load(spec)
        except CorruptRunError as error:
            path = self.path(spec)
            quarantined = path.with_suffix(".corrupt")
            os.replace(path, quarantined)
            log.warning("%s; moved to %s and the run will be redone", error, quarantined.name)
            return None
        if result is not None and not result.reproducible and not fast_kernels_requested():
            log.warning(
                "%s was trained with unpinned CPU kernels (%s=1); it will be retrained",
                self.path(spec).name,
                FAST_KERNELS_ENV,
            )
            return None
        return result

    def results(self) -> list[RunResult]:
        """Every valid result in the store (corrupt files are skipped with a warning)."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(RunResult.from_json(json.loads(path.read_text()), str(path)))
            except (CorruptRunError, json.JSONDecodeError, UnicodeDecodeError) as error:
                log.warning("skipping %s: %s", path.name, error)
        return found

    def save(self, result: RunResult) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(result.spec)
        # temp file in the same directory, then rename: readers never see half a file
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(result.to_json(), handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
