"""Events read off a replay's positions: StopCube's passes over the target, containers swapping places.

Pure functions of the per-step rows (``{"step", "position": {name: [x, y, z]}, ...}``) and the
objects' kinds, so they are tested without a simulator and can be recomputed from any truth
file. Positions are compared seen from above (x, y), as the camera and the memories see a move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PASS_RADIUS = 0.03
"""Metres from a target's centre, seen from above, within which a cube is over it (StopCube's
target has a radius of 1.8 cube half-sizes, ~0.036 m; its cube runs through the centre)."""
MOVED = 0.03
"""Metres a container must end up from where it rested to have moved (RoboMME's lifts to show
what a container covers put it back within millimetres)."""
STILL = 2e-4
"""Metres per step under which an object is at rest."""
SWAP_WINDOW = 10
"""Steps within which two containers' moves must end to be one swap."""


def _xy_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _names(kinds: dict, kind: str) -> list[str]:
    return sorted(n for n, info in kinds.items() if info["kind"] == kind)


def passes(rows: Sequence[dict], kinds: dict) -> list[dict]:
    """A ``pass`` each time a cube comes over a target (enters :data:`PASS_RADIUS` of its centre).

    The pass the cube stops on counts too: it came over the target once more.
    """
    events = []
    for target in _names(kinds, "target"):
        for cube in _names(kinds, "cube"):
            over, count = False, 0
            for row in rows:
                where = row["position"]
                if cube not in where or target not in where:
                    continue
                now = _xy_distance(where[cube], where[target]) <= PASS_RADIUS
                if now and not over:
                    count += 1
                    events.append({"step": row["step"], "kind": "pass", "object": cube, "target": target, "count": count})
                over = now
    return events


def _moves(rows: Sequence[dict], name: str) -> list[tuple[int, tuple[float, float], tuple[float, float]]]:
    """(step it came to rest, where it rested before, where it rests now) of each move of ``name``."""
    moves, rest, previous, moving = [], None, None, False
    for row in rows:
        p = row["position"].get(name)
        if p is None:
            continue
        here = (p[0], p[1])
        if rest is None:
            rest = here
        elif previous is not None:
            step_len = _xy_distance(here, previous)
            if step_len > STILL:
                moving = True
            elif moving:  # at rest again
                moving = False
                if _xy_distance(here, rest) > MOVED:
                    moves.append((row["step"], rest, here))
                rest = here
        previous = here
    return moves


def swaps(rows: Sequence[dict], kinds: dict) -> list[dict]:
    """A ``swap`` when two containers each end up where the other rested (ButtonUnmaskSwap's shuffles)."""
    moves = {name: _moves(rows, name) for name in _names(kinds, "container")}
    flat = sorted((step, name, start, end) for name, found in moves.items() for step, start, end in found)
    events, used = [], set()
    for i, (step_a, a, start_a, end_a) in enumerate(flat):
        for step_b, b, start_b, end_b in flat[i + 1:]:
            if (step_a, a) in used or (step_b, b) in used or a == b or step_b - step_a > SWAP_WINDOW:
                continue
            if _xy_distance(end_a, start_b) <= MOVED and _xy_distance(end_b, start_a) <= MOVED:
                used |= {(step_a, a), (step_b, b)}
                events.append({"step": max(step_a, step_b), "kind": "swap", "objects": sorted([a, b])})
    return events
