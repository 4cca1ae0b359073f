"""`verify` retrains stored runs and compares every number bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling_debate.book.cli import main
from scaling_debate.kernels import PINNED_SETTINGS, kernel_environment
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunStore
from scaling_debate.training.sweep import run_all
from scaling_debate.training.verify import cheapest_results, compare_records, verify_store

TINY = RunSpec(
    data="stdlib",
    d_model=16,
    n_layers=1,
    n_heads=2,
    context=16,
    tokens=2048,
    batch_size=8,
    n_evals=2,
    eval_tokens=512,
)


def test_this_process_trains_with_pinned_kernels():
    environment = kernel_environment()
    assert environment["pinned"], environment
    assert environment["settings"] == PINNED_SETTINGS


def test_compare_records_sees_one_ulp_and_ignores_timings():
    stored = {"key": "k", "evals": [{"val_loss": 1.5, "elapsed_seconds": 1.0}], "wall_seconds": 3}
    same = {"key": "k", "evals": [{"val_loss": 1.5, "elapsed_seconds": 9.0}], "wall_seconds": 7}
    assert compare_records(stored, same) == []
    nudged = {"key": "k", "evals": [{"val_loss": float(np.nextafter(1.5, 2.0))}]}
    (difference,) = compare_records(stored, nudged)
    assert difference.field == "evals[0].val_loss"


def test_verify_passes_on_a_true_store_and_names_a_tampered_number(tmp_path, capsys):
    store = RunStore(tmp_path)
    run_all([TINY, TINY.__class__(**{**TINY.to_dict(), "seed": 1})], store=store)
    report = verify_store(2, store)
    assert report.ok and report.render().startswith("2 of 2 identical")

    path = store.path(TINY)
    record = json.loads(path.read_text())
    record["evals"][-1]["val_loss"] = float(np.nextafter(record["evals"][-1]["val_loss"], 9.0))
    path.write_text(json.dumps(record))
    report = verify_store(2, store)
    assert not report.ok
    assert "1 of 2 identical" in report.render()
    assert [d.field for d in report.differences] == ["evals[1].val_loss"]


def test_verify_refuses_a_bad_count(tmp_path):
    with pytest.raises(ValueError, match="an integer >= 1"):
        cheapest_results(RunStore(tmp_path), 0)
    with pytest.raises(ValueError, match="no stored runs"):
        cheapest_results(RunStore(tmp_path), 3)


def test_verify_command_exits_nonzero_on_a_difference(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCALING_DEBATE_STORE", str(tmp_path))
    assert main(["verify", "--runs", "1"]) == 1  # empty store: an error, not a pass
    assert "no stored runs" in capsys.readouterr().err
