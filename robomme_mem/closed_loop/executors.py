"""The closed loop's episodes run by :mod:`robomme_mem.parallel`, each streaming into one results file.

Whatever runs the episodes, only this process appends to the results file, one line per
finished episode (:mod:`robomme_mem.closed_loop.results`), so a killed run resumes with the
missing episodes, nothing is recorded twice, and the summary is the one a single process gives:

- :func:`run_serial`: in this process, any ``run(task, episode) -> record`` (``--workers 1``);
- ``--workers N``: ``N`` spawned processes;
- ``--ray ADDRESS``: one Ray task per episode (``local`` starts a local cluster), the high level
  reached over its OpenAI-compatible URL from wherever the task runs; each Ray worker keeps its
  simulator across the episodes it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from ..jsonl import repair
from ..parallel import RunError, ray_problem, run_jobs
from .one_episode import Rollout, close_state, run_one
from .results import append_result

__all__ = ["RunError", "ray_problem", "run", "run_serial"]


def _name(job: tuple[str, int]) -> str:
    return f"{job[0]}:{job[1]}"


def _episode(rollout: Rollout, job: tuple[str, int]) -> dict:
    return run_one(rollout, *job)


def run_serial(
    run: Callable[[str, int], dict],
    todo: Sequence[tuple[str, int]],
    results: Path,
    desc: str = "episodes",
    progress: bool = True,
) -> list[dict]:
    """``run`` each episode in this process, in order, appending its record as it finishes."""
    results.parent.mkdir(parents=True, exist_ok=True)
    repair(results)
    written: list[dict] = []
    run_jobs(
        lambda job: run(*job), list(todo), partial(_keep, results, written), name=_name, desc=desc, progress=progress
    )
    return written


def _keep(results: Path, written: list, record: dict) -> None:
    append_result(results, record)
    written.append(record)


def run(
    rollout: Rollout,
    todo: Sequence[tuple[str, int]],
    results: Path,
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run ``todo``, appending each result to ``results`` as it comes (in finishing order)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    repair(results)
    written: list[dict] = []
    try:
        run_jobs(
            partial(_episode, rollout),
            list(todo),
            partial(_keep, results, written),
            workers=workers,
            ray_address=ray_address,
            name=_name,
            desc=rollout.method,
            progress=progress,
        )
    finally:
        if workers <= 1 and not ray_address:
            close_state()
    return written
