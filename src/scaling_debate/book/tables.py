"""Tables as the page shows them: readable headers, numbers for people, no pandas index.

Every table a chapter displays goes through :func:`page_table`, so numbers look the same
everywhere ("12,384", "0.0358", "1.24 × 10¹³", never "1.240249e+13"), a missing value reads "—"
rather than ``NaN``, flags read "yes"/"no", and snake_case headers become words. A table too wide
for the column is the chapter's to narrow (fewer columns, intervals as one "lo to hi" column, or
transposed); the full table can follow in a cell tagged ``hide-output``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MISSING = "—"


def format_number(value: object, digits: int = 3) -> str:
    """One number for a reader: ``digits`` significant figures, powers of ten as × 10ⁿ.

    Integers below a million get thousands separators; magnitudes from 0.001 to a million are
    written out; others as a mantissa times a power of ten. NaN and None read "—", infinities
    "∞". Booleans read "yes"/"no"; anything else is returned as ``str``.
    """
    if not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits={digits!r}: must be a positive integer")
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, Real):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if (isinstance(value, Integral) or number.is_integer()) and abs(number) < 1e6:
        return f"{int(number):,}".replace("-", "−")
    if number == 0:
        return "0"
    exponent = math.floor(math.log10(abs(number)))
    if -3 <= exponent < 6:
        decimals = max(0, digits - 1 - exponent)
        text = f"{number:,.{decimals}f}"
        return text.replace("-", "−")
    mantissa = number / 10**exponent
    if round(abs(mantissa), digits - 1) >= 10:  # 9.995 rounds up to the next power
        mantissa, exponent = mantissa / 10, exponent + 1
    head = f"{mantissa:.{digits - 1}f}".rstrip("0").rstrip(".")
    return f"{head} × 10{str(exponent).translate(_SUPERSCRIPT)}".replace("-", "−", 1)


def format_interval(lo: object, hi: object, digits: int = 3) -> str:
    """``"lo to hi"`` with both ends formatted by :func:`format_number`."""
    return f"{format_number(lo, digits)} to {format_number(hi, digits)}"


def readable_header(name: object) -> str:
    """``"loss_at_65B_compute"`` -> ``"loss at 65B compute"``; other text unchanged."""
    return str(name).replace("_", " ")


def page_table(frame: pd.DataFrame, digits: int = 3, index: bool = False) -> Styler:
    """``frame`` styled for the page: readable headers, numbers for people, index hidden.

    ``index=True`` keeps the index (its names made readable too), for tables whose rows are named
    by it.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame is a {type(frame).__name__}; expected a pandas DataFrame")
    shown = frame.rename(columns=readable_header)
    if index:
        shown = shown.rename_axis(index=[readable_header(n) if n else n for n in shown.index.names])
        shown.index = shown.index.map(
            lambda key: tuple(map(readable_header, key)) if isinstance(key, tuple) else key
        )
    styler = (
        shown.style.format(lambda value: format_number(value, digits))
        # the theme styles pandas' own tables by this class; cells get room between them
        .set_table_attributes('class="dataframe"')
        .set_table_styles([{"selector": "th, td", "props": "padding: 0.2em 0.7em;"}])
    )
    return styler if index else styler.hide(axis="index")
