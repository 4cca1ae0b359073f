"""The extrapolation analysis: fits, the floor analysis, timelines and the backtest."""

import math

import numpy as np
import pandas as pd
import pytest

from scaling_debate.analysis import extrapolation as ex

GPT3_C, GPT3_A, GPT3_B = 3640.0, 2.57, -0.048


def test_pure_fit_recovers_known_parameters():
    c = np.geomspace(1e-6, 1e4, 12)
    law = ex.fit(c, GPT3_A * c**GPT3_B, "pure")
    assert law.a == pytest.approx(GPT3_A, rel=1e-9)
    assert law.b == pytest.approx(GPT3_B, rel=1e-9)
    assert law.c == 0.0


def test_floor_fit_recovers_known_parameters():
    c = np.geomspace(1, 1e6, 15)
    law = ex.fit(c, 3.0 * c**-0.3 + 1.2, "floor")
    assert law.c == pytest.approx(1.2, abs=1e-6)
    assert law.b == pytest.approx(-0.3, abs=1e-6)
    assert law.a == pytest.approx(3.0, rel=1e-5)


def test_gwern_numbers_recomputed():
    law = ex.LossLaw(GPT3_A, GPT3_B)
    loss = float(law.predict(GPT3_C))
    assert loss == pytest.approx(1.7338, abs=1e-4)
    assert float(law.predict(GPT3_C * 1000)) == pytest.approx(1.2445, abs=1e-4)
    multiple = law.compute_for(0.86) / GPT3_C
    assert multiple == pytest.approx(2.207e6, rel=2e-3)
    steps = ex.timeline(multiple, doubling_months=3.4)
    assert steps["doublings"] == pytest.approx(21.07, abs=0.01)
    assert steps["year"] == pytest.approx(2026.4, abs=0.05)
    assert ex.timeline(multiple, growth_per_year=4.6)["years"] == pytest.approx(9.6, abs=0.1)


def test_floor_analysis_gives_2_2e6_at_zero_and_inf_above_the_target():
    loss = float(ex.LossLaw(GPT3_A, GPT3_B).predict(GPT3_C))
    at_zero = ex.compute_multiple(0.86, loss, GPT3_B, 0.0)
    assert at_zero == pytest.approx(2.2e6, rel=0.01)
    floors = np.array([0.0, 0.5, 0.8, 0.86, 1.0])
    multiples = ex.compute_multiple(0.86, loss, GPT3_B, floors)
    assert multiples[1] == pytest.approx(8.5e7, rel=0.02)
    assert multiples[2] == pytest.approx(2.4e13, rel=0.05)
    assert np.all(np.diff(multiples[:3]) > 0)
    assert np.isinf(multiples[3]) and np.isinf(multiples[4])


def test_through_point_keeps_the_point_and_the_slope():
    for floor in (0.0, 0.5, 1.2):
        law = ex.through_point(1.7338, GPT3_C, GPT3_B, floor)
        assert float(law.predict(GPT3_C)) == pytest.approx(1.7338)
        assert law.local_slope(GPT3_C) == pytest.approx(GPT3_B)
    with pytest.raises(ValueError, match="floor"):
        ex.through_point(1.7338, GPT3_C, GPT3_B, 1.8)


def test_implied_doubling_time_gpt3_to_gpt4():
    assert ex.implied_doubling_months(2.1e25 / 3.14e23, 34) == pytest.approx(5.6, abs=0.05)


def test_frontier_is_the_lower_envelope():
    frame = pd.DataFrame({"compute": [1, 2, 3, 4, 5], "loss": [3.0, 3.5, 2.5, 2.6, 2.0]})
    kept = ex.frontier(frame)
    assert kept["compute"].tolist() == [1, 3, 5]


def test_backtest_pure_law_extrapolates_exactly_and_the_floor_law_scores_it():
    c = np.geomspace(1, 1e4, 13)
    noise = np.random.default_rng(0).normal(0, 0.002, c.size)
    truth = 5 * c**-0.2 + 1.0
    table = ex.backtest(c, truth * (1 + noise), fit_max=30, n_boot=50)
    assert set(table["form"]) == {"pure", "floor"}
    far = table[table["distance"] > 100]
    pure, floor = far[far["form"] == "pure"], far[far["form"] == "floor"]
    # the pure law ignores the floor and is over-optimistic far out; the floor law is not
    assert (pure["error"] < -0.05).all()
    assert floor["error"].abs().max() < pure["error"].abs().min()
    assert (table["error_lo"] <= table["error_hi"]).all()
    picked = ex.at_distances(table, targets=(10, 100, 1e6))
    assert set(picked["target"]) == {10, 100}


def test_backtest_parametric_bootstrap_for_tiny_fit_sets():
    c = np.array([1.0, 10.0, 100.0, 1000.0, 1e5])
    y = 4 * c**-0.1 + 1.5
    table = ex.backtest(c, y, fit_max=1000, n_boot=40, loss_sd=np.full(5, 0.003))
    floor = table[table["form"] == "floor"].iloc[0]
    assert abs(floor["error"]) < 1e-3
    assert floor["error_lo"] < floor["error_hi"]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="form"):
        ex.fit([1, 2, 3], [3, 2, 1], "cubic")
    with pytest.raises(ValueError, match="exactly one"):
        ex.timeline(10.0)
    with pytest.raises(ValueError, match="fit_max"):
        ex.backtest([1, 2, 3], [3, 2, 1], fit_max=10)
    assert math.isinf(ex.LossLaw(1.0, -0.1, 0.9).compute_for(0.8))
