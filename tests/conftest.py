"""Shared fixtures: a tiny run spec and a fake result, so store logic is tested without torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult

SPEC = RunSpec(
    data="stdlib",
    d_model=16,
    n_layers=1,
    n_heads=2,
    context=16,
    tokens=4096,
    batch_size=8,
    n_evals=3,
    eval_tokens=1024,
)


def fake_result(spec: RunSpec = SPEC, loss: float = 2.0, **changes) -> RunResult:
    """A pinned CPU result whose only evaluation point has validation loss ``loss``."""
    result = RunResult(
        spec=spec,
        n_params=100,
        n_params_non_embedding=50,
        tokens_trained=spec.tokens,
        flops_6nd=1.0,
        flops_exact=1.0,
        wall_seconds=0.1,
        evals=[{"step": 1, "tokens": spec.tokens, "val_loss": loss}],
        final_metrics={},
        environment={"device": "cpu", "kernels": {"pinned": True}},
    )
    return dataclasses.replace(result, **changes)


def with_seed(spec: RunSpec, seed: int) -> RunSpec:
    return dataclasses.replace(spec, seed=seed)


@pytest.fixture
def fake_trainer():
    """A trainer that records what it was asked to train; loss 1 + seed."""
    trained: list[RunSpec] = []

    def trainer(spec: RunSpec) -> RunResult:
        trained.append(spec)
        return fake_result(spec, loss=1.0 + spec.seed)

    trainer.trained = trained
    return trainer


def build_book_from_store() -> subprocess.CompletedProcess:
    """``python -m scaling_debate build --profile cpu --no-train``, as a reader would run it."""
    from scaling_debate.paths import repo_root

    return subprocess.run(
        [sys.executable, "-m", "scaling_debate", "build", "--profile", "cpu", "--no-train"],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo_root(),
    )
