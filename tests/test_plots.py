"""The house figure style and its helpers."""

import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_hex

from scaling_debate.book import plots


@pytest.fixture(autouse=True)
def restore_matplotlib():
    # rcParams are global: leave them as found for the other test modules.
    with matplotlib.rc_context():
        yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_house_style_sets_the_palette_as_the_colour_cycle():
    matplotlib.rcdefaults()
    plots.use_house_style()
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [to_hex(c) for c in cycle] == [c.lower() for c in plots.PALETTE]
    assert len(set(plots.PALETTE)) == 8  # the eight Okabe-Ito colours
    assert not matplotlib.rcParams["axes.spines.top"]
    assert not matplotlib.rcParams["axes.spines.right"]


def test_new_figure_is_styled_and_fills_the_page_column():
    matplotlib.rcdefaults()
    fig, ax = plots.new_figure()
    first_line = ax.plot([0, 1], [0, 1])[0]
    assert to_hex(first_line.get_color()) == plots.PALETTE[0].lower()
    assert fig.get_figwidth() == plots.FIGURE_WIDTH_IN <= plots.COLUMN_WIDTH_IN
    assert fig.get_layout_engine() is not None


def test_figures_render_at_twice_the_design_resolution(tmp_path):
    """Inline (Jupyter) output uses figure.dpi, files use savefig.dpi: both are 2x (200 px/in)."""
    from PIL import Image

    fig, _ = plots.new_figure(width=7, height=4)
    assert fig.dpi == matplotlib.rcParams["savefig.dpi"] == plots.FIGURE_DPI == 200
    path = plots.save_figure(fig, tmp_path / "figure.png")
    with Image.open(path) as image:
        assert image.size == (1400, 800)
        assert image.info["dpi"][0] == pytest.approx(200, abs=0.01)


def test_figures_wider_than_the_column_are_narrowed_and_keep_their_height():
    fig, axes = plots.new_figure(ncols=2, width=11, height=4.2)
    assert fig.get_figwidth() == plots.COLUMN_WIDTH_IN
    assert fig.get_figheight() == 4.2
    assert axes.shape == (2,)


@pytest.mark.parametrize("width", [4, 7, 9.5, 11])
def test_text_stays_at_least_9_px_where_the_page_shows_the_figure(width):
    # legends at 7.5 pt are the smallest text the chapters set
    fig, ax = plots.new_figure(width=width, height=3)
    ax.plot([1, 2], [1, 2], label="a line")
    ax.legend(fontsize=7.5)
    plots.label_axes(ax, "x", "y")
    assert plots.smallest_text_pt(fig) == 7.5
    assert plots.text_px_on_page(fig) >= plots.MIN_TEXT_PX
    # a figure as wide as the column keeps the house's 10 pt ticks at 13.9 px or more
    assert plots.text_px_on_page(fig, 10) >= 13.8


def test_smallest_text_needs_some_text():
    fig, ax = plots.new_figure()
    ax.set_axis_off()
    with pytest.raises(ValueError, match="no visible text"):
        plots.smallest_text_pt(fig)


def test_new_figure_returns_a_grid_of_axes():
    fig, axes = plots.new_figure(ncols=3, nrows=2)
    assert axes.shape == (2, 3)
    assert fig.get_figheight() > plots.new_figure()[0].get_figheight()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"ncols": 0}, "ncols"), ({"nrows": 1.5}, "nrows"), ({"width": -2.0}, "width")],
)
def test_new_figure_rejects_bad_shapes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        plots.new_figure(**kwargs)


@pytest.mark.parametrize(("xlog", "ylog"), [(False, False), (True, False), (False, True)])
def test_label_axes_marks_exactly_the_log_axes(xlog, ylog):
    _, ax = plots.new_figure()
    plots.label_axes(ax, x="compute (FLOPs)", y="loss (nats/token)", xlog=xlog, ylog=ylog)
    assert ax.get_xlabel() == "compute (FLOPs)" + (" (log scale)" if xlog else "")
    assert ax.get_ylabel() == "loss (nats/token)" + (" (log scale)" if ylog else "")
    assert ax.get_xscale() == ("log" if xlog else "linear")
    assert ax.get_yscale() == ("log" if ylog else "linear")


def test_label_axes_does_not_mark_twice_and_keeps_existing_labels():
    _, ax = plots.new_figure()
    plots.label_axes(ax, x="tokens", y="loss", xlog=True, ylog=True)
    plots.label_axes(ax, xlog=True, ylog=False)
    assert ax.get_xlabel() == "tokens (log scale)"
    assert ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "linear"


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_sequential_colors_are_distinct(n):
    colors = plots.sequential_colors(n)
    assert len(colors) == n
    assert len(set(colors)) == n


def test_sequential_colors_run_dark_to_light():
    luminance = [np.mean(matplotlib.colors.to_rgb(c)) for c in plots.sequential_colors(5)]
    assert luminance == sorted(luminance)


@pytest.mark.parametrize("n", [0, -1, 2.0, 10_000])
def test_sequential_colors_rejects_bad_counts(n):
    with pytest.raises(ValueError, match="n must be"):
        plots.sequential_colors(n)


def test_sequential_colors_rejects_unknown_maps():
    with pytest.raises(ValueError, match="no_such_map"):
        plots.sequential_colors(3, cmap="no_such_map")


def test_add_interval_shades_between_the_bounds():
    _, ax = plots.new_figure()
    band = plots.add_interval(ax, [1, 2, 3], [0.5, 1.0, 1.5], [1.5, 2.0, 2.5], color="C1")
    corners = band.get_paths()[0].vertices
    assert corners[:, 1].min() == pytest.approx(0.5)
    assert corners[:, 1].max() == pytest.approx(2.5)
    assert band.get_alpha() == pytest.approx(0.25)


def test_add_interval_rejects_inverted_and_ragged_bands():
    _, ax = plots.new_figure()
    with pytest.raises(ValueError, match=r"indices \[1\]"):
        plots.add_interval(ax, [1, 2], [0, 3], [1, 2])
    with pytest.raises(ValueError, match="equal length"):
        plots.add_interval(ax, [1, 2, 3], [0, 1], [1, 2])


def test_annotate_fit_adds_the_text_to_the_axes():
    _, ax = plots.new_figure()
    box = plots.annotate_fit(ax, "alpha = 0.34")
    assert box in ax.artists
    assert box.txt.get_text() == "alpha = 0.34"


def test_save_figure_writes_a_png_and_rejects_unknown_formats(tmp_path):
    fig, ax = plots.new_figure()
    ax.plot([1, 10, 100], [3.0, 2.5, 2.2])
    path = plots.save_figure(fig, tmp_path / "nested" / "loss.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"\.xyz"):
        plots.save_figure(fig, tmp_path / "loss.xyz")


def _backend_in_fresh_python(env_update: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.pop("MPLBACKEND", None)
    env.update(env_update)
    script = (
        "import matplotlib; from scaling_debate.book import plots; plots.new_figure(); "
        "print(matplotlib.get_backend().lower())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="headless check is Linux-only")
def test_agg_without_a_display_but_an_explicit_backend_is_kept():
    assert _backend_in_fresh_python({}) == "agg"
    assert _backend_in_fresh_python({"MPLBACKEND": "svg"}) == "svg"
