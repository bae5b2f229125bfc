"""What the robot did, read off a replay's per-step rows: picks, placements, presses, covers and failed grasps.

Pure functions of the rows (``{"step", "position", "pixel", "held", "parked", "under",
"gripper_closed", "demo"}``), the objects' kinds and the env's own subgoal completions, so they
are tested without a simulator and recomputed from any truth file. Each event carries the
object's ``<y, x>`` on the front camera at that moment (``point``), and ``demo: True`` when it
happened in a video task's demonstration, before execution.

- ``pick``: an object the gripper did not hold and now holds; ``point`` is where it was taken
  from (its pixel on the step before).
- ``place``: a held object let go; ``onto`` says where it came to rest once it settled: ``"bin"``
  (it left the scene, as RoboMME takes a binned cube away), a target's name (over it, seen from
  above), or ``None`` (the table). ``point`` is where it rests (the target's pixel for a target).
- ``press``: the env completed a press subgoal (RoboMME's own judgement of the press).
- ``cover``: a cube came under a container for the first time (a video task's demonstration).
- ``failed_grasp``: the gripper closed and opened again holding nothing, and the same subgoal
  then picked something up: RoboMME's injected failure (hover, close on nothing, reopen),
  never an outcome. ``object`` is what it aimed at: what that subgoal picked next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .events import in_scene

SETTLE_STEPS = 40
"""Steps after a release within which a let-go object comes to rest (or is taken into the bin)."""
ONTO_TARGET = 0.05
"""Metres, seen from above, within which an object at rest is on a target (RoboMME's targets
are discs of ~2 cube half-sizes; a placement is aimed at the centre)."""


def _xy(a: Sequence[float], b: Sequence[float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _pixel(p) -> list[int] | None:
    return [int(round(p[0])), int(round(p[1]))] if p else None


def _point(row: dict, name: str) -> list[int] | None:
    return _pixel(row.get("pixel", {}).get(name))


def _event(kind: str, row: dict, **fields) -> dict:
    out = {"step": row["step"], "kind": kind, **fields}
    if row.get("demo"):
        out["demo"] = True
    return out


def picks_and_places(rows: Sequence[dict], kinds: dict) -> list[dict]:
    """``pick`` and ``place`` events, in step order (see the module's docstring)."""
    targets = [n for n, info in kinds.items() if info["kind"] == "target"]
    has_bin = any(info["kind"] == "bin" for info in kinds.values())
    events = []
    for i in range(1, len(rows)):
        before, row = rows[i - 1], rows[i]
        was, now = set(before.get("held", [])), set(row.get("held", []))
        for name in sorted(now - was):
            events.append(_event("pick", row, object=name, point=_point(before, name) or _point(row, name)))
        for name in sorted(was - now):
            events.append(_place(rows, i, name, targets, has_bin))
    return events


def _place(rows: Sequence[dict], i: int, name: str, targets: list[str], has_bin: bool) -> dict:
    """Where an object let go at ``rows[i]`` came to rest."""
    rest = rows[i]
    for later in rows[i + 1 : i + 1 + SETTLE_STEPS]:
        if name in later.get("held", []):
            break  # picked again before it settled: judged where it was
        rest = later
        if not in_scene(later["position"].get(name, [0, 0, 0])):
            break
    where = rest["position"].get(name)
    if where is None or not in_scene(where):
        return _event("place", rows[i], object=name, onto="bin" if has_bin else None, point=_point(rows[i], name))
    near = [(t, _xy(where, rest["position"][t])) for t in targets if t in rest["position"] and t != name]
    near = [(t, d) for t, d in near if d <= ONTO_TARGET]
    if near:
        target = min(near, key=lambda td: td[1])[0]
        return _event("place", rows[i], object=name, onto=target, point=_point(rest, target) or _point(rest, name))
    return _event("place", rows[i], object=name, onto=None, point=_point(rest, name))


def presses(rows: Sequence[dict], kinds: dict, completions: Sequence[dict]) -> list[dict]:
    """A ``press`` for each press subgoal the env completed (``subgoal_done`` events whose subgoal
    says "press": StopCube's "move to the top of the button" targets the button but presses
    nothing), on its button, or the task's button where the subgoal names another target."""
    by_step = {r["step"]: r for r in rows}
    out = []
    for done in completions:
        if not (done.get("subgoal") or "").lower().startswith("press"):
            continue
        row = by_step.get(done["step"], {"step": done["step"], **({"demo": True} if done.get("demo") else {})})
        buttons = [t for t in done.get("targets", []) if kinds.get(t, {}).get("kind") == "button"]
        if not buttons:
            buttons = [n for n, info in kinds.items() if info["kind"] == "button"][:1]
        for button in buttons:
            out.append(_event("press", row, object=button, point=_point(row, button)))
    return out


def covers(rows: Sequence[dict]) -> list[dict]:
    """A ``cover`` the first time each cube is under a container (``container`` names it)."""
    seen: set[str] = set()
    out = []
    for row in rows:
        for cube, container in sorted(row.get("under", {}).items()):
            if cube not in seen:
                seen.add(cube)
                out.append(_event("cover", row, object=cube, container=container, point=_point(row, container)))
    return out


def failed_grasps(rows: Sequence[dict], picks: Sequence[dict]) -> list[dict]:
    """A ``failed_grasp`` for each closing of the gripper on nothing that the same subgoal
    (``task_index``) follows with a pick of ``object``, the one it aimed at. ``point`` is the
    gripper's pixel when it closed, where the rows carry it (``tcp_pixel``)."""
    task_of = {r["step"]: r.get("task_index") for r in rows}
    out = []
    closed_at = None
    empty = True
    for i, row in enumerate(rows):
        closed = bool(row.get("gripper_closed"))
        if closed and closed_at is None:
            closed_at, empty = i, True
        if closed_at is not None:
            empty = empty and not row.get("held")
        if not closed and closed_at is not None:
            start = rows[closed_at]
            aimed = next(
                (p for p in picks if p["step"] > start["step"] and task_of.get(p["step"]) == start.get("task_index")),
                None,
            )
            if empty and aimed is not None:
                out.append(_event("failed_grasp", start, object=aimed["object"], point=_pixel(start.get("tcp_pixel"))))
            closed_at = None
    return out


def records_actions(record: dict) -> bool:
    """Whether a truth record holds these events: one written before they were recorded has no
    ``demonstration`` key, and reading it would say the robot did nothing."""
    return "demonstration" in record


def robot_actions(rows: Sequence[dict], kinds: dict, completions: Sequence[dict] = ()) -> list[dict]:
    """Every event of this module, in step order (demonstration first: its steps precede execution)."""
    found = picks_and_places(rows, kinds)
    picks = [e for e in found if e["kind"] == "pick"]
    found += presses(rows, kinds, completions) + covers(rows) + failed_grasps(rows, picks)
    return sorted(found, key=lambda e: (not e.get("demo"), e["step"]))
