"""Third-party web assets served from the book itself, so that the site works offline.

Loaded by ``_config.yml`` as a Sphinx extension (``sphinx: extra_extensions``).

MathJax is vendored from its npm package: the tarball is fetched once with ``npm pack``, checked
against the registry's integrity hash (:func:`scaling_debate.data.text.fetch_npm_package`) before
anything is read from it, and the files a page needs are unpacked into the git-ignored cache. The
book's ``_config.yml`` loads this module as a Sphinx extension; it adds the unpacked folder to
``html_static_path``, so Sphinx copies it to ``_build/html/_static/mathjax/``, where
``mathjax_path`` (also set in ``_config.yml``) points. No page requests anything from another
host for its math.

Only what the ``tex-mml-chtml`` component can load is unpacked: the component, its web fonts,
the TeX extensions it autoloads (``\\boldsymbol``, ``\\cancel``, ...), and the menu's lazily
loaded parts. The speech-rule engine (``es5/sre``, 4 MB, used only when a reader switches on
speech in MathJax's menu) is left out.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from scaling_debate import paths
from scaling_debate.data.text import fetch_npm_package

MATHJAX_VERSION = "3.2.2"  # MathJax 3, the major version Sphinx 7's mathjax extension targets
MATHJAX_PACKAGE = f"mathjax@{MATHJAX_VERSION}"
# As the registry publishes it: `npm view mathjax@3.2.2 dist.integrity`
MATHJAX_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="  # noqa: E501
# The folder inside the site's _static, and the script pages load (mathjax_path in _config.yml
# is relative to _static).
MATHJAX_DIR = "mathjax"
MATHJAX_ENTRY = "tex-mml-chtml.js"
MATHJAX_PATH = f"{MATHJAX_DIR}/{MATHJAX_ENTRY}"

# Members of the tarball that are unpacked, relative to package/es5/ (plus the licence).
_MATHJAX_MEMBER = re.compile(
    r"package/(?:LICENSE|es5/(?:tex-mml-chtml\.js"
    r"|output/chtml/fonts/woff-v2/[A-Za-z0-9_-]+\.woff"
    r"|input/tex/extensions/[A-Za-z0-9_-]+\.js"
    r"|ui/[A-Za-z0-9_-]+\.js"
    r"|a11y/[A-Za-z0-9_-]+\.js))"
)
_MARKER = ".complete"  # written last, so a half-unpacked folder is never used


def default_cache_dir() -> Path:
    """``npm/`` in the book's git-ignored cache folder (``.cache/npm`` by default)."""
    return paths.cache_dir() / "npm"


def mathjax_static_root(cache_dir: Path | None = None) -> Path:
    """A folder holding ``mathjax/``: the vendored MathJax, fetched and unpacked on first use.

    Add it to Sphinx's ``html_static_path`` (or copy its content into a site's ``_static``).
    The tarball is verified against :data:`MATHJAX_INTEGRITY` every time, also when cached.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tarball = fetch_npm_package(MATHJAX_PACKAGE, MATHJAX_INTEGRITY, cache_dir)
    root = cache_dir / f"mathjax-{MATHJAX_VERSION}-static"
    if not (root / _MARKER).is_file():
        _unpack(tarball, root)
    return root


def vendor_mathjax(static_dir: Path | str, cache_dir: Path | None = None) -> Path:
    """Copy the vendored MathJax into ``static_dir/mathjax``; returns the entry script's path.

    For a build that does not load this module as a Sphinx extension: pass the ``_static``
    folder of the book's source (Jupyter Book adds it to ``html_static_path`` when it exists).
    """
    source = mathjax_static_root(cache_dir) / MATHJAX_DIR
    target = Path(static_dir) / MATHJAX_DIR
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target / MATHJAX_ENTRY


def _unpack(tarball: Path, root: Path) -> None:
    """Unpack the MathJax files a site needs into ``root/mathjax``, atomically.

    Member names are matched against a strict pattern before they become paths, so an archive
    entry cannot write outside the folder.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".unpack-mathjax-"))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if not member.isfile() or _MATHJAX_MEMBER.fullmatch(member.name) is None:
                    continue
                relative = member.name.removeprefix("package/").removeprefix("es5/")
                destination = staging / MATHJAX_DIR / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                content = archive.extractfile(member)
                assert content is not None  # isfile() members always have content
                destination.write_bytes(content.read())
        entry = staging / MATHJAX_DIR / MATHJAX_ENTRY
        if not entry.is_file():
            raise RuntimeError(f"{tarball} holds no es5/{MATHJAX_ENTRY}")
        (staging / _MARKER).write_text(f"{MATHJAX_PACKAGE} {MATHJAX_INTEGRITY}\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _add_static_path(app: Any, config: Any) -> None:
    root = str(mathjax_static_root())
    if root not in config.html_static_path:
        config.html_static_path = [*config.html_static_path, root]
    if config.mathjax_path != MATHJAX_PATH:
        raise ValueError(
            f"mathjax_path is {config.mathjax_path!r}; with {__name__} loaded it must be "
            f"{MATHJAX_PATH!r} (set it under sphinx: config: in _config.yml), or pages would "
            "fetch MathJax from another host"
        )


def unique_scripts(scripts: list[Any]) -> list[Any]:
    """``scripts`` (Sphinx's ``_JavaScript`` assets) without repeats, first one kept.

    Two assets repeat each other when their file and attributes (an inline script's ``body``
    among them) are equal, whatever their priority; the order by priority is kept. Extensions
    that add scripts after the builder starts (sphinx-thebe, sphinx-togglebutton) get them on
    every page twice under Sphinx 7; a repeated ``const THEBE_JS_URL`` is a SyntaxError in
    every reader's console.
    """
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for script in sorted(scripts, key=lambda s: getattr(s, "priority", 500)):
        attributes = getattr(script, "attributes", {})
        # an inline script's file is None or "" depending on who added it
        key = (str(getattr(script, "filename", script) or ""), *sorted(attributes.items()))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _dedupe_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if isinstance(context.get("script_files"), list):
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point: MathJax from the site's own ``_static``; scripts once."""
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _add_static_path)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": MATHJAX_VERSION, "parallel_read_safe": True, "parallel_write_safe": True}


__all__ = [
    "MATHJAX_INTEGRITY",
    "MATHJAX_PACKAGE",
    "MATHJAX_PATH",
    "mathjax_static_root",
    "unique_scripts",
    "vendor_mathjax",
]
