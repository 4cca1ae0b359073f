"""The student edition keeps every exercise and removes every solution, on the real chapters."""

from __future__ import annotations

import pytest

from scaling_debate.book.cli import main
from scaling_debate.book.student import strip_solutions, write_student_edition
from scaling_debate.paths import repo_root

TEXT = """intro

::::{exercise}
:label: ex-a

Question?
::::

::::{solution} ex-a
:class: dropdown

```python
print("answer")
```
:::{note}
nested
:::
::::

```{solution} ex-b
backtick fenced
```
after
"""


def test_strip_solutions_removes_whole_fences_and_keeps_the_rest():
    stripped = strip_solutions(TEXT)
    assert stripped.exercises == 1 and stripped.solutions_removed == 2
    assert "answer" not in stripped.text and "nested" not in stripped.text
    assert "backtick fenced" not in stripped.text
    assert "Question?" in stripped.text and stripped.text.rstrip().endswith("after")


def test_an_unclosed_solution_is_refused():
    with pytest.raises(ValueError, match="line 1 is never closed"):
        strip_solutions("::::{solution} ex-a\nno end\n", where="x.md")


def test_student_edition_of_the_book(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["student-edition", str(out)]) == 0
    assert "solutions removed" in capsys.readouterr().out
    chapters = sorted(p.name for p in (repo_root() / "chapters").glob("*.md"))
    assert sorted(p.name for p in (out / "chapters").glob("*.md")) == chapters
    for name in chapters:
        original = strip_solutions((repo_root() / "chapters" / name).read_text())
        text = (out / "chapters" / name).read_text()
        assert "{solution}" not in text
        assert text.count("{exercise}") == original.exercises
    argument_chapters = [
        "methods.md",
        "undertrained-small-models.md",
        "emergence-illusion.md",
        "gpt3-extrapolation.md",
        "recognition-memory.md",
    ]
    for name in argument_chapters:  # every chapter teaches with exercises
        assert (out / "chapters" / name).read_text().count("{exercise}") >= 2, name
    assert (out / "_toc.yml").read_text() == (repo_root() / "_toc.yml").read_text()
    notebooks = sorted(p.name for p in (out / "notebooks").glob("*.ipynb"))
    assert notebooks == sorted(n.replace(".md", ".ipynb") for n in argument_chapters)
    for name in notebooks:  # the notebooks handed out carry the exercises, not the solutions
        text = (out / "notebooks" / name).read_text()
        assert "{solution}" not in text and "{exercise}" in text


def test_student_edition_refuses_a_folder_with_a_book(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    with pytest.raises(ValueError, match="holds a book already"):
        write_student_edition(tmp_path)
