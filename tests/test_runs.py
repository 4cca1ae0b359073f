"""The run store and run_all: hashing, atomic JSON, corruption, resuming, labels, --no-train."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import SPEC, fake_result, with_seed

from scaling_debate.training import spec as spec_module
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import CorruptRunError, RunStore
from scaling_debate.training.sweep import NO_TRAIN_ENV, RUN_LOG_ENV, MissingRunsError, run_all


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": -5}, "training budget"),
        ({"tokens": 0}, "training budget"),
        ({"data": "wikipedia"}, "one of stdlib, sotu"),
        ({"schedule": "linear"}, "one of cosine, fixed"),
        ({"tokens": True}, "training budget"),
        ({"seed": -1}, "seed"),
        ({"schedule": "fixed"}, "schedule_tokens"),
        ({"n_heads": 3}, "divisible"),
        ({"lr": 0.0}, "lr"),
        ({"d_model": 2.5}, "an integer >= 1"),
    ],
)
def test_bad_specs_are_refused_with_the_value_named(change, message):
    values = {**SPEC.to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        RunSpec(**values)


# a valid other value for every field that determines a result
OTHER_VALUES = {
    "data": "sotu",
    "d_model": 32,
    "n_layers": 2,
    "n_heads": 4,
    "context": 32,
    "tokens": 8192,
    "batch_size": 4,
    "lr": 1e-3,
    "warmup_fraction": 0.1,
    "min_lr_fraction": 0.2,
    "weight_decay": 0.0,
    "grad_clip": 0.5,
    "schedule": "fixed",
    "schedule_tokens": 8192,
    "n_evals": 5,
    "eval_tokens": 2048,
    "seed": 1,
}


@pytest.mark.parametrize(
    "field", [f.name for f in dataclasses.fields(RunSpec) if f.name != "labels"]
)
def test_hash_is_stable_and_covers_every_field(field):
    assert SPEC.key() == RunSpec(**SPEC.to_dict()).key()
    changes = {field: OTHER_VALUES[field]}
    if field in {"schedule", "schedule_tokens"}:  # they only exist together
        changes = {"schedule": "fixed", "schedule_tokens": OTHER_VALUES["schedule_tokens"]}
    assert RunSpec(**{**SPEC.to_dict(), **changes}).key() != SPEC.key()


def test_labels_ride_outside_the_hash_and_reach_the_frame(tmp_path, fake_trainer):
    labelled = SPEC.labeled(sweep="isoflop", budget=1e12)
    assert labelled == SPEC and labelled.key() == SPEC.key()
    other = SPEC.labeled(sweep="ladder")
    frame = run_all([labelled, other], store=RunStore(tmp_path), trainer=fake_trainer)
    assert fake_trainer.trained == [SPEC], "one run, however many roles it plays"
    assert list(frame["sweep"]) == ["isoflop", "ladder"]
    assert frame["budget"].iloc[0] == 1e12


def test_hash_changes_with_the_training_code_version(monkeypatch):
    before = SPEC.key()
    monkeypatch.setattr(spec_module, "TRAINING_CODE_VERSION", spec_module.TRAINING_CODE_VERSION + 1)
    assert SPEC.key() != before


def test_store_round_trip_is_plain_json(tmp_path):
    store = RunStore(tmp_path)
    path = store.save(fake_result(SPEC))
    assert json.loads(path.read_text())["key"] == SPEC.key()
    assert store.load(SPEC) == fake_result(SPEC)
    assert not list(tmp_path.glob(".tmp-*")), "temporary files must be renamed or removed"


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text[: len(text) // 2],  # truncated write
        lambda text: text.replace('"val_loss": 2.0', '"val_loss": NaN'),
        lambda text: text.replace('"val_loss": 2.0', '"val_loss": Infinity'),
        lambda text: text.replace('"tokens": 4096', '"tokens": 999'),  # spec edited by hand
        lambda text: "[]",
    ],
)
def test_corrupt_file_is_reported_then_rerun(tmp_path, fake_trainer, corrupt, caplog):
    store = RunStore(tmp_path)
    path = store.save(fake_result(SPEC))
    path.write_text(corrupt(path.read_text()))
    with pytest.raises(CorruptRunError):
        store.load(SPEC)
    frame = run_all([SPEC], store=store, trainer=fake_trainer)
    assert fake_trainer.trained == [SPEC], "a corrupt result must be re-run, never used"
    assert frame["val_loss"].iloc[0] == 1.0
    assert "moved to" in caplog.text
    assert path.with_suffix(".corrupt").exists()


def test_run_all_trains_only_missing_runs(tmp_path, fake_trainer):
    store = RunStore(tmp_path)
    specs = [with_seed(SPEC, s) for s in range(3)]
    store.save(fake_result(specs[1], loss=7.0))
    frame = run_all(specs, store=store, trainer=fake_trainer)
    assert fake_trainer.trained == [specs[0], specs[2]]
    assert list(frame["seed"]) == [0, 1, 2]
    assert list(frame["val_loss"]) == [1.0, 7.0, 3.0]
    run_all(specs, store=store, trainer=fake_trainer)
    assert len(fake_trainer.trained) == 2, "a second call must train nothing"


def test_no_train_lists_every_missing_run_before_training(tmp_path, fake_trainer, monkeypatch):
    store = RunStore(tmp_path)
    specs = [with_seed(SPEC, s) for s in range(3)]
    store.save(fake_result(specs[0]))
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    with pytest.raises(MissingRunsError) as error:
        run_all(specs, store=store, trainer=fake_trainer)
    assert fake_trainer.trained == []
    assert error.value.missing == specs[1:]
    assert specs[2].key() in str(error.value)


def test_killed_sweep_resumes_where_it_stopped(tmp_path, fake_trainer):
    store = RunStore(tmp_path)
    specs = [with_seed(SPEC, s) for s in range(4)]
    calls: list[int] = []

    def dies_on_third(spec: RunSpec):
        calls.append(spec.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the sweep is killed mid-run
        return fake_result(spec)

    with pytest.raises(KeyboardInterrupt):
        run_all(specs, store=store, trainer=dies_on_third)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(s.key() for s in specs[:2])
    run_all(specs, store=store, trainer=fake_trainer)
    assert fake_trainer.trained == specs[2:], "finished runs are kept, only the rest retrain"
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_executor_runs_missing_specs(tmp_path, fake_trainer):
    from concurrent.futures import ThreadPoolExecutor

    specs = [with_seed(SPEC, s) for s in range(3)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        frame = run_all(specs, executor=pool, store=RunStore(tmp_path), trainer=fake_trainer)
    assert sorted(s.seed for s in fake_trainer.trained) == [0, 1, 2]
    assert list(frame["seed"]) == [0, 1, 2]


def test_runs_read_are_logged_for_the_book(tmp_path, fake_trainer, monkeypatch):
    log = tmp_path / "read.txt"
    monkeypatch.setenv(RUN_LOG_ENV, str(log))
    run_all([SPEC], store=RunStore(tmp_path / "store"), trainer=fake_trainer)
    assert log.read_text().split() == [SPEC.key()]


def test_a_run_trained_with_unpinned_kernels_is_not_served_as_reproducible(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    record = fake_result(SPEC, environment={"device": "cpu", "kernels": {"pinned": False}})
    store.save(record)
    monkeypatch.delenv("SCALING_DEBATE_FAST_KERNELS", raising=False)
    assert store.get(SPEC) is None  # retrained, and replaced, by a pinned run
    monkeypatch.setenv("SCALING_DEBATE_FAST_KERNELS", "1")
    assert store.get(SPEC) == record  # a reader who opted out reads their own fast runs


def test_gpu_runs_are_served_whatever_their_cpu_kernels(tmp_path):
    store = RunStore(tmp_path)
    record = fake_result(SPEC, environment={"device": "cuda", "kernels": {"pinned": False}})
    store.save(record)
    assert store.get(SPEC) == record
