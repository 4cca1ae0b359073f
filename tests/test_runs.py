"""The run store and run_all: hashing, atomic JSON, corruption, resuming, --no-train."""

from __future__ import annotations

import json

import pytest

from scaling_debate import runs
from scaling_debate.runs import CorruptRunError, MissingRunsError, RunSpec, RunStore, run_all

SPEC = RunSpec(
    data="stdlib",
    d_model=16,
    n_layers=1,
    n_heads=2,
    context=16,
    tokens=4096,
    batch_size=8,
    n_evals=3,
    eval_tokens=1024,
)


def fake_record(spec: RunSpec, loss: float = 2.0) -> dict:
    return {
        "spec": spec.to_dict(),
        "key": spec.key(),
        "code_version": runs.TRAINING_CODE_VERSION,
        "n_params": 100,
        "n_params_non_embedding": 50,
        "tokens_trained": spec.tokens,
        "flops_6nd": 1.0,
        "flops_exact": 1.0,
        "wall_seconds": 0.1,
        "evals": [{"step": 1, "tokens": spec.tokens, "val_loss": loss}],
        "final_metrics": {},
        "environment": {"device": "cpu", "kernels": {"pinned": True}},
    }


@pytest.fixture
def fake_train(monkeypatch):
    """Replace training by a counter so store logic is tested without torch work."""
    trained: list[RunSpec] = []

    def train(spec: RunSpec) -> dict:
        trained.append(spec)
        return fake_record(spec, loss=1.0 + spec.seed)

    monkeypatch.setattr("scaling_debate.train.train", train)
    return trained


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": -5}, "training budget"),
        ({"tokens": 0}, "training budget"),
        ({"data": "wikipedia"}, "allowed: stdlib, sotu"),
        ({"schedule": "linear"}, "allowed: cosine, fixed"),
        ({"schedule": "fixed"}, "schedule_tokens"),
        ({"n_heads": 3}, "divisible"),
        ({"lr": 0.0}, "lr"),
        ({"d_model": 2.5}, "positive integer"),
    ],
)
def test_bad_specs_are_refused_with_the_value_named(change, message):
    values = {**SPEC.to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        RunSpec(**values)


def test_hash_is_stable_and_covers_every_field():
    assert SPEC.key() == RunSpec(**SPEC.to_dict()).key()
    keys = {SPEC.key()}
    for field, value in [
        ("seed", 1),
        ("lr", 1e-3),
        ("tokens", 8192),
        ("data", "sotu"),
        ("warmup_fraction", 0.1),
        ("eval_tokens", 2048),
    ]:
        keys.add(RunSpec(**{**SPEC.to_dict(), field: value}).key())
    assert len(keys) == 7


def test_hash_changes_with_the_training_code_version(monkeypatch):
    before = SPEC.key()
    monkeypatch.setattr(runs, "TRAINING_CODE_VERSION", runs.TRAINING_CODE_VERSION + 1)
    assert SPEC.key() != before


def test_store_round_trip_is_plain_json(tmp_path):
    store = RunStore(tmp_path)
    path = store.save(fake_record(SPEC))
    assert json.loads(path.read_text())["key"] == SPEC.key()
    assert store.load(SPEC)["evals"][0]["val_loss"] == 2.0
    assert not list(tmp_path.glob(".tmp-*")), "temporary files must be renamed or removed"


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text[: len(text) // 2],  # truncated write
        lambda text: text.replace('"val_loss": 2.0', '"val_loss": NaN'),
        lambda text: text.replace('"tokens": 4096', '"tokens": 999'),  # spec edited by hand
        lambda text: "[]",
    ],
)
def test_corrupt_file_is_reported_then_rerun(tmp_path, fake_train, corrupt, caplog):
    store = RunStore(tmp_path)
    path = store.save(fake_record(SPEC))
    path.write_text(corrupt(path.read_text()))
    with pytest.raises(CorruptRunError):
        store.load(SPEC)
    frame = run_all([SPEC], store=store)
    assert fake_train == [SPEC], "a corrupt result must be re-run, never used"
    assert frame["val_loss"].iloc[0] == 1.0
    assert "moved to" in caplog.text
    assert path.with_suffix(".corrupt").exists()


def test_run_all_trains_only_missing_runs(tmp_path, fake_train):
    store = RunStore(tmp_path)
    specs = [RunSpec(**{**SPEC.to_dict(), "seed": s}) for s in range(3)]
    store.save(fake_record(specs[1], loss=7.0))
    frame = run_all([*specs, specs[0]], store=store)
    assert fake_train == [specs[0], specs[2]]
    assert list(frame["seed"]) == [0, 1, 2]
    assert list(frame["val_loss"]) == [1.0, 7.0, 3.0]
    run_all(specs, store=store)
    assert len(fake_train) == 2, "a second call must train nothing"


def test_no_train_lists_every_missing_run_before_training(tmp_path, fake_train, monkeypatch):
    store = RunStore(tmp_path)
    specs = [RunSpec(**{**SPEC.to_dict(), "seed": s}) for s in range(3)]
    store.save(fake_record(specs[0]))
    monkeypatch.setenv(runs.NO_TRAIN_ENV, "1")
    with pytest.raises(MissingRunsError) as error:
        run_all(specs, store=store)
    assert fake_train == []
    assert error.value.missing == specs[1:]
    assert specs[2].key() in str(error.value)


def test_killed_sweep_resumes_where_it_stopped(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    specs = [RunSpec(**{**SPEC.to_dict(), "seed": s}) for s in range(4)]
    calls: list[int] = []

    def dies_on_third(spec: RunSpec) -> dict:
        calls.append(spec.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the sweep is killed mid-run
        return fake_record(spec)

    monkeypatch.setattr("scaling_debate.train.train", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_all(specs, store=store)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(s.key() for s in specs[:2])
    monkeypatch.setattr("scaling_debate.train.train", fake_record)
    run_all(specs, store=store)
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_executor_runs_missing_specs(tmp_path, fake_train):
    from concurrent.futures import ThreadPoolExecutor

    specs = [RunSpec(**{**SPEC.to_dict(), "seed": s}) for s in range(3)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        frame = run_all(specs, executor=pool, store=RunStore(tmp_path))
    assert sorted(s.seed for s in fake_train) == [0, 1, 2]
    assert list(frame["seed"]) == [0, 1, 2]


def test_runs_read_are_logged_for_the_book(tmp_path, fake_train, monkeypatch):
    log = tmp_path / "read.txt"
    monkeypatch.setenv(runs.RUN_LOG_ENV, str(log))
    run_all([SPEC], store=RunStore(tmp_path / "store"))
    assert log.read_text().split() == [SPEC.key()]


def test_a_run_trained_with_unpinned_kernels_is_not_served_as_reproducible(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    record = fake_record(SPEC)
    record["environment"]["kernels"]["pinned"] = False
    store.save(record)
    monkeypatch.delenv("SCALING_DEBATE_FAST_KERNELS", raising=False)
    assert store.get(SPEC) is None  # retrained, and replaced, by a pinned run
    monkeypatch.setenv("SCALING_DEBATE_FAST_KERNELS", "1")
    assert store.get(SPEC) == record  # a reader who opted out reads their own fast runs


def test_gpu_runs_are_served_whatever_their_cpu_kernels(tmp_path):
    store = RunStore(tmp_path)
    record = fake_record(SPEC)
    record["environment"] = {"device": "cuda", "kernels": {"pinned": False}}
    store.save(record)
    assert store.get(SPEC) == record
