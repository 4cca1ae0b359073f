"""Vendored web assets: MathJax from a verified npm tarball, and scripts emitted once."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from scaling_debate.book import assets
from scaling_debate.paths import repo_root


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def fake_mathjax(tmp_path, monkeypatch):
    """A small MathJax-like tarball served in place of the registry's (no network)."""
    tarball = _tarball(
        tmp_path / "mathjax-fake.tgz",
        {
            "package/LICENSE": b"Apache-2.0",
            "package/es5/tex-mml-chtml.js": b"/* mathjax */",
            "package/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff": b"font",
            "package/es5/input/tex/extensions/boldsymbol.js": b"/* ext */",
            "package/es5/sre/mathmaps/en.json": b"{}",  # the speech engine is left out
            "package/es5/tex-svg-full.js": b"/* another component */",
            "package/es5/../../escape.js": b"evil",
        },
    )
    fetched = []

    def fetch(spec, integrity, dest_dir):
        fetched.append((spec, integrity, Path(dest_dir)))
        return tarball

    monkeypatch.setattr(assets, "fetch_npm_package", fetch)
    return SimpleNamespace(tarball=tarball, fetched=fetched, cache=tmp_path / "cache")


def test_only_what_pages_load_is_unpacked(fake_mathjax):
    root = assets.mathjax_static_root(fake_mathjax.cache)
    files = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name[0] != "."
    )
    assert files == [
        "mathjax/LICENSE",
        "mathjax/input/tex/extensions/boldsymbol.js",
        "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
        "mathjax/tex-mml-chtml.js",
    ]
    assert not (fake_mathjax.cache.parent / "escape.js").exists()
    spec, integrity, dest = fake_mathjax.fetched[0]
    assert (spec, integrity, dest) == (
        assets.MATHJAX_PACKAGE,
        assets.MATHJAX_INTEGRITY,
        fake_mathjax.cache,
    )


def test_the_unpacked_folder_is_reused_and_the_tarball_checked_each_time(fake_mathjax):
    first = assets.mathjax_static_root(fake_mathjax.cache)
    entry = first / assets.MATHJAX_PATH
    entry.write_text("kept")
    assert assets.mathjax_static_root(fake_mathjax.cache) == first
    assert entry.read_text() == "kept"  # not unpacked again
    assert len(fake_mathjax.fetched) == 2  # but verified (fetch_npm_package) every time


def test_vendor_mathjax_copies_into_a_static_folder(fake_mathjax, tmp_path):
    entry = assets.vendor_mathjax(tmp_path / "_static", fake_mathjax.cache)
    assert entry == tmp_path / "_static" / assets.MATHJAX_PATH
    assert entry.read_bytes() == b"/* mathjax */"


def test_a_tarball_without_the_component_is_refused(tmp_path, monkeypatch):
    tarball = _tarball(tmp_path / "empty.tgz", {"package/LICENSE": b"x"})
    monkeypatch.setattr(assets, "fetch_npm_package", lambda *args: tarball)
    with pytest.raises(RuntimeError, match=r"tex-mml-chtml\.js"):
        assets.mathjax_static_root(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("mathjax-*"))  # nothing half-unpacked is left


def test_the_extension_adds_the_static_folder_and_refuses_a_cdn(fake_mathjax, monkeypatch):
    monkeypatch.setattr(assets, "default_cache_dir", lambda: fake_mathjax.cache)
    config = SimpleNamespace(html_static_path=["_static"], mathjax_path=assets.MATHJAX_PATH)
    assets._add_static_path(None, config)
    assets._add_static_path(None, config)  # a second call adds nothing
    root = str(assets.mathjax_static_root(fake_mathjax.cache))
    assert config.html_static_path == ["_static", root]
    config.mathjax_path = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    with pytest.raises(ValueError, match="another host"):
        assets._add_static_path(None, config)


def test_repeated_scripts_are_emitted_once_in_priority_order():
    from sphinx.builders.html._assets import _JavaScript

    thebe = "const THEBE_JS_URL = 'x'"
    scripts = [
        _JavaScript("_static/doctools.js", priority=200),
        _JavaScript(None, body=thebe),
        _JavaScript("_static/sphinx-thebe.js", **{"async": "async"}),
        _JavaScript("", body=thebe),  # the same inline script, added a second time
        _JavaScript("_static/first.js", priority=100),
        _JavaScript("_static/sphinx-thebe.js", priority=600, **{"async": "async"}),
    ]
    kept = assets.unique_scripts(scripts)
    assert [(s.filename, s.priority) for s in kept] == [
        ("_static/first.js", 100),
        ("_static/doctools.js", 200),
        (None, 500),
        ("_static/sphinx-thebe.js", 500),
    ]


def test_the_book_config_loads_the_extension_and_points_at_the_vendored_file():
    config = yaml.safe_load((repo_root() / "_config.yml").read_text())
    assert "scaling_debate.book.assets" in config["sphinx"]["extra_extensions"]
    assert config["sphinx"]["config"]["mathjax_path"] == assets.MATHJAX_PATH
    assert config["execute"]["execute_notebooks"] == "off"
    assert "CC BY 4.0" in config["html"]["extra_footer"]
    assert "MIT" in config["html"]["extra_footer"]


@pytest.mark.slow
def test_the_real_mathjax_package_verifies_and_unpacks():
    """Fetches mathjax@3.2.2 with npm on first use (cached in .cache/npm afterwards)."""
    root = assets.mathjax_static_root()
    entry = root / assets.MATHJAX_PATH
    assert entry.stat().st_size > 1_000_000
    fonts = list((root / assets.MATHJAX_DIR / "output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) >= 20
    assert not (root / assets.MATHJAX_DIR / "sre").exists()
