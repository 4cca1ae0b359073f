"""Input checks with one message format: ``<what>=<value>: must be <rule>``.

Every public function refuses bad input before any work starts, naming the value it got and
what is allowed (scikit-learn's declarative parameter checks are the model). These helpers
return the checked value so a call can sit inside an assignment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def _fail(name: str, value: object, rule: str) -> ValueError:
    return ValueError(f"{name}={value!r}: must be {rule}")


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """An int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise _fail(name, value, f"an integer >= {minimum}")
    return int(value)


def positive_number(name: str, value: object) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _fail(name, value, "a positive finite number")
    if not (math.isfinite(float(value)) and value > 0):
        raise _fail(name, value, "a positive finite number")
    return float(value)


def in_range(name: str, value: object, low: float, high: float, closed: str = "both") -> float:
    """A finite number between ``low`` and ``high``; ``closed`` is both, left, right or neither."""
    if closed not in {"both", "left", "right", "neither"}:
        raise _fail("closed", closed, "one of both, left, right, neither")
    left = "[" if closed in {"both", "left"} else "("
    right = "]" if closed in {"both", "right"} else ")"
    rule = f"a number in {left}{low}, {high}{right}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _fail(name, value, rule)
    number = float(value)
    above = number >= low if left == "[" else number > low
    below = number <= high if right == "]" else number < high
    if not (math.isfinite(number) and above and below):
        raise _fail(name, value, rule)
    return number


def one_of(name: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise _fail(name, value, "one of " + ", ".join(str(a) for a in allowed))
    return value


def finite_array(name: str, values: Any, positive: bool = False, min_size: int = 1) -> np.ndarray:
    """A 1-D float array of at least ``min_size`` finite (and, if asked, positive) values."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.size < min_size:
        raise _fail(name, values, f"at least {min_size} value(s)")
    if not np.all(np.isfinite(array)):
        raise _fail(name, values, "finite numbers (no NaN or infinity)")
    if positive and np.any(array <= 0):
        raise _fail(name, values, "positive numbers")
    return array


def require_columns(name: str, frame: Any, columns: Sequence[str]) -> None:
    """A DataFrame that has every one of ``columns``."""
    missing = [column for column in columns if column not in getattr(frame, "columns", ())]
    if missing:
        present = list(getattr(frame, "columns", []))
        raise ValueError(f"{name}: must have column(s) {missing}; it has {present}")
