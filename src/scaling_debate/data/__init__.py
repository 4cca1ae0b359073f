"""The data room: every dataset a run can name, registered with what training needs to know.

Registering happens here, once, so ``scaling_debate.data.load_dataset("sotu")`` works wherever
the package is imported. The factories import their modules lazily: naming a dataset costs
nothing until it is built.
"""

from __future__ import annotations

import re

from scaling_debate.data.registry import (
    Dataset,
    DatasetInfo,
    dataset_info,
    default_context,
    entropy_nats,
    load_dataset,
    register,
    registered,
    vocab_size,
)

BYTE_VOCAB_SIZE = 256  # byte-level corpora: every UTF-8 byte value is a token

ADDITION_PATTERN = r"addition-([1-9])"  # the task's operands fit int64 up to 9 digits


def _corpus(name: str) -> Dataset:
    from scaling_debate.data.text import load_corpus

    return load_corpus(name)


def _addition_digits(name: str) -> int:
    return int(re.fullmatch(ADDITION_PATTERN, name).group(1))


def _addition(name: str) -> Dataset:
    from scaling_debate.data.arithmetic import AdditionTask

    # task seed fixed: every run shares one held-out set of problems
    return AdditionTask(digits=_addition_digits(name))


def _addition_context(name: str) -> int:
    from scaling_debate.data.arithmetic import problem_length

    return problem_length(_addition_digits(name)) - 1  # one problem per row


def _addition_vocab(name: str) -> int:
    from scaling_debate.data.arithmetic import AdditionTask

    return AdditionTask.vocab_size


for _name, _description in (
    ("stdlib", "Python's own help texts as UTF-8 bytes (tests and the ci profile)"),
    ("sotu", "State of the Union addresses 1790-2021 as UTF-8 bytes"),
):
    register(
        _name,
        DatasetInfo(
            pattern=_name,
            description=_description,
            vocab_size=lambda name: BYTE_VOCAB_SIZE,
            context=lambda name: 64,
            factory=_corpus,
        ),
    )

register(
    "addition",
    DatasetInfo(
        pattern=ADDITION_PATTERN,
        description="K-digit addition, answer written least significant digit first",
        vocab_size=_addition_vocab,
        context=_addition_context,
        factory=_addition,
    ),
)

__all__ = [
    "BYTE_VOCAB_SIZE",
    "Dataset",
    "DatasetInfo",
    "dataset_info",
    "default_context",
    "entropy_nats",
    "load_dataset",
    "register",
    "registered",
    "vocab_size",
]


def _santa_fe(name: str) -> Dataset:
    from scaling_debate.data.synthetic import load_santa_fe

    return load_santa_fe(name)


def _santa_fe_entropy(name: str) -> float:
    from scaling_debate.data.synthetic import entropy_nats as santa_fe_entropy

    return santa_fe_entropy(name)


register(
    "santa-fe",
    DatasetInfo(
        pattern=r"santa-fe-(floor|zero)",
        description="Santa Fe process scored on its facts: known floor h(0.1) nats, or zero",
        vocab_size=lambda name: 34,  # 32 key digits and 2 value tokens (synthetic.VOCAB_SIZE)
        context=lambda name: 48,  # 16 facts of 3 tokens (synthetic.CONTEXT)
        factory=_santa_fe,
        entropy_nats=_santa_fe_entropy,
    ),
)
