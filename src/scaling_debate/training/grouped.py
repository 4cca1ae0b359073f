"""Many small runs of one shape trained together, each giving the bits it gives alone.

A tiny model's training step is a few milliseconds of small kernels plus a fixed cost per
operation (dispatch, autograd bookkeeping, Python). Runs that share a shape (dataset, width,
depth, heads, context, batch) but differ in seed, learning rate, schedule or length can share
that fixed cost: their weights are stacked along a leading "run" dimension and one batched
matrix product, one attention call, one softmax serve all of them. The arithmetic itself is not
made cheaper, so the gain is modest and shrinks as the step grows (measured in
``benchmarks/results/peer-throughput.json``; see `GROUP_MAX_STEP_FLOPS`).

Every run keeps what `training.trainer` gives it alone: its own initialisation (drawn from its
seed exactly as the trainer draws it), its own data stream and generator, its own learning-rate
schedule, gradient clipping, fused AdamW, evaluation points and stopping step. Each operation of
the batched step computes, for each run, the same floating-point operations in the same order
as the single-run step, so a run's stored result is bit-identical whether it trained alone or in
a group (``tests/test_grouped.py`` checks every number for each group size used):

- matrix products go through ``torch.bmm``, whose per-run slices MKL computes like the single
  run's ``mm`` (same shapes and memory layout; the tests check the bits); the backward pass is
  written out (`_BatchedLinear`) so that the weight gradient is the same product as the single
  run's (``grad.T @ x``, not its transpose);
- token and position embeddings look up one table of all runs' rows, with each run's indices
  offset to its own rows, so the backward pass adds each row's gradients in the same order;
- LayerNorm (whose weight differs by run) and the loss (whose mean is a reduction over one run's
  tokens) are called once per run on that run's slice: the batched forms would change the order
  of their sums.

Everything per run (schedule, clipping, optimizer update, evaluation) works on the run's own
`GPT` module, whose parameters are views into the stacked weights. One AdamW holds every run's
two parameter groups (one optimizer step instead of one per run; the fused kernel updates each
group on its own, with that run's learning rate). A run that reaches its last step is finished,
evaluated and handed back at once; the others go on without it (a finished run's parameters
have no gradient, which the optimizer skips).
CPU only: with a GPU, runs go one at a time per device (`training.sweep.local_executor`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from scaling_debate import flops
from scaling_debate.data import Dataset, load_dataset, vocab_size
from scaling_debate.training.model import GPT
from scaling_debate.training.reproducible import adam, cpu_threads
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult
from scaling_debate.training.trainer import (
    ADAM_BETAS,
    RunPlan,
    _model_config,
    _param_groups,
    validation_loss,
)

# the largest group `tests/test_grouped.py` proves bit-identical (every size up to it)
MAX_GROUP_SIZE = 8
# What `run_all` groups, from benchmarks/results/peer-throughput.json (2 cores, CPU time per
# model, medians of 3; a group of 1 against one run at a time, which measures the noise, spread
# 0.88-1.10x): groups of 4 trained 1.36x the tokens per second of one run at a time at 2e7
# training FLOPs a step (4-digit addition, width 16), 1.21x at 5e7 (Santa Fe, width 16), 1.05x
# at 8e7 (addition, width 32), 1.02x at 1.7e8 (State of the Union, width 16), 1.03x at 4e8 and
# 0.96x at 1.8e9 (State of the Union, widths 32 and 64). An earlier run of the benchmark gave
# 1.31x, 1.02x, 1.15x, 1.16x, 1.00x and 0.97x. Groups of 8 were no better than groups of 4 on
# balance (0.96x at 4e8, where their working set outgrows the caches) and leave fewer units for
# the pool's workers.
GROUP_MAX_STEP_FLOPS = 2e8
SWEEP_GROUP_SIZE = 4
# the spec fields runs must share to be stacked: everything that fixes a tensor's shape
SHAPE_FIELDS = ("data", "d_model", "n_layers", "n_heads", "context", "batch_size")


def shape_key(spec: RunSpec) -> tuple[Any, ...]:
    """What runs must share to train in one group (`SHAPE_FIELDS`)."""
    return tuple(getattr(spec, name) for name in SHAPE_FIELDS)


def plan_groups(specs: Iterable[RunSpec], max_size: int) -> list[list[RunSpec]]:
    """The specs in groups of one shape, at most ``max_size`` each, runs of similar length
    together (a group steps until its longest run ends, so mixed lengths waste less).

    Shapes keep the order in which they first appear; within a shape, runs go longest first.
    """
    if not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"max_size={max_size!r}: must be a positive integer")
    by_shape: dict[tuple[Any, ...], list[RunSpec]] = {}
    for spec in specs:
        by_shape.setdefault(shape_key(spec), []).append(spec)
    groups = []
    for members in by_shape.values():
        members = sorted(members, key=lambda spec: spec.tokens, reverse=True)
        n_groups = math.ceil(len(members) / max_size)
        size = math.ceil(len(members) / n_groups)  # even sizes: 5 runs at 4 -> 3 + 2, not 4 + 1
        groups.extend(members[start : start + size] for start in range(0, len(members), size))
    return groups


def step_flops(spec: RunSpec) -> float:
    """Training FLOPs of one step of one run (Chinchilla's exact count)."""
    per_token = flops.training_flops_exact(
        vocab_size(spec.data), spec.context, spec.d_model, spec.n_layers, spec.n_heads, tokens=1
    )
    return per_token * spec.batch_size * spec.context


def sweep_units(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """`run_all`'s work units for its default trainer: runs whose steps are small enough for
    grouping to pay (`GROUP_MAX_STEP_FLOPS`) in groups of one shape of at most
    `SWEEP_GROUP_SIZE`, every other run alone; every run alone when a GPU trains them."""
    if torch.cuda.is_available():
        return [[spec] for spec in specs]
    small = [spec for spec in specs if step_flops(spec) <= GROUP_MAX_STEP_FLOPS]
    large = [[spec] for spec in specs if step_flops(spec) > GROUP_MAX_STEP_FLOPS]
    return plan_groups(small, SWEEP_GROUP_SIZE) + large


class _BatchedLinear(torch.autograd.Function):
    """``x @ weight.T`` for every run, ``x`` (runs, rows, in) and ``weight`` (runs, out, in).

    The backward pass computes the single run's products slice by slice: ``grad @ weight`` for
    the input and ``grad.T @ x`` for the weight (autograd's ``bmm`` rule would form the weight
    gradient's transpose, ``x.T @ grad``, which MKL is not bound to sum in the same order).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return torch.bmm(x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        return torch.bmm(grad, weight), torch.bmm(grad.transpose(1, 2), x)


def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`_BatchedLinear` on ``x`` of shape (runs, ..., in); the result keeps x's middle shape."""
    runs, *middle, width = x.shape
    out = _BatchedLinear.apply(x.reshape(runs, -1, width), weight)
    return out.view(runs, *middle, weight.shape[1])


def _layer_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Each run's LayerNorm on its own slice (its weight enters the fused kernel's sums)."""
    width = (x.shape[-1],)
    pairs = zip(x.unbind(), weight.unbind(), strict=True)
    return torch.stack([F.layer_norm(run_x, width, run_weight) for run_x, run_weight in pairs])


def _lookup(table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows of each run's own embedding table: ``table`` (runs, rows, width), ``indices``
    (runs, ...) into each run's rows."""
    runs, rows, width = table.shape
    offsets = torch.arange(runs).mul_(rows).view(runs, *([1] * (indices.dim() - 1)))
    return F.embedding(indices + offsets, table.view(runs * rows, width))


def _losses(
    weights: dict[str, torch.Tensor], n_layers: int, n_heads: int, x: torch.Tensor, y: torch.Tensor
) -> list[torch.Tensor]:
    """Each run's mean training cross-entropy: `GPT.forward` and the trainer's loss, batched.

    The trainer's ``F.cross_entropy`` is ``log_softmax`` then ``nll_loss``: the first is one call
    for all runs (row by row), the second, a mean over one run's tokens, one call per run.
    ``weights`` maps `GPT`'s parameter names to tensors stacked over runs; ``x`` and ``y`` are
    (runs, batch, time).
    """
    runs, batch, time = x.shape
    positions = torch.arange(time).expand(runs, time)
    h = _lookup(weights["token_embedding.weight"], x)
    h = h + _lookup(weights["position_embedding.weight"], positions)[:, None]
    width = h.shape[-1]
    for layer in range(n_layers):
        prefix = f"blocks.{layer}."
        # attention: (runs * batch, heads, time, head size) for the fused kernel
        qkv = _linear(
            _layer_norm(h, weights[prefix + "ln_attn.weight"]), weights[prefix + "attn.qkv.weight"]
        )
        q, k, v = qkv.view(runs * batch, time, 3 * width).split(width, dim=2)
        q, k, v = (t.view(runs * batch, time, n_heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        attended = attended.transpose(1, 2).reshape(runs, batch, time, width)
        h = h + _linear(attended, weights[prefix + "attn.proj.weight"])
        hidden = _linear(
            _layer_norm(h, weights[prefix + "ln_mlp.weight"]), weights[prefix + "mlp.0.weight"]
        )
        h = h + _linear(F.gelu(hidden), weights[prefix + "mlp.2.weight"])
    final = _layer_norm(h, weights["ln_final.weight"])
    logits = _linear(final.view(runs, batch * time, width), weights["token_embedding.weight"])
    log_probs = F.log_softmax(logits, dim=-1)
    pairs = zip(log_probs.unbind(), y.unbind(), strict=True)
    return [
        F.nll_loss(run_log_probs, run_y.flatten(), ignore_index=-100)
        for run_log_probs, run_y in pairs
    ]


@dataclass
class _Run:
    """One run of a group: what `training.trainer` keeps for it, plus its finished record."""

    plan: RunPlan
    model: GPT
    generator: torch.Generator
    evals: list[dict[str, Any]] = field(default_factory=list)
    recent_losses: list[float] = field(default_factory=list)

    @property
    def spec(self) -> RunSpec:
        return self.plan.spec


def train_group(
    specs: Sequence[RunSpec],
    on_result: Callable[[RunResult], None] | None = None,
    progress: bool | None = None,
) -> list[RunResult]:
    """Train runs of one shape together on the CPU; their results, in the order of ``specs``.

    Each result is what `training.trainer.train` returns for its spec, bit for bit, apart from
    the wall-clock fields (``wall_seconds``, ``elapsed_seconds`` and ``created`` count the
    group's time). ``on_result`` is called with each run's result the moment it finishes, so a
    caller can store it before the longer runs of the group are done.
    """
    specs = list(specs)
    if not specs:
        raise ValueError("train_group needs at least one spec")
    shapes = {shape_key(spec) for spec in specs}
    if len(shapes) > 1:
        raise ValueError(
            f"train_group: the specs must share {', '.join(SHAPE_FIELDS)}; got {sorted(shapes)}"
        )
    with cpu_threads():
        return _train_group(specs, on_result, progress)


def _train_group(
    specs: list[RunSpec],
    on_result: Callable[[RunResult], None] | None,
    progress: bool | None,
) -> list[RunResult]:
    dev = torch.device("cpu")
    dataset = load_dataset(specs[0].data)
    runs = [_start(spec, dataset) for spec in specs]
    # each run's two groups, in order: the trainer's groups for that run's model and spec
    optimizer = adam(
        [group for run in runs for group in _param_groups(run.model, run.spec)],
        lr=specs[0].lr,  # every group's rate is set at every step
        betas=ADAM_BETAS,
    )
    first = specs[0]
    results: dict[int, RunResult] = {}
    active = list(range(len(runs)))
    weights = _stack([runs[i].model for i in active])
    started = time.perf_counter()
    show = None if progress is None else not progress  # None: only on a terminal
    total = max(run.plan.steps for run in runs)
    describe = f"{len(runs)} runs of {first.data} d={first.d_model} L={first.n_layers}"
    bar = tqdm(range(total), desc=describe, disable=show, leave=False, mininterval=2.0)
    for step in bar:
        lrs = [runs[i].plan.lr(step) for i in active]
        batches = [
            dataset.batch("train", first.batch_size, first.context, runs[i].generator)
            for i in active
        ]
        x = torch.stack([batch[0] for batch in batches])
        y = torch.stack([batch[1] for batch in batches])
        losses = _losses(weights, first.n_layers, first.n_heads, x, y)
        torch.autograd.backward(losses)
        for slot, (i, lr) in enumerate(zip(active, lrs, strict=True)):
            run = runs[i]
            for group in optimizer.param_groups[2 * i : 2 * i + 2]:
                group["lr"] = lr
            for name, parameter in run.model.named_parameters():
                parameter.grad = weights[name].grad[slot]
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.spec.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        for stacked in weights.values():
            stacked.grad = None
        done = step + 1
        for i, loss, lr in zip(active, torch.stack(losses).tolist(), lrs, strict=True):
            run = runs[i]
            run.recent_losses = [*run.recent_losses[-19:], loss]
            if done in run.plan.checkpoints:
                val = validation_loss(run.model, dataset, run.spec, dev)
                run.evals.append(
                    run.plan.eval_point(
                        done, val, run.recent_losses, lr, time.perf_counter() - started
                    )
                )
        finished = [i for i in active if runs[i].plan.steps == done]
        for i in finished:
            results[i] = runs[i].plan.result(runs[i].model, dataset, dev, runs[i].evals, started)
            if on_result is not None:
                on_result(results[i])
        if finished:
            active = [i for i in active if i not in finished]
            if active:
                weights = _stack([runs[i].model for i in active])
    bar.close()
    return [results[i] for i in range(len(runs))]


def _start(spec: RunSpec, dataset: Dataset) -> _Run:
    """A run's model and data generator, made as `training.trainer` makes them."""
    torch.manual_seed(spec.seed)
    return _Run(
        plan=RunPlan.of(spec, dataset.vocab_size),
        model=GPT(_model_config(spec, dataset.vocab_size)),
        generator=torch.Generator().manual_seed(spec.seed + 1),
    )


def _stack(models: list[GPT]) -> dict[str, torch.Tensor]:
    """The models' parameters stacked over runs (one leaf tensor per parameter name), each
    model's parameters turned into views of its slice, so that the batched step's weights, the
    model's own forward pass (evaluation) and the optimizer all see one set of numbers."""
    weights = {}
    for name, _ in models[0].named_parameters():
        parameters = [model.get_parameter(name) for model in models]
        stacked = torch.stack([parameter.detach() for parameter in parameters])
        for slot, parameter in enumerate(parameters):
            parameter.data = stacked[slot]
        weights[name] = stacked.requires_grad_()
    return weights
