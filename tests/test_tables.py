"""The house style for numbers and tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling_debate.book.tables import format_interval, format_number, page_table, readable_header


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12384, "12,384"),
        (np.int64(-7), "−7"),
        (3.0, "3"),
        (0.035812, "0.0358"),
        (1.9587, "1.96"),
        (123.456, "123"),
        (4297.2, "4,297"),
        (1.240249e13, "1.24 × 10¹³"),
        (5e11, "5 × 10¹¹"),
        (9.9996e8, "1 × 10⁹"),
        (2.47e-18, "2.47 × 10⁻¹⁸"),
        (-0.00042, "−4.2 × 10⁻⁴"),
        (0.0, "0"),
        (float("nan"), "—"),
        (None, "—"),
        (math.inf, "∞"),
        (True, "yes"),
        (np.bool_(False), "no"),
        ("LLaMA-7B", "LLaMA-7B"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


def test_format_number_digits_and_refusal():
    assert format_number(3.14159, digits=5) == "3.1416"
    with pytest.raises(ValueError, match="digits=0"):
        format_number(1.0, digits=0)


def test_format_interval():
    assert format_interval(0.1234, 2.5e12, digits=2) == "0.12 to 2.5 × 10¹²"


def test_readable_header():
    assert readable_header("loss_at_65B_compute") == "loss at 65B compute"


def test_page_table_hides_the_index_and_formats_every_cell():
    frame = pd.DataFrame(
        {"model": ["a", "b"], "tokens_seen": [1.24e13, np.nan], "ok": [True, False]}
    )
    html = page_table(frame).to_html()
    assert "tokens seen" in html and "tokens_seen" not in html
    assert "1.24 × 10¹³" in html and "—" in html and "nan" not in html.lower()
    assert "yes" in html and "True" not in html
    assert ">0<" not in html  # no index column


def test_page_table_keeps_a_named_index_when_asked():
    frame = pd.DataFrame({"value": [1.5]}, index=pd.Index(["x"], name="the_row"))
    html = page_table(frame, index=True).to_html()
    assert "the row" in html and ">x<" in html


def test_page_table_refuses_a_series():
    with pytest.raises(TypeError, match="Series"):
        page_table(pd.Series([1, 2]))
