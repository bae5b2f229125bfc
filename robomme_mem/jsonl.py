"""Files of one JSON record per line, appended one whole line at a time (the rollout results, the
scene truth): a run killed mid-write loses at most the record in flight, never what came before.

A last line cut short by a kill (not JSON, no newline after it) is skipped by readers and dropped
before the next append; any other bad line is an error naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


def read_lines(path: str | Path, what: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed record) of every line of ``path`` (``what`` names a line in errors)."""
    for number, _, record in read_lines_at(path, what):
        yield number, record


def read_lines_at(path: str | Path, what: str) -> Iterator[tuple[int, int, object]]:
    """(line number, byte offset, parsed record) of every line, read one line at a time (a reader
    can seek back to one record without holding the others)."""
    with open(path, "rb") as fh:
        number = 0
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                return
            number += 1
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith(b"\n"):
                    return  # an unparsable last line with no newline after it: a write cut short
                raise ValueError(f"{path}:{number}: not a {what} ({exc})") from None
            yield number, offset, record


def repair(path: str | Path) -> int:
    """Before appending: drop a last line cut short (temp file, then rename); the bytes dropped.

    A last line that is whole JSON but lacks its newline (written by hand) gets the newline.
    """
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    tail = data[data.rfind(b"\n") + 1 :]
    try:
        json.loads(tail)
        keep = data + b"\n"
    except ValueError:
        keep = data[: len(data) - len(tail)]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(keep)
    os.replace(tmp, path)
    return max(len(data) - len(keep), 0)


def append_line(path: str | Path, record: dict) -> None:
    """Append one record as one line, durably (flushed and fsynced)."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
