"""A progress line over a sweep: runs done of total, time elapsed, an estimate of the time left.

In a terminal the line is redrawn in place on standard error. While the book's build executes a
chapter, the build names a file in ``SCALING_DEBATE_PROGRESS_LOG`` and the line goes there, one
line per update; the build copies it to its own standard error (`book.build`). A chapter's
kernel never writes progress to its cells' output, so the rendered pages never show it.

The estimate assumes the runs left take as long, on average, as the runs done so far.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

PROGRESS_LOG_ENV = "SCALING_DEBATE_PROGRESS_LOG"
BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    """``seconds`` as ``M:SS``, or ``H:MM:SS`` from an hour up."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class SweepProgress:
    """Counts finished runs of a sweep of ``total`` and reports after each.

    ``stream`` receives the lines; by default the file named by ``SCALING_DEBATE_PROGRESS_LOG``
    (appended to) when it is set, else standard error. On a terminal the line is redrawn in place;
    anywhere else each update is a line of its own.
    """

    def __init__(
        self,
        total: int,
        label: str = "training",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError(f"progress: total must be 0 or more runs, got {total}")
        self.total = total
        self.done = 0
        self.label = label
        self._clock = clock
        self._started = clock()
        self._owned: TextIO | None = None
        if stream is None:
            log_path = os.environ.get(PROGRESS_LOG_ENV)
            if log_path:
                stream = self._owned = open(log_path, "a", encoding="utf-8")  # noqa: SIM115
            else:
                stream = sys.stderr
        self._stream = stream
        self._in_place = _is_terminal(stream)
        self._write()

    def advance(self, runs: int = 1) -> None:
        """Count ``runs`` more finished runs and report."""
        if runs < 0 or self.done + runs > self.total:
            raise ValueError(
                f"progress: cannot count {runs} more runs with {self.done} of {self.total} done"
            )
        self.done += runs
        self._write()

    def line(self) -> str:
        """The current report: bar, runs done of total, elapsed and estimated remaining time."""
        elapsed = self._clock() - self._started
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = (
            f"{self.label} [{bar}] {self.done}/{self.total} runs, "
            f"elapsed {format_duration(elapsed)}"
        )
        if self.done == self.total:
            return text
        if self.done == 0:
            return f"{text}, remaining unknown"
        remaining = elapsed / self.done * (self.total - self.done)
        return f"{text}, remaining ~{format_duration(remaining)}"

    def close(self) -> None:
        """End the report (a terminal gets its final newline) and release a log file."""
        if self._in_place:
            self._stream.write("\n")
            self._stream.flush()
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> None:
        if self._in_place:
            self._stream.write(f"\r{self.line()}\x1b[K")
        else:
            self._stream.write(f"{self.line()}\n")
        self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
