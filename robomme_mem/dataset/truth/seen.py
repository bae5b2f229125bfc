"""What the front camera has seen of each object by a call frame: the one account both the
``truth`` labeller (what a memory may say) and the audit (what a memory should have said) use."""

from __future__ import annotations

import math
from dataclasses import dataclass

PARTIAL = 0.5
"""A sighting with under this share of the most pixels an object has shown is partial (the arm hides part of it)."""
MOVED_PX = 20
"""Pixels from where an object was last seen beyond which a partial sighting still counts: it has moved."""
MIN_VISIBLE_PX = 20
"""Pixels of an object's mask below which the camera is not taken to see it (a sliver behind the arm)."""


@dataclass(frozen=True)
class Seen:
    last: dict[str, tuple[int, int]]
    """Where the camera last saw each object (its mask centre)."""
    every: dict[str, list[tuple[int, int]]]
    """Every place the camera saw each object at, oldest first."""
    lit: dict[str, tuple[int, int]]
    """Where each highlighted object was last seen while its white area was shown (PickHighlight)."""
    shown_before: frozenset[str]
    """In a video task, the cubes the containers cover when execution starts: the demonstration
    video showed them (its frames are not rendered by the truth, so this one fact comes from the
    task's design, not a camera)."""

    def known(self, name: str) -> bool:
        return name in self.last or name in self.shown_before


def visible_now(call: dict, name: str) -> bool:
    return call["visible"].get(name, {}).get("pixels", 0) >= MIN_VISIBLE_PX


def seen_by(episode: dict, index: int, rows: dict[int, dict] | None = None) -> Seen:
    """What the camera has seen by call ``index`` of a truth episode (``rows``: its steps by step)."""
    rows = rows if rows is not None else {r["step"]: r for r in episode["steps"]}
    last: dict[str, tuple[int, int]] = {}
    every: dict[str, list[tuple[int, int]]] = {}
    lit: dict[str, tuple[int, int]] = {}
    best: dict[str, int] = {}
    for call in episode["calls"][: index + 1]:
        for name, v in call["visible"].items():
            if v["pixels"] >= MIN_VISIBLE_PX:
                centre = tuple(v["centre"])
                partial = v["pixels"] < PARTIAL * best.get(name, 0)
                if not (partial and name in last and math.dist(centre, last[name]) <= MOVED_PX):
                    last[name] = (
                        centre  # a half-hidden object's mask centre is off its middle: kept only once it has moved
                    )
                best[name] = max(best.get(name, 0), v["pixels"])
                every.setdefault(name, []).append(centre)
                if name in rows[call["step"]].get("highlighted", []):
                    lit[name] = last[name]
    before = (
        frozenset(rows[episode["calls"][0]["step"]].get("under", {}))
        if episode.get("execution_start", 0) > 0
        else frozenset()
    )
    return Seen(last, every, lit, before)


def never_seen(episode: dict) -> frozenset[str]:
    """Objects the camera never shows at any call frame (VideoPlaceButton's and VideoPlaceOrder's
    ``goal_site``, a marker the video's last drop aims at): no memory names them, and a cube
    let go over one is on the table."""
    seen = {
        n
        for call in episode.get("calls", [])
        for n, v in call["visible"].items()
        if v.get("pixels", 0) >= MIN_VISIBLE_PX
    }
    return frozenset(n for n in episode.get("objects", {}) if n not in seen)
