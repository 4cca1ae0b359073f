"""Our trainer side by side with a peer's, and grouped training against one run at a time.

Run: ``.venv/bin/python benchmarks/peer_throughput.py --peer ../shared/peers/nanoGPT``.
Writes ``benchmarks/results/peer-throughput.json``. Not a test: the numbers depend on the machine.

1. **Peer.** nanoGPT's ``train.py`` (MIT; its path is an argument, it is never copied or
   imported) runs as a separate process with its own ``--key=value`` overrides, on the State of
   the Union bytes (the book's ``sotu`` corpus) written to a temporary folder as nanoGPT's
   ``train.bin``/``val.bin`` (uint16) and ``meta.pkl`` (vocabulary 256). Both trainers train the
   book's ladder shapes at widths 32 and 128 (`training.ladder.shape_for_width`, biasless, no
   dropout, AdamW, clipping, warmup and cosine), batch 32 x context 64, one thread, float32,
   no compilation. nanoGPT times each iteration with ``time.time()``; a small launcher records
   the process's CPU clock at each of those calls too (nanoGPT's code and clock are unchanged),
   so each iteration has a wall and a CPU time. Iteration 0 (its initial evaluation) is left
   out. nanoGPT runs twice: with its defaults and with our pinned CPU kernels
   (`scaling_debate.kernels`), so one ratio compares the trainers on the same kernels and the
   other compares what each ships with.
2. **Grouped.** `training.grouped.train_group` with 1, 2, 4 and 8 runs of one ladder shape
   against `training.trainer.train` one run at a time, in tokens per second per model: widths
   16, 32 and 64 at the peer comparison's batch and context, and the book's smaller steps
   (4-digit addition, 64 problems of 14 tokens; the Santa Fe language, 32 x 48), whose
   measurements set which runs `run_all` groups (`training.grouped.GROUP_MAX_STEP_FLOPS`).

Our trainer is timed in a fresh process per measurement (kernel settings are read when torch
loads) as the difference between a long and a short run of the same spec, so start-up, model
initialisation and the runs' two evaluation batches cancel. Other processes share the CPUs, so
the measurements are interleaved (ours, peer, ours, peer, ...), each is repeated, the medians
are reported, and the load average is recorded before each one. CPU time is the headline: it
counts only this process's work, which contention from other processes affects far less than
the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import scaling_debate  # noqa: F401  (pins the CPU kernels before torch loads)

RESULTS = Path(__file__).parent / "results" / "peer-throughput.json"
BATCH, CONTEXT, DATA = 32, 64, "sotu"
PEER_WIDTHS = (32, 128)
# (dataset, width, batch): the peer comparison's shape at three widths, then smaller steps
GROUP_SHAPES = (
    (DATA, 16, BATCH),
    (DATA, 32, BATCH),
    (DATA, 64, BATCH),
    ("addition-4", 16, 64),
    ("addition-4", 32, 64),
    ("santa-fe-floor", 16, 32),
)
GROUP_SIZES = (1, 2, 4, 8)

# Runs the peer's train.py (from its own folder, with its own arguments) and prints, at the end,
# the wall and CPU clocks read at each of train.py's own calls to time.time().
_LAUNCHER = """
import json, runpy, sys, time
wall, cpu = time.time, time.process_time
stamps = []
def clock():
    if sys._getframe(1).f_code.co_filename.endswith("train.py"):
        stamps.append((wall(), cpu()))
    return wall()
time.time = clock
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
print("STAMPS " + json.dumps(stamps))
"""


def _ours(data: str, width: int, batch: int, group: int, short: int, long: int) -> dict[str, float]:
    """Tokens per second per model (CPU and wall) of ``group`` runs of the ladder model of
    ``width`` on ``data``: one at a time with ``train`` when ``group`` is 0, else together with
    ``train_group``. Runs in the worker process (kernels pinned by importing the package)."""
    import dataclasses

    from scaling_debate.data import default_context
    from scaling_debate.training.grouped import train_group
    from scaling_debate.training.ladder import ladder_spec
    from scaling_debate.training.trainer import train

    step_tokens = batch * default_context(data)

    def specs(steps: int) -> list[Any]:
        base = ladder_spec(
            data, width, steps * step_tokens, batch_size=batch, n_evals=2, eval_tokens=1
        )
        return [dataclasses.replace(base, seed=seed) for seed in range(max(1, group))]

    def run(steps: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        if group:
            train_group(specs(steps), progress=False)
        else:
            train(specs(steps)[0], progress=False)
        return time.perf_counter() - wall, time.process_time() - cpu

    run(short)  # warm-up: dataset, allocator, kernel selection
    long_wall, long_cpu = run(long)
    short_wall, short_cpu = run(short)
    tokens = max(1, group) * (long - short) * step_tokens
    return {"wall": tokens / (long_wall - short_wall), "cpu": tokens / (long_cpu - short_cpu)}


def _worker_environment(pinned: bool) -> dict[str, str]:
    from scaling_debate.kernels import PINNED_SETTINGS

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for key in PINNED_SETTINGS:
        env.pop(key, None)
    if pinned:
        env.update(PINNED_SETTINGS)
    return env


def measure_ours(
    data: str, width: int, batch: int, group: int, short: int, long: int
) -> dict[str, float]:
    """`_ours` in a fresh process (pinned kernels, one thread)."""
    arguments = json.dumps([data, width, batch, group, short, long])
    command = [sys.executable, __file__, "--worker", arguments]
    done = subprocess.run(
        command, env=_worker_environment(True), capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_peer_data(folder: Path) -> Path:
    """The sotu corpus as nanoGPT reads a dataset: uint16 tokens and a vocabulary size."""
    import numpy as np

    from scaling_debate.data import load_dataset

    corpus = load_dataset(DATA)
    target = folder / DATA
    target.mkdir(parents=True)
    for split in ("train", "val"):
        corpus.split(split).astype(np.uint16).tofile(target / f"{split}.bin")
    with open(target / "meta.pkl", "wb") as handle:
        pickle.dump({"vocab_size": corpus.vocab_size}, handle)
    return target


def measure_peer(
    peer: Path, data: Path, out_dir: Path, width: int, steps: int, pinned: bool
) -> dict[str, float]:
    """Tokens per second (CPU and wall) of the peer's train.py over iterations 1..steps."""
    from scaling_debate.training.ladder import shape_for_width

    shape = shape_for_width(width)
    overrides = {
        "dataset": str(data),  # absolute: nanoGPT joins it to "data/", which keeps it as is
        "out_dir": str(out_dir),
        "device": "cpu",
        "dtype": "float32",
        "compile": False,
        "batch_size": BATCH,
        "block_size": CONTEXT,
        "gradient_accumulation_steps": 1,
        "n_layer": shape.n_layers,
        "n_head": shape.n_heads,
        "n_embd": width,
        "bias": False,
        "dropout": 0.0,
        "learning_rate": shape.lr,
        "min_lr": 0.1 * shape.lr,
        "weight_decay": 0.1,
        "beta2": 0.95,
        "grad_clip": 1.0,
        "warmup_iters": max(1, round(0.05 * steps)),
        "lr_decay_iters": steps,
        "max_iters": steps,
        "eval_interval": 10 * steps,  # one evaluation, at iteration 0, and no checkpoints
        "eval_iters": 1,
        "always_save_checkpoint": False,
        "log_interval": 1,
    }
    arguments = [f"--{key}={value}" for key, value in overrides.items()]
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *arguments],
        cwd=peer,
        env=_worker_environment(pinned),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{peer / 'train.py'} failed:\n{done.stderr[-3000:]}")
    line = next(row for row in done.stdout.splitlines() if row.startswith("STAMPS "))
    stamps = json.loads(line.removeprefix("STAMPS "))
    if len(stamps) != steps + 2:  # the start, then one per iteration 0..steps
        raise RuntimeError(f"expected {steps + 2} clock readings from train.py, got {len(stamps)}")
    (wall_0, cpu_0), (wall_1, cpu_1) = stamps[1], stamps[-1]  # after iteration 0, at the end
    tokens = steps * BATCH * CONTEXT
    return {"wall": tokens / (wall_1 - wall_0), "cpu": tokens / (cpu_1 - cpu_0)}


def _median(samples: list[dict[str, float]]) -> dict[str, float]:
    return {clock: round(statistics.median(s[clock] for s in samples)) for clock in ("cpu", "wall")}


def _ratio(ours: dict[str, float], other: dict[str, float]) -> dict[str, float]:
    return {clock: round(ours[clock] / other[clock], 3) for clock in ("cpu", "wall")}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _n_params(data: str, width: int) -> int:
    from scaling_debate import flops
    from scaling_debate.data import default_context, vocab_size
    from scaling_debate.training.ladder import shape_for_width

    layers = shape_for_width(width).n_layers
    return flops.count_parameters(vocab_size(data), default_context(data), width, layers).total


def _step_flops(data: str, width: int, batch: int) -> float:
    from scaling_debate.training.grouped import step_flops
    from scaling_debate.training.ladder import ladder_spec

    return step_flops(ladder_spec(data, width, 1, batch_size=batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", type=Path, required=True, help="nanoGPT's folder (train.py)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-steps", type=int, default=60)
    parser.add_argument("--group-steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    peer = args.peer.resolve()
    if not (peer / "train.py").is_file():
        parser.error(f"--peer {args.peer}: no train.py there")
    import torch

    loads: list[float] = []

    def sample(label: str, measure: Any, *measure_args: Any) -> dict[str, float]:
        loads.append(os.getloadavg()[0])
        value = measure(*measure_args)
        print(f"{label}: {value['cpu']:,.0f} tokens/s CPU, {value['wall']:,.0f} wall", flush=True)
        return value

    peer_samples: dict[int, dict[str, list]] = {
        w: {"ours": [], "peer_pinned": [], "peer_default": []} for w in PEER_WIDTHS
    }
    group_samples: dict[tuple, dict[int, list]] = {
        shape: {g: [] for g in (0, *GROUP_SIZES)} for shape in GROUP_SHAPES
    }
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        data = write_peer_data(Path(scratch) / "data")
        out_dir = Path(scratch) / "out"
        steps = args.peer_steps
        short = max(2, steps // 6)
        for repeat in range(args.repeats):
            for width in PEER_WIDTHS:
                runs = peer_samples[width]
                tag = f"[{repeat + 1}/{args.repeats}] d={width}"
                runs["ours"].append(
                    sample(f"{tag} ours", measure_ours, DATA, width, BATCH, 0, short, steps)
                )
                runs["peer_pinned"].append(
                    sample(
                        f"{tag} peer, our kernels",
                        measure_peer,
                        peer,
                        data,
                        out_dir,
                        width,
                        steps,
                        True,
                    )
                )
                runs["peer_default"].append(
                    sample(
                        f"{tag} peer, its defaults",
                        measure_peer,
                        peer,
                        data,
                        out_dir,
                        width,
                        steps,
                        False,
                    )
                )
            steps_g = args.group_steps
            short_g = max(2, steps_g // 5)
            for shape in GROUP_SHAPES:
                for group in (0, *GROUP_SIZES):
                    label = "one at a time" if group == 0 else f"group of {group}"
                    tag = f"[{repeat + 1}/{args.repeats}] {shape[0]} d={shape[1]} {label}"
                    group_samples[shape][group].append(
                        sample(tag, measure_ours, *shape, group, short_g, steps_g)
                    )

    peer_rows = []
    for width in PEER_WIDTHS:
        medians = {name: _median(samples) for name, samples in peer_samples[width].items()}
        peer_rows.append(
            {
                "d_model": width,
                "n_params": _n_params(DATA, width),
                "tokens_per_second": medians,
                "ours_over_peer_same_kernels": _ratio(medians["ours"], medians["peer_pinned"]),
                "ours_over_peer_its_defaults": _ratio(medians["ours"], medians["peer_default"]),
                "samples": peer_samples[width],
            }
        )
    group_rows = []
    for shape, samples in group_samples.items():
        data_name, width, batch = shape
        alone = _median(samples[0])
        per_size = {g: _median(samples[g]) for g in GROUP_SIZES}
        group_rows.append(
            {
                "data": data_name,
                "d_model": width,
                "batch": batch,
                "n_params": _n_params(data_name, width),
                "training_flops_per_step": _step_flops(data_name, width, batch),
                "one_at_a_time_tokens_per_second": alone,
                "grouped_tokens_per_second_per_model": {str(g): v for g, v in per_size.items()},
                "grouped_over_one_at_a_time": {
                    str(g): _ratio(v, alone) for g, v in per_size.items()
                },
                "samples": {str(g): v for g, v in samples.items()},
            }
        )
    report = {
        "what": "tokens per second per model, one thread, batch 32 x context 64, sotu bytes; "
        "medians of the repeats; 'cpu' counts the process's CPU time, 'wall' the clock",
        "peer": {"name": "nanoGPT train.py", "path_given": str(args.peer)},
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": 1,
        "repeats": args.repeats,
        "peer_steps": args.peer_steps,
        "group_steps": args.group_steps,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "load_average_at_each_measurement": {
            "min": round(min(loads), 2),
            "median": round(statistics.median(loads), 2),
            "max": round(max(loads), 2),
        },
        "seconds": round(time.perf_counter() - started),
        "peer_comparison": peer_rows,
        "grouped": group_rows,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_ours(*json.loads(sys.argv[2]))))
    else:
        main()
