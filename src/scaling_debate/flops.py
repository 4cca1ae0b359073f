"""Parameter counts and training FLOPs, for our tiny transformer and for published models.

Two ways to count training compute appear in the scaling debate:

- the rule of thumb C ≈ 6ND (Kaplan et al. 2020, section 2.1): 2 FLOPs per parameter per token
  for the forward pass, twice that for the backward pass, ignoring attention over the context
  and the embeddings;
- the exact count of Hoffmann et al. 2022 (Chinchilla), Appendix F, which adds the attention
  terms that grow with the context and the embedding and logit matrix products.

For large models the two agree within a few per cent; for the tiny models of our own runs the
context and vocabulary terms are a large share, which is why 6ND undercounts them.
``flops_breakdown`` shows where the FLOPs go.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

# Appendix F of Hoffmann et al. (2022): the backward pass costs twice the forward pass.
_TRAINING_TO_FORWARD = 3


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of a model, split as in Kaplan et al. (2020).

    ``non_embedding`` is Kaplan's N: everything except the token and position embeddings
    (LayerNorm weights included). ``embedding`` is the token plus position embeddings.
    """

    total: int
    non_embedding: int
    embedding: int


@dataclass(frozen=True)
class FlopsBreakdown:
    """Forward-pass FLOPs for one sequence of ``context`` tokens, each term summed over layers.

    Terms follow Hoffmann et al. (2022), Appendix F. The embedding term counts the lookup as a
    one-hot matrix product, as the appendix does; the position embedding is not counted.
    """

    context: int
    embeddings: int
    attention_qkv: int
    attention_logits: int
    attention_softmax: int
    attention_reduction: int
    attention_output: int
    dense: int
    logits: int

    @property
    def attention(self) -> int:
        """All attention terms together."""
        return (
            self.attention_qkv
            + self.attention_logits
            + self.attention_softmax
            + self.attention_reduction
            + self.attention_output
        )

    @property
    def forward(self) -> int:
        """Forward-pass FLOPs for one sequence."""
        return self.embeddings + self.attention + self.dense + self.logits

    @property
    def training_per_token(self) -> float:
        """Forward plus backward FLOPs per token trained on (Appendix F as printed)."""
        return _TRAINING_TO_FORWARD * self.forward / self.context

    @property
    def executed_training_per_token(self) -> float:
        """Training FLOPs per token a model actually executes: Appendix F without the embedding.

        The embedding is a table lookup (a gather forward, a scatter-add backward), not the
        one-hot matrix product Appendix F charges; the logits are a real matrix product and stay.
        Porian et al. (2024) count compute this way; nanoGPT's `scaling_laws.ipynb` finds that
        Chinchilla's Table A4 is reproduced only without the embedding term.
        """
        return _TRAINING_TO_FORWARD * (self.forward - self.embeddings) / self.context

    def components(self) -> dict[str, int]:
        """Each term by name, in the order of Appendix F (for tables and bar charts)."""
        return {
            "embeddings": self.embeddings,
            "attention_qkv": self.attention_qkv,
            "attention_logits": self.attention_logits,
            "attention_softmax": self.attention_softmax,
            "attention_reduction": self.attention_reduction,
            "attention_output": self.attention_output,
            "dense": self.dense,
            "logits": self.logits,
        }


def _positive_int(name: str, value: object) -> int:
    # numbers.Integral admits numpy integers; bool is an int but never a size.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    # Python ints cannot overflow, unlike numpy int64 in products such as T·V·d·tokens.
    return int(value)


def _positive_number(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _feed_forward_width(d_model: int, d_ff: int | None) -> int:
    return 4 * d_model if d_ff is None else _positive_int("d_ff", d_ff)


def count_parameters(
    vocab_size: int, context: int, d_model: int, n_layers: int, d_ff: int | None = None
) -> ParameterCount:
    """Exact parameter count of ``models.GPT`` (biasless, tied output head).

    Per layer: two LayerNorm weight vectors (2d), the query/key/value projection (3d²), the
    attention output projection (d²) and the MLP (2·d·d_ff); plus a final LayerNorm (d). With
    d_ff = 4d the total is V·d + T·d + L·(12d² + 2d) + d. ``non_embedding`` (Kaplan's N)
    excludes the token and position embeddings and includes the LayerNorm weights.
    """
    vocab_size = _positive_int("vocab_size", vocab_size)
    context = _positive_int("context", context)
    d_model = _positive_int("d_model", d_model)
    n_layers = _positive_int("n_layers", n_layers)
    d_ff = _feed_forward_width(d_model, d_ff)

    per_layer = 2 * d_model + 4 * d_model**2 + 2 * d_model * d_ff
    non_embedding = n_layers * per_layer + d_model
    embedding = (vocab_size + context) * d_model
    return ParameterCount(
        total=non_embedding + embedding, non_embedding=non_embedding, embedding=embedding
    )


def kaplan_non_embedding_params(
    n_layers: int, d_model: int, d_attn: int | None = None, d_ff: int | None = None
) -> int:
    """Kaplan et al. (2020) eq. 2.1: N ≈ 2·d·L·(2·d_attn + d_ff), which is 12·L·d² by default.

    Drops biases and LayerNorms, so it suits published models known only by their shape (for
    example GPT-3's Table 2.1). ``d_attn`` defaults to d_model and ``d_ff`` to 4·d_model.
    """
    n_layers = _positive_int("n_layers", n_layers)
    d_model = _positive_int("d_model", d_model)
    d_attn = d_model if d_attn is None else _positive_int("d_attn", d_attn)
    d_ff = _feed_forward_width(d_model, d_ff)
    return 2 * d_model * n_layers * (2 * d_attn + d_ff)


def training_flops_6nd(n_params: float, tokens: float) -> float:
    """Training compute by the rule C ≈ 6·N·D (Kaplan et al. 2020, section 2.1)."""
    n_params = _positive_number("n_params", n_params)
    tokens = _positive_number("tokens", tokens)
    return 6.0 * n_params * tokens


def flops_breakdown(
    vocab_size: int,
    context: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int | None = None,
) -> FlopsBreakdown:
    """Forward FLOPs of one full-context sequence, term by term (Hoffmann et al. 2022, App. F).

    A multiply-add counts as 2 FLOPs. Key size * heads equals d_model, so the projections have
    width d_model; the softmax costs 3 FLOPs per logit per head.
    """
    vocab_size = _positive_int("vocab_size", vocab_size)
    context = _positive_int("context", context)
    d_model = _positive_int("d_model", d_model)
    n_layers = _positive_int("n_layers", n_layers)
    n_heads = _positive_int("n_heads", n_heads)
    if d_model % n_heads:
        raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
    d_ff = _feed_forward_width(d_model, d_ff)

    attn_width = d_model  # key_size * n_heads
    return FlopsBreakdown(
        context=context,
        embeddings=2 * context * vocab_size * d_model,
        attention_qkv=n_layers * 2 * 3 * context * d_model * attn_width,
        attention_logits=n_layers * 2 * context * context * attn_width,
        attention_softmax=n_layers * 3 * n_heads * context * context,
        attention_reduction=n_layers * 2 * context * context * attn_width,
        attention_output=n_layers * 2 * context * attn_width * d_model,
        dense=n_layers * 2 * context * (d_model * d_ff + d_ff * d_model),
        logits=2 * context * d_model * vocab_size,
    )


def forward_flops_per_sequence(
    vocab_size: int,
    context: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_ff: int | None = None,
) -> int:
    """Forward FLOPs of one full-context sequence: embeddings + L·(attention + dense) + logits."""
    return flops_breakdown(vocab_size, context, d_model, n_layers, n_heads, d_ff).forward


def training_flops_exact(
    vocab_size: int,
    context: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    tokens: float,
    d_ff: int | None = None,
) -> float:
    """Training compute as Hoffmann et al. (2022) count it: 3 * forward FLOPs per token * tokens.

    The backward pass is taken as twice the forward pass (Appendix F). Tokens are assumed to
    arrive in full-context sequences.
    """
    tokens = _positive_number("tokens", tokens)
    breakdown = flops_breakdown(vocab_size, context, d_model, n_layers, n_heads, d_ff)
    return breakdown.training_per_token * tokens
