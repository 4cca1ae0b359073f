"""Execution profiles: how big the runs behind a chapter are.

``ci`` is for the test suite (a minute or two per chapter from an empty store), ``cpu`` is the
default book build (results committed in ``data/runs/``), ``gpu`` is for a reader with one GPU.
The code is the same in every profile; only sizes and budgets change.
"""

from __future__ import annotations

from typing import TypeVar

PROFILES = ("ci", "cpu", "gpu")

T = TypeVar("T")


def check_profile(profile: object) -> str:
    """Return ``profile`` if it is a known profile; otherwise raise naming the allowed values."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    return str(profile)


def by_profile(profile: str, *, ci: T, cpu: T, gpu: T) -> T:
    """The value for ``profile``: lets a chapter state its three sizes side by side."""
    return {"ci": ci, "cpu": cpu, "gpu": gpu}[check_profile(profile)]


def text_data(profile: str) -> str:
    """The text corpus of every text run in a profile: Python's help texts in ``ci``, State of
    the Union addresses otherwise."""
    return by_profile(profile, ci="stdlib", cpu="sotu", gpu="sotu")


def text_run_fields(profile: str) -> dict[str, int]:
    """Run settings every chapter's text runs share, so that equal designs share stored runs
    (methods reuses chapter 1's same-token ladder through these)."""
    return by_profile(
        profile,
        ci={"eval_tokens": 8192},
        cpu={"eval_tokens": 32768},
        gpu={"eval_tokens": 262144, "batch_size": 64},
    )
