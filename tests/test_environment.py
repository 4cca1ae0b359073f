"""The environment is pinned whole: requirements.txt names what the book uses, constraints.txt
holds every distribution installed with it, at the version installed."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from scaling_debate.paths import repo_root

# the package itself and the installer's own tools are not pinned; torch's build (CPU or CUDA)
# depends on the machine, so only requirements.txt pins its version
NOT_LOCKED = {"scaling-debate", "pip", "setuptools", "wheel", "torch"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, with those of the files it includes
    (``-r other.txt``); comments and blank lines skipped."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line.removeprefix("-r ").strip())
        elif line:
            name, version = line.split("==")
            found[normalized(name)] = version.strip()
    return found


def test_every_installed_distribution_is_locked_at_its_version():
    locked = pins(repo_root() / "constraints.txt")
    installed = {normalized(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {
        name: (version, locked.get(name, "missing"))
        for name, version in installed.items()
        if name not in NOT_LOCKED and locked.get(name) != version
    }
    assert differ == {}, f"installed vs constraints.txt: {differ}; run `make lock`"


def test_requirements_and_constraints_agree():
    required = pins(repo_root() / "requirements.txt")
    run = pins(repo_root() / "requirements-run.txt")
    assert run and run.items() <= required.items()  # the chapters' needs, included whole
    locked = pins(repo_root() / "constraints.txt")
    assert "torch" in required and "torch" not in locked
    disagree = {n: (v, locked[n]) for n, v in required.items() if n in locked and locked[n] != v}
    assert disagree == {}
    assert set(required) - set(locked) == {"torch"}
