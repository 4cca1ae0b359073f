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
