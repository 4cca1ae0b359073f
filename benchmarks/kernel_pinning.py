"""What pinning CPU kernels costs and what it buys, on this machine.

Run: ``.venv/bin/python benchmarks/kernel_pinning.py``. Writes
``benchmarks/results/kernel-pinning.json``:

- tokens per second with one thread at d=32 and d=128, pinned (the default) and unpinned
  (``SCALING_DEBATE_FAST_KERNELS=1``), each measured in a fresh process because the kernel
  settings are read when torch loads;
- the largest difference, in nats per byte, between the committed results of the cheapest stored
  runs on one corpus (``--data``, chapter 1's State of the Union by default) and the same runs
  retrained here with unpinned kernels, next to the seed-to-seed standard deviation of the stored
  runs on that corpus (the noise a reader would compare it with).

The *Reproducing this book* page reads this file. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "kernel-pinning.json"

_THROUGHPUT = """
import json, time
import scaling_debate
import torch
from torch.nn import functional as F
from scaling_debate.training.ladder import shape_for_width
from scaling_debate.training.model import GPT, GPTConfig
from scaling_debate.training.reproducible import adam
torch.set_num_threads(1)
out = {"aten_capability": torch.backends.cpu.get_cpu_capability()}
for width in (32, 128):
    shape = shape_for_width(width)
    torch.manual_seed(0)
    model = GPT(GPTConfig(256, 64, width, shape.n_layers, shape.n_heads))
    opt = adam([{"params": list(model.parameters()), "weight_decay": 0.1}], shape.lr, (0.9, 0.95))
    tokens = torch.randint(0, 256, (32, 65))
    x, y = tokens[:, :-1], tokens[:, 1:]
    def step():
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(5):
        step()
    steps = {32: 60, 128: 20}[width]
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, steps * 32 * 64 / (time.perf_counter() - started))
    out[f"d{width}"] = round(best)
print(json.dumps(out))
"""


def _environment(fast: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SCALING_DEBATE_FAST_KERNELS", None)
    for key in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"):
        env.pop(key, None)  # a fresh process chooses for itself
    if fast:
        env["SCALING_DEBATE_FAST_KERNELS"] = "1"
    return env


def throughput(fast: bool) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _THROUGHPUT],
        env=_environment(fast),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _stored_runs(data: str) -> list:
    """Stored runs on ``data``, cheapest (fewest executed FLOPs) first."""
    from scaling_debate.training.store import RunStore

    results = [r for r in RunStore().results() if r.spec.data == data]
    return sorted(results, key=lambda r: (r.flops_exact, r.key))


def unpinned_difference(count: int, data: str) -> dict:
    """Retrain the ``count`` cheapest stored runs on ``data`` unpinned; how far do they move?"""
    records = [result.to_json() for result in _stored_runs(data)[:count]]
    with tempfile.TemporaryDirectory() as chosen, tempfile.TemporaryDirectory() as scratch:
        for record in records:  # a store of just these runs, for `verify` to retrain
            (Path(chosen) / f"{record['key']}.json").write_text(json.dumps(record))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scaling_debate",
                "verify",
                "--runs",
                str(count),
                "--keep",
                scratch,
            ],
            env={**_environment(fast=True), "SCALING_DEBATE_STORE": chosen},
            capture_output=True,
            text=True,
        )
        retrained = {p.stem: json.loads(p.read_text()) for p in Path(scratch).glob("*.json")}
    worst, worst_final = 0.0, 0.0
    for record in records:
        new = retrained[record["key"]]
        diffs = [
            abs(a["val_loss"] - b["val_loss"])
            for a, b in zip(record["evals"], new["evals"], strict=True)
        ]
        worst = max(worst, *diffs)
        worst_final = max(worst_final, diffs[-1])
    return {
        "data": data,
        "runs": [r["key"] for r in records],
        "verify_output": result.stdout.splitlines()[0],
        "max_abs_val_loss_difference": worst,
        "max_abs_final_val_loss_difference": worst_final,
    }


def seed_sd(data: str) -> dict:
    """Pooled seed-to-seed standard deviation of final validation losses of stored runs on data."""
    import statistics

    groups: dict[str, list[float]] = {}
    for result in _stored_runs(data):
        spec = {k: v for k, v in result.to_json()["spec"].items() if k != "seed"}
        groups.setdefault(json.dumps(spec, sort_keys=True), []).append(result.evals[-1]["val_loss"])
    repeated = [losses for losses in groups.values() if len(losses) > 1]
    squares = sum(statistics.variance(losses) * (len(losses) - 1) for losses in repeated)
    dof = sum(len(losses) - 1 for losses in repeated)
    return {
        "data": data,
        "pooled_seed_sd": (squares / dof) ** 0.5 if dof else None,
        "specs_with_seeds": len(repeated),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", default="sotu", help="dataset of the stored runs to retrain")
    args = parser.parse_args()
    result = {
        "machine": platform.processor() or platform.machine(),
        "cpu": _cpu_name(),
        "pinned": throughput(fast=False),
        "unpinned": throughput(fast=True),
        "unpinned_vs_store": unpinned_difference(args.runs, args.data),
        "store_seed_noise": seed_sd(args.data),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
