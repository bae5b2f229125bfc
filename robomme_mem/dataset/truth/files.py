"""The truth file: one JSON document, written to a temporary sibling and renamed into place."""

from __future__ import annotations

import json
import os
from pathlib import Path

TRUTH_FORMAT = "robomme-mem-truth/1"


def write_truth(path: str | Path, document: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps({"format": TRUTH_FORMAT, **document}, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_truth(path: str | Path) -> dict:
    """A truth file; an unreadable or foreign one is an error naming the file and what is wrong."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a truth file ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != TRUTH_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{path}: format {found!r}, expected {TRUTH_FORMAT!r} (written by `robomme-mem truth`)")
    return document
