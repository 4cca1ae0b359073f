"""Executing chapters with papermill and building the book with Jupyter Book.

Chapters are MyST Markdown notebooks in ``chapters/``. Each is converted with jupytext, executed by
papermill with its ``profile`` parameter, and written to ``_build/executed/<profile>/chapters/``.
The executed tree (with the book's config, toc and bibliography copied beside it) is rendered by
``jupyter-book build -W -n --keep-going`` with execution switched off, so nothing runs twice.
A chapter whose inputs (source, package code, published data, stored runs it read, parameters)
are unchanged since its last successful execution is not executed again.

Chapters get only ``profile`` as a papermill parameter; the build hands the rest to the chapter's
kernel in environment variables: where its sweeps train (``--executor``, read by
`training.executors.sweep_executor`), whether training is allowed, and a file for the sweeps'
progress lines, which the build copies to its standard error as they come, so progress shows in
the terminal and the build log but never in a notebook's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TextIO

from scaling_debate.book.launch import stage_run_files
from scaling_debate.lifetime import EXIT_WITH_PARENT_ENV
from scaling_debate.paths import repo_root
from scaling_debate.profiles import check_profile
from scaling_debate.training.executors import EXECUTOR_ENV, check_executor
from scaling_debate.training.progress import PROGRESS_LOG_ENV
from scaling_debate.training.store import RunStore
from scaling_debate.training.sweep import NO_TRAIN_ENV, RUN_LOG_ENV

META_KEY = "scaling_debate"
REPORT_PAGE = "reproducing"  # the status page: re-executed whenever any other chapter changes
LEDGER_PAGE = "claims"  # restates the chapters' findings from their executed notebooks
# pages that read the other pages' executions: executed after them, in this order
SUMMARY_PAGES = (LEDGER_PAGE, REPORT_PAGE)
BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib", "CITATION.cff")
REPORTED_PACKAGES = (
    "jupyter-book",
    "myst-nb",
    "papermill",
    "jupytext",
    "torch",
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
)


class ChapterError(RuntimeError):
    """A chapter raised while executing; the message carries papermill's traceback."""


@dataclass(frozen=True)
class ExecutionResult:
    stem: str
    output: Path
    status: str  # "executed" or "unchanged"
    seconds: float


def chapters_dir() -> Path:
    return repo_root() / "chapters"


def executed_dir(profile: str) -> Path:
    return repo_root() / "_build" / "executed" / check_profile(profile)


def is_notebook(path: Path) -> bool:
    """A MyST page is a notebook when its jupytext front matter names a kernel."""
    head = path.read_text().split("\n---", 1)[0]
    return head.startswith("---") and "kernelspec:" in head


def toc_pages() -> list[str]:
    """Page stems in ``_toc.yml`` order (``chapters/methods`` -> ``methods``)."""
    text = (repo_root() / "_toc.yml").read_text()
    return [Path(m).name for m in re.findall(r"^\s*-?\s*(?:root|file):\s*(\S+)", text, re.M)]


def runnable_stems() -> list[str]:
    """Notebook pages of the toc a reader can run on their own: all but the summary pages,
    which read the other pages' executions."""
    return [
        stem
        for stem in toc_pages()
        if stem not in SUMMARY_PAGES and is_notebook(chapters_dir() / f"{stem}.md")
    ]


def chapter_source(stem: str) -> Path:
    path = chapters_dir() / f"{stem}.md"
    if not path.exists() or not is_notebook(path):
        available = sorted(p.stem for p in chapters_dir().glob("*.md") if is_notebook(p))
        raise ValueError(f"no executable chapter {stem!r}; available: {', '.join(available)}")
    return path


def _digest(parts: list[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(hashlib.sha256(part).digest())
    return sha.hexdigest()


def _static_inputs_hash(stem: str, profile: str) -> str:
    root = repo_root()
    files = [chapter_source(stem)]
    files += sorted((root / "src" / "scaling_debate").rglob("*.py"))
    files += sorted((root / "data" / "published").glob("*.csv"))
    parts = [f"{f.relative_to(root)}".encode() + b"\0" + f.read_bytes() for f in files]
    parts.append(f"profile={profile}".encode())
    if stem in SUMMARY_PAGES:
        # a summary page reads the chapters before it, so their executions are its inputs
        before = SUMMARY_PAGES[: SUMMARY_PAGES.index(stem)]
        for other in sorted(executed_dir(profile).glob("chapters/*.ipynb")):
            if other.stem != stem and (other.stem not in SUMMARY_PAGES or other.stem in before):
                parts.append(json.dumps(_read_meta(other), sort_keys=True).encode())
    return _digest(parts)


def _runs_hash(keys: list[str]) -> str:
    store = RunStore()
    parts = []
    for key in keys:
        path = store.directory / f"{key}.json"
        parts.append(path.read_bytes() if path.exists() else b"missing:" + key.encode())
    return _digest(parts)


def _read_meta(notebook: Path) -> dict[str, Any]:
    try:
        return json.loads(notebook.read_text())["metadata"].get(META_KEY, {})
    except (OSError, ValueError, KeyError):
        return {}


def is_up_to_date(stem: str, profile: str, output: Path) -> bool:
    meta = _read_meta(output) if output.exists() else {}
    if meta.get("status") != "ok":
        return False
    return meta.get("static_inputs") == _static_inputs_hash(stem, profile) and meta.get(
        "runs_hash"
    ) == _runs_hash(meta.get("runs_read", []))


def execute_chapter(
    stem: str,
    profile: str,
    output: Path | None = None,
    no_train: bool = False,
    force: bool = True,
    executor: str = "local",
) -> ExecutionResult:
    """Execute ``chapters/STEM.md`` with papermill in ``profile``; write the executed notebook.

    Raises `ChapterError` (with the traceback) when a cell raises. ``force=False`` skips the
    execution when the inputs are unchanged since the last successful one. ``executor``
    (``local``, ``dask`` or a Dask scheduler address) is where the chapter's sweeps train.
    """
    import jupytext
    import nbformat
    import papermill

    check_profile(profile)
    executor = check_executor(executor)
    source = chapter_source(stem)
    output = Path(output) if output else executed_dir(profile) / "chapters" / f"{stem}.ipynb"
    if not force and is_up_to_date(stem, profile, output):
        return ExecutionResult(stem, output, "unchanged", 0.0)
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters: dict[str, Any] = {"profile": profile}
    if stem in SUMMARY_PAGES:
        parameters["executed_dir"] = str(executed_dir(profile))
    static_hash = _static_inputs_hash(stem, profile)

    with tempfile.TemporaryDirectory() as scratch:
        notebook_in = Path(scratch) / f"{stem}.ipynb"
        run_log = Path(scratch) / "runs-read.txt"
        progress_log = Path(scratch) / "progress.txt"
        jupytext.write(jupytext.read(source), notebook_in)
        environment = {
            RUN_LOG_ENV: str(run_log),
            NO_TRAIN_ENV: "1" if no_train else "",
            EXIT_WITH_PARENT_ENV: "1",  # the kernel ends when this process does
            EXECUTOR_ENV: executor,
            PROGRESS_LOG_ENV: str(progress_log),
        }
        saved = {k: os.environ.get(k) for k in environment}
        os.environ.update(environment)
        started = time.perf_counter()
        try:
            with _forwarding(progress_log, f"[{profile}] {stem}: ", sys.stderr):
                papermill.execute_notebook(
                    str(notebook_in),
                    str(output),
                    parameters=parameters,
                    kernel_name="python3",
                    cwd=str(source.parent),
                    progress_bar=False,
                    report_mode=False,
                )
        except papermill.PapermillExecutionError as error:
            raise ChapterError(f"chapter {stem!r} ({profile} profile) failed:\n{error}") from error
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        seconds = time.perf_counter() - started
        runs_read = sorted(set(run_log.read_text().split())) if run_log.exists() else []

    notebook = nbformat.read(output, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]  # readers never see papermill's cell
    notebook.metadata[META_KEY] = {
        "stem": stem,
        "profile": profile,
        "status": "ok",
        "execution_seconds": round(seconds, 2),
        "executed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "static_inputs": static_hash,
        "runs_read": runs_read,
        "runs_hash": _runs_hash(runs_read),
    }
    nbformat.write(notebook, output)
    return ExecutionResult(stem, output, "executed", seconds)


@contextmanager
def _forwarding(path: Path, prefix: str, sink: TextIO, poll_seconds: float = 0.5) -> Iterator[None]:
    """While the block runs, copy each line appended to ``path`` to ``sink`` after ``prefix``.

    On a terminal each line replaces the one before (a progress line redrawn in place).
    """
    path.touch()
    in_place = sink.isatty()
    stop = threading.Event()

    def copy() -> None:
        pending = ""
        wrote = False
        with path.open(encoding="utf-8") as source:
            while True:
                finished = stop.wait(poll_seconds)  # read once more after the block ends
                *lines, pending = (pending + source.read()).split("\n")
                for line in lines:
                    sink.write(f"\r{prefix}{line}\x1b[K" if in_place else f"{prefix}{line}\n")
                    wrote = True
                sink.flush()
                if finished:
                    if in_place and wrote:
                        sink.write("\n")
                        sink.flush()
                    return

    thread = threading.Thread(target=copy, name="progress-forwarding", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _stage_book(profile: str) -> Path:
    """Copy the book's non-notebook files next to the executed notebooks, and put what a
    reader needs to run the chapters (runnable notebooks, the source archive) in ``_static``."""
    stage = executed_dir(profile)
    root = repo_root()
    for name in BOOK_FILES:
        shutil.copy2(root / name, stage / name)
    for page in chapters_dir().glob("*.md"):
        if not is_notebook(page):
            shutil.copy2(page, stage / "chapters" / page.name)
    stage_run_files(stage / "_static", runnable_stems(), root)
    return stage


def build(
    profile: str = "cpu", no_train: bool = False, log: Any = print, executor: str = "local"
) -> tuple[list[ExecutionResult], Path]:
    """Execute every notebook page in the toc (unchanged ones skipped), then build the HTML.

    ``executor`` (``local``, ``dask`` or a Dask scheduler address) is where sweeps train.
    """
    check_profile(profile)
    executor = check_executor(executor)
    notebooks = [
        s
        for s in toc_pages()
        if (chapters_dir() / f"{s}.md").exists() and is_notebook(chapters_dir() / f"{s}.md")
    ]
    # the summary pages go last: they read the others
    notebooks.sort(key=lambda s: SUMMARY_PAGES.index(s) + 1 if s in SUMMARY_PAGES else 0)
    results = []
    for stem in notebooks:
        if not is_up_to_date(stem, profile, executed_dir(profile) / "chapters" / f"{stem}.ipynb"):
            log(f"[{profile}] {stem}: executing", flush=True)  # its progress lines follow
        result = execute_chapter(stem, profile, no_train=no_train, force=False, executor=executor)
        log(f"[{profile}] {stem}: {result.status} ({result.seconds:.1f} s)", flush=True)
        results.append(result)
    stage = _stage_book(profile)
    html = repo_root() / "_build" / "html"
    # the console script installed beside this interpreter (jupyter_book has no __main__)
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(stage),
        "--path-output",
        str(repo_root()),
        "-W",
        "-n",
        "--keep-going",
    ]
    completed = subprocess.run(command, check=False)
    if completed.returncode:
        raise ChapterError(
            f"jupyter-book build failed (exit {completed.returncode}); "
            "warnings are errors: see the log above"
        )
    return results, html


def _training_seconds(keys: list[str]) -> float:
    """Wall time the stored runs took to train (what an empty store would cost again)."""
    store = RunStore()
    total = 0.0
    for key in keys:
        path = store.directory / f"{key}.json"
        if path.exists():
            total += float(json.loads(path.read_text()).get("wall_seconds", 0.0))
    return round(total, 1)


def execution_report(directory: Path | str) -> list[dict[str, Any]]:
    """One row per executed chapter: stem, profile, status, seconds, and its runs' training time.

    ``training_seconds`` sums the recorded wall time of the stored runs the chapter read: the
    cost of re-training them from an empty store, one run after another.
    """
    rows = []
    for notebook in sorted(Path(directory).glob("chapters/*.ipynb")):
        meta = _read_meta(notebook)
        if meta and notebook.stem != REPORT_PAGE:
            rows.append(
                {
                    "chapter": notebook.stem,
                    "profile": meta.get("profile"),
                    "status": meta.get("status"),
                    "execution_seconds": meta.get("execution_seconds"),
                    "executed_at": meta.get("executed_at"),
                    "stored_runs_read": len(meta.get("runs_read", [])),
                    "training_seconds": _training_seconds(meta.get("runs_read", [])),
                }
            )
    return rows


def environment_report() -> dict[str, str]:
    """Package versions and hardware, for the Reproducing page."""
    import torch

    report = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    for package in REPORTED_PACKAGES:
        try:
            report[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            report[package] = "not installed"
    return report
