"""Preload for Dask workers started by hand: ``dask worker --nthreads 1 --preload
scaling_debate.training.dask_worker tcp://scheduler:8786``.

Importing this module imports ``scaling_debate``, which pins the CPU kernels in the worker process
before anything there loads torch (`scaling_debate.kernels`); `dask_setup` then checks that the
pin took, so a worker that would train on other kernels fails at start, not at its first run.
Every task of `training.executors` checks the pin again before it trains.
"""

from __future__ import annotations

from typing import Any

from scaling_debate.kernels import fast_kernels_requested
from scaling_debate.training.executors import require_pinned_kernels


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, called as the worker starts."""
    if not fast_kernels_requested():
        require_pinned_kernels()
