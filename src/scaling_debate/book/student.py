"""The student edition: the book's sources with every exercise kept and every solution removed.

``python -m scaling_debate student-edition OUT`` writes the chapters, the table of contents, the
configuration and the bibliography to ``OUT``, and the runnable notebooks made from those chapters
to ``OUT/notebooks`` (they install the package first, see :mod:`scaling_debate.book.launch`); a
teacher puts them in place of the originals in a fork, or hands out the notebooks. Exercises are
``{exercise}`` directives and solutions ``{solution}`` directives (sphinx-exercise); a solution is
removed with its whole fence, whatever it contains (code blocks included).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from scaling_debate.book.build import BOOK_FILES, runnable_stems
from scaling_debate.book.launch import NOTEBOOKS_DIR, write_runnable_notebooks
from scaling_debate.paths import repo_root

# an opening fence of colons or backticks around a {solution} directive
_SOLUTION_OPEN = re.compile(r"^(?P<fence>:{3,}|`{3,})\{solution\}")
_EXERCISE_OPEN = re.compile(r"^(:{3,}|`{3,})\{exercise\}")


@dataclass(frozen=True)
class Stripped:
    text: str
    exercises: int
    solutions_removed: int


def strip_solutions(text: str, where: str = "text") -> Stripped:
    """``text`` without its ``{solution}`` directives; counts exercises and removed solutions.

    A solution whose fence is never closed is an error naming ``where`` (it would swallow the rest
    of the chapter).
    """
    kept: list[str] = []
    removed = 0
    closing: str | None = None
    opened_at = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if closing is not None:
            if line.strip() == closing:
                closing = None
            continue
        match = _SOLUTION_OPEN.match(line)
        if match:
            closing, opened_at, removed = match["fence"], number, removed + 1
            continue
        kept.append(line)
    if closing is not None:
        raise ValueError(f"{where}: the solution opened at line {opened_at} is never closed")
    exercises = sum(1 for line in text.splitlines() if _EXERCISE_OPEN.match(line))
    return Stripped("".join(kept), exercises, removed)


def write_student_edition(out: Path | str, root: Path | None = None) -> dict[str, Stripped]:
    """Write the student edition to ``out`` (created; must not hold a book already).

    Returns, per chapter file, what was kept and removed.
    """
    root = root or repo_root()
    out = Path(out)
    if out.resolve() == root.resolve() or (out / "_toc.yml").exists():
        raise ValueError(f"out={str(out)!r}: holds a book already; choose an empty folder")
    (out / "chapters").mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        shutil.copy2(root / name, out / name)
    report = {}
    for chapter in sorted((root / "chapters").glob("*.md")):
        stripped = strip_solutions(chapter.read_text(), where=str(chapter))
        (out / "chapters" / chapter.name).write_text(stripped.text)
        report[chapter.name] = stripped
    write_runnable_notebooks(out / NOTEBOOKS_DIR, runnable_stems(), root=out)
    return report
