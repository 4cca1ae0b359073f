"""The Santa Fe language: exact entropy, deterministic batches, and a model that nears the floor."""

import math

import pytest
import torch

from scaling_debate.data import entropy_nats, load_dataset, vocab_size
from scaling_debate.data import synthetic as sf


def test_registered_with_its_exact_entropy():
    assert entropy_nats("santa-fe-floor") == pytest.approx(0.325083, abs=1e-6)
    assert entropy_nats("santa-fe-zero") == 0.0
    assert vocab_size("santa-fe-floor") == sf.VOCAB_SIZE
    with pytest.raises(ValueError, match="santa-fe-floor"):
        sf.variant("santa-fe-half")


def test_empirical_entropy_matches_the_exact_one():
    language = load_dataset("santa-fe-floor")
    generator = torch.Generator().manual_seed(0)
    estimate = language.bayes_loss(512, 400, generator)  # 204,800 scored tokens
    # standard error of the mean is about 0.0015 nats
    assert estimate == pytest.approx(language.entropy_nats, abs=0.006)
    assert load_dataset("santa-fe-zero").bayes_loss(8, 8, generator) == 0.0


def test_batches_are_deterministic_and_score_only_values():
    language = load_dataset("santa-fe-zero")
    x1, y1 = language.batch("train", 4, 48, torch.Generator().manual_seed(3))
    x2, y2 = language.batch("train", 4, 48, torch.Generator().manual_seed(3))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.dtype == torch.int64 and x1.shape == (4, 48)
    scored = y1[y1 != -100]
    assert scored.numel() == 4 * 16 and bool(((scored == 32) | (scored == 33)).all())
    # zero floor: the value after a key is always that key's fact
    rows = torch.cat([x1[:, :1], y1], dim=1)
    pairs = zip(language.codes, language.facts, strict=True)
    codes = {tuple(code.tolist()): int(bit) for code, bit in pairs}
    for row in x1:
        for start in range(0, 45, 3):
            key = tuple(row[start : start + 2].tolist())
            assert int(row[start + 2]) - 32 == codes[key]
    assert rows.shape == (4, 49)


def test_same_facts_in_both_versions_and_the_flip_rate_is_the_noise():
    floor, zero = load_dataset("santa-fe-floor"), load_dataset("santa-fe-zero")
    assert torch.equal(floor.facts, zero.facts)
    _, _, flipped = floor.sample(256, 200, torch.Generator().manual_seed(1))
    assert flipped.float().mean().item() == pytest.approx(sf.NOISE, abs=0.005)


def test_ideal_excess_falls_with_data():
    excess = sf.ideal_excess_nats([1e2, 1e3, 1e4, 1e5])
    assert excess[0] < math.log(2) and all(excess[1:] < excess[:-1])


def test_a_small_model_approaches_the_floor_but_stays_above_it():
    from scaling_debate.training import ladder
    from scaling_debate.training.trainer import train

    spec = ladder.ladder_spec("santa-fe-floor", 16, 150_000, eval_tokens=8192, n_evals=3)
    result = train(spec, progress=False)
    final = result.evals[-1]["val_loss"]
    assert result.evals[0]["val_loss"] > final
    assert sf.entropy_nats("santa-fe-floor") < final < math.log(2)
