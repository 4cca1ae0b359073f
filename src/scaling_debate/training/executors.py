"""Where a sweep's runs train: the local process pool, a Dask ``LocalCluster``, or a Dask scheduler.

Chapters call `sweep_executor`; the choice comes from ``python -m scaling_debate build|execute
--executor local|dask|ADDRESS``, which hands it to the chapter's kernel in the environment
variable ``SCALING_DEBATE_EXECUTOR``:

- ``local`` (the default): `local_executor`, one single-threaded worker process per core;
- ``dask``: a Dask ``LocalCluster`` of single-threaded worker processes, one per core (one in
  all with a GPU);
- an address such as ``tcp://host:8786``: the workers of a running Dask scheduler.

Every Dask task checks, before it trains, that its worker process trains on the pinned CPU
kernels (`scaling_debate.kernels`), so a run gives the same bits on a cluster as on the local pool.
A ``LocalCluster``'s workers inherit the pin from this process's environment; workers started by
hand get it from ``dask worker --preload scaling_debate.training.dask_worker``. A worker that dies
mid-run loses only the run it was training: the scheduler gives that task to another worker
(up to Dask's ``distributed.scheduler.allowed-failures`` times), and a task that raises is
submitted again ``DASK_RETRIES`` times.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures import wait as futures_wait
from typing import Any

from scaling_debate.kernels import (
    FAST_KERNELS_ENV,
    PINNED_SETTINGS,
    fast_kernels_requested,
    kernel_environment,
)
from scaling_debate.training.sweep import local_executor

EXECUTOR_ENV = "SCALING_DEBATE_EXECUTOR"
EXECUTOR_KINDS = ("local", "dask")
# Dask's network protocols; an address is PROTOCOL://HOST[:PORT]
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")
# resubmissions of a task that raised on a worker (a lost file system, a worker out of memory)
DASK_RETRIES = 2
PRELOAD_MODULE = "scaling_debate.training.dask_worker"

_ADDRESS = re.compile(rf"^({'|'.join(SCHEDULER_PROTOCOLS)})://[^\s/:]+(:\d{{1,5}})?$")


class UnpinnedWorkerError(RuntimeError):
    """A Dask worker would train with CPU kernels that are not pinned."""


def check_executor(value: str) -> str:
    """``value`` as an executor choice (``local``, ``dask`` or a scheduler address), or a clear
    `ValueError` naming it and what is allowed."""
    choice = value.strip()
    if choice.lower() in EXECUTOR_KINDS:
        return choice.lower()
    if _ADDRESS.match(choice):
        return choice
    raise ValueError(
        f"executor {value!r} is not one of {', '.join(EXECUTOR_KINDS)} nor a Dask scheduler "
        f"address PROTOCOL://HOST[:PORT] with PROTOCOL one of {', '.join(SCHEDULER_PROTOCOLS)} "
        "(e.g. tcp://head-node:8786)"
    )


def executor_choice() -> str:
    """The executor named by ``SCALING_DEBATE_EXECUTOR`` (``local`` when it is unset or empty)."""
    value = os.environ.get(EXECUTOR_ENV, "").strip()
    if not value:
        return "local"
    try:
        return check_executor(value)
    except ValueError as error:
        raise ValueError(f"{EXECUTOR_ENV}: {error}") from None


@contextlib.contextmanager
def sweep_executor(choice: str | None = None, workers: int | None = None) -> Iterator[Executor]:
    """The executor a sweep trains on, shut down (and any cluster it started closed) on exit.

    ``choice`` is ``local``, ``dask`` or a scheduler address; by default the one named by
    ``SCALING_DEBATE_EXECUTOR``, else ``local``. ``workers`` is the number of worker processes
    of ``local`` and ``dask`` (one per core by default). Nothing starts before the first run is
    submitted, so a sweep whose runs are all stored costs no cluster. When the block raises (a
    run failed, Ctrl-C), runs not yet started are cancelled rather than trained first.
    """
    choice = executor_choice() if choice is None else check_executor(choice)
    if choice == "local":
        executor = local_executor(workers)
    else:
        executor = DaskExecutor(None if choice == "dask" else choice, workers)
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()


class DaskExecutor(Executor):
    """A `concurrent.futures.Executor` on Dask whose tasks train only on pinned CPU kernels.

    ``address`` is a running scheduler's; ``None`` starts a ``LocalCluster`` of ``workers``
    single-threaded worker processes (by default one per core; with a GPU, one, so that runs go
    one at a time on it as on the local pool). The cluster, or the connection, is made on the
    first `submit`. A task's result is fetched as soon as it is finished and the task then
    released, so a worker that dies later costs no finished run again.
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self._cluster: Any = None
        self._client: Any = None
        self._pending: set[Future] = set()

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        if self.address is None:
            # the worker processes inherit this process's environment, which carries the pin
            self._cluster = LocalCluster(
                n_workers=self.workers or _default_workers(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                preload=[PRELOAD_MODULE],
            )
            return Client(self._cluster)
        try:
            return Client(self.address)
        except OSError as error:
            raise OSError(
                f"no Dask scheduler answered at {self.address}: start one with "
                f"`dask scheduler` and workers with `dask worker --nthreads 1 "
                f"--preload {PRELOAD_MODULE} {self.address}` ({error})"
            ) from error

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._client is None:
            self._client = self._connect()
        outcome: Future = Future()
        self._pending.add(outcome)
        outcome.add_done_callback(self._pending.discard)
        task = self._client.submit(
            _on_pinned_kernels,
            fn,
            not fast_kernels_requested(),
            *args,
            retries=DASK_RETRIES,
            pure=False,
            **kwargs,
        )

        def fetch(done: Any) -> None:
            try:
                if outcome.set_running_or_notify_cancel():
                    try:
                        outcome.set_result(done.result())
                    except BaseException as error:  # the task's, raised again by the caller
                        outcome.set_exception(error)
            finally:
                done.release()

        def cancel_task(cancelled: Future) -> None:
            if cancelled.cancelled():
                task.cancel()

        outcome.add_done_callback(cancel_task)
        task.add_done_callback(fetch)
        return outcome

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Like a process pool's: wait for submitted runs unless ``cancel_futures``; then close
        the connection, and the ``LocalCluster`` if this executor started one."""
        if cancel_futures:
            for outcome in list(self._pending):
                outcome.cancel()
        if wait:
            futures_wait(list(self._pending))
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            # a worker that has trained takes seconds to exit (torch's teardown); the nanny then
            # ends it and warns, though every run is already stored
            with _quiet_slow_exit_warning():
                self._cluster.close()
            self._cluster = None


def _default_workers() -> int:
    import torch

    return 1 if torch.cuda.is_available() else os.cpu_count() or 1


@contextlib.contextmanager
def _quiet_slow_exit_warning() -> Iterator[None]:
    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Worker process still alive after")

    nanny_log = logging.getLogger("distributed.nanny")
    nanny_log.addFilter(keep)
    try:
        yield
    finally:
        nanny_log.removeFilter(keep)


def require_pinned_kernels() -> None:
    """Raise `UnpinnedWorkerError` unless this process trains on the pinned CPU kernels."""
    kernels = kernel_environment()
    if not kernels["pinned"]:
        raise UnpinnedWorkerError(
            f"worker process {os.getpid()} would train on unpinned CPU kernels "
            f"(ATen capability {kernels['aten_capability']}, settings {kernels['settings']}; "
            f"needed: {PINNED_SETTINGS} set before torch loads, and {FAST_KERNELS_ENV} unset): "
            f"start Dask workers with `dask worker --nthreads 1 --preload {PRELOAD_MODULE} "
            "ADDRESS`, or set the variables above in their environment"
        )


def _on_pinned_kernels(fn: Callable[..., Any], pinned: bool, *args: Any, **kwargs: Any) -> Any:
    # runs on the worker: a sweep submitted with pinned kernels trains only on pinned workers
    if pinned:
        require_pinned_kernels()
    return fn(*args, **kwargs)
