"""What training on a CPU needs, beyond the pinned kernels, to give the same bits everywhere.

`scaling_debate.kernels` caps ATen and oneDNN at AVX2 and puts MKL on its vendor-neutral branch.
Two more things still changed the bits between an Intel Xeon and an AMD EPYC (measured with
``benchmarks/cross_cpu_probe.py``; results in ``benchmarks/results/cross-cpu.json``):

- the intra-op thread count, which changes how reductions are split: CPU runs train on one
  thread (tiny models gain little from more; sweeps use one process per core instead);
- ``torch.sqrt`` on a CPU tensor of more than a few elements goes to MKL's vector math library,
  whose square root is not correctly rounded and differs between CPU vendors whatever the
  pinning. Adam's update takes the square root of its second moment, so the optimizer runs the
  *fused* kernel, which computes it with the IEEE square-root instruction (correctly rounded,
  hence the same on every CPU).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch

CPU_TRAINING_THREADS = 1


@contextlib.contextmanager
def cpu_threads(count: int = CPU_TRAINING_THREADS) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, restoring the previous count after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def adam(
    param_groups: Iterable[dict[str, Any]], lr: float, betas: tuple[float, float]
) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay, per group) on the fused kernel, on CPU and GPU alike."""
    return torch.optim.AdamW(list(param_groups), lr=lr, betas=betas, fused=True)
