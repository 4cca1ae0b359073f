"""The book pipeline: the CLI, executing chapters with papermill, and the full HTML build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_book_from_store

from scaling_debate.book import build as book
from scaling_debate.paths import repo_root
from scaling_debate.profiles import by_profile, check_profile

ROOT = repo_root()
NOTEBOOKS = [
    s
    for s in book.toc_pages()
    if (ROOT / "chapters" / f"{s}.md").exists() and book.is_notebook(ROOT / "chapters" / f"{s}.md")
]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scaling_debate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_unknown_profile_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="'fast'; allowed: ci, cpu, gpu"):
        check_profile("fast")
    with pytest.raises(ValueError, match="allowed: ci, cpu, gpu"):
        by_profile("laptop", ci=1, cpu=2, gpu=3)
    result = cli("execute", "methods", "--profile", "fast")
    assert result.returncode == 1
    assert "allowed: ci, cpu, gpu" in result.stderr


def test_unknown_chapter_is_refused_listing_the_chapters():
    result = cli("execute", "no-such-chapter", "--profile", "ci")
    assert result.returncode == 1
    assert "available:" in result.stderr and "methods" in result.stderr


def test_every_toc_page_exists_and_chapters_are_notebooks():
    for stem in book.toc_pages():
        assert (ROOT / "chapters" / f"{stem}.md").exists(), stem
    assert {"methods", "reproducing"} <= set(NOTEBOOKS)


def test_a_raising_chapter_fails_the_command_with_its_traceback(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: chapters/broken\n")
    header = (ROOT / "chapters" / "methods.md").read_text().split("\n---\n", 1)[0] + "\n---\n"
    (tmp_path / "chapters" / "broken.md").write_text(
        header + "\n```{code-cell} ipython3\n:tags: [parameters]\n\nprofile = 'cpu'\n```\n\n"
        "```{code-cell} ipython3\nraise RuntimeError('deliberate failure in cell two')\n```\n"
    )
    result = cli(
        "execute",
        "broken",
        "--profile",
        "ci",
        "--output",
        str(tmp_path / "out.ipynb"),
        env={"SCALING_DEBATE_ROOT": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "deliberate failure in cell two" in result.stderr
    assert "RuntimeError" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_chapter_executes_in_ci_profile_from_an_empty_store(stem, tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_DEBATE_STORE", str(tmp_path / "store"))
    output = tmp_path / f"{stem}.ipynb"
    result = book.execute_chapter(stem, "ci", output=output)
    assert result.status == "executed"
    notebook = json.loads(output.read_text())
    meta = notebook["metadata"][book.META_KEY]
    assert meta["status"] == "ok" and meta["profile"] == "ci"
    injected = [
        c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert injected and all("remove-cell" in c["metadata"]["tags"] for c in injected)
    errors = [
        o for c in notebook["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert not errors
    # unchanged inputs: a second request is skipped
    assert book.execute_chapter(stem, "ci", output=output, force=False).status == "unchanged"


@pytest.mark.slow
def test_book_builds_from_the_committed_store_without_training():
    result = build_book_from_store()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = ROOT / "_build" / "html"
    for stem in book.toc_pages():
        page = html / "chapters" / f"{stem}.html"
        assert page.exists(), page
    methods = (html / "chapters" / "methods.html").read_text()
    assert "injected-parameters" not in methods
    assert Path(html / "index.html").exists()


def test_execution_report_reads_metadata_and_sums_training_time(tmp_path, monkeypatch):
    from conftest import SPEC, fake_result

    from scaling_debate.training.store import RunStore

    monkeypatch.setenv("SCALING_DEBATE_STORE", str(tmp_path / "store"))
    RunStore().save(fake_result(SPEC, wall_seconds=12.5))
    chapters = tmp_path / "executed" / "chapters"
    chapters.mkdir(parents=True)
    meta = {
        "profile": "cpu",
        "status": "ok",
        "execution_seconds": 3.0,
        "executed_at": "2026-01-01T00:00:00+00:00",
        "runs_read": [SPEC.key(), "absent"],
    }
    for stem in ("methods", book.REPORT_PAGE):
        notebook = {
            "cells": [],
            "metadata": {book.META_KEY: meta},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (chapters / f"{stem}.ipynb").write_text(json.dumps(notebook))
    (row,) = book.execution_report(tmp_path / "executed")  # the status page leaves itself out
    assert row["chapter"] == "methods" and row["stored_runs_read"] == 2
    assert row["training_seconds"] == 12.5
