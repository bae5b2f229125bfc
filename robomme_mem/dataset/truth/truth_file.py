"""The truth file: JSON Lines, a header and then one record per episode, appended as each ends.

Like a label set it is data: every record carries its key (the source file's checksum, the
episode, the simulator's versions), so a rerun replays only what the file does not hold yet for
this simulator, a run killed mid-episode loses that episode alone (:mod:`robomme_mem.jsonl`),
and the file is read without the simulator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ... import __version__
from ...formats import TRUTH_FORMAT
from ...jsonl import append_line, read_lines_at, repair
from ..checksum import SOURCE_CHECKSUM

STALE_FORMATS = {"robomme-mem-truth/1": "its rows lag one action behind the recorded frames"}


def truth_header(simulator: dict, thresholds, **more) -> dict:
    """A truth file's header (after its format): the package, the simulator's versions, the
    fidelity thresholds its episodes were judged by, and ``more``."""
    return {
        "package": {"name": "robomme-mem", "version": __version__},
        "simulator": simulator,
        "thresholds": {"max_mean_diff": thresholds.max_mean_diff, "max_point_px": thresholds.max_point_px},
        **more,
    }


def key_of(record: dict) -> str:
    """A record's key as one string (its file's checksum, episode and simulator versions)."""
    return json.dumps(record["key"], sort_keys=True)


def _records(path: str | Path):
    """(header, then (line number, byte offset, record) of each record) of a truth file, read once.

    A foreign or damaged file is an error naming the file and line; a last line cut short by a
    kill is skipped.
    """
    path = Path(path)
    lines = read_lines_at(path, "truth record")
    try:
        first = next(lines, None)
    except OSError as exc:
        raise ValueError(f"{path}: not a truth file ({exc})") from None
    if first is None:
        raise ValueError(f"{path}: empty, not a truth file")
    header = first[2]
    if not isinstance(header, dict) or header.get("format") != TRUTH_FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        if found in STALE_FORMATS:
            raise ValueError(
                f"{path}: format {found!r} is an older truth ({STALE_FORMATS[found]}); "
                f"write it again with `robomme-mem truth` (or `record --truth`) into a new file"
            )
        raise ValueError(
            f"{path}: format {found!r}, expected {TRUTH_FORMAT!r} (written by `robomme-mem truth` or `record --truth`)"
        )

    def records():
        for number, offset, record in lines:
            if not isinstance(record, dict) or not isinstance(record.get("key"), dict):
                raise ValueError(f"{path}:{number}: a truth record without its key")
            yield number, offset, record

    return header, records()


def read_truth(path: str | Path) -> dict:
    """``{"header", "episodes", "refused"}`` of a truth file (the last record of each key wins).

    A foreign or damaged file is an error naming the file and line; a last line cut short by a
    kill is ignored.
    """
    header, lines = _records(path)
    records = {key_of(record): record for _, _, record in lines}
    return {
        "header": header,
        "episodes": [r for r in records.values() if r.get("kind") == "episode"],
        "refused": [r for r in records.values() if r.get("kind") == "refused"],
    }


def read_header(path: str | Path) -> dict:
    """A truth file's header alone (its first line)."""
    return _records(path)[0]


def index_truth(path: str | Path) -> dict[tuple[str, int], int]:
    """Byte offset of each kept episode's record, by (source checksum, episode): what a build needs
    to hand each worker its own episode without holding every truth in memory (a truth is ~0.3 MB
    an episode). One pass over the file, with :func:`read_truth`'s checks; the last record of a key
    wins, and refused episodes are not indexed (they have no truth)."""
    _, lines = _records(path)
    offsets: dict[tuple[str, int], int] = {}
    for _, offset, record in lines:
        where = (record["key"].get(SOURCE_CHECKSUM), record["key"].get("episode"))
        if record.get("kind") == "episode":
            offsets[where] = offset
        else:
            offsets.pop(where, None)
    return offsets


def offsets_by_source(files, truth: str | Path) -> dict[tuple[str, int], int]:
    """(source file path, episode) -> byte offset of its record in ``truth``, matched by each file's
    checksum (never by its name); the one match a build, the audit and its pictures all use."""
    from ..checksum import file_checksum
    from ..source import require_hdf5

    require_hdf5(files, "scoring against the scene truth")
    offsets = index_truth(truth)
    out = {}
    for path in files:
        checksum = file_checksum(path)[0]
        out.update({(str(path), episode): at for (held, episode), at in offsets.items() if held == checksum})
    return out


def read_record(path: str | Path, offset: int) -> dict:
    """The record at ``offset`` of a truth file (from :func:`index_truth`)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        return json.loads(fh.readline())


class TruthWriter:
    """Appends records durably to a truth file, starting it (header first) if it is new."""

    def __init__(self, path: str | Path, header: dict) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        """Keys of the episodes the file holds (given a truth or refused)."""
        self.refused: set[str] = set()
        """Keys of those refused (a rerun with ``retry_refused`` replays them again)."""
        if self.path.exists() and self.path.stat().st_size:
            held = read_truth(self.path)
            self.done = {key_of(r) for r in [*held["episodes"], *held["refused"]]}
            self.refused = {key_of(r) for r in held["refused"]}
            repair(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.partial")
            tmp.write_text(
                json.dumps({"format": TRUTH_FORMAT, **header}, separators=(",", ":")) + "\n", encoding="utf-8"
            )
            os.replace(tmp, self.path)

    def append(self, record: dict) -> None:
        append_line(self.path, record)
        self.done.add(key_of(record))


def write_records(path: str | Path, header: dict, records: list[dict]) -> int:
    """Put ``records`` into the truth file at ``path`` in one rename: a new file (``header`` first),
    or the old one's header and records with these added (a record whose key the file holds
    already is left as it was); how many were added."""
    path = Path(path)
    held_header, held = {"format": TRUTH_FORMAT, **header}, []
    if path.exists() and path.stat().st_size:
        held_header, lines = _records(path)
        held = [record for _, _, record in lines]
    keys = {key_of(r) for r in held}
    added = [r for r in records if key_of(r) not in keys]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in (held_header, *held, *added):
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(added)
