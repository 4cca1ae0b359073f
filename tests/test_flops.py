"""Parameter and FLOP counts against hand counts, the real model, and published models."""

import numpy as np
import pytest

from scaling_debate.flops import (
    ParameterCount,
    count_parameters,
    flops_breakdown,
    forward_flops_per_sequence,
    kaplan_non_embedding_params,
    training_flops_6nd,
    training_flops_exact,
)

# Tiny config counted by hand below: V=10, T=4, d=8, L=2, H=2 (key size 4), d_ff=4d=32.
TINY = {"vocab_size": 10, "context": 4, "d_model": 8, "n_layers": 2}


def test_tiny_parameter_count_by_hand():
    token_embedding = 10 * 8  # 80
    position_embedding = 4 * 8  # 32
    per_layer = (
        2 * 8  # two LayerNorm weights: 16
        + 8 * 24  # qkv: 192
        + 8 * 8  # attention output: 64
        + 8 * 32  # MLP in: 256
        + 32 * 8  # MLP out: 256
    )  # 784
    final_layer_norm = 8
    non_embedding = 2 * per_layer + final_layer_norm  # 1576
    assert count_parameters(**TINY) == ParameterCount(
        total=non_embedding + token_embedding + position_embedding,  # 1688
        non_embedding=1576,
        embedding=112,
    )


def test_parameter_count_honours_d_ff():
    # Halving d_ff from 32 to 16 removes 2 layers * 2 matrices * 8 * 16 = 512 parameters.
    assert (
        count_parameters(**TINY).total - count_parameters(**TINY, d_ff=16).total == 2 * 2 * 8 * 16
    )


def test_tiny_forward_flops_by_hand():
    # T=4, d=8, k·H=8, H=2, V=10, d_ff=32, per sequence:
    embeddings = 2 * 4 * 10 * 8  # 640
    qkv = 2 * 3 * 4 * 8 * 8  # 1536
    logits_qk = 2 * 4 * 4 * 8  # 256
    softmax = 3 * 2 * 4 * 4  # 96
    reduction = 2 * 4 * 4 * 8  # 256
    attention_out = 2 * 4 * 8 * 8  # 512
    dense = 2 * 4 * (8 * 32 + 32 * 8)  # 4096
    final_logits = 2 * 4 * 8 * 10  # 640
    per_layer = qkv + logits_qk + softmax + reduction + attention_out + dense  # 6752
    forward = embeddings + 2 * per_layer + final_logits  # 14784

    breakdown = flops_breakdown(**TINY, n_heads=2)
    assert breakdown.components() == {
        "embeddings": 640,
        "attention_qkv": 2 * 1536,
        "attention_logits": 2 * 256,
        "attention_softmax": 2 * 96,
        "attention_reduction": 2 * 256,
        "attention_output": 2 * 512,
        "dense": 2 * 4096,
        "logits": 640,
    }
    assert breakdown.attention == 2 * 2656
    assert forward_flops_per_sequence(**TINY, n_heads=2) == forward == 14784
    # 3 * (14784 / 4 tokens) per token * 100 tokens
    assert training_flops_exact(**TINY, n_heads=2, tokens=100) == 3 * 3696 * 100


def test_softmax_term_is_the_only_one_that_depends_on_heads():
    two_heads = flops_breakdown(**TINY, n_heads=2).components()
    eight_heads = flops_breakdown(**TINY, n_heads=8).components()
    changed = {name for name in two_heads if two_heads[name] != eight_heads[name]}
    assert changed == {"attention_softmax"}
    assert eight_heads["attention_softmax"] == 4 * two_heads["attention_softmax"]


def test_6nd_rule():
    assert training_flops_6nd(1e9, 2e10) == pytest.approx(1.2e20)
    assert training_flops_6nd(np.int64(1000), 10) == 60_000


def test_exact_and_6nd_agree_for_a_chinchilla_70b_like_model():
    shape = {"vocab_size": 32_000, "context": 2048, "d_model": 8192, "n_layers": 80}
    tokens = 1.4e12
    exact = training_flops_exact(**shape, n_heads=64, tokens=tokens)
    params = count_parameters(**shape)
    for n in (params.total, params.non_embedding):
        ratio = exact / training_flops_6nd(n, tokens)
        assert 1.0 < ratio < 1.10  # attention over the context adds a few per cent


def test_6nd_undercounts_tiny_models_and_converges_for_wide_ones():
    def exact_over_6nd(d_model: int) -> float:
        shape = {"vocab_size": 32_000, "context": 128, "d_model": d_model, "n_layers": 64}
        exact = training_flops_exact(**shape, n_heads=8, tokens=1e9)
        return exact / training_flops_6nd(count_parameters(**shape).non_embedding, 1e9)

    ratios = [exact_over_6nd(d) for d in (64, 512, 4096, 32_768)]
    assert ratios[0] > 2  # tiny: the embedding and logit products dominate
    assert ratios == sorted(ratios, reverse=True)
    assert ratios[-1] == pytest.approx(1.0, abs=0.02)


def test_gpt3_175b_from_its_shape():
    # Brown et al. (2020), Table 2.1: n_layers=96, d_model=12288.
    assert kaplan_non_embedding_params(96, 12_288) == pytest.approx(174e9, rel=0.005)


def test_kaplan_approximation_drops_only_layer_norms():
    exact = count_parameters(vocab_size=50, context=16, d_model=32, n_layers=3).non_embedding
    layer_norm_weights = 3 * 2 * 32 + 32
    assert exact - kaplan_non_embedding_params(3, 32) == layer_norm_weights


def test_kaplan_honours_attention_and_feed_forward_widths():
    assert kaplan_non_embedding_params(2, 10, d_attn=6, d_ff=30) == 2 * 10 * 2 * (12 + 30)


@pytest.mark.parametrize(
    "shape",
    [
        {"vocab_size": 10, "context": 4, "d_model": 8, "n_layers": 2, "n_heads": 2},
        {"vocab_size": 257, "context": 64, "d_model": 48, "n_layers": 3, "n_heads": 4},
        {"vocab_size": 31, "context": 7, "d_model": 16, "n_layers": 1, "n_heads": 1},
    ],
)
def test_count_matches_the_model(shape):
    from scaling_debate.training.model import GPT, GPTConfig

    model = GPT(GPTConfig(**shape))
    expected = count_parameters(
        shape["vocab_size"], shape["context"], shape["d_model"], shape["n_layers"]
    )
    assert sum(p.numel() for p in model.parameters()) == expected.total


@pytest.mark.parametrize("name", ["vocab_size", "context", "d_model", "n_layers", "d_ff"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sizes_are_named(name, bad):
    with pytest.raises(ValueError, match=name):
        count_parameters(**{**TINY, name: bad})


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"n_heads=3 must divide d_model=8"):
        flops_breakdown(**TINY, n_heads=3)
    with pytest.raises(ValueError, match="n_heads"):
        forward_flops_per_sequence(**TINY, n_heads=0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_token_and_parameter_counts_are_named(bad):
    with pytest.raises(ValueError, match="tokens"):
        training_flops_exact(**TINY, n_heads=2, tokens=bad)
    with pytest.raises(ValueError, match="tokens"):
        training_flops_6nd(1e6, bad)
    with pytest.raises(ValueError, match="n_params"):
        training_flops_6nd(bad, 1e6)


def test_bad_attention_width_is_named():
    with pytest.raises(ValueError, match="d_attn"):
        kaplan_non_embedding_params(2, 8, d_attn=0)
