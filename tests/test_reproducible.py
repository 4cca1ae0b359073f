"""The training rules that keep CPU runs bit-identical across CPU vendors."""

from __future__ import annotations

import pytest
import torch

from scaling_debate.training.reproducible import adam, cpu_threads


def _parameters() -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(64, 64)), torch.nn.Parameter(torch.randn(64))]


def _step(optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter]) -> None:
    for p in parameters:
        p.grad = torch.ones_like(p)
    optimizer.step()


class _SqrtCalled(AssertionError):
    pass


def _refuse(*args, **kwargs):
    raise _SqrtCalled("Adam called torch's sqrt")


def _refuse_torch_sqrt(patch: pytest.MonkeyPatch) -> None:
    # torch.sqrt on a CPU tensor goes to MKL's vector math library, whose square root differs
    # between CPU vendors; Adam must take its square root elsewhere (the fused kernel)
    patch.setattr(torch.Tensor, "sqrt", _refuse)
    patch.setattr(torch, "sqrt", _refuse)
    patch.setattr(torch, "_foreach_sqrt", _refuse)


def test_adam_never_takes_torch_sqrt(monkeypatch):
    _refuse_torch_sqrt(monkeypatch)
    parameters = _parameters()
    _step(adam([{"params": parameters, "weight_decay": 0.1}], 1e-3, (0.9, 0.95)), parameters)


def test_the_default_adam_would_be_caught(monkeypatch):
    # the guard above is not vacuous: PyTorch's default CPU AdamW does take torch's sqrt
    _refuse_torch_sqrt(monkeypatch)
    parameters = _parameters()
    with pytest.raises(_SqrtCalled):
        _step(torch.optim.AdamW(parameters, lr=1e-3), parameters)


def test_adam_matches_textbook_adamw_to_rounding():
    parameters = _parameters()
    start = [p.detach().clone() for p in parameters]
    lr, (b1, b2), wd, eps = 1e-2, (0.9, 0.95), 0.1, 1e-8
    optimizer = adam([{"params": parameters, "weight_decay": wd}], lr, (b1, b2))
    _step(optimizer, parameters)
    for p, p0 in zip(parameters, start, strict=True):
        # one step from zero moments with a gradient of one: m_hat = v_hat = 1
        expected = p0 * (1 - lr * wd) - lr * 1.0 / (1.0 + eps)
        torch.testing.assert_close(p.detach(), expected)


def test_cpu_threads_sets_and_restores():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
