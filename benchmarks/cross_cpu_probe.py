"""Which CPU kernels give different bits on different CPUs: a fingerprint to compare machines.

Run the same command on two machines (same torch release) and diff the two JSON files:

    python benchmarks/cross_cpu_probe.py --out probe-$(hostname).json
    python benchmarks/cross_cpu_probe.py --compare a.json b.json

For each kernel setting it starts a fresh process (the settings must be in place before torch
loads), computes every operation the trainer uses on inputs built exactly from integers, and
records a SHA-256 of each output; then it trains one tiny run and records its losses. An
operation whose hash differs between two machines under one setting is CPU-dependent there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

# each setting: environment before torch loads, and whether oneDNN stays enabled
SETTINGS: dict[str, dict[str, Any]] = {
    "unpinned": {"env": {}, "onednn": True},
    "pinned": {
        "env": {
            "MKL_CBWR": "COMPATIBLE",
            "ATEN_CPU_CAPABILITY": "avx2",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
        },
        "onednn": True,
    },
    "pinned-no-onednn": {
        "env": {
            "MKL_CBWR": "COMPATIBLE",
            "ATEN_CPU_CAPABILITY": "avx2",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
        },
        "onednn": False,
    },
    "pinned-default-aten-no-onednn": {
        "env": {
            "MKL_CBWR": "COMPATIBLE",
            "ATEN_CPU_CAPABILITY": "default",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
        },
        "onednn": False,
    },
}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _fingerprints(onednn: bool, train_run: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = onednn

    def exact(*shape: int, salt: int = 0) -> torch.Tensor:
        # values from integer arithmetic, identical on every machine before any kernel runs
        n = 1
        for s in shape:
            n *= s
        i = torch.arange(n, dtype=torch.int64) * 2654435761 + salt * 97
        return ((i % 1000003).double() / 1000003.0 - 0.5).float().reshape(shape)

    def digest(t: torch.Tensor) -> str:
        return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]

    out: dict[str, str] = {}
    for m, k, n in [(48, 16, 2048), (64, 64, 512), (256, 128, 32), (2048, 32, 96), (7, 33, 5)]:
        a, b = exact(m, k, salt=1), exact(k, n, salt=2)
        out[f"matmul {m}x{k}x{n}"] = digest(a @ b)
        out[f"matmul_t {m}x{k}x{n}"] = digest(a.t().contiguous().t() @ b)
    x = exact(32, 64, 128, salt=3).requires_grad_()
    y = F.gelu(x)
    y.backward(exact(32, 64, 128, salt=4))
    out["gelu fwd"], out["gelu bwd"] = digest(y), digest(x.grad)
    x = exact(32, 64, 128, salt=5).requires_grad_()
    w, b = exact(128, salt=6).requires_grad_(), exact(128, salt=7).requires_grad_()
    y = F.layer_norm(x, (128,), w, b)
    y.backward(exact(32, 64, 128, salt=8))
    out["layernorm fwd"], out["layernorm bwd"] = digest(y), digest(x.grad)
    q, k, v = (exact(8, 4, 64, 16, salt=s).requires_grad_() for s in (9, 10, 11))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    y.backward(exact(8, 4, 64, 16, salt=12))
    out["sdpa fwd"], out["sdpa bwd q"], out["sdpa bwd v"] = (
        digest(y),
        digest(q.grad),
        digest(v.grad),
    )
    logits = exact(2048, 256, salt=13).mul(8).requires_grad_()
    target = torch.arange(2048) * 7 % 256
    loss = F.cross_entropy(logits, target)
    loss.backward()
    out["cross_entropy fwd"], out["cross_entropy bwd"] = digest(loss), digest(logits.grad)
    z = exact(4096, salt=14) * 6
    for name, fn in [
        ("exp", torch.exp),
        ("log", lambda t: torch.log(t.abs() + 1e-3)),
        ("tanh", torch.tanh),
        ("erf", torch.erf),
        ("sqrt", lambda t: t.abs().sqrt()),
        ("sum", lambda t: t.sum()),
        ("norm", lambda t: t.norm()),
    ]:
        out[name] = digest(fn(z))
    emb = torch.nn.Embedding(256, 64)
    with torch.no_grad():
        emb.weight.copy_(exact(256, 64, salt=15))
    emb(target.reshape(32, 64)).backward(exact(32, 64, 64, salt=16))
    out["embedding bwd"] = digest(emb.weight.grad)
    for fused in (False, True):
        p = [exact(64, 64, salt=17).requires_grad_(), exact(64, salt=18).requires_grad_()]
        opt = torch.optim.AdamW(p, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=fused)
        for step in range(3):
            for i, t in enumerate(p):
                t.grad = exact(*t.shape, salt=19 + step * 2 + i)
            torch.nn.utils.clip_grad_norm_(p, 1.0)
            opt.step()
        out["adamw fused+clip" if fused else "adamw+clip"] = digest(p[0])
    g = torch.Generator().manual_seed(0)
    out["randn"] = digest(torch.randn(4096, generator=g))
    out["randint"] = digest(torch.randint(0, 256, (4096,), generator=g).float())
    from scaling_debate.training.model import GPT, GPTConfig

    # a few full training steps of the book's model, at two widths: final weights, bit for bit
    for fused in (False, True):
        for width in (32, 128):
            torch.manual_seed(0)
            model = GPT(GPTConfig(vocab_size=256, context=64, d_model=width, n_layers=2, n_heads=4))
            opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), fused=fused)
            for step in range(12):
                x = (torch.arange(16 * 65) * (7 + step) % 251).reshape(16, 65)
                loss = F.cross_entropy(model(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            weights = torch.cat([p.detach().flatten() for p in model.parameters()])
            out[f"gpt d{width} 12 steps{' fused' if fused else ''}"] = digest(weights)
    result: dict[str, Any] = {"ops": out, "capability": torch.backends.cpu.get_cpu_capability()}
    if train_run:
        from scaling_debate.training.spec import RunSpec
        from scaling_debate.training.trainer import train

        spec = RunSpec(
            data="addition-3",
            d_model=32,
            n_layers=2,
            n_heads=2,
            context=32,
            tokens=32 * 32 * 40,
            batch_size=32,
            n_evals=4,
            eval_tokens=8192,
        )
        record = train(spec, device="cpu", progress=False).to_json()
        result["train"] = {
            "val_loss": [repr(e["val_loss"]) for e in record["evals"]],
            "final_metrics": {k: repr(v) for k, v in record["final_metrics"].items()},
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        print(f"A: {a['cpu']}\nB: {b['cpu']}  (torch {a['torch']} / {b['torch']})")
        for name in a["settings"]:
            sa, sb = a["settings"][name], b["settings"].get(name, {})
            differ = [op for op in sa["ops"] if sa["ops"][op] != sb.get("ops", {}).get(op)]
            same_train = sa.get("train") == sb.get("train")
            print(
                f"{name:32} differing ops: {', '.join(differ) or 'none'}; training run "
                f"{'identical' if same_train else 'DIFFERENT'}"
            )
        return
    if args.child:
        setting = SETTINGS[args.child]
        print(json.dumps(_fingerprints(setting["onednn"], not args.no_train)))
        return
    report: dict[str, Any] = {"cpu": _cpu_model(), "settings": {}}
    for name, setting in SETTINGS.items():
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
        }
        env.update(setting["env"], SCALING_DEBATE_FAST_KERNELS="1")
        cmd = [sys.executable, __file__, "--child", name] + (
            ["--no-train"] if args.no_train else []
        )
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        report["settings"][name] = json.loads(done.stdout.strip().splitlines()[-1])
    import torch

    report["torch"] = torch.__version__
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
