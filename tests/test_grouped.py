"""Grouped training: a run trained in a group gives the bits it gives alone, at every group size.

The specs are the book's ladder models (`training.ladder`) with tiny token counts: seeds, learning
rates, lengths and both schedule kinds mixed, so runs leave the group at different steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
import torch

from scaling_debate.training import sweep
from scaling_debate.training.grouped import (
    GROUP_MAX_STEP_FLOPS,
    MAX_GROUP_SIZE,
    SWEEP_GROUP_SIZE,
    plan_groups,
    shape_key,
    step_flops,
    train_group,
)
from scaling_debate.training.ladder import ladder_spec
from scaling_debate.training.spec import RunSpec
from scaling_debate.training.store import RunResult, RunStore
from scaling_debate.training.trainer import train

STEP_TOKENS = 32 * 64  # the sotu ladder's batch times context


def _sotu_specs(count: int) -> list[RunSpec]:
    """``count`` ladder runs of width 16 on sotu differing in seed, lr, length and schedule."""
    base = ladder_spec("sotu", 16, 6 * STEP_TOKENS, n_evals=3, eval_tokens=STEP_TOKENS)
    specs = []
    for index in range(count):
        changes: dict[str, Any] = {"seed": index, "tokens": (4 + index % 5) * STEP_TOKENS}
        if index % 3 == 1:
            changes["lr"] = base.lr / 2
        if index % 4 == 3:
            changes.update(schedule="fixed", schedule_tokens=12 * STEP_TOKENS)
        specs.append(dataclasses.replace(base, **changes))
    return specs


def _record(result: RunResult) -> dict[str, Any]:
    """Every stored number of a result except the clock's (wall time, elapsed, created)."""
    record = result.to_json()
    del record["wall_seconds"], record["created"]
    record["evals"] = [
        {k: v for k, v in point.items() if k != "elapsed_seconds"} for point in record["evals"]
    ]
    return record


@pytest.fixture(scope="module")
def alone() -> dict[RunSpec, dict[str, Any]]:
    return {spec: _record(train(spec)) for spec in _sotu_specs(MAX_GROUP_SIZE)}


@pytest.mark.parametrize("size", range(1, MAX_GROUP_SIZE + 1))
def test_a_run_in_a_group_gives_the_bits_it_gives_alone(size, alone):
    specs = _sotu_specs(size)
    grouped = train_group(specs)
    assert [result.spec for result in grouped] == specs
    for spec, result in zip(specs, grouped, strict=True):
        assert _record(result) == alone[spec], spec.describe()


@pytest.mark.parametrize(
    ("data", "width", "batch", "size"),
    [
        # targets only on answer digits, greedy-decoding metrics; width 48: two layers (and
        # three heads), so the batched attention and residual stream are exercised
        ("addition-4", 48, 64, 2),
        # targets only on the facts' values; a group of the size run_all uses
        ("santa-fe-floor", 16, 32, SWEEP_GROUP_SIZE),
    ],
)
def test_other_datasets_and_deeper_models_are_identical_too(data, width, batch, size):
    base = ladder_spec(data, width, 64 * 14, batch_size=batch, n_evals=2, eval_tokens=64 * 14)
    specs = [
        dataclasses.replace(
            base, seed=seed, tokens=(3 + seed) * base.tokens, lr=base.lr / (1 + seed)
        )
        for seed in range(size)
    ]
    grouped = train_group(specs)
    if data.startswith("addition"):
        assert grouped[0].final_metrics  # the task's metrics were computed
    for spec, result in zip(specs, grouped, strict=True):
        assert _record(result) == _record(train(spec)), spec.describe()


def test_each_run_is_handed_back_when_it_finishes():
    specs = _sotu_specs(3)  # 4, 5 and 6 steps
    finished: list[RunSpec] = []
    results = train_group(list(reversed(specs)), on_result=lambda r: finished.append(r.spec))
    assert finished == specs  # shortest first, not in the order given
    assert [r.spec for r in results] == list(reversed(specs))
    assert [r.tokens_trained for r in results] == [
        6 * STEP_TOKENS,
        5 * STEP_TOKENS,
        4 * STEP_TOKENS,
    ]


def test_runs_of_different_shapes_are_refused():
    narrow, wide = ladder_spec("sotu", 16, STEP_TOKENS), ladder_spec("sotu", 32, STEP_TOKENS)
    with pytest.raises(ValueError, match="must share data, d_model"):
        train_group([narrow, wide])
    with pytest.raises(ValueError, match="at least one spec"):
        train_group([])


def test_plan_groups_by_shape_of_balanced_size_similar_lengths_together():
    sotu = [ladder_spec("sotu", 16, tokens * STEP_TOKENS) for tokens in (3, 9, 5, 7, 1)]
    other = ladder_spec("santa-fe-zero", 16, STEP_TOKENS)
    groups = plan_groups([sotu[0], other, *sotu[1:]], max_size=4)
    # five sotu runs at most four a group: 3 + 2 (not 4 + 1), longest first; then santa-fe
    assert [[spec.tokens // STEP_TOKENS for spec in group] for group in groups[:2]] == [
        [9, 7, 5],
        [3, 1],
    ]
    assert groups[2] == [other]
    assert all(len({shape_key(spec) for spec in group}) == 1 for group in groups)
    with pytest.raises(ValueError, match="max_size=0"):
        plan_groups(sotu, max_size=0)


def _addition_specs(steps: list[int], width: int = 16) -> list[RunSpec]:
    step_tokens = 64 * 14
    base = ladder_spec("addition-4", width, step_tokens, batch_size=64, n_evals=2)
    return [
        dataclasses.replace(base, tokens=n * step_tokens, seed=seed, eval_tokens=step_tokens)
        for seed, n in enumerate(steps)
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="runs go one at a time on a GPU")
def test_run_all_groups_small_runs_of_the_default_trainer_only():
    small = _addition_specs([2, 3, 4, 5, 6])  # about 2e7 FLOPs a step: grouped
    large = [ladder_spec("sotu", 32, STEP_TOKENS), ladder_spec("sotu", 32, STEP_TOKENS, seed=1)]
    assert all(step_flops(spec) <= GROUP_MAX_STEP_FLOPS for spec in small)
    assert all(step_flops(spec) > GROUP_MAX_STEP_FLOPS for spec in large)
    units = sweep._plan_units([*large[:1], *small, *large[1:]], sweep.train_spec)
    assert [[spec] for spec in large] == [unit for unit in units if unit[0] in large]
    grouped = [unit for unit in units if unit[0] in small]
    assert len(grouped) == math.ceil(len(small) / SWEEP_GROUP_SIZE) > 1
    assert sorted(spec.key() for unit in grouped for spec in unit) == sorted(s.key() for s in small)
    custom = sweep._plan_units(small, lambda spec: train(spec))
    assert custom == [[spec] for spec in small]


@pytest.mark.skipif(torch.cuda.is_available(), reason="runs go one at a time on a GPU")
def test_run_all_stores_grouped_runs_with_the_bits_of_runs_trained_alone(tmp_path):
    specs = _addition_specs([2, 4, 3])
    frame = sweep.run_all(specs, store=RunStore(tmp_path / "grouped"))
    assert len(frame) == sum(len(_record(train(spec))["evals"]) for spec in specs)
    stored = RunStore(tmp_path / "grouped")
    for spec in specs:
        assert _record(stored.get(spec)) == _record(train(spec)), spec.describe()
