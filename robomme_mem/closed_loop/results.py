"""The rollout results file: one JSON line per evaluated episode, appended as episodes finish.

``{"method": ..., "task": ..., "episode": ..., "success": ..., ...}``. Appending one whole line
per episode (flushed and fsynced) means an interrupted run loses at most the episode in flight
and resumes by skipping the keys already present. A last line cut short by a crash (not JSON,
no newline after it) is ignored by readers and dropped before the next append; any other bad
line is an error that names the file and line. Where a key appears twice (an episode re-run after an error), the
last line wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..jsonl import append_line, read_lines

Key = tuple[str, str, int]


def key(record: dict) -> Key:
    return str(record["method"]), str(record["task"]), int(record["episode"])


def read_results(path: str | Path) -> list[dict]:
    """The records of ``path``, the last per (method, task, episode), in first-seen order."""
    path = Path(path)
    if not path.exists():
        return []
    records: dict[Key, dict] = {}
    for number, record in read_lines(path, "result line"):
        try:
            records[key(record)] = {**record, "success": bool(record["success"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a result line ({exc})") from None
    return list(records.values())


def append_result(path: str | Path, record: dict) -> None:
    """Append one record as one line, durably."""
    key(record)  # a record without its key fields is a bug in the caller
    append_line(path, record)


def pending(
    path: str | Path, method: str, todo: Iterable[tuple[str, int]], retry_errors: bool = False
) -> list[tuple[str, int]]:
    """The (task, episode) pairs of ``todo`` that ``path`` holds no result of yet (or, with
    ``retry_errors``, whose last result is an ``error``), in order."""
    done = {(r["task"], int(r["episode"])): r for r in read_results(path) if r["method"] == method}
    return [(t, e) for t, e in todo if (t, e) not in done or (retry_errors and done[(t, e)].get("status") == "error")]


def episode_record(method: str, task: str, index: int, goal: str, outcome, provenance: dict | None = None) -> dict:
    """One line of the results file."""
    return {
        "method": method,
        "task": task,
        "episode": index,
        "success": outcome.success,
        "goal": goal,
        "status": outcome.status,
        "steps": outcome.steps,
        "calls": outcome.calls,
        "seconds": round(outcome.seconds, 3),
        "sim_seconds_per_step": round(outcome.step_seconds / max(outcome.steps, 1), 5),
        "fallbacks": outcome.fallbacks,
        "error": outcome.error,
        "trace": outcome.trace,
        **(provenance or {}),
    }


def low_level_of(record: dict) -> str:
    """``oracle`` or ``pi05`` (results written before the oracle low level existed are pi0.5's)."""
    return record.get("low_level") or "pi05"


def by_method_task(records: Iterable[dict]) -> dict[str, dict[str, list[dict]]]:
    """``method -> task -> [record, ...]``, in the order the records come."""
    out: dict[str, dict[str, list[dict]]] = {}
    for record in records:
        out.setdefault(str(record["method"]), {}).setdefault(str(record["task"]), []).append(record)
    return out


def success_rates(records: Iterable[dict]) -> dict[str, dict[str, float]]:
    """``method -> task -> success rate`` (and ``average`` over tasks)."""
    out = {}
    for method, tasks in by_method_task(records).items():
        rates = {task: sum(r["success"] for r in rs) / len(rs) for task, rs in tasks.items()}
        rates["average"] = sum(rates.values()) / len(rates)
        out[method] = rates
    return out
