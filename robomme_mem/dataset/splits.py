"""Train/validation splits that hold out whole episodes, deterministically.

Per task, episodes are ranked by a hash of (seed, task, episode) and the first
``fraction * n`` (rounded half up) go to validation: 5 of RoboMME's 100 episodes per task at
the default 5%, none of a task with fewer than 10 (its validation split is then empty, but
present). The ranking does not depend on the other episodes; a split file pins a split for
good.

Split file (JSON): ``{"validation": {"BinFill": [3, 17], ...}}``: listed episodes are held
out, all others train; tasks not listed have no validation episodes.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from .layout import TRAIN_SPLIT, VALIDATION_SPLIT


def _rank(seed: int, task: str, episode: int) -> str:
    return hashlib.sha256(f"{seed}:{task}:{episode}".encode()).hexdigest()


def assign_splits(episodes: Iterable[tuple[str, int]], seed: int, fraction: float) -> dict[tuple[str, int], str]:
    """``(task, episode) -> "train" | "validation"``."""
    by_task: dict[str, list[int]] = defaultdict(list)
    for task, episode in episodes:
        by_task[task].append(episode)
    out = {}
    for task, indices in by_task.items():
        n = len(indices)
        held = int(fraction * n + 0.5)
        ranked = sorted(indices, key=lambda e: _rank(seed, task, e))
        for position, episode in enumerate(ranked):
            out[(task, episode)] = VALIDATION_SPLIT if position < held else TRAIN_SPLIT
    return out


def read_split_file(
    path: str | Path, episodes: Iterable[tuple[str, int]], known: Iterable[tuple[str, int]] | None = None
) -> dict[tuple[str, int], str]:
    """Splits of ``episodes`` from a split file.

    An episode it lists that the source lacks is an error; ``known`` (default: ``episodes``)
    is every episode of the source's files, so a build of some tasks, or of each file's first
    episodes, may use a split file written for the whole source.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        held = {(str(task), int(e)) for task, items in data[VALIDATION_SPLIT].items() for e in items}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f'{path}: not a split file ({{"validation": {{task: [episode, ...]}}}}): {exc}') from None
    episodes = list(episodes)
    known = set(episodes if known is None else known)
    tasks = {task for task, _ in known}
    missing = sorted(k for k in held - known if k[0] in tasks)
    if missing:
        raise ValueError(
            f"{path}: held-out episodes not in the source: {', '.join(f'{t} {e}' for t, e in missing[:5])}"
        )
    return {key: VALIDATION_SPLIT if key in held else TRAIN_SPLIT for key in episodes}
