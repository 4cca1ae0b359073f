"""The claims ledger reads what the chapters glued: their own numbers, never retyped.

Every value a chapter glues is stored in its executed notebook as an output named by the glue
key, with a plain-text rendering. :func:`glued_values` reads those back, numbers as floats and
text as text, so a summary page can restate a chapter's findings from the chapter's execution.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        pass
    try:  # a quoted string's repr
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return parsed if isinstance(parsed, str) else text


def glued_values(notebook: Path | str) -> dict[str, float | str]:
    """Every glued value of an executed notebook: ``{name: float or text}``.

    A missing notebook is an error naming it (the chapter has not been executed in this build).
    """
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no executed notebook (execute the chapter first)")
    cells = json.loads(path.read_text())["cells"]
    values: dict[str, float | str] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name:
                continue
            text = next(
                (v for k, v in output.get("data", {}).items() if k.endswith("text/plain")), None
            )
            if text is not None:
                values[name] = _value("".join(text) if isinstance(text, list) else text)
    return values
