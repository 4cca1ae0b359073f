"""What to train (`RunSpec`), where results live (`RunStore`), and running many specs (`run_all`).

A run is a pure function of its spec: same spec, same hash, same stored result. The hash covers
every field that changes a result plus ``TRAINING_CODE_VERSION``, which is bumped whenever the
training code's semantics change, so stale results are never reused silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scaling_debate.kernels import FAST_KERNELS_ENV, fast_kernels_requested
from scaling_debate.lifetime import exit_with_parent
from scaling_debate.paths import repo_root

# Bump when a change to train.py, models.py or the datasets would change any stored number.
TRAINING_CODE_VERSION = 1

SCHEDULES = ("cosine", "fixed")
TEXT_DATA = ("stdlib", "sotu")
_ADDITION = re.compile(r"^addition-(\d+)$")
NO_TRAIN_ENV = "SCALING_DEBATE_NO_TRAIN"
STORE_ENV = "SCALING_DEBATE_STORE"
# set by book.py while a chapter executes: the keys of the runs it read, one per line, so an
# unchanged chapter is re-executed when a stored run it used changes
RUN_LOG_ENV = "SCALING_DEBATE_RUN_LOG"

log = logging.getLogger(__name__)


class MissingRunsError(RuntimeError):
    """Training is disabled (``--no-train``) and some specs have no stored result."""

    def __init__(self, missing: Sequence[RunSpec]) -> None:
        self.missing = list(missing)
        lines = "\n".join(f"  {spec.key()}  {spec.describe()}" for spec in self.missing)
        super().__init__(
            f"{len(self.missing)} run(s) are not in the store and training is disabled "
            f"(--no-train / {NO_TRAIN_ENV}=1):\n{lines}"
        )


class CorruptRunError(ValueError):
    """A stored run file cannot be trusted (unparsable, wrong hash, missing fields)."""


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

    def __post_init__(self) -> None:
        if self.data not in TEXT_DATA and not _ADDITION.match(self.data):
            raise ValueError(
                f"RunSpec.data={self.data!r} is not a known dataset; allowed: "
                f"{', '.join(TEXT_DATA)} or 'addition-K' for K-digit addition"
            )
        for name in ("d_model", "n_layers", "n_heads", "context", "batch_size", "n_evals"):
            _require_positive_int(name, getattr(self, name))
        if not isinstance(self.tokens, int) or self.tokens <= 0:
            raise ValueError(
                f"RunSpec.tokens (training budget) must be a positive integer, got {self.tokens!r}"
            )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"RunSpec.d_model={self.d_model} must be divisible by n_heads={self.n_heads}"
            )
        if not self.lr > 0:
            raise ValueError(f"RunSpec.lr must be > 0, got {self.lr!r}")
        for name in ("warmup_fraction", "min_lr_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"RunSpec.{name} must be in [0, 1), got {value!r}")
        if self.weight_decay < 0 or self.grad_clip <= 0:
            raise ValueError(
                f"RunSpec needs weight_decay >= 0 and grad_clip > 0, got "
                f"{self.weight_decay!r} and {self.grad_clip!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"RunSpec.schedule={self.schedule!r}; allowed: {', '.join(SCHEDULES)}")
        if self.schedule == "fixed":
            if self.schedule_tokens is None or self.schedule_tokens < self.tokens:
                raise ValueError(
                    f"schedule='fixed' needs schedule_tokens >= tokens={self.tokens}, "
                    f"got {self.schedule_tokens!r}"
                )
        elif self.schedule_tokens is not None:
            raise ValueError("schedule_tokens is only meaningful with schedule='fixed'")
        if self.eval_tokens <= 0:
            raise ValueError(f"RunSpec.eval_tokens must be positive, got {self.eval_tokens!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
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


def ladder_spec(data: str, d_model: int, tokens: int, **fields: Any) -> RunSpec:
    """A spec for the ladder model of width ``d_model`` (depth, heads, lr from the ladder)."""
    from scaling_debate.models import shape_for_width

    shape = shape_for_width(d_model)
    values = {
        "n_layers": shape.n_layers,
        "n_heads": shape.n_heads,
        "lr": shape.lr,
        "context": 64,
        **fields,
    }
    return RunSpec(data=data, d_model=d_model, tokens=int(tokens), **values)


def _require_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"RunSpec.{name} must be a positive integer, got {value!r}")


def default_store_dir() -> Path:
    return Path(os.environ.get(STORE_ENV) or repo_root() / "data" / "runs")


_RESULT_FIELDS = {
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


class RunStore:
    """Plain-JSON results, one file per spec hash, written atomically and validated on read."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_store_dir()

    def path(self, spec: RunSpec) -> Path:
        return self.directory / f"{spec.key()}.json"

    def load(self, spec: RunSpec) -> dict[str, Any] | None:
        """The stored result, or None when absent. Raises CorruptRunError on a bad file."""
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptRunError(f"{path}: not valid JSON ({error})") from error
        _validate_record(record, spec, path)
        return record

    def get(self, spec: RunSpec) -> dict[str, Any] | None:
        """Like `load`, but a corrupt file is reported, moved aside and treated as missing.

        A CPU run trained without pinned kernels is not served as a reproducible result: it is
        treated as missing (and retrained, replacing it) unless this process opted out of
        pinning too (``SCALING_DEBATE_FAST_KERNELS=1``).
        """
        try:
            record = self.load(spec)
        except CorruptRunError as error:
            path = self.path(spec)
            quarantined = path.with_suffix(".corrupt")
            os.replace(path, quarantined)
            log.warning("%s; moved to %s and the run will be redone", error, quarantined.name)
            return None
        if record is not None and not is_reproducible(record) and not fast_kernels_requested():
            log.warning(
                "%s was trained with unpinned CPU kernels (%s=1); it will be retrained",
                self.path(spec).name,
                FAST_KERNELS_ENV,
            )
            return None
        return record

    def save(self, record: dict[str, Any]) -> Path:
        spec = RunSpec.from_dict(record["spec"])
        _validate_record(record, spec, self.path(spec))
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(spec)
        # temp file in the same directory, then rename: readers never see half a file
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def is_reproducible(record: dict[str, Any]) -> bool:
    """True for CPU runs trained with pinned kernels, and for GPU runs (never bit-reproducible
    across devices, and said so; pinning concerns CPUs only)."""
    environment = record.get("environment") or {}
    if environment.get("device", "cpu") != "cpu":
        return True
    return bool((environment.get("kernels") or {}).get("pinned"))


def _validate_record(record: object, spec: RunSpec, path: Path) -> None:
    if not isinstance(record, dict):
        raise CorruptRunError(f"{path}: expected a JSON object")
    missing = _RESULT_FIELDS - set(record)
    if missing:
        raise CorruptRunError(f"{path}: missing field(s) {sorted(missing)}")
    if record["key"] != spec.key() or record["spec"] != spec.to_dict():
        raise CorruptRunError(f"{path}: stored spec does not match its hash {spec.key()}")
    if record["code_version"] != TRAINING_CODE_VERSION:
        raise CorruptRunError(
            f"{path}: code_version {record['code_version']} != {TRAINING_CODE_VERSION}"
        )
    evals = record["evals"]
    if not isinstance(evals, list) or not evals:
        raise CorruptRunError(f"{path}: no evaluation points")
    for point in evals:
        loss = point.get("val_loss") if isinstance(point, dict) else None
        if not isinstance(loss, int | float) or loss != loss:
            raise CorruptRunError(f"{path}: evaluation point without a finite val_loss: {point}")


def training_disabled() -> bool:
    return os.environ.get(NO_TRAIN_ENV, "").strip().lower() in {"1", "true", "yes"}


def _train_and_store(spec: RunSpec, directory: str) -> dict[str, Any]:
    # top-level so process-based executors can pickle it
    from scaling_debate.train import train

    record = train(spec)
    RunStore(directory).save(record)
    return record


def _single_threaded_worker() -> None:
    # the pool's parent process pinned the kernels before spawning us (see kernels.py), and the
    # environment carries the pin; a worker must not outlive the process that fed it work
    exit_with_parent()
    import torch

    torch.set_num_threads(1)


def local_executor(workers: int | None = None) -> Executor:
    """A process pool of single-threaded trainers, one per core by default.

    Tiny models gain little from intra-op threads, so separate runs on separate cores train
    nearly ``workers`` times faster than one run with all cores. With a GPU, runs go one at a
    time through a single worker that keeps the default threads.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    import torch

    if torch.cuda.is_available():
        return ThreadPoolExecutor(max_workers=1)
    workers = workers or os.cpu_count() or 1
    return ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded_worker,
                               mp_context=multiprocessing.get_context("spawn"))


def run_all(
    specs: Iterable[RunSpec],
    executor: Executor | None = None,
    store: RunStore | None = None,
    allow_training: bool | None = None,
) -> pd.DataFrame:
    """Results for every spec as a tidy DataFrame, training only what the store lacks.

    ``executor`` is any `concurrent.futures.Executor` (a process pool, Dask's
    ``Client.get_executor()``, submitit); without one, runs train here one after another.
    Each finished run is stored at once, so an interrupted sweep resumes where it stopped.
    ``allow_training=False`` (or the environment variable SCALING_DEBATE_NO_TRAIN=1) raises
    `MissingRunsError` listing every missing run before anything trains.
    """
    specs = list(dict.fromkeys(specs))  # dedupe, keep order
    store = store or RunStore()
    if allow_training is None:
        allow_training = not training_disabled()
    records: dict[RunSpec, dict[str, Any]] = {}
    missing = []
    for spec in specs:
        record = store.get(spec)
        if record is None:
            missing.append(spec)
        else:
            records[spec] = record
    if missing and not allow_training:
        raise MissingRunsError(missing)
    if missing:
        log.info("training %d of %d runs", len(missing), len(specs))
        if executor is None:
            for spec in missing:
                records[spec] = _train_and_store(spec, str(store.directory))
        else:
            futures = {
                spec: executor.submit(_train_and_store, spec, str(store.directory))
                for spec in missing
            }
            for spec, future in futures.items():
                records[spec] = future.result()
    _log_runs_read(specs)
    return results_frame(records[spec] for spec in specs)


def _log_runs_read(specs: Sequence[RunSpec]) -> None:
    log_path = os.environ.get(RUN_LOG_ENV)
    if log_path:
        with open(log_path, "a") as handle:
            handle.writelines(f"{spec.key()}\n" for spec in specs)


def results_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run and evaluation point: spec fields, run totals, eval values, final metrics."""
    rows = []
    for record in records:
        base = dict(record["spec"])
        base.update(
            key=record["key"],
            n_params=record["n_params"],
            n_params_non_embedding=record["n_params_non_embedding"],
            run_tokens=record["tokens_trained"],
            run_flops_6nd=record["flops_6nd"],
            run_flops_exact=record["flops_exact"],
            wall_seconds=record["wall_seconds"],
        )
        base.update({f"final_{k}": v for k, v in record["final_metrics"].items()})
        n_points = len(record["evals"])
        for index, point in enumerate(record["evals"]):
            rows.append({**base, **point, "is_final": index == n_points - 1})
    return pd.DataFrame(rows)


def final_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of each run: the row to use for end-of-training comparisons."""
    return frame[frame["is_final"]].reset_index(drop=True)
