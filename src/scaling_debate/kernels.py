"""CPU kernel pinning: the same spec gives the same bits on every x86-64 CPU with AVX2.

PyTorch (ATen), MKL and oneDNN each pick their kernels for the CPU they find: AVX-512 paths on
one machine, AVX2 on another, and MKL's choice also depends on the CPU's vendor. The sums then
come out in another order, and a retrained run ends about one seed-to-seed standard deviation
away from its stored result. So, *before torch loads*:

- ATen and oneDNN are capped at AVX2;
- MKL runs its ``COMPATIBLE`` branch, the one Intel documents as giving the same results on
  Intel and non-Intel x86 CPUs. Its ``AVX2`` branch is only promised across Intel CPUs, and we
  measured why that matters: runs made on an AMD EPYC were reproduced there with ``AVX2`` but
  not on an Intel Xeon, where neither ``AVX2`` nor any other branch gave the AMD bits back.

Every process that trains (the main process, pool workers, Dask workers, a Jupyter kernel) gets
the pin by importing ``scaling_debate`` before torch. The pin is necessary, not sufficient: the
trainer also runs on one thread and keeps Adam on the fused kernel (`training.reproducible`).
A reader may trade reproducibility for speed with ``SCALING_DEBATE_FAST_KERNELS=1``; runs
trained that way are recorded as unpinned, and the store never serves them as reproducible
results (see `training.store`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

PINNED_SETTINGS: dict[str, str] = {
    "MKL_CBWR": "COMPATIBLE",  # MKL's vendor-neutral conditional-reproducibility branch
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions, some matmuls)
}
PINNED_ATEN_CAPABILITY = "AVX2"
FAST_KERNELS_ENV = "SCALING_DEBATE_FAST_KERNELS"

# whether torch was already loaded, without these settings, when the pin was applied
_pinned_too_late = False


def fast_kernels_requested() -> bool:
    """True when the reader opted out of pinning (``SCALING_DEBATE_FAST_KERNELS=1``)."""
    return os.environ.get(FAST_KERNELS_ENV, "").strip().lower() in {"1", "true", "yes"}


def pin_cpu_kernels() -> None:
    """Cap MKL, ATen and oneDNN at AVX2 in this process and in every process it starts.

    Must run before torch is imported; if torch is already loaded with other settings, the pin
    cannot take effect in this process and runs trained here are recorded as unpinned.
    """
    global _pinned_too_late
    if fast_kernels_requested():
        return
    already = all(os.environ.get(k) == v for k, v in PINNED_SETTINGS.items())
    if "torch" in sys.modules and not already:
        _pinned_too_late = True
    os.environ.update(PINNED_SETTINGS)


def kernel_environment() -> dict[str, Any]:
    """What kernels this process trains with, for a run's ``environment`` record.

    ``pinned`` is True only when all three settings were in place before torch loaded and
    PyTorch reports that it dispatches to its AVX2 kernels.
    """
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    settings = {key: os.environ.get(key) for key in PINNED_SETTINGS}
    pinned = (
        not fast_kernels_requested()
        and not _pinned_too_late
        and settings == PINNED_SETTINGS
        and capability == PINNED_ATEN_CAPABILITY
    )
    return {"pinned": pinned, "aten_capability": capability, "settings": settings}
