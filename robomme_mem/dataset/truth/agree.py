"""Whether two truths of one episode agree: the one captured while recording and a replay's.

Both come from the same simulator stepping the same actions, so they are held to what a
faithful replay reproduces: positions within :data:`POSITION_M`, pixels and mask centres within
:data:`PIXEL_PX`, a mask's pixel count within :func:`same_count`, and everything else (held,
under, parked, the gripper, highlights, events, grounded checks, the ending) exactly. A call
frame's image difference is not compared: a capture's image is the recorded one (difference 0).

One thing may differ by design: when the env's subgoal index moves on. A video task is replayed
in RoboMME's benchmark wrapper (:func:`.replay.open_robomme_env`), whose evaluation moves to the
next subgoal at the step the subgoal's check first passes; RoboMME's recording flow asks the env
between the solver's subgoals, so a placement is noted done once the arm has let go and lifted
(15-16 steps later on the episodes measured). So the two must complete the same subgoals in the
same order, each completion and its counterpart before the next pair; between the two the rows'
subgoal index differs by one, and a press (the env's completion of a press subgoal), and the
ending at the last completion, move with it. What the physics shows (picks, placements, failed
grasps, swaps, passes, objects leaving the scene) must be at the same steps. The video
demonstration's events are compared as a set: a completion that moves may pass a physical event.

Two more things are not compared. The positions of objects both truths have out of the scene
(RoboMME parks them near (10, 10, 10), where they drift). And the call frames' masks of a task
that moves an object after the env has made its observation (:data:`MOVES_AFTER_OBSERVING`):
the capture counts them on the recorded segmentation, which shows the object before that move,
the replay on its own render after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

POSITION_M = 1e-3
"""Metres two truths' positions of one object at one step may differ by."""
PIXEL_PX = 1
"""Pixels (in y and in x) two truths' projections or mask centres may differ by."""
TOP = ("task", "episode", "seed", "difficulty", "execution_start", "num_steps", "objects", "status", "recorded_status")
EXACT_ROW = ("held", "under", "parked", "gripper_closed", "highlighted")
MOVES_AFTER_OBSERVING = frozenset({"StopCube"})
"""Tasks whose env moves an object after its step's observation (StopCube's ``step`` moves the
cube once ``super().step`` has returned the observation the recorder keeps)."""


def same_count(a: int, b: int) -> bool:
    """Two renders of one scene count an object's mask within 2 pixels or 1% (an edge pixel)."""
    return abs(a - b) <= max(2, 0.01 * max(a, b))


def _near(a, b, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=tolerance) for x, y in zip(a, b))


def _near_each(a: dict, b: dict, tolerance: float) -> bool:
    return a.keys() == b.keys() and all(_near(a[k], b[k], tolerance) for k in a)


def row_differences(a: dict, b: dict) -> list[str]:
    """The fields of one step's rows that differ (beyond the tolerances; the subgoal index aside)."""
    out = [f for f in EXACT_ROW if a.get(f) != b.get(f)]
    away = set(a["parked"]) & set(b["parked"])
    if not _near_each(
        {n: p for n, p in a["position"].items() if n not in away},
        {n: p for n, p in b["position"].items() if n not in away},
        POSITION_M,
    ):
        out.append("position")
    if not _near_each(a["pixel"], b["pixel"], PIXEL_PX):
        out.append("pixel")
    if not _near(a.get("tcp_pixel"), b.get("tcp_pixel"), PIXEL_PX):
        out.append("tcp_pixel")
    return out


def _span(rows: list[dict]) -> str:
    return f"{rows[0]['step']}..{rows[-1]['step']} ({len(rows)})" if rows else "none"


def _rows(name: str, a: list[dict], b: list[dict], pairs: list[tuple[int, int]]) -> list[str]:
    if [r["step"] for r in a] != [r["step"] for r in b]:
        return [f"{name}: steps {_span(a)} against {_span(b)}"]
    found: dict[str, list[int]] = {}
    for x, y in zip(a, b):
        fields = row_differences(x, y)
        if x["task_index"] != y.get("task_index") and not _moving(x["step"], x["task_index"] - y["task_index"], pairs):
            fields.append("task_index")
        for field in fields:
            found.setdefault(field, []).append(x["step"])
    return [
        f"{name}: {field} differs at {len(steps)} of {len(a)} steps (first at step {steps[0]})"
        for field, steps in found.items()
    ]


def _moving(step: int, ahead: int, pairs: list[tuple[int, int]]) -> bool:
    """Whether the captured subgoal index may be ``ahead`` of the replayed one at ``step``: one
    behind while a completion lags the replay's, one ahead while it leads it."""
    return any((c > r and r <= step < c and ahead == -1) or (c < r and c <= step < r and ahead == 1) for r, c in pairs)


def _calls(a: list[dict], b: list[dict], masks: bool = True) -> list[str]:
    if [c["step"] for c in a] != [c["step"] for c in b]:
        return [f"calls: frames {[c['step'] for c in a]} against {[c['step'] for c in b]}"]
    out = []
    for x, y in zip(a, b):
        if x["image_sha256"] != y["image_sha256"]:
            out.append(f"calls: step {x['step']}: another recorded image")
        if not masks:
            continue
        seen, other = x["visible"], y["visible"]
        if seen.keys() != other.keys() or not all(same_count(seen[n]["pixels"], other[n]["pixels"]) for n in seen):
            out.append(f"calls: step {x['step']}: visible pixels differ")
        elif not _near_each(
            {n: v["centre"] for n, v in seen.items()}, {n: v["centre"] for n, v in other.items()}, PIXEL_PX
        ):
            out.append(f"calls: step {x['step']}: visible centres differ")
    return out


def _shown(events: Iterable[dict]) -> list[tuple]:
    """Events as what they show, without their step (a demonstration's are compared so)."""
    return [tuple(sorted((k, str(v)) for k, v in e.items() if k not in ("step", "point"))) for e in events]


def completion_pairs(captured: dict, replayed: dict, demo: bool = False) -> list[tuple[int, int]] | None:
    """(replayed step, captured step) of each subgoal completion of execution (``demo``: of the
    video demonstration), in order (None: they complete other subgoals, or a completion and its
    counterpart are not between the neighbouring ones)."""
    done = [
        [e for e in t["events"] if e["kind"] == "subgoal_done" and bool(e.get("demo")) == demo]
        for t in (captured, replayed)
    ]
    if _shown(done[0]) != _shown(done[1]):
        return None
    pairs = [(r["step"], c["step"]) for c, r in zip(*done)]
    return pairs if all(max(p) <= min(q) for p, q in zip(pairs, pairs[1:])) else None


def disagreements(captured: dict, replayed: dict) -> list[str]:
    """Where two truths of one episode differ (empty: they agree; see the module's docstring)."""
    out = [f"{f}: {captured.get(f)!r} against {replayed.get(f)!r}" for f in TOP if captured.get(f) != replayed.get(f)]
    pairs = completion_pairs(captured, replayed)
    if pairs is None:
        out.append("events: the subgoals completed differ, or a completion passes its neighbour's counterpart")
    pairs = pairs or []
    ending = (replayed.get("ended_at"), captured.get("ended_at"))
    if ending[0] != ending[1] and ending not in pairs:
        out.append(f"ended_at: {ending[1]!r} against {ending[0]!r}")
    out += _rows("steps", captured["steps"], replayed["steps"], pairs)
    out += _rows(
        "demonstration",
        captured["demonstration"],
        replayed["demonstration"],
        completion_pairs(captured, replayed, demo=True) or [],
    )
    out += _calls(captured["calls"], replayed["calls"], masks=captured["task"] not in MOVES_AFTER_OBSERVING)
    if captured["grounded"] != replayed["grounded"]:
        out.append("grounded: the grounded points' checks differ")
    back = {
        c: r for r, c in pairs
    }  # a press is noted with its completion: at the replay's step, it should be the replay's
    seen = [
        sorted(
            (back.get(e["step"], e["step"]) if t is captured and e["kind"] == "press" else e["step"], _shown([e])[0])
            for e in t["events"]
            if not e.get("demo") and e["kind"] != "subgoal_done"
        )
        for t in (captured, replayed)
    ]
    if seen[0] != seen[1]:
        out.append(f"events: {len(seen[0])} against {len(seen[1])} in execution, or at other steps")
    shown = [sorted(_shown(e for e in t["events"] if e.get("demo"))) for t in (captured, replayed)]
    if shown[0] != shown[1]:
        out.append(f"events: the demonstration shows {len(shown[0])} against {len(shown[1])}")
    return out
