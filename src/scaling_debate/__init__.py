"""*The Scaling Debate, Reproduced*: the package behind the book's chapters.

Four rooms over a few torch-free leaves (``paths``, ``units``, ``flops``, ``published``,
``profiles``, ``kernels``, ``lifetime``, ``_checks``):

- ``data``: the dataset registry (text corpora, arithmetic, ...);
- ``training``: run specs, the model ladder, the trainer, the run store, sweeps;
- ``analysis``: laws, uncertainty, model selection, each chapter's analysis (no torch);
- ``book``: the build, the command line, glue and prose, figures.

What a reader uses from a notebook is importable from here, and these names stay stable::

    from scaling_debate import RunSpec, run_all, fit_chinchilla, compare_forms, glue

They load on first use, so ``import scaling_debate`` is cheap and never imports torch itself.
"""

from importlib import import_module
from typing import Any

from scaling_debate.kernels import pin_cpu_kernels as _pin_cpu_kernels
from scaling_debate.lifetime import exit_with_parent_if_requested as _exit_with_parent

# before anything can import torch: every process that imports the package trains on the same
# CPU kernels (see kernels.py), and a chapter's kernel ends when the build that started it ends
_pin_cpu_kernels()
_exit_with_parent()

__version__ = "0.2.0"

# public name -> module that defines it
_API = {
    # training
    "RunSpec": "training.spec",
    "RunResult": "training.store",
    "RunStore": "training.store",
    "run_all": "training.sweep",
    "local_executor": "training.sweep",
    "sweep_executor": "training.executors",
    "results_frame": "training.sweep",
    "final_points": "training.sweep",
    "MissingRunsError": "training.sweep",
    "shape_for_width": "training.ladder",
    "ladder_spec": "training.ladder",
    "isoflop_specs": "training.ladder",
    "fixed_token_specs": "training.ladder",
    "addition_ladder": "training.ladder",
    "tokens_for_budget": "training.ladder",
    "train": "training.trainer",
    "verify_store": "training.verify",
    # data
    "load_dataset": "data",
    "dataset_info": "data",
    # analysis
    "fit_power_law": "analysis.laws",
    "fit_chinchilla": "analysis.laws",
    "ChinchillaFit": "analysis.laws",
    "PowerLawFit": "analysis.laws",
    "slice_minimum": "analysis.isoflop",
    "allocation_exponent": "analysis.laws",
    "bootstrap": "analysis.uncertainty",
    "replicate": "analysis.uncertainty",
    "extrapolate": "analysis.uncertainty",
    "wilson_interval": "analysis.uncertainty",
    "BootstrapResult": "analysis.uncertainty",
    "compare_forms": "analysis.forms",
    "fit_form": "analysis.forms",
    # book
    "glue": "book.prose",
    "by_profile": "profiles",
    "check_profile": "profiles",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(f"scaling_debate.{_API[name]}"), name)
        globals()[name] = value  # resolve once
        return value
    raise AttributeError(f"module 'scaling_debate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
