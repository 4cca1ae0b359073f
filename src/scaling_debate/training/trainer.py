"""One training run from a `RunSpec`: a pure function from spec to a JSON-ready result record.

AdamW with decoupled weight decay (Loshchilov & Hutter 2019), linear warmup then cosine decay
(Loshchilov & Hutter 2017) over the run's own length or over a fixed longer length, gradient
clipping, validation loss at log-spaced steps, and FLOPs (6ND and Chinchilla's exact count) for
every evaluation point. Device ``auto``: CUDA with bf16 autocast when present, else CPU.
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from scaling_debate import flops
from scaling_debate.data import Dataset, load_dataset
from scaling_debate.kernels import kernel_environment
from scaling_debate.training.model import GPT, GPTConfig
from scaling_debate.training.reproducible import adam, cpu_threads
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult

_EVAL_SEED = 1234  # the same validation windows at every evaluation point and in every run
ADAM_BETAS = (0.9, 0.95)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in {"cpu", "cuda"}:
        raise ValueError(f"device={device!r}; allowed: auto, cpu, cuda")
    return torch.device(device)


def lr_at(step: int, total_steps: int, spec: RunSpec) -> float:
    """Learning rate at ``step``: linear warmup, then cosine down to min_lr_fraction * lr."""
    warmup = max(1, round(spec.warmup_fraction * total_steps))
    if step < warmup:
        return spec.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    floor = spec.min_lr_fraction * spec.lr
    return floor + (spec.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def eval_steps(total_steps: int, n_evals: int) -> list[int]:
    """Log-spaced step counts (1-based, ending at the last step) at which to evaluate."""
    first = max(1, total_steps // 100)
    points = np.unique(np.geomspace(first, total_steps, n_evals).round().astype(int))
    return [int(p) for p in points]


@dataclass(frozen=True)
class RunPlan:
    """What a spec fixes before training starts: step counts, evaluation steps, FLOPs per token.

    Shared by the single-run trainer and `training.grouped`, so a run's bookkeeping (its
    schedule, its evaluation points, its result record) is one definition, wherever it trains.
    """

    spec: RunSpec
    tokens_per_step: int
    steps: int
    schedule_steps: int
    counts: flops.ParameterCount
    exact_per_token: float
    checkpoints: frozenset[int]

    @classmethod
    def of(cls, spec: RunSpec, vocab_size: int) -> RunPlan:
        tokens_per_step = spec.batch_size * spec.context
        steps = max(1, math.ceil(spec.tokens / tokens_per_step))
        schedule_tokens = spec.schedule_tokens if spec.schedule == "fixed" else spec.tokens
        schedule_steps = max(steps, math.ceil(schedule_tokens / tokens_per_step))
        return cls(
            spec=spec,
            tokens_per_step=tokens_per_step,
            steps=steps,
            schedule_steps=schedule_steps,
            counts=flops.count_parameters(vocab_size, spec.context, spec.d_model, spec.n_layers),
            exact_per_token=flops.training_flops_exact(
                vocab_size, spec.context, spec.d_model, spec.n_layers, spec.n_heads, tokens=1
            ),
            checkpoints=frozenset(eval_steps(steps, spec.n_evals)),
        )

    def lr(self, step: int) -> float:
        """The learning rate of (0-based) ``step``."""
        return lr_at(step, self.schedule_steps, self.spec)

    def eval_point(
        self, done: int, val_loss: float, recent_losses: list[float], lr: float, elapsed: float
    ) -> dict[str, Any]:
        """The record of the evaluation after ``done`` steps; raises if the loss diverged."""
        if not math.isfinite(val_loss):
            raise FloatingPointError(
                f"validation loss became {val_loss} at step {done}: {self.spec.describe()} "
                "(lower lr?)"
            )
        tokens = done * self.tokens_per_step
        return {
            "step": done,
            "tokens": tokens,
            "flops_6nd": flops.training_flops_6nd(self.counts.non_embedding, tokens),
            "flops_exact": self.exact_per_token * tokens,
            "val_loss": val_loss,
            "train_loss": float(np.mean(recent_losses)),
            "lr": lr,
            "elapsed_seconds": elapsed,
        }

    def result(
        self,
        model: GPT,
        dataset: Dataset,
        dev: torch.device,
        evals: list[dict[str, Any]],
        started: float,
    ) -> RunResult:
        """The finished run's record: the dataset's final metrics on ``model``, sizes, costs."""
        pinned = kernel_environment()["pinned"]
        final_metrics = dataset.evaluate(model, dev)
        tokens_trained = self.steps * self.tokens_per_step
        return RunResult(
            spec=self.spec,
            n_params=self.counts.total,
            n_params_non_embedding=self.counts.non_embedding,
            tokens_trained=tokens_trained,
            flops_6nd=flops.training_flops_6nd(self.counts.non_embedding, tokens_trained),
            flops_exact=self.exact_per_token * tokens_trained,
            wall_seconds=time.perf_counter() - started,
            evals=evals,
            final_metrics={k: float(v) for k, v in final_metrics.items()},
            environment={
                "device": str(dev),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "threads": torch.get_num_threads(),
                # CPU kernels only pin CPU runs; GPU runs are never bit-reproducible across devices
                "kernels": {**kernel_environment(), "pinned": dev.type == "cpu" and pinned},
            },
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def _model_config(spec: RunSpec, vocab_size: int) -> GPTConfig:
    return GPTConfig(
        vocab_size=vocab_size,
        context=spec.context,
        d_model=spec.d_model,
        n_layers=spec.n_layers,
        n_heads=spec.n_heads,
    )


def _param_groups(model: GPT, spec: RunSpec) -> list[dict[str, Any]]:
    """AdamW's parameter groups: decay matrices only; LayerNorm gains stay undecayed."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": spec.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _make_optimizer(model: GPT, spec: RunSpec) -> torch.optim.Optimizer:
    return adam(_param_groups(model, spec), lr=spec.lr, betas=ADAM_BETAS)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def validation_loss(model: GPT, dataset: Dataset, spec: RunSpec, device: torch.device) -> float:
    """Mean cross-entropy (nats per scored token) on a fixed set of validation batches."""
    model.eval()
    generator = torch.Generator().manual_seed(_EVAL_SEED)
    n_batches = max(1, spec.eval_tokens // (spec.batch_size * spec.context))
    total, count = 0.0, 0
    for _ in range(n_batches):
        x, y = dataset.batch("val", spec.batch_size, spec.context, generator)
        x, y = x.to(device), y.to(device)
        with _autocast(device):
            logits = model(x)
        total += F.cross_entropy(
            logits.float().flatten(0, 1), y.flatten(), ignore_index=-100, reduction="sum"
        ).item()
        count += int((y != -100).sum())
    model.train()
    return total / count


def train(spec: RunSpec, device: str = "auto", progress: bool | None = None) -> RunResult:
    """Train one model as ``spec`` says and return its result."""
    dev = resolve_device(device)
    if dev.type == "cpu":
        with cpu_threads():
            return _train(spec, dev, progress)
    return _train(spec, dev, progress)


def _train(spec: RunSpec, dev: torch.device, progress: bool | None) -> RunResult:
    dataset = load_dataset(spec.data)
    torch.manual_seed(spec.seed)
    model = GPT(_model_config(spec, dataset.vocab_size)).to(dev)
    optimizer = _make_optimizer(model, spec)
    data_generator = torch.Generator().manual_seed(spec.seed + 1)
    plan = RunPlan.of(spec, dataset.vocab_size)

    evals: list[dict[str, Any]] = []
    recent_losses: list[float] = []
    started = time.perf_counter()
    show = None if progress is None else not progress  # None: only on a terminal
    bar = tqdm(range(plan.steps), desc=spec.describe(), disable=show, leave=False, mininterval=2.0)
    for step in bar:
        lr = plan.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = dataset.batch("train", spec.batch_size, spec.context, data_generator)
        x, y = x.to(dev), y.to(dev)
        with _autocast(dev):
            logits = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        recent_losses = [*recent_losses[-19:], loss.item()]
        done = step + 1
        if done in plan.checkpoints:
            val = validation_loss(model, dataset, spec, dev)
            bar.set_postfix(val_loss=f"{val:.3f}")
            evals.append(
                plan.eval_point(done, val, recent_losses, lr, time.perf_counter() - started)
            )
    bar.close()
    return plan.result(model, dataset, dev, evals, started)
