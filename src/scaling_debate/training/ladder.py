"""The book's model ladder and the families of run specs built on it.

One width fixes a model's depth, heads and learning rate (`shape_for_width`); the spec factories
build isoFLOP sweeps, fixed-token ladders and arithmetic ladders from it, labelling each spec with
its role in the design. Vocabulary and context come from the dataset registry, never assumed.
"""

from __future__ import annotations

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


def shape_for_width(d_model: int, base_lr: float = 3e-3) -> ModelShape:
    """The book's ladder: depth grows with width (about 32 channels per layer), heads of 16.

    Kaplan et al. (2020) found loss depends on shape only weakly at fixed parameter count, so one
    fixed aspect ratio is enough. The learning rate shrinks as 1/sqrt(width) above 64 channels,
    which keeps the wider models of the ladder stable with one base rate.
    """
    if not isinstance(d_model, int) or d_model < 16 or d_model % 8:
        raise ValueError(f"d_model={d_model!r}: the ladder needs a multiple of 8, at least 16")
    n_heads = max(1, d_model // 16)
    while d_model % n_heads:
        n_heads -= 1
    lr = base_lr * min(1.0, (64 / d_model) ** 0.5)
    return ModelShape(d_model, max(1, round(d_model / 32)), n_heads, lr)


def ladder_spec(data: str, d_model: int, tokens: int, **fields: Any) -> RunSpec:
    """A spec for the ladder model of width ``d_model`` (depth, heads, lr from the ladder)."""
    shape = shape_for_width(d_model)
    values = {
        "n_layers": shape.n_layers,
        "n_heads": shape.n_heads,
        "lr": shape.lr,
        "context": default_context(data),
        **fields,
    }
    return RunSpec(data=data, d_model=d_model, tokens=int(tokens), **values)


def tokens_for_budget(
    budget_flops: float, d_model: int, data: str, context: int | None = None
) -> int:
    """Training tokens that spend ``budget_flops`` (Chinchilla's exact count) on a ladder model
    of width ``d_model`` on dataset ``data`` (its vocabulary and, by default, its context)."""
    _checks.positive_number("compute budget (FLOPs)", budget_flops)
    vocab_size = data_vocab_size(data)
    context = default_context(data) if context is None else context
    shape = shape_for_width(d_model)
    per_token = flops.training_flops_exact(
        vocab_size, context, d_model, shape.n_layers, shape.n_heads, tokens=1
    )
    return max(1, round(budget_flops / per_token))


def isoflop_specs(
    data: str,
    widths_by_budget: Mapping[float, Sequence[int]],
    seed: int = 0,
    sweep: str = "isoflop",
    **fields: Any,
) -> list[RunSpec]:
    """One run per (budget, width), each with a cosine schedule matched to its own length.

    Each spec is labelled with ``sweep`` and its nominal ``budget`` (outside the hash).
    """
    if not widths_by_budget:
        raise ValueError(f"widths_by_budget={widths_by_budget!r}: must name at least one budget")
    context = fields.get("context")
    return [
        ladder_spec(
            data, width, tokens_for_budget(budget, width, data, context), seed=seed, **fields
        ).labeled(sweep=sweep, budget=float(budget))
        for budget, widths in widths_by_budget.items()
        for width in widths
    ]


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
