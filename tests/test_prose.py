"""Glued numbers reach myst-nb as plain Python values it can format."""

from __future__ import annotations

import numpy as np

from scaling_debate.book.prose import plain


def test_numpy_scalars_become_python_numbers_with_a_parsable_repr():
    for value, expected in [(np.float64(1.5), 1.5), (np.int64(3), 3), (np.bool_(True), True)]:
        converted = plain(value)
        assert converted == expected and type(converted) is type(expected)
        assert "np." not in repr(converted)
    assert float(repr(plain(np.float64(0.1) + np.float64(0.2)))) == 0.1 + 0.2


def test_words_are_glued_without_quotes():
    from IPython.core.formatters import PlainTextFormatter

    assert PlainTextFormatter()(plain("GPT-3 13B")) == "GPT-3 13B"
    assert plain(2.5) == 2.5


def test_glued_text_that_looks_like_a_literal_survives_myst_nbs_reading():
    from myst_nb.core.variables import format_plain_text

    from scaling_debate.book.prose import plain

    for text in ["1,576", "32,768", "3", "none of them", "6 of 6 runs (1, 2)"]:
        assert format_plain_text(repr(plain(text)), "") == text
