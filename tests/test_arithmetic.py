"""Tests for scaling_debate.data.arithmetic: encoding, held-out pairs, masking and evaluation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scaling_debate.data.arithmetic import IGNORE_INDEX, PAD, AdditionTask


def operands_of(task: AdditionTask, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a and b back from rows that start with a problem (digit tokens are digit values)."""
    powers = 10 ** torch.arange(task.digits - 1, -1, -1)
    a = (x[:, : task.digits] * powers).sum(dim=1)
    b = (x[:, task.digits + 1 : 2 * task.digits + 1] * powers).sum(dim=1)
    return a, b


class NoisyOracle(nn.Module):
    """Puts a huge logit on the correct next token with probability p, else on a wrong digit.

    The correct token comes from the task's own encoding of the problem in the prompt. Each
    answer digit is right independently with probability p, so exact match should be about
    p ** (digits + 1).
    """

    def __init__(self, task: AdditionTask, p: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        self.task, self.p, self.context = task, p, task.problem_length - 1
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time = x.shape
        truth = self.task.encode(*operands_of(self.task, x))[:, 1 : time + 1]
        wrong_offset = torch.randint(1, 10, truth.shape, generator=self.generator)
        right = torch.rand(truth.shape, generator=self.generator) < self.p
        # a wrong answer digit is another digit; other positions are never scored here
        chosen = torch.where(right | (truth > 9), truth, (truth + wrong_offset) % 10)
        logits = torch.zeros(batch, time, self.task.vocab_size)
        logits.scatter_(2, chosen.unsqueeze(-1), 100.0)
        return logits


class UniformModel(nn.Module):
    """Zero logits everywhere: every token has probability 1 / vocab_size."""

    context = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*x.shape, AdditionTask.vocab_size)


class RandomDigitGuesser(nn.Module):
    """Random logits over the ten digits (and -inf for other tokens): greedy picks a digit at
    random, so each answer digit is right with probability 1/10."""

    context = 64

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((*x.shape, AdditionTask.vocab_size), -math.inf)
        logits[..., :10] = torch.rand(*x.shape, 10, generator=self.generator)
        return logits


# --- encoding ---------------------------------------------------------------------------------


def test_problem_text_pads_operands_and_answer():
    plain = AdditionTask(3, reverse_answer=False)
    reversed_ = AdditionTask(3)
    assert plain.to_text(plain.encode(42, 917)[0]) == "042+917=0959"
    assert reversed_.to_text(reversed_.encode(42, 917)[0]) == "042+917=9590"
    assert reversed_.to_text(reversed_.encode(999, 999)[0]) == "999+999=8991"
    assert plain.problem_length == len("042+917=0959")
    assert (reversed_.name, plain.name) == ("addition-3", "addition-3-plain")
    assert 13 <= AdditionTask.vocab_size <= 14


def test_encode_rejects_operands_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        AdditionTask(2).encode(100, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"digits": 0}, "digits"),
        ({"digits": -1}, "digits"),
        ({"digits": 10}, "digits"),
        ({"digits": 2.0}, "digits"),
        ({"digits": 2, "heldout_fraction": 0.0}, "heldout_fraction"),
        ({"digits": 2, "heldout_fraction": 1.0}, "heldout_fraction"),
        ({"digits": 2, "n_eval": 0}, "n_eval"),
        ({"digits": 2, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdditionTask(**kwargs)


# --- held-out problems ------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [1, 2, 4])
def test_heldout_pairs_never_appear_in_training(digits):
    task = AdditionTask(digits)
    generator = torch.Generator().manual_seed(1)
    seen = {}
    for split in ("train", "val"):
        pairs = set()
        for _ in range(20):
            x, _ = task.batch(split, 256, task.problem_length - 1, generator)
            a, b = operands_of(task, x)
            assert task.is_heldout(a, b).eq(split == "val").all()
            pairs.update(zip(a.tolist(), b.tolist(), strict=True))
        seen[split] = pairs
    assert not seen["train"] & seen["val"]
    if digits == 1:
        # the whole space is covered: exactly 10 of the 100 pairs are held out
        assert len(seen["val"]) == 10 and len(seen["train"]) == 90


def test_heldout_fraction_and_seed_in_a_large_space():
    task = AdditionTask(5, heldout_fraction=0.2)
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randint(10**5, (100_000,), generator=generator) for _ in range(2))
    assert task.is_heldout(a, b).float().mean().item() == pytest.approx(0.2, abs=0.01)
    other_seed = AdditionTask(5, seed=1, heldout_fraction=0.2)
    agreement = (task.is_heldout(a, b) == other_seed.is_heldout(a, b)).float().mean().item()
    assert agreement < 0.75  # independent sets would agree on 0.8**2 + 0.2**2 = 68%


def test_eval_problems_are_fixed_distinct_and_held_out():
    task = AdditionTask(4, n_eval=300)
    a, b = task.eval_problems
    assert len(a) == 300
    assert task.is_heldout(a, b).all()
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == 300
    again = AdditionTask(4, n_eval=300).eval_problems
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])
    # one digit has only 10 held-out problems to evaluate on
    assert len(AdditionTask(1).eval_problems[0]) == 10


# --- batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse_answer", [True, False])
def test_batch_scores_only_the_answer_digits(reverse_answer):
    task = AdditionTask(3, reverse_answer=reverse_answer)
    context = 20
    x, y = task.batch("train", 64, context, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, context)
    assert x.dtype == y.dtype == torch.int64
    a, b = operands_of(task, x)
    full = task.encode(a, b)
    assert torch.equal(x[:, : task.problem_length], full)
    assert (x[:, task.problem_length :] == PAD).all()
    scored = y != IGNORE_INDEX
    answer_columns = torch.arange(task.answer_start - 1, task.problem_length - 1)
    assert scored.any(dim=0).nonzero().flatten().tolist() == answer_columns.tolist()
    assert scored[:, answer_columns].all()
    assert torch.equal(y[:, answer_columns], full[:, task.answer_start :])
    # the scored digits spell a + b in the task's digit order
    powers = 10 ** torch.arange(task.digits + 1)
    if not reverse_answer:
        powers = powers.flip(0)
    assert torch.equal((y[:, answer_columns] * powers).sum(dim=1), a + b)


def test_batch_is_deterministic_and_checks_its_arguments():
    task = AdditionTask(2)

    def draw(seed: int) -> torch.Tensor:
        return task.batch("train", 8, 8, torch.Generator().manual_seed(seed))[0]

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"'test'.*train, val"):
        task.batch("test", 8, 8, generator)
    with pytest.raises(ValueError, match=r"context=7.*8"):
        task.batch("train", 8, 7, generator)


# --- evaluation -------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse_answer", [True, False])
def test_oracle_is_perfect_and_left_in_train_mode(reverse_answer):
    task = AdditionTask(3, reverse_answer=reverse_answer, n_eval=200)
    oracle = NoisyOracle(task).train()
    metrics = task.evaluate(oracle, "cpu")
    assert metrics["exact_match"] == 1.0
    assert metrics["digit_accuracy"] == 1.0
    assert -1e-6 < metrics["answer_logprob_nats"] <= 0.0
    assert metrics["answer_nll_per_digit_nats"] == pytest.approx(0.0, abs=1e-6)
    assert oracle.training


def test_uniform_model_scores_log_one_over_vocab_per_digit():
    task = AdditionTask(2, n_eval=100)
    metrics = task.evaluate(UniformModel().eval(), "cpu")
    per_digit = math.log(1 / task.vocab_size)
    assert metrics["answer_logprob_nats"] == pytest.approx((task.digits + 1) * per_digit)
    assert metrics["answer_nll_per_digit_nats"] == pytest.approx(-per_digit)


def test_random_guesser_is_at_chance():
    task = AdditionTask(2, n_eval=500)
    metrics = task.evaluate(RandomDigitGuesser(), "cpu")
    assert metrics["digit_accuracy"] == pytest.approx(0.1, abs=0.03)
    assert metrics["exact_match"] < 0.01


def test_exact_match_compounds_per_digit_accuracy():
    task = AdditionTask(2, n_eval=500)
    metrics = task.evaluate(NoisyOracle(task, p=0.8, seed=1), "cpu")
    assert metrics["digit_accuracy"] == pytest.approx(0.8, abs=0.04)
    assert metrics["exact_match"] == pytest.approx(0.8**3, abs=0.07)


def test_evaluate_refuses_a_model_with_too_short_a_context():
    task = AdditionTask(3)
    model = UniformModel()
    model.context = task.problem_length - 2
    with pytest.raises(ValueError, match=r"model\.context"):
        task.evaluate(model, "cpu")
