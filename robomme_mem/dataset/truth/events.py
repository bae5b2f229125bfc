"""Events read off a replay's positions: StopCube's passes over the target, containers swapping places.

Pure functions of the per-step rows (``{"step", "position": {name: [x, y, z]}, ...}``) and the
objects' kinds, so they are tested without a simulator and can be recomputed from any truth
file. Positions are compared seen from above (x, y), as the camera and the memories see a move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PARKED_BEYOND = 2.0
"""Metres from the table's origin past which RoboMME keeps an object out of the scene (unused
objects wait near (10, 10, 10); a cube dropped into BinFill's bin is moved there)."""
PASS_RADIUS = 0.03
"""Metres from a target's centre, seen from above, within which a cube is over it (StopCube's
target has a radius of 1.8 cube half-sizes, ~0.036 m; its cube runs through the centre)."""
ON_PLACE = 0.01
"""Metres, seen from above, within which a container stands on a place (RoboMME's lifts, to
show what a container covers, put it back within millimetres)."""


def in_scene(position: Sequence[float]) -> bool:
    return max(abs(v) for v in position) <= PARKED_BEYOND


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
                    events.append(
                        {"step": row["step"], "kind": "pass", "object": cube, "target": target, "count": count}
                    )
                over = now
    return events


def _place_of(here: Sequence[float], places: list[tuple[float, float]]) -> int | None:
    for index, place in enumerate(places):
        if _xy_distance(here, place) <= ON_PLACE:
            return index
    return None


def swaps(rows: Sequence[dict], kinds: dict) -> list[dict]:
    """A ``swap`` each time containers have traded places (ButtonUnmaskSwap's shuffles).

    The places are where the containers stand once all of them are in the scene. Whenever every container
    stands on a place again, the containers whose place changed since the last such step
    traded places: two of them in a swap (RoboMME's shuffles swap pairs, sometimes back to
    back, so one container may never come to rest between two swaps). A container lifted and
    put back, or carried away, changes nothing.
    """
    names = _names(kinds, "container")
    start = next(
        (i for i, row in enumerate(rows) if all(n in row["position"] and in_scene(row["position"][n]) for n in names)),
        None,
    )
    if len(names) < 2 or start is None:
        return []
    first = rows[start]["position"]
    places = [(first[n][0], first[n][1]) for n in names]
    last = {n: i for i, n in enumerate(names)}
    events = []
    for row in rows[start + 1 :]:
        where = row["position"]
        now = {n: _place_of(where[n], places) for n in names if n in where}
        if len(now) != len(names) or None in now.values() or len(set(now.values())) != len(names):
            continue  # someone is on the way
        moved = sorted(n for n in names if now[n] != last[n])
        if moved:
            events.append({"step": row["step"], "kind": "swap", "objects": moved})
            last = now
    return events
