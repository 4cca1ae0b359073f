"""Running many specs: `run_all` trains what the store lacks, on any `concurrent.futures` executor.

Each finished run is stored at once, so an interrupted sweep resumes where it stopped; the result
is a tidy DataFrame, one row per run and evaluation point, with the specs' design labels as
columns.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, as_completed
from typing import Any, Protocol

import pandas as pd

from scaling_debate.lifetime import exit_with_parent
from scaling_debate.training.progress import SweepProgress
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult, RunStore

NO_TRAIN_ENV = "SCALING_DEBATE_NO_TRAIN"
# set by the book's build while a chapter executes: the keys of the runs it read, one per line,
# so an unchanged chapter is re-executed when a stored run it used changes
RUN_LOG_ENV = "SCALING_DEBATE_RUN_LOG"

log = logging.getLogger(__name__)

Trainer = Callable[[RunSpec], RunResult]


class StoredSpec(Protocol):
    """What a store needs of a spec to name it: a content hash and a line for people."""

    def key(self) -> str: ...

    def describe(self) -> str: ...


class MissingRunsError(RuntimeError):
    """Training is disabled (``--no-train``) and some specs have no stored result."""

    kind = "run"

    def __init__(self, missing: Sequence[StoredSpec]) -> None:
        self.missing = list(missing)
        lines = "\n".join(f"  {spec.key()}  {spec.describe()}" for spec in self.missing)
        super().__init__(
            f"{len(self.missing)} {self.kind}(s) are not in the store and training is disabled "
            f"(--no-train / {NO_TRAIN_ENV}=1):\n{lines}"
        )


def split_stored(
    specs: Iterable[Any], lookup: Callable[[Any], Any | None]
) -> tuple[dict[Any, Any], list[Any]]:
    """What ``lookup`` finds for each spec, and the specs it finds nothing for (in order)."""
    found: dict[Any, Any] = {}
    missing = []
    for spec in specs:
        record = lookup(spec)
        if record is None:
            missing.append(spec)
        else:
            found[spec] = record
    return found, missing


def training_disabled() -> bool:
    return os.environ.get(NO_TRAIN_ENV, "").strip().lower() in {"1", "true", "yes"}


def train_spec(spec: RunSpec) -> RunResult:
    """The default trainer (top level, so process-based executors can pickle it).

    A sweep reports runs done (`training.progress`), not each run's steps: step bars from
    parallel workers would overwrite one another and the sweep's line on a shared terminal.
    """
    from scaling_debate.training.trainer import train

    return train(spec, progress=False)


def _plan_units(missing: list[RunSpec], trainer: Trainer) -> list[list[RunSpec]]:
    """The missing runs as work units, each trained by one task.

    With the default trainer, small runs of one shape share a unit and train together
    (`training.grouped.sweep_units`; each gives the bits it gives alone); with any other
    trainer, every run is a unit of its own.
    """
    if trainer is not train_spec:
        return [[spec] for spec in missing]
    from scaling_debate.training.grouped import sweep_units

    return sweep_units(missing)


def _train_unit_and_store(unit: list[RunSpec], directory: str, trainer: Trainer) -> list[RunResult]:
    """Train each run of ``unit`` and store its result the moment it is finished.

    A unit of several runs (only the default trainer's, see `_plan_units`) trains as one group
    (`training.grouped.train_group`), which hands back each run as it reaches its last step.
    """
    store = RunStore(directory)
    if len(unit) > 1 and trainer is train_spec:
        from scaling_debate.training.grouped import train_group

        return train_group(unit, on_result=store.save, progress=False)  # as `train_spec`
    results = []
    for spec in unit:
        result = trainer(spec)
        store.save(result)
        results.append(result)
    return results


def _single_threaded_worker() -> None:
    # the pool's parent pinned the kernels before spawning us and the environment carries the
    # pin (see kernels.py); a worker must not outlive the process that fed it work
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
    return ProcessPoolExecutor(
        max_workers=workers,
        initializer=_single_threaded_worker,
        mp_context=multiprocessing.get_context("spawn"),
    )


def run_all(
    specs: Iterable[RunSpec],
    executor: Executor | None = None,
    store: RunStore | None = None,
    allow_training: bool | None = None,
    trainer: Trainer = train_spec,
) -> pd.DataFrame:
    """Results for every spec as a tidy DataFrame, training only what the store lacks.

    ``executor`` is any `concurrent.futures.Executor` (a process pool, Dask's
    ``Client.get_executor()``, submitit; `training.executors.sweep_executor` picks one from the
    command line); without one, runs train here one after another. Each finished run is stored
    at once, so an interrupted sweep resumes where it stopped, and a progress line
    (`training.progress`) counts the runs trained. ``allow_training=False`` (or the
    environment variable SCALING_DEBATE_NO_TRAIN=1) raises `MissingRunsError` listing every
    missing run before anything trains. A spec listed twice (say, with different labels) is
    trained once and appears once per listing.
    """
    specs = list(specs)
    unique = list(dict.fromkeys(specs))  # equality ignores labels
    store = store or RunStore()
    if allow_training is None:
        allow_training = not training_disabled()
    results, missing = split_stored(unique, store.get)
    if missing and not allow_training:
        raise MissingRunsError(missing)
    if missing:
        log.info("training %d of %d runs", len(missing), len(unique))
        directory = str(store.directory)
        units = _plan_units(missing, trainer)
        with SweepProgress(len(missing)) as progress:
            if executor is None:
                for unit in units:
                    trained = _train_unit_and_store(unit, directory, trainer)
                    results.update(zip(unit, trained, strict=True))
                    progress.advance(len(unit))
            else:
                futures = {
                    executor.submit(_train_unit_and_store, unit, directory, trainer): unit
                    for unit in units
                }
                for future in as_completed(futures):
                    unit = futures[future]
                    results.update(zip(unit, future.result(), strict=True))
                    progress.advance(len(unit))
    _log_runs_read(unique)
    return results_frame([(spec, results[spec]) for spec in specs])


def _log_runs_read(specs: Sequence[RunSpec]) -> None:
    log_path = os.environ.get(RUN_LOG_ENV)
    if log_path:
        with open(log_path, "a") as handle:
            handle.writelines(f"{spec.key()}\n" for spec in specs)


def results_frame(rows: Iterable[RunResult | tuple[RunSpec, RunResult]]) -> pd.DataFrame:
    """One row per run and evaluation point: spec fields, labels, run totals, eval values, final
    metrics. Pass ``(spec, result)`` pairs to take the labels from ``spec``."""
    table = []
    for item in rows:
        spec, result = item if isinstance(item, tuple) else (item.spec, item)
        base = {**result.spec.to_dict(), **dict(spec.labels)}
        base.update(
            key=result.key,
            n_params=result.n_params,
            n_params_non_embedding=result.n_params_non_embedding,
            run_tokens=result.tokens_trained,
            run_flops_6nd=result.flops_6nd,
            run_flops_exact=result.flops_exact,
            wall_seconds=result.wall_seconds,
        )
        base.update({f"final_{k}": v for k, v in result.final_metrics.items()})
        n_points = len(result.evals)
        for index, point in enumerate(result.evals):
            table.append({**base, **point, "is_final": index == n_points - 1})
    return pd.DataFrame(table)


def final_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of each run: the row to use for end-of-training comparisons."""
    return frame[frame["is_final"]].reset_index(drop=True)
