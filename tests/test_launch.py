"""Readers running a chapter away from this checkout: runnable notebooks, the source archive, the
Run menu, and (slow) a runnable notebook installing the package in a fresh Python and running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest

from scaling_debate.book import build as book
from scaling_debate.book import launch
from scaling_debate.paths import repo_root

ROOT = repo_root()
GITHUB = launch.Repository("https://github.com/example-org/scaling-debate", "main")


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def small_repo(folder: Path) -> Path:
    """A git repository with one commit on ``main`` holding ``_toc.yml`` and a package folder."""
    (folder / "src" / "scaling_debate").mkdir(parents=True)
    (folder / "src" / "scaling_debate" / "__init__.py").write_text("")
    (folder / "_toc.yml").write_text("root: intro\n")
    git(folder, "init", "--quiet", "--initial-branch", "main")
    git(folder, "add", ".")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "one")
    return folder


def archive_commit(archive: Path) -> str:
    """The commit git wrote in a source archive's header (what ``git get-tar-commit-id`` reads)."""
    with tarfile.open(archive) as tar:
        tar.getmembers()  # the global header is read with the members
        return tar.pax_headers.get("comment", "")


def setup_namespace(repository: launch.Repository | None) -> dict:
    """The setup cell of a runnable notebook, executed here (the package is installed here, so
    only its definitions take effect)."""
    notebook = nbformat.reads(launch.runnable_notebook("methods", repository), as_version=4)
    namespace: dict = {}
    exec(notebook.cells[1].source, namespace)
    return namespace


def test_links_for_a_github_repository():
    assert GITHUB.github_path == "example-org/scaling-debate"
    assert GITHUB.binder_link("methods") == (
        "https://mybinder.org/v2/gh/example-org/scaling-debate/main"
        "?urlpath=lab%2Ftree%2Fnotebooks%2Fmethods.ipynb"
    )
    assert GITHUB.colab_link("methods") == (
        "https://colab.research.google.com/github/example-org/scaling-debate/blob/main/"
        "notebooks/methods.ipynb"
    )


def test_off_github_binder_takes_the_whole_address_and_colab_is_not_offered():
    other = launch.Repository("https://gitlab.example.org/group/book", "trunk")
    assert other.github_path is None
    assert other.colab_link("methods") is None
    assert other.binder_link("methods").startswith(
        "https://mybinder.org/v2/git/https%3A%2F%2Fgitlab.example.org%2Fgroup%2Fbook/trunk?"
    )


def test_repository_is_read_from_the_config_and_empty_means_none(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text('title: x\nrepository:\n  url: ""\n  branch: main\n')
    assert launch.repository_from_config(config) is None
    config.write_text("title: x\n")
    assert launch.repository_from_config(config) is None
    config.write_text("repository:\n  url: https://github.com/a/b/\n  branch: dev\n")
    expected = launch.Repository("https://github.com/a/b", "dev")
    assert launch.repository_from_config(config) == expected
    config.write_text("repository:\n  url: git@github.com:a/b.git\n")
    with pytest.raises(ValueError, match=r"'git@github.com:a/b.git'; give an https:// address"):
        launch.repository_from_config(config)


def test_runnable_notebook_is_the_setup_cell_then_the_chapter_unchanged():
    text = launch.runnable_notebook("methods", GITHUB)
    assert text == launch.runnable_notebook("methods", GITHUB)  # no random cell ids
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    chapter = jupytext.reads((ROOT / "chapters" / "methods.md").read_text(), fmt="md:myst")
    assert [c.source for c in notebook.cells[2:]] == [c.source for c in chapter.cells]
    assert [c.cell_type for c in notebook.cells[:2]] == ["markdown", "code"]
    assert f"REPOSITORY = {json.dumps(GITHUB.url)}" in notebook.cells[1].source
    assert "REPOSITORY = None" in launch.runnable_notebook("methods", None)
    assert notebook.metadata.kernelspec.name == "python3"


def test_committed_notebooks_match_the_chapters():
    stale = launch.stale_notebooks(book.runnable_stems())
    assert stale == [], f"notebooks/ is out of date for {stale}: run {launch.REGENERATE}"


def test_stale_notebooks_finds_an_edited_chapter_and_a_leftover(tmp_path):
    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "chapters").mkdir()
    source = (ROOT / "chapters" / "methods.md").read_text()
    (tmp_path / "chapters" / "methods.md").write_text(source)
    launch.write_runnable_notebooks(tmp_path / "notebooks", ["methods"], tmp_path)
    assert launch.stale_notebooks(["methods"], tmp_path) == []
    (tmp_path / "chapters" / "methods.md").write_text(source + "\nOne more sentence.\n")
    (tmp_path / "notebooks" / "gone.ipynb").write_text("{}")
    assert launch.stale_notebooks(["methods"], tmp_path) == ["gone", "methods"]


def test_writing_notebooks_removes_those_of_chapters_no_longer_runnable(tmp_path):
    out = tmp_path / "notebooks"
    out.mkdir()
    (out / "gone.ipynb").write_text("{}")
    written = launch.write_runnable_notebooks(out, ["methods"])
    assert written == [out / "methods.ipynb"]
    assert sorted(p.name for p in out.iterdir()) == ["methods.ipynb"]


def test_the_book_lists_summary_pages_as_not_runnable():
    stems = book.runnable_stems()
    assert "methods" in stems and "undertrained-small-models" in stems
    assert not set(book.SUMMARY_PAGES) & set(stems)


def test_source_archive_holds_the_commit_and_uncommitted_changes(tmp_path):
    repo = small_repo(tmp_path / "repo")
    archive = launch.source_archive(tmp_path / "out", repo)
    assert archive is not None and archive.name == "scaling-debate-source.tar.gz"
    assert archive_commit(archive) == git(repo, "rev-parse", "HEAD")
    with tarfile.open(archive) as tar:
        assert "scaling-debate-source/_toc.yml" in tar.getnames()
    (repo / "_toc.yml").write_text("root: changed\n")
    modified = launch.source_archive(tmp_path / "out2", repo)
    assert modified is not None
    assert archive_commit(modified) not in ("", git(repo, "rev-parse", "HEAD"))
    with tarfile.open(modified) as tar:
        member = tar.extractfile("scaling-debate-source/_toc.yml")
        assert member is not None and member.read() == b"root: changed\n"
    assert git(repo, "status", "--porcelain") == "M _toc.yml"  # the checkout is left as it was


def test_no_source_archive_outside_a_git_checkout(tmp_path):
    assert launch.source_archive(tmp_path / "out", tmp_path) is None


def test_setup_cell_finds_a_checkout_around_the_notebook(tmp_path, monkeypatch):
    repo = small_repo(tmp_path / "repo")
    (repo / "notebooks").mkdir()
    monkeypatch.chdir(repo / "notebooks")
    assert setup_namespace(None)["book_source"]() == repo


def test_setup_cell_unpacks_a_source_archive_beside_it(tmp_path, monkeypatch):
    repo = small_repo(tmp_path / "repo")
    archive = launch.source_archive(tmp_path / "reader", repo)
    assert archive is not None
    monkeypatch.chdir(tmp_path / "reader")
    archive.rename(archive.with_name("scaling-debate-source (2).tar.gz"))  # as a browser names it
    folder = setup_namespace(None)["book_source"]()
    assert (folder / "_toc.yml").is_file() and folder.name == "scaling-debate-source"
    other = launch.source_archive(tmp_path / "other-site", small_repo(tmp_path / "other"))
    assert other is not None
    other.rename(tmp_path / "reader" / "scaling-debate-source (1).tar.gz")  # a second download
    with pytest.raises(RuntimeError, match="several source archives here"):
        setup_namespace(None)["book_source"]()


def test_setup_cell_clones_the_repository_when_nothing_is_at_hand(tmp_path, monkeypatch):
    repo = small_repo(tmp_path / "repo")
    (tmp_path / "reader").mkdir()
    monkeypatch.chdir(tmp_path / "reader")
    with pytest.raises(RuntimeError, match=r"needs the book's source: save the source archive"):
        setup_namespace(None)["book_source"]()
    folder = setup_namespace(launch.Repository(repo.as_uri(), "main"))["book_source"]()
    assert (folder / "_toc.yml").read_text() == "root: intro\n"


def test_run_menu_offers_what_exists_and_launch_links_only_with_a_repository():
    def pathto(target: str, resource: int) -> str:
        return f"../{target}"

    files = ["methods.ipynb", "scaling-debate-abc.tar.gz"]
    offline = launch.run_menu("methods", files, None, pathto)
    assert offline is not None
    assert [b["url"] for b in offline["buttons"]] == [
        "../_static/run/methods.ipynb",
        "../_static/run/scaling-debate-abc.tar.gz",
    ]
    online = launch.run_menu("methods", files, GITHUB, pathto)
    assert online is not None
    assert [b["text"] for b in online["buttons"]] == [
        "Notebook to run (.ipynb)",
        "Binder",
        "Colab",
        "The book's source (.tar.gz)",
        "Repository",
    ]
    page = launch.run_menu("cite", files, None, pathto)  # no notebook of its own
    assert page is not None and [b["text"] for b in page["buttons"]] == [
        "The book's source (.tar.gz)"
    ]
    assert (offline["tooltip"], page["tooltip"]) == ("Run this chapter", "Run the book's code")
    assert launch.run_menu("cite", [], None, pathto) is None


@pytest.mark.slow
def test_a_runnable_notebook_installs_the_package_in_a_fresh_python_and_runs(tmp_path):
    """A reader's path offline: the source archive and a runnable notebook saved in one folder,
    opened with a Python that has only a kernel: the setup cell installs everything, and the
    chapter then runs to the end (ci profile)."""
    reader = tmp_path / "reader"
    archive = launch.source_archive(reader, ROOT)
    assert archive is not None
    (reader / "methods.ipynb").write_text(launch.runnable_notebook("methods", None))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "ipykernel", "nbclient", "nbformat"],
        check=True,
    )  # fmt: skip
    driver = tmp_path / "run_notebook.py"
    driver.write_text(
        textwrap.dedent(
            """
            import sys
            import nbclient
            import nbformat

            path = sys.argv[1]
            notebook = nbformat.read(path, as_version=4)
            # as papermill would: a cell after the parameters cell sets the profile
            at = next(i for i, c in enumerate(notebook.cells)
                      if "parameters" in c.metadata.get("tags", []))
            notebook.cells.insert(at + 1, nbformat.v4.new_code_cell('profile = "ci"'))
            client = nbclient.NotebookClient(
                notebook, kernel_name="python3", timeout=900,
                resources={"metadata": {"path": sys.argv[2]}},
            )
            client.execute()
            nbformat.write(notebook, path)
            """
        )
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCALING_DEBATE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["SCALING_DEBATE_CACHE"] = str(ROOT / ".cache")  # the corpus is not fetched again
    result = subprocess.run(
        [str(python), str(driver), str(reader / "methods.ipynb"), str(reader)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    executed = nbformat.read(reader / "methods.ipynb", as_version=4)
    setup_output = "".join(o.get("text", "") for o in executed.cells[1].outputs)
    unpacked = reader / launch.ARCHIVE_NAME
    assert f"installed the book's package from {unpacked}" in setup_output
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
