"""The trainer: loss falls, runs are deterministic, schedules behave, bad input is refused."""

from __future__ import annotations

import itertools
import math

import pytest

from scaling_debate.training import trainer as train
from scaling_debate.training.spec import RunSpec

TINY = RunSpec(
    data="stdlib",
    d_model=32,
    n_layers=1,
    n_heads=2,
    context=32,
    tokens=60_000,
    batch_size=16,
    lr=3e-3,
    n_evals=4,
    eval_tokens=4096,
)


@pytest.fixture(scope="module")
def tiny_record():
    return train.train(TINY, device="cpu", progress=False)


def test_validation_loss_falls_well_below_uniform(tiny_record):
    losses = [point["val_loss"] for point in tiny_record.evals]
    assert losses[0] > losses[-1]
    # a uniform guess over 256 bytes costs ln 256 = 5.55 nats; byte statistics alone get far lower
    assert losses[-1] < 0.7 * math.log(256)


def test_record_accounts_tokens_and_flops(tiny_record):
    steps = math.ceil(TINY.tokens / (TINY.batch_size * TINY.context))
    assert tiny_record.tokens_trained == steps * TINY.batch_size * TINY.context
    last = tiny_record.evals[-1]
    assert last["step"] == steps and last["tokens"] == tiny_record.tokens_trained
    assert tiny_record.flops_exact > tiny_record.flops_6nd > 0
    tokens = [point["tokens"] for point in tiny_record.evals]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_same_seed_same_result_other_seed_differs(tiny_record):
    again = train.train(TINY, device="cpu", progress=False)
    assert [p["val_loss"] for p in again.evals] == [p["val_loss"] for p in tiny_record.evals]
    other = train.train(RunSpec(**{**TINY.to_dict(), "seed": 1}), device="cpu", progress=False)
    assert other.evals[-1]["val_loss"] != tiny_record.evals[-1]["val_loss"]


def test_cosine_schedule_warms_up_then_decays_to_floor():
    steps = 1000
    rates = [train.lr_at(s, steps, TINY) for s in range(steps)]
    warmup = round(TINY.warmup_fraction * steps)
    assert rates[0] < rates[warmup - 1] == pytest.approx(TINY.lr)
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1 :], strict=False))
    assert rates[-1] == pytest.approx(TINY.min_lr_fraction * TINY.lr, rel=1e-3)


def test_fixed_schedule_is_cut_short_before_its_floor():
    fixed = RunSpec(**{**TINY.to_dict(), "schedule": "fixed", "schedule_tokens": 4 * TINY.tokens})
    record = train.train(fixed, device="cpu", progress=False)
    steps = math.ceil(TINY.tokens / (TINY.batch_size * TINY.context))
    assert record.tokens_trained == steps * TINY.batch_size * TINY.context  # its own budget
    assert record.evals[-1]["lr"] > 0.5 * TINY.lr  # the long schedule has barely decayed


def test_eval_steps_are_log_spaced_and_end_at_the_last_step():
    points = train.eval_steps(10_000, 8)
    assert points[-1] == 10_000 and points[0] == 100
    ratios = [b / a for a, b in itertools.pairwise(points)]
    assert max(ratios) / min(ratios) < 1.1


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="allowed: auto, cpu, cuda"):
        train.resolve_device("tpu")
