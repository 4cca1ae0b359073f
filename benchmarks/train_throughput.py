"""Training throughput and memory of the model ladder: tokens per second and peak RSS.

Run: ``.venv/bin/python benchmarks/train_throughput.py [--device auto] [--steps 30]``.
Writes ``benchmarks/results/throughput-<device>-<N>threads.json`` so budgets in the chapters'
profiles can be planned from measurements rather than guesses. Not a test: numbers depend on
the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from scaling_debate import flops
from scaling_debate.training.ladder import shape_for_width
from scaling_debate.training.model import GPT, GPTConfig
from scaling_debate.training.trainer import resolve_device

WIDTHS = (16, 24, 32, 48, 64, 96, 128, 192, 256)


def measure(width: int, device: torch.device, steps: int, batch: int, context: int) -> dict:
    shape = shape_for_width(width)
    model = GPT(GPTConfig(256, context, width, shape.n_layers, shape.n_heads)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=shape.lr)
    tokens = torch.randint(0, 256, (batch, context + 1), device=device)
    x, y = tokens[:, :-1], tokens[:, 1:]

    def step() -> None:
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: allocator and kernel selection
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    per_token = flops.training_flops_exact(256, context, width, shape.n_layers, shape.n_heads, 1)
    tokens_per_second = steps * batch * context / seconds
    return {
        "d_model": width,
        "n_params": model.n_parameters(),
        "tokens_per_second": round(tokens_per_second),
        "exact_gflops_per_second": round(per_token * tokens_per_second / 1e9, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (runs.local_executor's workers use 1)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = []
    for width in WIDTHS:
        rows.append(measure(width, device, args.steps, args.batch, args.context))
        print(rows[-1], flush=True)
    report = {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "batch": args.batch,
        "context": args.context,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "results": rows,
    }
    name = f"throughput-{device.type}-{torch.get_num_threads()}threads.json"
    out = Path(__file__).parent / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"peak RSS {report['peak_rss_mib']} MiB -> {out}")


if __name__ == "__main__":
    main()
