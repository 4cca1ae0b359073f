"""Recognition memory after E exposures: study a list, then a two-alternative forced choice.

The protocol of Orhan (2022, 2023), for tiny models on our own stimuli:

1. **Model.** A GPT from :mod:`scaling_debate.training.model`, either from scratch or pretrained
   on material outside the study list (pretraining is deterministic from its settings and its
   weights are cached under the git-ignored ``.cache/recognition/``).
2. **Study.** ``E`` exposures of a study list; one exposure is one pass over the list in a fresh
   random order, in batches of ``batch_size`` items, one Adam step per batch at a constant
   learning rate ``lr`` (no weight decay, no dropout, no augmentation).
3. **Test.** Every studied item and every foil is scored by its mean token loss before study
   and after each exposure count in ``exposures``. The analysis (torch-free,
   :mod:`scaling_debate.analysis.recognition`) then makes the forced choices: raw (lower loss
   after study) or calibrated (larger drop in loss caused by study).

:func:`study_and_test` is the protocol on any model and any token sequences.
:func:`run_recognition` builds the stimuli of a :class:`RecognitionSpec`, runs the protocol and
returns a plain JSON record (per-item losses), which :class:`RecognitionStore` keeps under
``data/runs/recognition/`` by a hash of the spec, so the book builds without retraining.
Everything is a deterministic function of the spec on a CPU: seeded generators, one thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from scaling_debate import _checks, paths
from scaling_debate.training.model import GPT, GPTConfig
from scaling_debate.training.reproducible import adam, cpu_threads
from scaling_debate.training.store import default_store_dir as run_store_dir
from scaling_debate.training.sweep import (
    RUN_LOG_ENV,
    MissingRunsError,
    split_stored,
    training_disabled,
)

log = logging.getLogger(__name__)

# Bump when a change alters any stored number: old records are then ignored and redone.
RECOGNITION_CODE_VERSION = 2
# Bumped when the stimuli of one kind change (it enters the hashes of that kind's runs only, so a
# change to the sentences does not redo the pictures). Sentences v2: novel foils of studied
# sentences with a swapped word have a swapped word too, and no swapped sentence is a training
# sentence.
STIMULI_VERSION = {"sotu": 2, "stdlib": 2, "emoji": 1}
STIMULI = ("sotu", "stdlib", "emoji")
TEXT_CONDITIONS = ("novel", "substitution")
IMAGE_CONDITIONS = ("novel", "exemplar", "state")
TEXT_CONTEXT = 128  # a start byte and up to 127 bytes of sentence
SENTENCE_BYTES = (40, 120)


def conditions_for(stimuli: str) -> tuple[str, ...]:
    """The foil conditions of a kind of stimuli."""
    _checks.one_of("stimuli", stimuli, STIMULI)
    return IMAGE_CONDITIONS if stimuli == "emoji" else TEXT_CONDITIONS


@dataclass(frozen=True)
class RecognitionSpec:
    """Everything a recognition run depends on; its hash names the stored record.

    ``stimuli``: ``sotu`` or ``stdlib`` sentences (byte tokens) or ``emoji`` pictures (palette
    tokens). ``pretrain_steps`` = 0 means from scratch. ``exposures`` are the exposure counts
    after which every item is scored (the study runs to the largest).
    """

    stimuli: str
    d_model: int
    n_layers: int
    n_heads: int
    n_items: int
    exposures: tuple[int, ...] = (1, 2, 4, 8, 16)
    batch_size: int = 1
    lr: float = 1e-4
    seed: int = 0
    pretrain_steps: int = 0
    pretrain_batch: int = 16
    pretrain_lr: float = 2e-3
    image_size: int = 16
    n_colors: int = 16

    def __post_init__(self) -> None:
        _checks.one_of("stimuli", self.stimuli, STIMULI)
        for name in ("d_model", "n_layers", "n_heads", "n_items", "batch_size", "pretrain_batch"):
            _checks.positive_int(name, getattr(self, name))
        _checks.positive_int("seed", self.seed, minimum=0)
        _checks.positive_int("pretrain_steps", self.pretrain_steps, minimum=0)
        _checks.positive_number("lr", self.lr)
        _checks.positive_number("pretrain_lr", self.pretrain_lr)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model!r}: must be divisible by n_heads={self.n_heads}"
            )
        exposures = tuple(self.exposures)
        if (
            not exposures
            or any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in exposures)
            or list(exposures) != sorted(set(exposures))
        ):
            raise ValueError(f"exposures={self.exposures!r}: must be increasing positive integers")
        object.__setattr__(self, "exposures", exposures)

    @property
    def pretrained(self) -> bool:
        return self.pretrain_steps > 0

    @property
    def conditions(self) -> tuple[str, ...]:
        return conditions_for(self.stimuli)

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["exposures"] = list(self.exposures)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> RecognitionSpec:
        record = dict(record)
        record["exposures"] = tuple(record["exposures"])
        return cls(**record)

    def key(self) -> str:
        """sha256 of the spec and the code version (20 hex digits)."""
        fields: dict[str, Any] = {"spec": self.to_dict(), "code_version": RECOGNITION_CODE_VERSION}
        if STIMULI_VERSION[self.stimuli] != 1:
            fields["stimuli_version"] = STIMULI_VERSION[self.stimuli]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def pretrain_key(self) -> str:
        """Hash of the settings the pretrained weights depend on."""
        fields = {
            "stimuli": self.stimuli,
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "seed": self.seed,
            "pretrain_steps": self.pretrain_steps,
            "pretrain_batch": self.pretrain_batch,
            "pretrain_lr": self.pretrain_lr,
            "image_size": self.image_size if self.stimuli == "emoji" else None,
            "n_colors": self.n_colors if self.stimuli == "emoji" else None,
            "code_version": RECOGNITION_CODE_VERSION,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]

    def describe(self) -> str:
        start = f"pretrained {self.pretrain_steps} steps" if self.pretrained else "scratch"
        return (
            f"{self.stimuli} d{self.d_model}x{self.n_layers} {start} items={self.n_items} "
            f"B={self.batch_size} lr={self.lr:g} seed={self.seed}"
        )


# --- the protocol on any model ---------------------------------------------------------------


def _pad(items: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets for sequences that start with a start token; padding scores nothing."""
    length = max(len(item) for item in items) - 1
    x = torch.zeros((len(items), length), dtype=torch.int64)
    y = torch.full((len(items), length), -100, dtype=torch.int64)
    for row, item in enumerate(items):
        tokens = torch.as_tensor(np.asarray(item), dtype=torch.int64)
        x[row, : len(tokens) - 1] = tokens[:-1]
        y[row, : len(tokens) - 1] = tokens[1:]
    return x, y


@torch.no_grad()
def item_losses(
    model: GPT, items: Sequence[np.ndarray], device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """Mean token loss (nats) of each item, scoring every token after the first."""
    model.eval()
    losses = []
    for start in range(0, len(items), batch_size):
        x, y = _pad(items[start : start + batch_size])
        x, y = x.to(device), y.to(device)
        logits = model(x).float()
        per_token = F.cross_entropy(
            logits.flatten(0, 1), y.flatten(), ignore_index=-100, reduction="none"
        ).view(y.shape)
        scored = (y != -100).sum(1)
        losses.append((per_token.sum(1) / scored).cpu().numpy())
    model.train()
    return np.concatenate(losses).astype(float)


def study_and_test(
    model: GPT,
    study: Sequence[np.ndarray],
    test: Sequence[np.ndarray],
    exposures: Sequence[int],
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device | str = "cpu",
) -> dict[int, np.ndarray]:
    """Study ``study`` up to ``max(exposures)`` times and score ``test`` along the way.

    Each item is a 1-D token array whose first token is a start token. One exposure is one pass
    over ``study`` in a fresh random order (from a generator seeded with ``seed``), in batches
    of ``batch_size``; each batch is one Adam step (betas 0.9/0.95, no weight decay) at the
    constant rate ``lr``. Returns the mean token loss of every ``test`` item before study
    (key 0) and after each exposure count in ``exposures``. The model is trained in place.
    """
    _checks.positive_int("batch_size", batch_size)
    _checks.positive_number("lr", lr)
    if not study or not test:
        raise ValueError("study and test must each hold at least one item")
    device = torch.device(device)
    exposures = sorted(set(int(e) for e in exposures))
    generator = torch.Generator().manual_seed(seed)
    optimizer = adam([{"params": list(model.parameters()), "weight_decay": 0.0}], lr, (0.9, 0.95))
    losses = {0: item_losses(model, test, device)}
    model.train()
    for exposure in range(1, exposures[-1] + 1):
        order = torch.randperm(len(study), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            x, y = _pad([study[i] for i in order[start : start + batch_size]])
            x, y = x.to(device), y.to(device)
            logits = model(x).float()
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-100)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if exposure in exposures:
            losses[exposure] = item_losses(model, test, device)
    return losses


# --- stimuli ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stimuli:
    """A study list, the test items (studied items first, then foils) and the trials.

    ``trials[condition]`` is a list of ``(studied, foil)`` indices into ``test``. ``pretrain``
    draws pretraining batches. ``labels`` names each test item for readers.
    """

    study: list[np.ndarray]
    test: list[np.ndarray]
    trials: dict[str, list[tuple[int, int]]]
    labels: list[str]
    vocab_size: int
    context: int
    pretrain_pool: list[np.ndarray]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]{4,}")


def _sentences(text: str) -> list[str]:
    low, high = SENTENCE_BYTES
    seen, out = set(), []
    for raw in _SENTENCE_END.split(text):
        sentence = " ".join(raw.split())
        if (
            low <= len(sentence) <= high
            and sentence.isascii()
            and sentence[:1].isupper()
            and sentence not in seen
        ):
            seen.add(sentence)
            out.append(sentence)
    return out


def _text_tokens(sentence: str) -> np.ndarray:
    return np.concatenate([[256], np.frombuffer(sentence.encode("ascii"), np.uint8)]).astype(
        np.int64
    )


def _substitute(sentence: str, words: Sequence[str], rng: np.random.Generator) -> str | None:
    """``sentence`` with one word of 4+ letters replaced by another word from ``words``."""
    matches = list(_WORD.finditer(sentence))
    if not matches:
        return None
    match = matches[int(rng.integers(len(matches)))]
    for _ in range(20):
        word = words[int(rng.integers(len(words)))]
        if word.lower() != match[0].lower():
            if match[0][0].isupper():
                word = word.capitalize()
            return sentence[: match.start()] + word + sentence[match.end() :]
    return None


def _changed(
    sentence: str, words: Sequence[str], rng: np.random.Generator, forbidden: set[str]
) -> str:
    """``sentence`` with one word swapped, never a sentence of ``forbidden`` (the training text)."""
    for _ in range(20):
        changed = (_substitute(sentence, words, rng) or sentence + " Indeed.")[: TEXT_CONTEXT - 1]
        if changed not in forbidden:
            return changed
    return (sentence + " Indeed.")[: TEXT_CONTEXT - 1]


def text_stimuli(spec: RecognitionSpec) -> Stimuli:
    """Sentences of held-out speeches (or help topics, ``stdlib``) as study items and foils.

    When the studied version is the one with a swapped word, its novel foil gets a swapped word
    too, so that studied items and novel foils are equally fluent on average.
    Pretraining sentences come from the training documents only, less any sentence that also
    occurs in a held-out one. Conditions: ``novel`` (the
    foil is another held-out sentence, never studied) and ``substitution`` (the two versions of
    one sentence that differ in one word; which one is studied is counterbalanced by a coin).
    """
    from scaling_debate.data.text import decode_tokens, load_corpus

    corpus = load_corpus(spec.stimuli)
    held_out = _sentences(decode_tokens(corpus.val))
    rng = np.random.default_rng([spec.seed, 7])
    order = rng.permutation(len(held_out))
    needed = 2 * spec.n_items
    if len(held_out) < needed:
        raise ValueError(
            f"n_items={spec.n_items!r}: must be at most {len(held_out) // 2} for "
            f"{spec.stimuli!r} (it has {len(held_out)} held-out sentences)"
        )
    chosen = [held_out[i] for i in order[:needed]]
    words = sorted({w for s in held_out for w in _WORD.findall(s)})
    # pretraining material: training sentences, less any that also occurs in a held-out document
    # (a stock phrase); it depends on the corpus alone, so pretrained weights are shared
    excluded = set(held_out)
    training = [s for s in _sentences(decode_tokens(corpus.train)) if s not in excluded]
    forbidden = set(training)
    originals, novel_foils = chosen[: spec.n_items], chosen[spec.n_items :]
    study, subs = [], []
    flips = []
    for sentence in originals:
        changed = _changed(sentence, words, rng, forbidden)
        flip = bool(rng.integers(2))  # counterbalance: study the changed version half the time
        flips.append(flip)
        study.append(changed if flip else sentence)
        subs.append(sentence if flip else changed)
    # a studied sentence with a word swapped is less fluent than a natural one, so its novel foil
    # gets a swapped word too: studied item and novel foil are always alike in kind
    novel_foils = [
        _changed(foil, words, rng, forbidden) if flip else foil
        for foil, flip in zip(novel_foils, flips, strict=True)
    ]
    n = spec.n_items
    test_text = study + novel_foils + subs
    trials = {
        "novel": [(i, n + i) for i in range(n)],
        "substitution": [(i, 2 * n + i) for i in range(n)],
    }
    labels = [f"studied: {s}" for s in study]
    labels += [f"novel foil: {s}" for s in novel_foils] + [f"substitution: {s}" for s in subs]
    return Stimuli(
        study=[_text_tokens(s) for s in study],
        test=[_text_tokens(s) for s in test_text],
        trials=trials,
        labels=labels,
        vocab_size=257,
        context=TEXT_CONTEXT,
        pretrain_pool=[_text_tokens(s) for s in training],
    )


def image_stimuli(spec: RecognitionSpec) -> Stimuli:
    """Emoji pictures with Brady et al.'s three foils for every studied picture.

    Each studied emoji (from the object-like categories, drawn in a random one of the two
    sets) is tested against a ``novel`` foil (an unstudied emoji of another subcategory), an
    ``exemplar`` foil (an unstudied emoji of the same subcategory) in the same set, and a
    ``state`` foil: the same emoji drawn by the other set. Foils are never studied. Pretraining
    pictures are the non-object emoji (faces, people, symbols, flags) in both sets.
    """
    from scaling_debate.data.emoji import STYLES, load_emoji

    pictures = load_emoji(spec.image_size, spec.n_colors)
    rng = np.random.default_rng([spec.seed, 11])
    objects = np.flatnonzero(pictures.is_object())
    subcategory = np.array(pictures.subcategory)
    unused = set(int(i) for i in objects)
    study_ids, exemplar_ids = [], []
    for index in rng.permutation(objects):
        index = int(index)
        if len(study_ids) == spec.n_items:
            break
        if index not in unused:
            continue
        mates = [j for j in sorted(unused) if j != index and subcategory[j] == subcategory[index]]
        if not mates:
            continue
        mate = mates[int(rng.integers(len(mates)))]
        unused -= {index, mate}
        study_ids.append(index)
        exemplar_ids.append(mate)
    if len(study_ids) < spec.n_items:
        raise ValueError(
            f"n_items={spec.n_items!r}: must be at most {len(study_ids)} for emoji "
            "(each studied emoji needs an unstudied one of its subcategory)"
        )
    novel_ids = []
    for index in study_ids:
        others = [j for j in sorted(unused) if subcategory[j] != subcategory[index]]
        pick = others[int(rng.integers(len(others)))]
        unused.discard(pick)
        novel_ids.append(pick)
    styles = [STYLES[int(rng.integers(2))] for _ in study_ids]
    other = {STYLES[0]: STYLES[1], STYLES[1]: STYLES[0]}
    n = spec.n_items
    study = [pictures.sequence(i, s) for i, s in zip(study_ids, styles, strict=True)]
    novel = [pictures.sequence(i, s) for i, s in zip(novel_ids, styles, strict=True)]
    exemplar = [pictures.sequence(i, s) for i, s in zip(exemplar_ids, styles, strict=True)]
    state = [pictures.sequence(i, other[s]) for i, s in zip(study_ids, styles, strict=True)]
    trials = {
        "novel": [(i, n + i) for i in range(n)],
        "exemplar": [(i, 2 * n + i) for i in range(n)],
        "state": [(i, 3 * n + i) for i in range(n)],
    }

    def label(kind: str, ids: Sequence[int], sets: Sequence[str]) -> list[str]:
        return [f"{kind}: {pictures.short_names[i]} ({s})" for i, s in zip(ids, sets, strict=True)]

    labels = (
        label("studied", study_ids, styles)
        + label("novel foil", novel_ids, styles)
        + label("exemplar foil", exemplar_ids, styles)
        + label("state foil", study_ids, [other[s] for s in styles])
    )
    background = np.flatnonzero(~pictures.is_object())
    pool = [pictures.sequence(int(i), s) for i in background for s in STYLES]
    return Stimuli(
        study=study,
        test=study + novel + exemplar + state,
        trials=trials,
        labels=labels,
        vocab_size=pictures.vocab_size,
        context=pictures.size * pictures.size,
        pretrain_pool=pool,
    )


def make_stimuli(spec: RecognitionSpec) -> Stimuli:
    return image_stimuli(spec) if spec.stimuli == "emoji" else text_stimuli(spec)


# --- models: from scratch or pretrained (cached weights) ---------------------------------------


def weights_cache_dir() -> Path:
    return paths.cache_dir() / "recognition"


def _new_model(spec: RecognitionSpec, stimuli: Stimuli) -> GPT:
    torch.manual_seed(spec.seed)
    config = GPTConfig(
        vocab_size=stimuli.vocab_size,
        context=stimuli.context,
        d_model=spec.d_model,
        n_layers=spec.n_layers,
        n_heads=spec.n_heads,
    )
    return GPT(config)


def pretrained_model(
    spec: RecognitionSpec, stimuli: Stimuli, device: torch.device
) -> tuple[GPT, float | None]:
    """The spec's starting model and its final pretraining loss (None from scratch).

    Pretraining draws ``pretrain_batch`` random items from ``stimuli.pretrain_pool`` per step,
    AdamW (weight decay 0.01 on matrices), linear warmup then cosine decay. The weights are
    cached under ``.cache/recognition/`` by :meth:`RecognitionSpec.pretrain_key`.
    """
    model = _new_model(spec, stimuli).to(device)
    if not spec.pretrained:
        return model, None
    path = weights_cache_dir() / f"pretrained-{spec.pretrain_key()}.pt"
    if path.is_file():
        try:
            saved = torch.load(path, map_location=device, weights_only=True)
            model.load_state_dict(saved["state_dict"])
            return model, float(saved["final_loss"])
        except (RuntimeError, KeyError, OSError, EOFError) as error:
            log.warning("ignoring unreadable cached weights %s (%s)", path, error)
    generator = torch.Generator().manual_seed(spec.seed + 100)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = adam(
        [{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
        lr=spec.pretrain_lr,
        betas=(0.9, 0.95),
    )
    steps = spec.pretrain_steps
    warmup = max(1, steps // 10)
    recent: list[float] = []
    pool = stimuli.pretrain_pool
    for step in range(steps):
        if step < warmup:
            lr = spec.pretrain_lr * (step + 1) / warmup
        else:
            progress = (step - warmup) / max(1, steps - warmup)
            lr = spec.pretrain_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        chosen = torch.randint(len(pool), (spec.pretrain_batch,), generator=generator).tolist()
        x, y = _pad([pool[i] for i in chosen])
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x).float().flatten(0, 1), y.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        recent = [*recent[-19:], loss.item()]
    final = float(np.mean(recent))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".weights-", suffix=".pt")
    os.close(handle)
    torch.save({"state_dict": model.state_dict(), "final_loss": final}, temporary)
    os.replace(temporary, path)
    # reload so that a fresh and a cached start are the same bits
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True)["state_dict"])
    return model, final


# --- one run, and many -----------------------------------------------------------------------


def run_recognition(spec: RecognitionSpec, device: str = "auto") -> dict[str, Any]:
    """The JSON record of one recognition run: per-item losses before and after study.

    ``device`` ``auto`` uses CUDA when present (bigger runs, not bit-identical across devices)
    and otherwise the CPU, on one thread (bit-reproducible).
    """
    from scaling_debate.training.trainer import resolve_device

    dev = resolve_device(device)
    if dev.type == "cpu":
        with cpu_threads():
            return _run(spec, dev)
    return _run(spec, dev)


def _run(spec: RecognitionSpec, dev: torch.device) -> dict[str, Any]:
    from scaling_debate.kernels import kernel_environment

    started = time.perf_counter()
    stimuli = make_stimuli(spec)
    model, pretrain_loss = pretrained_model(spec, stimuli, dev)
    losses = study_and_test(
        model,
        stimuli.study,
        stimuli.test,
        spec.exposures,
        spec.batch_size,
        spec.lr,
        seed=spec.seed + 200,
        device=dev,
    )
    for exposure, values in losses.items():
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(
                f"non-finite item loss after {exposure} exposure(s): {spec.describe()}"
            )
    return {
        "spec": spec.to_dict(),
        "key": spec.key(),
        "code_version": RECOGNITION_CODE_VERSION,
        "n_params": model.n_parameters(),
        "pretrain_loss": pretrain_loss,
        "trials": {c: [list(t) for t in pairs] for c, pairs in stimuli.trials.items()},
        "labels": stimuli.labels,
        "item_tokens": [int(len(item) - 1) for item in stimuli.test],
        "losses": {str(e): [float(v) for v in values] for e, values in losses.items()},
        "wall_seconds": time.perf_counter() - started,
        "environment": {
            "device": str(dev),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "kernels": kernel_environment(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class CorruptRecognitionError(ValueError):
    """A stored recognition record cannot be trusted."""


class MissingRecognitionRunsError(MissingRunsError):
    """Training is disabled and some recognition runs have no stored record."""

    kind = "recognition run"


def default_store_dir() -> Path:
    """``recognition/`` inside the run store (``SCALING_DEBATE_STORE`` moves both)."""
    return run_store_dir() / "recognition"


class RecognitionStore:
    """Plain-JSON records, one file per spec hash, written atomically and validated on read."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_store_dir()

    def path(self, spec: RecognitionSpec) -> Path:
        return self.directory / f"{spec.key()}.json"

    def load(self, spec: RecognitionSpec) -> dict[str, Any] | None:
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptRecognitionError(f"{path}: not valid JSON ({error})") from error
        validate_record(record, spec, str(path))
        return record

    def get(self, spec: RecognitionSpec) -> dict[str, Any] | None:
        """Like `load`, but a corrupt file is reported, moved aside and treated as missing."""
        try:
            return self.load(spec)
        except CorruptRecognitionError as error:
            path = self.path(spec)
            os.replace(path, path.with_suffix(".corrupt"))
            log.warning("%s; moved aside and the run will be redone", error)
            return None

    def save(self, record: dict[str, Any]) -> Path:
        spec = RecognitionSpec.from_dict(record["spec"])
        validate_record(record, spec, "record to save")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(spec)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(record, file, indent=1)
        os.replace(temporary, path)
        return path


def validate_record(record: object, spec: RecognitionSpec, where: str) -> None:
    if not isinstance(record, dict):
        raise CorruptRecognitionError(f"{where}: expected a JSON object")
    missing = {"spec", "key", "code_version", "trials", "losses"} - set(record)
    if missing:
        raise CorruptRecognitionError(f"{where}: missing field(s) {sorted(missing)}")
    if record["key"] != spec.key() or record["code_version"] != RECOGNITION_CODE_VERSION:
        raise CorruptRecognitionError(f"{where}: stored spec or code version does not match")
    try:
        stored = RecognitionSpec.from_dict(record["spec"])
    except (TypeError, ValueError) as error:
        raise CorruptRecognitionError(f"{where}: invalid spec ({error})") from error
    if stored != spec:
        raise CorruptRecognitionError(f"{where}: stored spec does not match its hash")
    wanted = {"0", *(str(e) for e in spec.exposures)}
    losses = record["losses"]
    if not isinstance(losses, dict) or set(losses) != wanted:
        raise CorruptRecognitionError(f"{where}: losses must be given after {sorted(wanted)}")
    sizes = {len(v) for v in losses.values()}
    if len(sizes) != 1 or not all(math.isfinite(x) for v in losses.values() for x in v):
        raise CorruptRecognitionError(f"{where}: losses must be equal-length finite lists")


def _run_and_store(spec: RecognitionSpec, directory: str) -> dict[str, Any]:
    record = run_recognition(spec)
    RecognitionStore(directory).save(record)
    return record


def run_recognition_all(
    specs: Iterable[RecognitionSpec],
    executor: Executor | None = None,
    store: RecognitionStore | None = None,
    allow_training: bool | None = None,
) -> list[dict[str, Any]]:
    """Records for every spec, in order, running only what the store lacks.

    ``allow_training=False`` (or SCALING_DEBATE_NO_TRAIN=1) raises
    :class:`MissingRecognitionRunsError` listing every missing run before anything runs.
    """
    specs = list(specs)
    unique = list(dict.fromkeys(specs))
    store = store or RecognitionStore()
    if allow_training is None:
        allow_training = not training_disabled()
    records, missing = split_stored(unique, store.get)
    if missing and not allow_training:
        raise MissingRecognitionRunsError(missing)
    if missing:
        log.info("running %d of %d recognition runs", len(missing), len(unique))
        directory = str(store.directory)
        # runs sharing pretrained weights go to one worker in a row, so the weights are
        # trained once; groups are submitted largest first to balance the workers
        groups: dict[str, list[RecognitionSpec]] = {}
        for spec in missing:
            groups.setdefault(spec.pretrain_key() if spec.pretrained else spec.key(), []).append(
                spec
            )
        if executor is None:
            for spec in missing:
                records[spec] = _run_and_store(spec, directory)
        else:
            ordered = sorted(groups.values(), key=len, reverse=True)
            futures = {
                tuple(group): executor.submit(_run_group, group, directory) for group in ordered
            }
            for group, future in futures.items():
                for spec, record in zip(group, future.result(), strict=True):
                    records[spec] = record
    log_path = os.environ.get(RUN_LOG_ENV)
    if log_path:
        with open(log_path, "a") as handle:
            handle.writelines(f"recognition/{spec.key()}\n" for spec in unique)
    return [records[spec] for spec in specs]


def _run_group(group: Sequence[RecognitionSpec], directory: str) -> list[dict[str, Any]]:
    return [_run_and_store(spec, directory) for spec in group]
