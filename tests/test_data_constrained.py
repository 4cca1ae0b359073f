"""Muennighoff et al. (2023)'s effective data, as used for "train it longer" questions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scaling_debate.analysis import data_constrained as dc
from scaling_debate.analysis import laws as fit

LAW = fit.ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, loss=0.0, n=0)


def test_published_decay_constants_are_muennighoffs():
    decay = dc.published_decay()
    assert decay.r_d_star == pytest.approx(15.387756)
    assert decay.r_n_star == pytest.approx(5.309743)
    law = dc.published_law()
    assert law.alpha == law.beta == pytest.approx(0.3526596)
    assert law.E == pytest.approx(math.exp(0.6254804))


def test_effective_tokens_against_hand_computed_values():
    # one pass: nothing repeats
    assert dc.effective_tokens(100.0, 100.0, 15.0) == pytest.approx(100.0)
    # fewer tokens than unique ones: the tokens themselves
    assert dc.effective_tokens(40.0, 100.0, 15.0) == pytest.approx(40.0)
    # 4 passes, R = 3: 100 + 100 * 15 * (1 - exp(-3/15)) = 371.90...
    assert dc.effective_tokens(400.0, 100.0, 15.0) == pytest.approx(
        100 + 1500 * (1 - math.exp(-0.2)), rel=1e-12
    )
    assert dc.effective_tokens(400.0, 100.0, 15.0) == pytest.approx(371.9038, rel=1e-6)
    # however long one trains, never more than U (1 + R*)
    assert dc.effective_tokens(1e9, 100.0, 15.0) == pytest.approx(1600.0, rel=1e-9)


def test_effective_tokens_are_elementwise_and_refuse_bad_inputs():
    out = dc.effective_tokens(np.array([50.0, 200.0]), np.array([100.0, 100.0]), 10.0)
    assert out[0] == pytest.approx(50.0)
    assert out[1] == pytest.approx(100 + 1000 * (1 - math.exp(-0.1)))
    with pytest.raises(ValueError):
        dc.effective_tokens(10.0, 0.0, 10.0)
    with pytest.raises(ValueError):
        dc.effective_tokens(10.0, 5.0, 0.0)


def test_mixture_sizes_and_epochs_round_trip():
    shares, epochs = [60.0, 40.0], [0.5, 2.0]
    unique = dc.mixture_unique_tokens(shares, epochs, 1000.0)
    np.testing.assert_allclose(unique, [1200.0, 200.0])
    np.testing.assert_allclose(dc.mixture_epochs(1000.0, shares, unique), epochs)
    np.testing.assert_allclose(dc.mixture_epochs(3000.0, shares, unique), [1.5, 6.0])


def test_mixture_effective_tokens_sum_the_subsets():
    shares, unique = [60.0, 40.0], [1200.0, 200.0]
    # 3000 tokens: 1800 from a 1200-token subset (R = 0.5), 1200 from a 200-token one (R = 5)
    expected = (1200 + 1200 * 15 * (1 - math.exp(-0.5 / 15))) + (
        200 + 200 * 15 * (1 - math.exp(-5 / 15))
    )
    assert dc.mixture_effective_tokens(3000.0, shares, unique, 15.0) == pytest.approx(expected)
    assert dc.mixture_effective_ceiling(unique, 15.0) == pytest.approx(1400 * 16)


def test_tokens_for_effective_inverts_the_mixture_and_says_never_past_the_ceiling():
    shares, unique = [60.0, 40.0], [1200.0, 200.0]
    for tokens in (500.0, 3000.0, 40000.0):
        effective = dc.mixture_effective_tokens(tokens, shares, unique, 15.0)
        assert dc.tokens_for_effective(effective, shares, unique, 15.0) == pytest.approx(
            tokens, rel=1e-8
        )
    assert dc.tokens_for_effective(1400 * 16, shares, unique, 15.0) == math.inf


def test_params_with_optimal_data_inverts_the_laws_allocation():
    n_opt, d_opt = LAW.optimal_allocation(1e23)
    assert dc.params_with_optimal_data(LAW, d_opt) == pytest.approx(n_opt, rel=1e-9)


def test_constrained_loss_is_the_plain_law_without_repetition_and_higher_with_it():
    decay = dc.DecayConstants(r_d_star=15.0, r_n_star=5.0)
    shares, unique = [100.0], [1e12]
    plain = float(LAW.predict(1e9, 5e11))
    assert dc.constrained_loss(LAW, 1e9, 5e11, shares, unique, decay) == pytest.approx(plain)
    repeated = dc.constrained_loss(LAW, 1e9, 2e13, shares, unique, decay)
    assert repeated > float(LAW.predict(1e9, 2e13))
    # a model far bigger than the data can feed has its excess parameters discounted too
    u_n = dc.params_with_optimal_data(LAW, 1e12)
    big = dc.constrained_loss(LAW, 100 * u_n, 1e12, shares, unique, decay)
    assert big > float(LAW.predict(100 * u_n, 1e12))
