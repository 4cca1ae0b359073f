"""Numbers for a chapter's prose: `glue` values so that ``{glue:text}`` can format them.

myst-nb formats a glued value from its plain-text repr. NumPy 2 writes scalars as
``np.float64(1.5)``, which it cannot parse, and a string's repr carries quotes. Every value
therefore goes through `glue` here, which hands myst-nb plain numbers and unquoted words.
"""

from __future__ import annotations

import ast
import numbers

import numpy as np
from myst_nb import glue as _myst_glue


class Words(str):
    """Text glued into a sentence: its plain-text repr is the text itself, without quotes.

    myst-nb reads a glued value back with ``ast.literal_eval``, which would turn text such as
    "1,576" into the tuple ``(1, 576)``; text that parses as a literal keeps its quotes, which
    that reading removes.
    """

    def __repr__(self) -> str:
        try:
            ast.literal_eval(str(self))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return str(self)
        return repr(str(self))


def plain(value: object) -> object:
    """NumPy scalars as the Python number they hold; strings as `Words` (no quotes)."""
    if isinstance(value, str):
        return Words(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def glue(name: str, value: object, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for ``{glue:text}`` in the same page (hidden by default)."""
    _myst_glue(name, plain(value), display=display)
