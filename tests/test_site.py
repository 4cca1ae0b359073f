"""The built website, read in a real browser as an offline reader would.

The site is built once per session (chapters already executed are not executed again, so after
``test_book.py``'s build this is quick), served from 127.0.0.1 by Python's http.server, and every
page of the table of contents is opened in Debian's Chromium, driven by playwright-core
(``tests/site_check.mjs``) with every request to another host blocked. ``tests/setup_browser.sh``
installs both. ``SCALING_DEBATE_SITE=<folder>`` checks an already built site instead of building.
The browser's full report is written to ``_build/site-check.json``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from conftest import build_book_from_store

from scaling_debate.book import build as book
from scaling_debate.paths import repo_root

pytestmark = pytest.mark.slow

ROOT = repo_root()
TESTS = Path(__file__).resolve().parent
# where tests/setup_browser.sh installs playwright-core
NODE_MODULES = TESTS.parent / ".cache" / "node" / "node_modules"
SEARCH_TERM = "Chinchilla"
SETUP_HINT = "run tests/setup_browser.sh (Debian's chromium and playwright-core in .cache/node)"
MIN_FIGURE_TEXT_PX = 9.0


def toc_pages(toc_file: Path) -> list[str]:
    """HTML paths of every page in a Jupyter Book ``_toc.yml``, in reading order."""
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([{key: toc[key]} for key in ("parts", "chapters", "sections") if key in toc])
    return [str(Path(page).with_suffix("")) + ".html" for page in pages]


def test_toc_pages_reads_parts_chapters_and_sections(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: chapters/intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: chapters/a.md\n        sections:\n          - file: chapters/a1\n"
        "  - caption: B\n    chapters:\n      - file: chapters/b\n"
    )
    assert toc_pages(toc) == [
        "chapters/intro.html",
        "chapters/a.html",
        "chapters/a1.html",
        "chapters/b.html",
    ]


@pytest.fixture(scope="session")
def site() -> Path:
    """The built HTML site: built here (quick when nothing changed) unless SCALING_DEBATE_SITE."""
    if os.environ.get("SCALING_DEBATE_SITE"):
        return Path(os.environ["SCALING_DEBATE_SITE"]).resolve()
    result = build_book_from_store()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def server(site):
    """The site served on 127.0.0.1 (a free port) from a thread; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def report(site, server, tmp_path_factory) -> dict[str, Any]:
    """What Chromium found on every page of the table of contents (see site_check.mjs)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    node = shutil.which("node")
    if (
        node is None
        or not Path(chromium).exists()
        or not (NODE_MODULES / "playwright-core").is_dir()
    ):
        pytest.fail(f"the browser test needs node, chromium and playwright-core: {SETUP_HINT}")
    pages = [*toc_pages(ROOT / "_toc.yml"), "genindex.html"]
    missing = [page for page in pages if not (site / page).is_file()]
    assert not missing, f"pages of the toc missing from {site}: {missing}"
    config = {
        "base": server,
        "pages": pages,
        "search": SEARCH_TERM,
        "chromium": chromium,
        "playwright": str(NODE_MODULES),
        "width": 1400,
        "height": 900,
    }
    config_file = tmp_path_factory.mktemp("site-check") / "config.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(
        [node, str(TESTS / "site_check.mjs"), str(config_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout)
    (site.parent / "site-check.json").write_text(json.dumps(found, indent=1))
    return found


def _by_page(report: dict[str, Any], key: str) -> dict[str, Any]:
    records = [*report["pages"], {"page": "search.html", **(report["search"] or {})}]
    return {r["page"]: r[key] for r in records if r.get(key)}


def test_no_console_errors(report):
    assert _by_page(report, "consoleErrors") == {}


def test_no_request_leaves_the_site(report):
    assert _by_page(report, "external") == {}


def test_every_local_request_succeeds(report):
    assert _by_page(report, "failed") == {}


def test_math_is_rendered_and_no_latex_shows(report):
    assert _by_page(report, "rawLatex") == {}
    assert _by_page(report, "unrenderedMath") == {}
    assert _by_page(report, "mathErrors") == {}


def test_every_image_loads_with_a_width(report):
    assert _by_page(report, "badImages") == {}


def test_no_table_or_figure_is_wider_than_the_column(report):
    assert _by_page(report, "wide") == {}


def test_every_figure_says_what_it_shows(report):
    """Alt text on every chapter figure, and not the hashed file name myst-nb gives by default."""
    unlabelled = {}
    for record in report["pages"]:
        for image in record.get("images", []):
            src, alt = image["src"] or "", image["alt"].strip()
            if src.endswith(".png") and (not alt or Path(src).stem in alt or alt.endswith(".png")):
                unlabelled.setdefault(record["page"], []).append(Path(src).name)
    assert unlabelled == {}


def test_figure_text_is_at_least_9_px(report, site):
    """Figures keep the house style's smallest text readable where the page shows them.

    A PNG records its dpi; its text of ``pt`` points shows at ``pt / 72 * dpi * shown / natural``
    CSS px. Using the smallest size the chapters set (legends at 7.5 pt) as a floor for every
    figure is conservative.
    """
    from PIL import Image

    smallest_pt = 7.5
    too_small = {}
    for record in report["pages"]:
        for image in record.get("images", []):
            src = image["src"] or ""
            path = (site / record["page"]).parent / src
            if not src.endswith(".png") or not path.is_file() or not image["naturalWidth"]:
                continue
            dpi = Image.open(path).info.get("dpi", (72, 72))[0]
            px = smallest_pt / 72 * dpi * image["width"] / image["naturalWidth"]
            if px < MIN_FIGURE_TEXT_PX:
                too_small[f"{record['page']}: {Path(src).name}"] = round(px, 1)
    assert too_small == {}


def test_search_finds_chinchilla(report):
    assert report["search"] and not report["search"].get("consoleErrors")
    assert report["search"]["results"] >= 1, report["search"]


def test_run_menu_links_resolve_to_a_runnable_notebook_and_the_source(site):
    """Every runnable chapter's page offers its notebook and the book's source, and both are in
    the site: a notebook whose first code cell installs the package, an archive of the book."""
    for stem in book.runnable_stems():
        page = site / "chapters" / f"{stem}.html"
        menu = re.search(
            r'<div class="dropdown dropdown-run-buttons">(.*?)</div>', page.read_text(), re.S
        )
        assert menu, f"{page.name}: no Run menu"
        local = [h for h in re.findall(r'href="([^"]+)"', menu.group(1)) if "://" not in h]
        assert [Path(h).suffix for h in local] == [".ipynb", ".gz"], local
        targets = [(page.parent / h).resolve() for h in local]
        assert all(t.is_file() and t.stat().st_size > 0 for t in targets), local
        notebook = nbformat.read(targets[0], as_version=4)
        assert "installed the book's package" in notebook.cells[1].source
        with tarfile.open(targets[1]) as archive:
            prefix = targets[1].name.removesuffix(".tar.gz")
            assert f"{prefix}/chapters/{stem}.md" in archive.getnames()
    # one source archive in the site: the one the pages link to
    assert [p.name for p in (site / "_static" / "run").glob("*.tar.gz")] == [targets[1].name]
