"""Processes that train die with the process that started them.

A chapter's Jupyter kernel is started by ``python -m scaling_debate build``; the kernel starts a
pool of training workers. When the build is stopped (Ctrl-C, SIGTERM, even ``kill -9``), Linux's
parent-death signal ends the kernel, which ends its workers in turn: no orphan goes on training
runs nobody will read. Finished runs are already stored atomically, so nothing finished is lost.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

EXIT_WITH_PARENT_ENV = "SCALING_DEBATE_EXIT_WITH_PARENT"
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def exit_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # the parent may have died between our start and the prctl call
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def exit_with_parent_if_requested() -> None:
    """`exit_with_parent` in a process started with SCALING_DEBATE_EXIT_WITH_PARENT=1."""
    if os.environ.pop(EXIT_WITH_PARENT_ENV, "") == "1":
        exit_with_parent()
