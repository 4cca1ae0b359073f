"""The book's model ladder and the families of run specs built on it.

One width fixes a model's depth, heads and learning rate (`shape_for_width`); the spec factories
build isoFLOP sweeps, fixed-token ladders and arithmetic ladders from it, labelling each spec with
its role in the design. Vocabulary and context come from the dataset registry, never assumed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scaling_debate import _checks, flops
from scaling_debate.data import default_context
from scaling_debate.data import vocab_size as data_vocab_size
from scaling_debate.training.spec import RunSpec


@dataclass(frozen=True)
class ModelShape:
    """Depth, heads and learning rate that go with a width in the book's model ladder."""

    d_model: int
    n_layers: int
    n_heads: int
    lr: float


def shape_for_width(d_model: int, base_lr: float = 3e-3, min_layers: int = 1) -> ModelShape:
    """The book's ladder: depth grows with width (about 32 channels per layer), heads of 16.

    Kaplan et al. (2020) found loss depends on shape only weakly at fixed parameter count, so one
    fixed aspect ratio is enough. The learning rate shrinks as 1/sqrt(width) above 64 channels,
    which keeps the wider models of the ladder stable with one base rate. ``min_layers`` sets a
    floor on depth: Kaplan et al. (Fig. 6) leave one-layer models out of their trends.
    """
    if not isinstance(d_model, int) or d_model < 8 or d_model % 4:
        raise ValueError(f"d_model={d_model!r}: the ladder needs a multiple of 4, at least 8")
    _checks.positive_int("min_layers", min_layers)
    n_heads = max(1, d_model // 16)
    while d_model % n_heads:
        n_heads -= 1
    lr = base_lr * min(1.0, (64 / d_model) ** 0.5)
    return ModelShape(d_model, max(min_layers, round(d_model / 32)), n_heads, lr)


def ladder_spec(
    data: str, d_model: int, tokens: int, min_layers: int = 1, **fields: Any
) -> RunSpec:
    """A spec for the ladder model of width ``d_model`` (depth, heads, lr from the ladder;
    ``fields`` override them, e.g. a learning rate chosen by a sweep)."""
    shape = shape_for_width(d_model, min_layers=min_layers)
    values = {
        "n_layers": shape.n_layers,
        "n_heads": shape.n_heads,
        "lr": shape.lr,
        "context": default_context(data),
        **fields,
    }
    return RunSpec(data=data, d_model=d_model, tokens=int(tokens), **values)


COST_COUNTS = ("exact", "executed")


def flops_per_token(
    d_model: int, data: str, context: int | None = None, min_layers: int = 1, cost: str = "exact"
) -> float:
    """Training FLOPs per token of the ladder model of width ``d_model`` on ``data``.

    ``cost="exact"`` is Hoffmann et al.'s Appendix F as printed (it charges the embedding as a
    matrix product); ``"executed"`` leaves out the embedding lookup, which no model computes as
    a product, and keeps the logits.
    """
    _checks.one_of("cost", cost, COST_COUNTS)
    context = default_context(data) if context is None else context
    shape = shape_for_width(d_model, min_layers=min_layers)
    breakdown = flops.flops_breakdown(
        data_vocab_size(data), context, d_model, shape.n_layers, shape.n_heads
    )
    if cost == "exact":
        return breakdown.training_per_token
    return breakdown.executed_training_per_token


def tokens_for_budget(
    budget_flops: float,
    d_model: int,
    data: str,
    context: int | None = None,
    min_layers: int = 1,
    cost: str = "exact",
) -> int:
    """Training tokens that spend ``budget_flops`` on a ladder model of width ``d_model`` on
    dataset ``data`` (its vocabulary and, by default, its context), counted by ``cost``."""
    _checks.positive_number("compute budget (FLOPs)", budget_flops)
    per_token = flops_per_token(d_model, data, context, min_layers, cost)
    return max(1, round(budget_flops / per_token))


def isoflop_specs(
    data: str,
    widths_by_budget: Mapping[float, Sequence[int]],
    seed: int = 0,
    sweep: str = "isoflop",
    min_layers: int = 1,
    cost: str = "exact",
    lr_by_width: Mapping[int, float] | None = None,
    **fields: Any,
) -> list[RunSpec]:
    """One run per (budget, width), each with a cosine schedule matched to its own length.

    Budgets are counted by ``cost`` (see `flops_per_token`); ``lr_by_width`` replaces the
    ladder's learning rate for the widths it names (a rate chosen by a recorded sweep). Each
    spec is labelled with ``sweep`` and its nominal ``budget`` (outside the hash).
    """
    if not widths_by_budget:
        raise ValueError(f"widths_by_budget={widths_by_budget!r}: must name at least one budget")
    context = fields.get("context")
    lr_by_width = lr_by_width or {}
    specs = []
    for budget, widths in widths_by_budget.items():
        for width in widths:
            tokens = tokens_for_budget(budget, width, data, context, min_layers, cost)
            extra = {"lr": lr_by_width[width]} if width in lr_by_width else {}
            spec = ladder_spec(data, width, tokens, min_layers, seed=seed, **fields, **extra)
            specs.append(spec.labeled(sweep=sweep, budget=float(budget)))
    return specs


def fixed_token_specs(
    data: str,
    widths: Sequence[int],
    tokens: int,
    seed: int = 0,
    sweep: str = "fixed_tokens",
    **fields: Any,
) -> list[RunSpec]:
    """Every width trained on the same number of tokens (GPT-3's setup: 300B tokens for all)."""
    return [
        ladder_spec(data, width, tokens, seed=seed, **fields).labeled(sweep=sweep)
        for width in widths
    ]


def exact_over_6nd(d_model: int, data: str, context: int | None = None) -> float:
    """Ratio of Chinchilla's exact training FLOPs per token to 6N for a ladder model."""
    vocab_size = data_vocab_size(data)
    context = default_context(data) if context is None else context
    shape = shape_for_width(d_model)
    n = flops.count_parameters(vocab_size, context, d_model, shape.n_layers).non_embedding
    per_token = flops.training_flops_exact(
        vocab_size, context, d_model, shape.n_layers, shape.n_heads, tokens=1
    )
    return per_token / flops.training_flops_6nd(n, 1)


def addition_ladder(
    digits: int,
    widths: Sequence[int],
    steps: int,
    seeds: Sequence[int],
    batch_size: int = 64,
    eval_tokens: int = 8192,
    n_evals: int = 8,
) -> list[RunSpec]:
    """Specs for the ladder models of ``widths`` on ``digits``-digit addition, one per seed.

    Every run takes ``steps`` optimizer steps of ``batch_size`` problems, one problem per row,
    so the context is the problem's length minus one and the token budget (which counts
    positions) is ``steps * batch_size * context``. Validation loss is measured on
    ``eval_tokens`` positions at ``n_evals`` points; the final metrics come from the task's
    held-out problems.
    """
    _checks.positive_int("steps", steps)
    _checks.positive_int("batch_size", batch_size)
    if not widths or not seeds:
        raise ValueError(f"widths={widths!r}, seeds={seeds!r}: must each name at least one value")
    data = f"addition-{digits}"
    context = default_context(data)
    return [
        ladder_spec(
            data,
            width,
            steps * batch_size * context,
            context=context,
            batch_size=batch_size,
            eval_tokens=eval_tokens,
            n_evals=n_evals,
            seed=seed,
        )
        for width in widths
        for seed in seeds
    ]


def addition_lr_sweep(
    digits: int,
    widths: Sequence[int],
    steps: int,
    seeds: Sequence[int],
    lrs: Sequence[float],
    batch_size: int = 64,
    eval_tokens: int = 8192,
    n_evals: int = 8,
) -> list[RunSpec]:
    """`addition_ladder`'s runs at each peak learning rate of ``lrs``: a per-width LR sweep.

    Every run keeps the ladder's shape and schedule and replaces only the peak learning rate,
    so the rate the ladder itself gives a width is the same run (same hash) as the ladder's.
    Each spec is labelled ``sweep="addition-lr"`` and ``peak_lr`` (outside the hash).
    """
    if not lrs:
        raise ValueError(f"lrs={lrs!r}: must name at least one learning rate")
    for lr in lrs:
        _checks.positive_number("learning rate", lr)
    return [
        dataclasses.replace(spec, lr=float(lr)).labeled(sweep="addition-lr", peak_lr=float(lr))
        for lr in lrs
        for spec in addition_ladder(digits, widths, steps, seeds, batch_size, eval_tokens, n_evals)
    ]


def addition_steps_for_budget(
    digits: int, d_model: int, budget_flops: float, batch_size: int = 64
) -> int:
    """Optimizer steps that spend ``budget_flops`` (Chinchilla's exact count) on the ladder model
    of width ``d_model`` in `addition_ladder`'s setup (one problem per row of the batch)."""
    _checks.positive_int("batch_size", batch_size)
    data = f"addition-{digits}"
    context = default_context(data)
    tokens = tokens_for_budget(budget_flops, d_model, data, context)
    return max(1, round(tokens / (batch_size * context)))


def addition_compute_ladder(
    digits: int,
    widths: Sequence[int],
    budget_flops: float,
    seeds: Sequence[int],
    lr_by_width: Mapping[int, float] | None = None,
    batch_size: int = 64,
    eval_tokens: int = 8192,
    n_evals: int = 8,
) -> list[RunSpec]:
    """`addition_ladder` at equal training compute: every width spends ``budget_flops``.

    A width's number of steps is `addition_steps_for_budget` (so steps fall as 1/FLOPs per
    token: smaller models train longer); ``lr_by_width`` replaces the ladder's peak learning
    rate for the widths it names (a rate chosen by `addition_lr_sweep`). Each spec is labelled
    ``sweep="addition-equal-compute"`` and its nominal ``budget`` (outside the hash).
    """
    _checks.positive_number("compute budget (FLOPs)", budget_flops)
    if not widths or not seeds:
        raise ValueError(f"widths={widths!r}, seeds={seeds!r}: must each name at least one value")
    lr_by_width = lr_by_width or {}
    specs = []
    for width in widths:
        steps = addition_steps_for_budget(digits, width, budget_flops, batch_size)
        for spec in addition_ladder(
            digits, [width], steps, seeds, batch_size, eval_tokens, n_evals
        ):
            if width in lr_by_width:
                spec = dataclasses.replace(spec, lr=float(lr_by_width[width]))
            specs.append(spec.labeled(sweep="addition-equal-compute", budget=float(budget_flops)))
    return specs


def addition_flops(digits: int, d_model: int, steps: int, batch_size: int = 64) -> float:
    """Training FLOPs (Chinchilla's exact count) of `addition_ladder`'s run of width ``d_model``
    for ``steps`` steps: the compute axis of the arithmetic chapter's figures."""
    _checks.positive_int("steps", steps)
    _checks.positive_int("batch_size", batch_size)
    data = f"addition-{digits}"
    context = default_context(data)
    shape = shape_for_width(d_model)
    return flops.training_flops_exact(
        data_vocab_size(data),
        context,
        d_model,
        shape.n_layers,
        shape.n_heads,
        tokens=steps * batch_size * context,
    )
