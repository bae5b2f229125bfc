"""ms-swift JSONL: one row per line, serialised as the reference builder does.

``json.dumps`` with its default separators and ``ensure_ascii=True``, so a row of ours and
a row of RoboMME's reference builder compare equal as text.
"""

from __future__ import annotations

import json


def swift_line(row: dict) -> str:
    """One JSONL line (with its newline) for an ms-swift row."""
    return json.dumps(row) + "\n"
