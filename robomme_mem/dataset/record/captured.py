"""The truths captured while recording (``record --truth FILE``): one per episode beside the
recordings, gathered into a truth file keyed as ``robomme-mem truth`` keys its own.

A worker saves its episode's captured truth (:mod:`..truth.capture`) as
``<out>/.captured/<Task>/episode_<N>.json`` once the episode is staged and read back. A truth
record is keyed by its file's checksum, which changes each time episodes are merged into the
file, so the truth file is written at the end of a run, from the merged files: every episode of
the folder's task files (and shards) with a captured truth, judged as a replay is (:func:`..truth.fidelity.problems`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..checksum import SOURCE_CHECKSUM, file_checksum
from ..source import task_of
from ..truth.fidelity import Thresholds, judged
from ..truth.truth_file import truth_header, write_records
from .staged import episodes_in, task_files

CAPTURED = ".captured"


def capture_path(out: Path, task: str, episode: int) -> Path:
    return Path(out) / CAPTURED / task / f"episode_{episode}.json"


def save_capture(out: Path, task: str, episode: int, record: dict) -> Path:
    """Write one episode's captured truth (beside, then renamed into place)."""
    path = capture_path(out, task, episode)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(record, separators=(",", ":")), encoding="utf-8")
    os.replace(part, path)
    return path


@dataclass
class CapturedTruth:
    """What ``record --truth`` wrote: episodes given a truth, refused (with why), and those the
    folder holds without a captured truth (recorded without ``--truth``: ``robomme-mem truth`` replays them)."""

    added: int = 0
    kept: list[str] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    uncaptured: list[str] = field(default_factory=list)


def write_captured_truth(
    out: Path, tasks: Iterable[str], truth: Path, versions: dict, thresholds: Thresholds = Thresholds()
) -> CapturedTruth:
    """Key and judge the captured truth of every episode of ``out``'s task files, into ``truth``."""
    done, records = CapturedTruth(), []
    for path in (p for task in tasks for p in task_files(out, task)):
        task, checksum = task_of(path), file_checksum(path)[0]
        for episode in episodes_in(path):
            name = f"{task}:{episode}"
            captured = capture_path(out, task, episode)
            if not captured.is_file():
                done.uncaptured.append(name)
                continue
            key = {"file": path.name, SOURCE_CHECKSUM: checksum, "episode": episode, "simulator": versions}
            records.append(judged(json.loads(captured.read_text(encoding="utf-8")), key, thresholds))
            if records[-1]["kind"] == "refused":
                done.refused.append(records[-1])
            else:
                done.kept.append(name)
    done.added = write_records(
        truth, truth_header(versions, thresholds, captured="while recording (robomme-mem record --truth)"), records
    )
    return done
