"""Where sweeps train (local pool, Dask LocalCluster, a scheduler's address) and the sweep's
progress line: same bits on Dask as on the local pool, a killed worker costs only its run,
unpinned workers refuse to train, bad executor values fail before anything trains."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from conftest import SPEC, fake_result, with_seed

from scaling_debate import kernels
from scaling_debate.book import build
from scaling_debate.book.cli import main
from scaling_debate.profiles import text_data, text_run_fields
from scaling_debate.training import dask_worker, ladder
from scaling_debate.training.executors import (
    EXECUTOR_ENV,
    PRELOAD_MODULE,
    DaskExecutor,
    UnpinnedWorkerError,
    check_executor,
    executor_choice,
    require_pinned_kernels,
    sweep_executor,
)
from scaling_debate.training.progress import PROGRESS_LOG_ENV, SweepProgress, format_duration
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult, RunStore
from scaling_debate.training.sweep import run_all
from scaling_debate.training.verify import compare_records

# --- executor choices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("local", "local"),
        (" DASK ", "dask"),
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("tls://head-node:8786", "tls://head-node:8786"),
        ("tcp://head-node", "tcp://head-node"),
    ],
)
def test_executor_choices(value, expected):
    assert check_executor(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "gpu", "threads", "tcp://", "http://head:8786", "tcp://head:port", "tcp://head:8786/x"],
)
def test_bad_executor_values_name_the_value_and_what_is_allowed(value):
    with pytest.raises(ValueError, match="is not one of local, dask") as error:
        check_executor(value)
    assert repr(value) in str(error.value)
    assert "tcp://" in str(error.value)


def test_executor_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert executor_choice() == "local"
    monkeypatch.setenv(EXECUTOR_ENV, "tcp://head:8786")
    assert executor_choice() == "tcp://head:8786"
    monkeypatch.setenv(EXECUTOR_ENV, "slurm")
    message = f"{EXECUTOR_ENV}: executor 'slurm' is not one of"
    with pytest.raises(ValueError, match=message), sweep_executor():
        pytest.fail("no executor may start for a bad value")


@pytest.mark.parametrize(
    "args", [["execute", "methods", "--profile", "ci"], ["build", "--profile", "ci"], ["verify"]]
)
def test_command_line_refuses_a_bad_executor_before_executing(args, capsys):
    assert main([*args, "--executor", "spark"]) == 1
    assert "executor 'spark' is not one of local, dask" in capsys.readouterr().err


# --- pinned kernels on workers ----------------------------------------------------------------


def test_unpinned_process_refuses_to_train(monkeypatch):
    require_pinned_kernels()  # this test process is pinned (conftest imports the package first)
    monkeypatch.setattr(kernels, "_pinned_too_late", True)  # as if torch had loaded first
    with pytest.raises(UnpinnedWorkerError, match=f"--preload {PRELOAD_MODULE}"):
        require_pinned_kernels()
    with pytest.raises(UnpinnedWorkerError):
        dask_worker.dask_setup(None)  # the preload stops such a worker at start


@pytest.mark.slow
def test_dask_task_refuses_a_worker_whose_torch_loaded_before_the_pin(tmp_path):
    from distributed import LocalCluster

    unpinned = {name: "" for name in kernels.PINNED_SETTINGS}
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            preload=["torch"],  # torch loads before scaling_debate can pin it
            env=unpinned,
        ) as cluster,
        sweep_executor(cluster.scheduler_address) as executor,
        pytest.raises(UnpinnedWorkerError, match="would train on unpinned CPU kernels"),
    ):
        run_all([SPEC], executor=executor, store=RunStore(tmp_path), trainer=fake_result)
    assert not list(tmp_path.glob("*.json")), "nothing was trained or stored"


# --- same bits on Dask ------------------------------------------------------------------------


def methods_ci_specs() -> list[RunSpec]:
    """The methods chapter's ci sweep: three ladder widths, two seeds, 100k tokens each."""
    return [
        spec
        for width in (16, 32, 48)
        for seed in (0, 1)
        for spec in ladder.fixed_token_specs(
            text_data("ci"), [width], 100_000, seed=seed, **text_run_fields("ci")
        )
    ]


@pytest.mark.slow
def test_local_cluster_gives_the_local_pools_bits(tmp_path):
    specs = methods_ci_specs()
    stores = {}
    for choice in ("local", "dask"):
        stores[choice] = RunStore(tmp_path / choice)
        with sweep_executor(choice, workers=2) as executor:
            run_all(specs, executor=executor, store=stores[choice], allow_training=True)
    for spec in specs:
        local = json.loads(stores["local"].path(spec).read_text())
        dask = json.loads(stores["dask"].path(spec).read_text())
        assert compare_records(local, dask) == [], spec.describe()
        assert dask["environment"]["kernels"]["pinned"] is True
        assert dask["environment"]["threads"] == 1
    assert len(list((tmp_path / "dask").glob("*.json"))) == len(specs) == 6


# --- a worker dies mid-run --------------------------------------------------------------------


def _dies_on_first_attempt(markers: Path, victim_seed: int, spec: RunSpec) -> RunResult:
    """A trainer whose worker process dies the first time it trains seed ``victim_seed``."""
    with (markers / f"attempts-{spec.seed}").open("a") as log:
        log.write(f"{os.getpid()}\n")
    died = markers / "died"
    if spec.seed == victim_seed and not died.exists():
        died.touch()
        os._exit(1)  # the worker process dies mid-run, no exception, no cleanup
    return fake_result(spec, loss=1.0 + spec.seed)


@pytest.mark.slow
def test_killed_worker_loses_only_its_run_which_is_retried(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    specs = [with_seed(SPEC, seed) for seed in range(4)]
    store = RunStore(tmp_path / "store")
    trainer = partial(_dies_on_first_attempt, markers, 1)
    with sweep_executor("dask", workers=2) as executor:
        frame = run_all(specs, executor=executor, store=store, trainer=trainer)
    assert (markers / "died").exists(), "a worker died"
    attempts = {s.seed: (markers / f"attempts-{s.seed}").read_text().split() for s in specs}
    assert len(attempts[1]) == 2 and attempts[1][0] != attempts[1][1], "retried in a new process"
    assert all(len(attempts[seed]) == 1 for seed in (0, 2, 3)), "the other runs trained once"
    assert sorted(frame["val_loss"]) == [1.0, 2.0, 3.0, 4.0]
    assert sorted(p.stem for p in store.directory.glob("*.json")) == sorted(s.key() for s in specs)


def _first_fails_others_take_a_second(markers: Path, spec: RunSpec) -> RunResult:
    (markers / f"attempt-{spec.seed}").touch()
    if spec.seed == 0:
        raise ValueError("this run's data is broken")
    time.sleep(1.0)
    return fake_result(spec)


def test_a_failed_run_cancels_the_runs_not_yet_started(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    specs = [with_seed(SPEC, seed) for seed in range(8)]
    trainer = partial(_first_fails_others_take_a_second, markers)
    started = time.monotonic()
    with (
        pytest.raises(ValueError, match="data is broken"),
        sweep_executor("local", workers=1) as executor,
    ):
        run_all(specs, executor=executor, store=RunStore(tmp_path / "store"), trainer=trainer)
    attempted = len(list(markers.iterdir()))
    assert attempted < len(specs), "the error surfaced before the whole sweep had trained"
    assert time.monotonic() - started < len(specs) - 1


def test_dask_executor_starts_nothing_until_a_run_is_submitted():
    executor = DaskExecutor("tcp://127.0.0.1:1")  # no scheduler there: connecting would fail
    executor.shutdown()


# --- the progress line ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_runs_elapsed_and_remaining():
    clock, stream = Clock(), io.StringIO()
    progress = SweepProgress(4, stream=stream, clock=clock)
    clock.now += 30
    progress.advance()
    clock.now += 50
    progress.advance(3)
    progress.close()
    assert stream.getvalue().splitlines() == [
        "training [....................] 0/4 runs, elapsed 0:00, remaining unknown",
        "training [#####...............] 1/4 runs, elapsed 0:30, remaining ~1:30",
        "training [####################] 4/4 runs, elapsed 1:20",
    ]
    with pytest.raises(ValueError, match="cannot count 1 more runs with 4 of 4 done"):
        progress.advance()


def test_progress_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with SweepProgress(2, stream=terminal, clock=Clock()) as progress:
        progress.advance(2)
    assert terminal.getvalue().count("\r") == 2
    assert terminal.getvalue().endswith("2/2 runs, elapsed 0:00\x1b[K\n")


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.6, 61, 3725)] == ["0:00", "1:00", "1:01", "1:02:05"]


def test_sweep_progress_goes_to_the_builds_log_not_the_cells(
    tmp_path, monkeypatch, capsys, fake_trainer
):
    log = tmp_path / "progress.txt"
    monkeypatch.setenv(PROGRESS_LOG_ENV, str(log))
    specs = [with_seed(SPEC, seed) for seed in range(3)]
    run_all(specs, store=RunStore(tmp_path / "store"), trainer=fake_trainer)
    lines = log.read_text().splitlines()
    assert [line.split("] ")[1].split(" runs")[0] for line in lines] == ["0/3", "1/3", "2/3", "3/3"]
    captured = capsys.readouterr()
    assert "runs" not in captured.out + captured.err, "nothing on the kernel's own streams"


def test_build_forwards_progress_lines_as_they_come(tmp_path):
    path, sink = tmp_path / "progress.txt", io.StringIO()
    forwarded = threading.Event()
    with build._forwarding(path, "[ci] methods: ", sink, poll_seconds=0.01), path.open("a") as log:
        log.write("training 1/2 runs\ntraining 2/2")  # the second line not finished yet
        log.flush()
        while "1/2" not in sink.getvalue():
            forwarded.wait(0.01)
        assert "2/2" not in sink.getvalue()
        log.write(" runs\n")
    assert sink.getvalue() == "[ci] methods: training 1/2 runs\n[ci] methods: training 2/2 runs\n"
