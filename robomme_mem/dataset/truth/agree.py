"""Whether two truths of one episode agree: the one captured while recording and a replay's.

Both come from the same simulator stepping the same actions, so they are held to what a
replay can reproduce: positions within :data:`POSITION_M`, pixels within :data:`PIXEL_PX`, and
everything else (held, under, parked, the gripper, highlights, subgoal indices, visible pixel
counts, events, grounded checks, the ending) exactly. A call frame's image difference is not
compared: a capture's image is the recorded one (difference 0 by construction). The video
demonstration's rows are compared by what they show, not by count: RoboMME's reset plays one
settling step after the demonstration that the recorder does not keep.

One thing differs by design: when the env's subgoal index moves on. The replay's env (made for
evaluation) moves it at the step the subgoal's check first passes; RoboMME's recording flow moves
it when the solver has finished the subgoal (it asks the env between solves), so a placement's
completion is noted after the arm has let go and lifted. A captured ``subgoal_done`` may
therefore come later than the replay's, never earlier and never past the replay's next one, and
between the two the rows' subgoal index is the previous one, and a press (the env's completion
of a press subgoal) comes with its completion. What the physics shows (picks, placements, failed
grasps, swaps, passes) must be at the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

POSITION_M = 1e-3
"""Metres two truths' positions of one object at one step may differ by."""
PIXEL_PX = 1
"""Pixels (in y and in x) two truths' projections or mask centres may differ by."""
TOP = ("task", "episode", "seed", "difficulty", "execution_start", "num_steps", "objects", "status", "ended_at", "recorded_status")
EXACT_ROW = ("task_index", "held", "under", "parked", "gripper_closed", "highlighted")


def _near(a, b, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=tolerance) for x, y in zip(a, b))


def _near_each(a: dict, b: dict, tolerance: float) -> bool:
    return a.keys() == b.keys() and all(_near(a[k], b[k], tolerance) for k in a)


def row_differences(a: dict, b: dict) -> list[str]:
    """The fields of one step's rows that differ (beyond the tolerances)."""
    out = [f for f in EXACT_ROW if a.get(f) != b.get(f)]
    if not _near_each(a["position"], b["position"], POSITION_M):
        out.append("position")
    if not _near_each(a["pixel"], b["pixel"], PIXEL_PX):
        out.append("pixel")
    if not _near(a.get("tcp_pixel"), b.get("tcp_pixel"), PIXEL_PX):
        out.append("tcp_pixel")
    return out


def _rows(name: str, a: list[dict], b: list[dict]) -> list[str]:
    if [r["step"] for r in a] != [r["step"] for r in b]:
        return [f"{name}: steps {_span(a)} against {_span(b)}"]
    found: dict[str, list[int]] = {}
    for x, y in zip(a, b):
        for field in row_differences(x, y):
            found.setdefault(field, []).append(x["step"])
    return [f"{name}: {field} differs at {len(steps)} of {len(a)} steps (first at step {steps[0]})" for field, steps in found.items()]


def _span(rows: list[dict]) -> str:
    return f"{rows[0]['step']}..{rows[-1]['step']} ({len(rows)})" if rows else "none"


def _calls(a: list[dict], b: list[dict]) -> list[str]:
    if [c["step"] for c in a] != [c["step"] for c in b]:
        return [f"calls: frames {[c['step'] for c in a]} against {[c['step'] for c in b]}"]
    out = []
    for x, y in zip(a, b):
        if x["image_sha256"] != y["image_sha256"]:
            out.append(f"calls: step {x['step']}: another recorded image")
        pixels = {n: v["pixels"] for n, v in x["visible"].items()} != {n: v["pixels"] for n, v in y["visible"].items()}
        centres = not _near_each({n: v["centre"] for n, v in x["visible"].items()}, {n: v["centre"] for n, v in y["visible"].items()}, PIXEL_PX)
        if pixels or centres:
            out.append(f"calls: step {x['step']}: visible {'pixels' if pixels else 'centres'} differ")
    return out


def _shown(events: Iterable[dict]) -> list[tuple]:
    """Events as what they show, without their step (a demonstration's are compared so)."""
    return [tuple(sorted((k, str(v)) for k, v in e.items() if k not in ("step", "point"))) for e in events]


def completion_lags(captured: dict, replayed: dict) -> list[tuple[int, int]] | None:
    """(replayed step, captured step) of each subgoal completion of execution, in order (None:
    they complete other subgoals, or a captured one comes before the replay's or after its next)."""
    done = [[e for e in t["events"] if e["kind"] == "subgoal_done" and not e.get("demo")] for t in (captured, replayed)]
    if _shown(done[0]) != _shown(done[1]):
        return None
    pairs = [(r["step"], c["step"]) for c, r in zip(*done)]
    nexts = [r for r, _ in pairs[1:]] + [math.inf]
    return pairs if all(r <= c <= after for (r, c), after in zip(pairs, nexts)) else None


def _lagging(row: dict, other: dict, windows: list[tuple[int, int]]) -> bool:
    """Whether a captured row's subgoal index is the previous one within a completion's lag."""
    return any(r <= row["step"] < c for r, c in windows) and row["task_index"] == other["task_index"] - 1


def disagreements(captured: dict, replayed: dict) -> list[str]:
    """Where two truths of one episode differ (empty: they agree; see the module's docstring)."""
    out = [f"{f}: {captured.get(f)!r} against {replayed.get(f)!r}" for f in TOP if captured.get(f) != replayed.get(f)]
    lags = completion_lags(captured, replayed)
    if lags is None:
        out.append("events: the subgoals completed differ, or a captured completion is not within the replay's")
    windows = [(r, c) for r, c in lags or [] if c > r]
    steps = [dict(row, task_index=other["task_index"]) if _lagging(row, other, windows) else row
             for row, other in zip(captured["steps"], replayed["steps"])] + captured["steps"][len(replayed["steps"]):]
    out += _rows("steps", steps, replayed["steps"])
    out += _calls(captured["calls"], replayed["calls"])
    if captured["grounded"] != replayed["grounded"]:
        out.append("grounded: the grounded points' checks differ")
    back = {c: r for r, c in lags or []}  # a press is noted with its completion: at the replay's step, it should be the replay's
    seen = [sorted((back.get(e["step"], e["step"]) if t is captured and e["kind"] == "press" else e["step"], _shown([e])[0])
                   for e in t["events"] if not e.get("demo") and e["kind"] != "subgoal_done") for t in (captured, replayed)]
    if seen[0] != seen[1]:
        out.append(f"events: {len(seen[0])} against {len(seen[1])} in execution, or at other steps")
    shown = [_shown(e for e in t["events"] if e.get("demo")) for t in (captured, replayed)]
    if shown[0] != shown[1]:
        out.append(f"events: the demonstration shows {len(shown[0])} against {len(shown[1])}")
    return out
