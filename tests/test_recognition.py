"""Tests for the torch-free recognition analysis: choices, accuracies, exposures to a target."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling_debate.analysis import recognition


def _record(key: str, before, after_by_exposure, trials, seed=0, pretrain_steps=0):
    losses = {"0": list(before), **{str(e): list(v) for e, v in after_by_exposure.items()}}
    spec = {
        "stimuli": "emoji",
        "d_model": 16,
        "n_layers": 1,
        "n_heads": 2,
        "n_items": len(next(iter(trials.values()))),
        "batch_size": 1,
        "lr": 1e-3,
        "seed": seed,
        "pretrain_steps": pretrain_steps,
    }
    return {"spec": spec, "key": key, "n_params": 100, "trials": trials, "losses": losses}


def test_raw_and_calibrated_choices_and_ties():
    studied, foil = np.array([1.0, 2.0, 3.0]), np.array([2.0, 1.0, 3.0])
    np.testing.assert_array_equal(recognition.choice_scores(studied, foil), [1, 0, 0.5])
    # calibrated: the studied item dropped by 1, the (easier) foil by 0: studied is chosen
    calibrated = recognition.choice_scores(
        np.array([2.0]), np.array([1.0]), np.array([3.0]), np.array([1.0])
    )
    np.testing.assert_array_equal(calibrated, [1.0])
    with pytest.raises(ValueError, match="both"):
        recognition.choice_scores(studied, foil, studied)


def test_calibration_removes_item_difficulty():
    # the foil is always easier (lower loss) than the studied item; study lowers the studied
    # item's loss by 0.3, the foil's by 0.1: raw says 0 %, calibrated says 100 %
    before = [3.0, 3.0, 1.0, 1.0]
    after = [2.7, 2.7, 0.9, 0.9]
    record = _record("a", before, {1: after}, {"novel": [[0, 2], [1, 3]]})
    trials = recognition.trials_frame([record])
    table = {s: recognition.accuracy(trials, ["exposure"], s) for s in recognition.SCORINGS}
    tested = {s: t[t["exposure"] == 1].iloc[0] for s, t in table.items()}
    assert tested["raw"]["accuracy_pct"] == 0 and tested["calibrated"]["accuracy_pct"] == 100
    # before study calibrated choices are all ties: exactly chance
    assert table["calibrated"].iloc[0]["accuracy_pct"] == 50
    assert 0 < tested["calibrated"]["lo_pct"] < 100 == tested["calibrated"]["hi_pct"]


def test_exposures_to_reach_interpolates_in_log_exposures():
    exposures = [1, 2, 4, 8, 16]
    assert recognition.exposures_to_reach(exposures, [50, 60, 70, 80, 90], 75) == pytest.approx(
        2**2.5
    )
    assert recognition.exposures_to_reach(exposures, [95, 96, 97, 98, 99], 90) == 1
    assert math.isinf(recognition.exposures_to_reach(exposures, [50] * 5, 90))
    assert recognition.exposures_to_reach([0, *exposures], [100, 50, 60, 70, 80, 90], 90) == 16


def test_exposures_to_human_with_a_bootstrap_interval_and_censoring():
    rng = np.random.default_rng(0)
    records = []
    n = 60
    for seed in range(2):
        before = rng.normal(3, 0.2, 2 * n)
        after = {}
        for e in (1, 2, 4, 8, 16):
            drop = np.r_[np.full(n, 0.05 * e), np.zeros(n)]
            after[e] = before - drop + rng.normal(0, 0.2, 2 * n)
        trials = {"novel": [[i, n + i] for i in range(n)]}
        records.append(_record(f"run{seed}", before, after, trials, seed=seed))
    trials = recognition.trials_frame(records)
    result = recognition.exposures_to_human(trials, 80, "raw", n_boot=50)
    assert result["lo"] <= result["estimate"] <= result["hi"]
    assert 1 <= result["estimate"] <= 16
    never = recognition.exposures_to_human(trials, 100, "raw", n_boot=20)
    assert never["estimate"] == never["censored_at"] == 32
    assert recognition.describe_exposures(never) == "more than 16 (not reached)"
    again = recognition.exposures_to_human(trials, 80, "raw", n_boot=50)
    assert again == result  # seeded


def test_bad_input_is_refused():
    frame = pd.DataFrame({"exposure": [1], "raw": [1.0]})
    with pytest.raises(ValueError, match="scoring='best'"):
        recognition.accuracy(frame, ["exposure"], "best")
    with pytest.raises(ValueError, match="must have column"):
        recognition.accuracy(frame, ["condition"], "raw")
    with pytest.raises(ValueError, match="at least one"):
        recognition.trials_frame([])


def test_exposures_until_every_condition_reaches_its_own_target():
    n = 40
    before = np.full(3 * n, 3.0)
    after = {}
    for e in (1, 2, 4, 8, 16):
        after[e] = before.copy()
        after[e][:n] -= 0.1  # studied items drop
        # condition "hard": the foil drops as much as the studied item until 8 exposures
        after[e][2 * n :] -= 0.1 if e < 8 else 0.0
    trials = {"easy": [[i, n + i] for i in range(n)], "hard": [[i, 2 * n + i] for i in range(n)]}
    frame = recognition.trials_frame([_record("r", before, after, trials)])
    both = recognition.exposures_to_human(frame, {"easy": 90, "hard": 90}, "raw", n_boot=20)
    easy = recognition.exposures_to_human(frame[frame["condition"] == "easy"], 90, "raw", 20)
    assert easy["estimate"] == 1
    assert 4 < both["estimate"] <= 8
