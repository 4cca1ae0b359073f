"""Unit conversions: nats, bits, perplexity, bits per byte."""

import math

import numpy as np
import pytest

from scaling_debate import units


def test_perplexity_ten_is_2_303_nats_and_3_322_bits():
    assert units.perplexity_to_nats(10) == pytest.approx(2.302585, abs=1e-6)
    assert units.perplexity_to_bits(10) == pytest.approx(3.321928, abs=1e-6)


def test_nats_and_bits_round_trip_and_gpt3s_loss_in_bits():
    assert units.bits_to_nats(units.nats_to_bits(1.7338)) == pytest.approx(1.7338)
    assert units.nats_to_bits(1.7338) == pytest.approx(2.501, abs=1e-3)
    assert units.bits_to_nats(1.0) == pytest.approx(math.log(2))


def test_perplexity_round_trip_elementwise():
    losses = np.array([0.5, 2.3, 3.3])
    assert np.allclose(units.perplexity_to_nats(units.nats_to_perplexity(losses)), losses)


def test_perplexity_below_one_is_refused():
    with pytest.raises(ValueError, match="perplexity must be at least 1"):
        units.perplexity_to_nats(0.5)


def test_bits_per_byte():
    # 4 bytes per token: ln 2 nats per token is 1 bit per token, 0.25 bits per byte
    assert units.bits_per_byte(math.log(2), 4) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="bytes_per_token"):
        units.bits_per_byte(1.0, 0)
