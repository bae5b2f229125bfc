"""An episode's events, from its per-step rows alone: what a truth record's ``events`` holds.

One pure function for every writer of a truth (the replay in RoboMME's simulator, and the
embedded sample's generator, which knows what it drew): scene changes (an object leaving or
entering the scene, a highlight shown or gone), swaps, StopCube's passes, and the robot's actions
(:mod:`.actions`), the demonstration's first.
"""

from __future__ import annotations

from collections.abc import Sequence

from .actions import robot_actions
from .events import passes, swaps

PASS_TASKS = {"StopCube"}
"""Tasks whose cube moves by itself over a target, so its passes count (elsewhere a cube over a
target is a placement, which the env's own subgoal completions record)."""


def scene_changes(rows: Sequence[dict]) -> list[dict]:
    """``left_scene`` / ``entered_scene`` (from ``parked``) and ``highlight_shown`` / ``highlight_gone``."""
    events: list[dict] = []
    for before, row in zip(rows, rows[1:]):
        was, now = set(before["parked"]), set(row["parked"])
        events += [{"step": row["step"], "kind": "left_scene", "object": n} for n in sorted(now - was)]
        events += [{"step": row["step"], "kind": "entered_scene", "object": n} for n in sorted(was - now)]
    shown: list[str] = []
    for row in rows:
        lit = row.get("highlighted", [])
        events += [{"step": row["step"], "kind": "highlight_shown", "object": n} for n in lit if n not in shown]
        events += [{"step": row["step"], "kind": "highlight_gone", "object": n} for n in shown if n not in lit]
        shown = lit
    return events


def episode_events(
    task: str,
    rows: Sequence[dict],
    kinds: dict,
    completions: Sequence[dict],
    demo_rows: Sequence[dict] = (),
    demo_completions: Sequence[dict] = (),
) -> list[dict]:
    """Every event of an episode, the demonstration's first, then in step order.

    ``completions`` are the ``subgoal_done`` events of execution (the env's own judgement);
    ``demo_rows`` / ``demo_completions`` those of a video task's demonstration (marked ``demo``).
    A cube covered in the video is not covered again by execution.
    """
    found = [
        *completions,
        *scene_changes(rows),
        *swaps(rows, kinds),
        *(passes(rows, kinds) if task in PASS_TASKS else []),
    ]
    found += robot_actions(rows, kinds, completions)
    if demo_rows:
        shown = [
            *robot_actions(demo_rows, kinds, demo_completions),
            *({**e, "demo": True} for e in swaps(demo_rows, kinds)),
        ]
        covered = {e["object"] for e in shown if e["kind"] == "cover"}
        found = [e for e in found if not (e["kind"] == "cover" and e["object"] in covered)]
        found += [*demo_completions, *shown]
    return sorted(found, key=lambda e: (not e.get("demo"), e["step"]))
