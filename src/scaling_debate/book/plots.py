"""One house style for every figure in the book.

Call ``use_house_style()`` once at the top of a chapter (``new_figure`` calls it too). Figures
are sized for the book's content column (784 CSS px at desktop widths) and drawn at twice that
resolution, so they stay sharp on high-density screens and their text is shown at 9 px or more:
``new_figure`` narrows a figure asked wider than the column rather than let the page shrink it.
They use the Okabe-Ito colour-blind-safe palette
(Okabe and Ito 2008, "Color Universal Design") for categories and a perceptually uniform map
for ordered series, and say on the axis label when an axis is logarithmic.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.colors import to_hex
from matplotlib.offsetbox import AnchoredText
from matplotlib.ticker import NullFormatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

# Okabe-Ito, reordered so that the first colours contrast most on white; yellow and black last.
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]

FIGURE_WIDTH_IN = 7.0  # the default width, a little narrower than the column
# The sphinx-book-theme content column is 784 CSS px wide at desktop widths. Figures are designed
# at 100 CSS px per inch, so one up to COLUMN_WIDTH_IN wide shows its text at least at its design
# size (a 10 pt label at 13.9 px or more).
COLUMN_WIDTH_PX = 784
COLUMN_WIDTH_IN = 7.8
# Pixels per inch: 2x the 100 CSS px per inch the figures are designed at. Jupyter's inline
# backend renders with figure.dpi (it ignores savefig.dpi), so both are set.
FIGURE_DPI = 200
MIN_TEXT_PX = 9.0  # smallest text on the page, for a figure shown at the column's width
LOG_SUFFIX = " (log scale)"

# The bright yellow end of sequential maps vanishes on a white page, so stop short of it.
_SEQUENTIAL_STOP = 0.9

_HOUSE_RC: dict[str, Any] = {
    "axes.prop_cycle": cycler(color=PALETTE),
    "figure.figsize": (FIGURE_WIDTH_IN, 4.2),
    "figure.dpi": FIGURE_DPI,
    "figure.facecolor": "white",  # stays readable under a dark site theme
    "figure.constrained_layout.use": True,
    "savefig.dpi": FIGURE_DPI,  # sharp on high-density screens
    "savefig.facecolor": "white",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "image.cmap": "viridis",
}


def _select_headless_backend() -> None:
    """Use Agg on a Linux machine without a display, unless a backend was chosen already.

    Choosing before pyplot is imported keeps scripts and tests on servers deterministic. Jupyter
    kernels set MPLBACKEND to their inline backend, so notebooks keep theirs.
    """
    explicit = "MPLBACKEND" in os.environ or "matplotlib.pyplot" in sys.modules
    no_display = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if no_display and not explicit:
        matplotlib.use("Agg")


def use_house_style() -> None:
    """Apply the book's figure style to matplotlib's rcParams (safe to call again)."""
    _select_headless_backend()
    matplotlib.rcParams.update(_HOUSE_RC)


def new_figure(
    ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None
) -> tuple[Figure, Any]:
    """A figure in the house style and its axes (one Axes, or an array as ``plt.subplots`` gives).

    Width defaults to :data:`FIGURE_WIDTH_IN`; a width above the column (:data:`COLUMN_WIDTH_IN`)
    is narrowed to it, because the page would shrink the figure, and its text with it, to fit.
    Height keeps each panel's aspect readable; a height given is kept.
    """
    for name, count in (("ncols", ncols), ("nrows", nrows)):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"{name} must be a positive integer, got {count!r}")
    width = FIGURE_WIDTH_IN if width is None else width
    if height is None:
        panel_height = float(np.clip(0.75 * width / ncols, 2.6, 4.2))
        height = panel_height * nrows
    for name, inches in (("width", width), ("height", height)):
        if not np.isfinite(inches) or inches <= 0:
            raise ValueError(f"{name} must be a positive number of inches, got {inches!r}")

    width = min(width, COLUMN_WIDTH_IN)

    use_house_style()
    import matplotlib.pyplot as plt

    return plt.subplots(nrows=nrows, ncols=ncols, figsize=(width, height))


def text_px_on_page(fig: Figure, points: float | None = None) -> float:
    """Size in CSS px of text of ``points`` (default: the figure's smallest) on the book's page.

    The page shows a figure's image at its pixel size (``FIGURE_DPI`` px per inch), shrunk to
    the content column's width when wider, which at 2x it nearly always is.
    """
    if points is None:
        points = smallest_text_pt(fig)
    shown_px = min(fig.get_figwidth() * FIGURE_DPI, COLUMN_WIDTH_PX)
    return points * shown_px / (fig.get_figwidth() * 72.0)


def smallest_text_pt(fig: Figure) -> float:
    """The smallest font size (points) of the visible, non-empty text in ``fig``."""
    from matplotlib.text import Text

    sizes = [
        text.get_fontsize()
        for text in fig.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    ]
    if not sizes:
        raise ValueError("the figure holds no visible text")
    return float(min(sizes))


def _axis_label(label: str, log: bool) -> str:
    label = label.removesuffix(LOG_SUFFIX)
    return label + LOG_SUFFIX if log and label else label


def label_axes(
    ax: Axes,
    x: str | None = None,
    y: str | None = None,
    xlog: bool = False,
    ylog: bool = False,
) -> None:
    """Label both axes and set their scales; a logarithmic axis's label ends in "(log scale)".

    Scales are set both ways so that a label and its scale can never disagree. A label left as
    None keeps the axis's current text, with the mark added or removed to match the scale.
    """
    ax.set_xscale("log" if xlog else "linear")
    ax.set_yscale("log" if ylog else "linear")
    # on a log axis spanning less than a decade matplotlib labels minor ticks too, and they
    # collide; the major decades are enough
    for axis, log in ((ax.xaxis, xlog), (ax.yaxis, ylog)):
        if log:
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_axis_label(ax.get_xlabel() if x is None else x, xlog))
    ax.set_ylabel(_axis_label(ax.get_ylabel() if y is None else y, ylog))


def sequential_colors(n: int, cmap: str = "viridis") -> list[str]:
    """``n`` distinct hex colours from a colour-blind-safe sequential map, dark to light.

    For ordered series (model sizes, compute budgets). ``cmap`` should be perceptually uniform:
    "viridis" or "cividis".
    """
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}; use 'viridis' or 'cividis'") from None
    most = int(colormap.N * _SEQUENTIAL_STOP)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= most:
        raise ValueError(f"n must be an integer from 1 to {most}, got {n!r}")
    return [to_hex(colormap(position)) for position in np.linspace(0.0, _SEQUENTIAL_STOP, n)]


def add_interval(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    lo: Sequence[float] | np.ndarray,
    hi: Sequence[float] | np.ndarray,
    **kwargs: Any,
) -> PolyCollection:
    """Shade the band between ``lo`` and ``hi`` (a confidence or prediction interval).

    Keyword arguments go to ``Axes.fill_between`` and override the light default look.
    """
    x, lo, hi = (np.asarray(values, dtype=float) for values in (x, lo, hi))
    if not x.shape == lo.shape == hi.shape or x.ndim != 1:
        raise ValueError(
            f"x, lo and hi must be 1-D and of equal length, got shapes {x.shape}, "
            f"{lo.shape}, {hi.shape}"
        )
    inverted = np.flatnonzero(lo > hi)
    if inverted.size:
        raise ValueError(f"lo must not exceed hi; it does at indices {inverted.tolist()}")
    style = {"alpha": 0.25, "linewidth": 0} | kwargs
    return ax.fill_between(x, lo, hi, **style)


def annotate_fit(ax: Axes, text: str, loc: str = "upper right") -> AnchoredText:
    """Put a fit's summary (e.g. "L = 1.7 + 400 N^-0.34") in a corner of the axes."""
    box = AnchoredText(text, loc=loc, frameon=True, prop={"size": "small"})
    box.patch.set(facecolor="white", edgecolor="#bbbbbb", alpha=0.85)
    ax.add_artist(box)
    return box


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix), creating the folder; returns the path."""
    path = Path(path)
    formats = fig.canvas.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise ValueError(f"unsupported figure format {path.suffix!r}; use one of {sorted(formats)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
