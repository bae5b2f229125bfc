"""Which episodes a recording run makes, and how: seeds, difficulties and injected failures.

Pure functions, tested without a simulator.

**Seeds and difficulties.** RoboMME's metadata (``env_metadata/<split>/record_dataset_<Task>_metadata.json``
in its package) gives each episode's seed and difficulty; a recording of a listed episode uses
exactly those. Past the listed episodes (more data than RoboMME ships), the metadata's own
pattern goes on: episode ``k`` gets seed ``base + 100 * k``, ``base`` being the first episode's
seed rounded down to a hundred, and the difficulty ``easy, easy, medium, hard`` by ``k % 4``, as
every task's metadata has it. RoboMME made its seeds by trying ``seed, seed + 1, ...`` until an
episode succeeded (its metadata holds the seeds that did); a new episode does the same, up to
:data:`SEED_ATTEMPTS` tries.

**Failures.** RoboMME's flow injects one failed grasp into episodes 0-5 of every task: mode
``z`` for 0-2, ``xy`` for 3-5 (``auto``). The env picks the pick-up subgoal that fails; a task
without one records none. ``z`` / ``xy`` force that mode on every episode, ``mixed`` lets the
env's seeded generator choose the mode, ``none`` turns failures off.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")
FAILURE_POLICIES = ("auto", "none", "z", "xy", "mixed")
DIFFICULTY_CYCLE = ("easy", "easy", "medium", "hard")
"""The difficulty of episode ``k`` is ``DIFFICULTY_CYCLE[k % 4]`` in every task's metadata."""
SEED_STEP = 100
SEED_ATTEMPTS = 30
"""Seeds tried for an episode past the metadata (RoboMME's generation tries as many)."""
AUTO_FAILURES = {**{k: "z" for k in range(0, 3)}, **{k: "xy" for k in range(3, 6)}}
"""RoboMME's own rule: a failed grasp in episodes 0-5, mode ``z`` then ``xy``."""


@dataclass(frozen=True)
class RecordJob:
    task: str
    split: str
    episode: int
    seeds: tuple[int, ...]
    """The seed to record with, then (past the metadata only) the ones to try after a failure."""
    difficulty: str
    failure: str | None
    """``z``, ``xy``, ``mixed`` (the env chooses) or None (no failure injected)."""
    listed: bool
    """Whether RoboMME's metadata lists the episode (its seed is then the only one tried)."""

    def to_dict(self) -> dict:
        return asdict(self)


def episode_numbers(text: str) -> list[int]:
    """``0-99``, ``3``, ``0-5,10,20-22``: the episode numbers, in order, each once."""
    out: list[int] = []
    for part in text.split(","):
        found = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not found:
            raise ValueError(f"--episodes {text!r}: expected numbers and ranges such as 0-99 or 0-5,10")
        first, last = int(found.group(1)), int(found.group(2) or found.group(1))
        if last < first:
            raise ValueError(f"--episodes {text!r}: the range {first}-{last} runs backwards")
        out += [k for k in range(first, last + 1) if k not in out]
    return out


def failure_for(policy: str, episode: int) -> str | None:
    """The failure mode an episode is recorded with under ``policy`` (see the module's docstring)."""
    if policy not in FAILURE_POLICIES:
        raise ValueError(f"--failures {policy!r}: one of {', '.join(FAILURE_POLICIES)}")
    if policy == "auto":
        return AUTO_FAILURES.get(episode)
    return None if policy == "none" else policy


def metadata_file(robomme_root: Path, split: str, task: str) -> Path:
    return Path(robomme_root) / "env_metadata" / split / f"record_dataset_{task}_metadata.json"


def read_metadata(path: Path) -> dict[int, dict]:
    """Episode -> ``{"seed", "difficulty"}`` of one task's metadata file."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))["records"]
        return {int(r["episode"]): {"seed": int(r["seed"]), "difficulty": str(r["difficulty"])} for r in records}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not RoboMME's episode metadata ({type(exc).__name__}: {exc})") from None


def plan_jobs(task: str, split: str, episodes: list[int], metadata: dict[int, dict], policy: str) -> list[RecordJob]:
    """One job per episode: the metadata's seed and difficulty, or the pattern's past it."""
    if split not in SPLITS:
        raise ValueError(f"--split {split!r}: one of {', '.join(SPLITS)}")
    if not metadata:
        raise ValueError(f"{task} ({split}): RoboMME's metadata lists no episode")
    first = metadata[min(metadata)]["seed"]
    base = first - first % SEED_STEP
    jobs = []
    for k in episodes:
        failure = failure_for(policy, k)
        if k in metadata:
            jobs.append(RecordJob(task, split, k, (metadata[k]["seed"],), metadata[k]["difficulty"], failure, True))
        else:
            seed = base + SEED_STEP * k
            jobs.append(
                RecordJob(
                    task,
                    split,
                    k,
                    tuple(range(seed, seed + SEED_ATTEMPTS)),
                    DIFFICULTY_CYCLE[k % len(DIFFICULTY_CYCLE)],
                    failure,
                    False,
                )
            )
    return jobs


def pin_numerics(environ: dict = os.environ) -> None:
    """Make the planners' arithmetic the same on every machine, before numpy loads: one thread per
    pool and, on x86, OpenBLAS's Haswell kernels (the kernel OpenBLAS picks for a CPU decides the
    last bits of the planner's joint targets). With it, the same episode recorded twice, here or on
    a fresh machine, is the same bytes. A value the user set is kept."""
    from ...threads import THREAD_VARS

    for name in THREAD_VARS:
        environ.setdefault(name, "1")
    if platform.machine() in ("x86_64", "AMD64"):
        environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
