"""Tests for the exposure protocol: chance without study, near 100 % with many, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scaling_debate.analysis.recognition import choice_scores
from scaling_debate.training import exposure
from scaling_debate.training.exposure import (
    MissingRecognitionRunsError,
    RecognitionSpec,
    RecognitionStore,
    run_recognition_all,
    study_and_test,
    text_stimuli,
)
from scaling_debate.training.model import GPT, GPTConfig
from scaling_debate.training.reproducible import cpu_threads

VOCAB = 16


def _items(n: int, length: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.concatenate([[VOCAB], rng.integers(0, VOCAB, length)]) for _ in range(n)]


def _model(seed: int = 0, d_model: int = 32) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=VOCAB + 1, context=32, d_model=d_model, n_layers=1, n_heads=2))


def _accuracy(losses: np.ndarray, n: int) -> float:
    return float(choice_scores(losses[:n], losses[n : 2 * n]).mean())


def test_a_model_that_never_saw_the_list_scores_at_chance():
    n = 200
    studied_elsewhere = _items(20, 24, seed=1)
    unseen_a, unseen_b = _items(n, 24, seed=2), _items(n, 24, seed=3)
    with cpu_threads():
        losses = study_and_test(
            _model(), studied_elsewhere, unseen_a + unseen_b, [4], 4, 1e-3, seed=0
        )
    for after in losses.values():
        accuracy = _accuracy(after, n)
        # binomial standard deviation at n = 200 is 3.5 points; allow three of them
        assert abs(accuracy - 0.5) < 3 * np.sqrt(0.25 / n), accuracy


def test_many_exposures_score_near_100_percent_and_one_exposure_less():
    n = 16
    study, foils = _items(n, 24, seed=4), _items(n, 24, seed=5)
    with cpu_threads():
        losses = study_and_test(_model(), study, study + foils, [1, 30], 1, 3e-3, seed=0)
    assert _accuracy(losses[30], n) >= 0.95
    assert set(losses) == {0, 1, 30}
    # before study nothing was learned: studied items are no easier than foils on average
    assert abs(losses[0][:n].mean() - losses[0][n:].mean()) < 0.1


def test_results_are_deterministic_functions_of_their_settings():
    study, test = _items(8, 16, seed=6), _items(12, 16, seed=7)

    def once(seed: int) -> dict[int, np.ndarray]:
        with cpu_threads():
            return study_and_test(_model(), study, study + test, [1, 2], 2, 1e-3, seed=seed)

    first, second, other = once(0), once(0), once(1)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first[2], other[2])  # the study order depends on the seed


def test_bad_settings_are_refused_naming_the_value():
    with pytest.raises(ValueError, match=r"stimuli='pics': must be one of sotu, stdlib, emoji"):
        RecognitionSpec(stimuli="pics", d_model=16, n_layers=1, n_heads=2, n_items=4)
    with pytest.raises(ValueError, match=r"exposures=\(2, 1\)"):
        RecognitionSpec(
            stimuli="stdlib", d_model=16, n_layers=1, n_heads=2, n_items=4, exposures=(2, 1)
        )
    with pytest.raises(ValueError, match=r"lr=0"):
        RecognitionSpec(stimuli="stdlib", d_model=16, n_layers=1, n_heads=2, n_items=4, lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        study_and_test(_model(), _items(2, 8, 0), _items(2, 8, 1), [1], 0, 1e-3, seed=0)


def test_the_spec_hash_is_stable_and_changes_with_any_setting():
    spec = RecognitionSpec(stimuli="stdlib", d_model=16, n_layers=1, n_heads=2, n_items=4)
    same = RecognitionSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert same == spec and same.key() == spec.key()
    other_lr = RecognitionSpec(**{**spec.to_dict(), "exposures": (1, 2, 4, 8, 16), "lr": 2e-4})
    assert other_lr.key() != spec.key()
    # the pretrained weights do not depend on the study settings
    changed = RecognitionSpec(**{**spec.to_dict(), "exposures": (1, 2), "batch_size": 4})
    assert changed.pretrain_key() == spec.pretrain_key()


def test_text_stimuli_hold_novel_and_one_word_substitution_foils():
    spec = RecognitionSpec(stimuli="stdlib", d_model=16, n_layers=1, n_heads=2, n_items=10)
    stimuli = text_stimuli(spec)
    n = spec.n_items
    assert len(stimuli.study) == n and len(stimuli.test) == 3 * n
    studied = {bytes(item[1:].astype(np.uint8)) for item in stimuli.study}
    for condition, pairs in stimuli.trials.items():
        for _, f in pairs:
            assert bytes(stimuli.test[f][1:].astype(np.uint8)) not in studied, condition
    for s, f in stimuli.trials["substitution"]:
        a = bytes(stimuli.test[s][1:].astype(np.uint8)).decode().split()
        b = bytes(stimuli.test[f][1:].astype(np.uint8)).decode().split()
        assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    # pretraining sentences come from the training documents only
    pool = {bytes(item[1:].astype(np.uint8)) for item in stimuli.pretrain_pool}
    tested = {bytes(item[1:].astype(np.uint8)) for item in stimuli.test}
    assert not tested & pool
    # the pool depends on the corpus alone, so pretrained weights can be shared across settings
    other = text_stimuli(RecognitionSpec(**{**spec.to_dict(), "n_items": 5, "seed": 3}))
    assert len(other.pretrain_pool) == len(stimuli.pretrain_pool)


def test_a_run_is_stored_and_served_without_training(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_DEBATE_CACHE", str(tmp_path / "cache"))
    spec = RecognitionSpec(
        stimuli="stdlib",
        d_model=16,
        n_layers=1,
        n_heads=2,
        n_items=4,
        exposures=(1, 2),
        pretrain_steps=3,
        pretrain_batch=2,
    )
    store = RecognitionStore(tmp_path / "store")
    with pytest.raises(MissingRecognitionRunsError, match=spec.key()):
        run_recognition_all([spec], store=store, allow_training=False)
    monkeypatch.setenv("SCALING_DEBATE_NO_TRAIN", "1")
    with pytest.raises(MissingRecognitionRunsError, match="SCALING_DEBATE_NO_TRAIN=1"):
        run_recognition_all([spec], store=store)
    monkeypatch.delenv("SCALING_DEBATE_NO_TRAIN")
    [record] = run_recognition_all([spec], store=store)
    assert set(record["losses"]) == {"0", "1", "2"}
    assert store.path(spec).exists()
    monkeypatch.setenv("SCALING_DEBATE_NO_TRAIN", "1")
    [again] = run_recognition_all([spec], store=store)
    assert again["losses"] == record["losses"]
    # retraining from the cached weights gives the same bits
    monkeypatch.delenv("SCALING_DEBATE_NO_TRAIN")
    assert exposure.run_recognition(spec)["losses"] == record["losses"]


def test_a_corrupt_record_is_moved_aside(tmp_path):
    spec = RecognitionSpec(stimuli="stdlib", d_model=16, n_layers=1, n_heads=2, n_items=4)
    store = RecognitionStore(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    store.path(spec).write_text("{not json")
    assert store.get(spec) is None
    assert store.path(spec).with_suffix(".corrupt").exists()
