"""Whether a replay is the recorded episode: its images and its targets, judged against thresholds.

A replay that drifts (another simulator build, another physics step, a cast of the actions)
would write truth about a scene the demonstration never showed. An episode whose replayed call
frames differ from the recorded ones by more than ``max_mean_diff`` (mean absolute, 0..255),
whose target is further than ``max_point_px`` from a grounded subgoal's point, or whose replay
does not end as the recording did, gets no truth, and the run says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_MEAN_DIFF = 6.0
"""Mean absolute difference (0..255) a replayed call frame may have from the recorded one.
Replays of real episodes with stock ManiSkill differ by under 2; a frame of another scene
(an object moved by a centimetre, the arm in another pose) differs by far more."""
MAX_POINT_PX = 4.0
"""Distance a grounded subgoal's point may lie from the truth's mask centre of its target."""


@dataclass(frozen=True)
class Thresholds:
    max_mean_diff: float = MAX_MEAN_DIFF
    max_point_px: float = MAX_POINT_PX


def problems(truth: dict, thresholds: Thresholds = Thresholds()) -> list[str]:
    """Why an episode's replay is not its recording (empty: it is)."""
    out = []
    worst = max(truth["calls"], key=lambda c: c["image_diff"]["mean"], default=None)
    if worst is not None and worst["image_diff"]["mean"] > thresholds.max_mean_diff:
        out.append(
            f"replayed frame at step {worst['step']} differs from the recorded one by {worst['image_diff']['mean']:.2f}/255 on average "
            f"(threshold {thresholds.max_mean_diff})"
        )
    for check in truth["grounded"]:
        if check["distance"] is None:
            out.append(
                f"step {check['step']}: the target {check['target']} of {check['subgoal']!r} is not visible in the replay"
            )
        elif check["distance"] > thresholds.max_point_px:
            out.append(
                f"step {check['step']}: {check['subgoal']!r} points at {tuple(check['point'])}, the replayed {check['target']} "
                f"is at {tuple(check['truth'])} ({check['distance']:.1f} px, threshold {thresholds.max_point_px})"
            )
    if truth["status"] != truth["recorded_status"]:
        out.append(f"the replay ended {truth['status']!r}, the recording {truth['recorded_status']!r}")
    return out


def distance(a, b) -> float | None:
    return None if a is None or b is None else math.dist(a, b)


def judged(truth: dict, key: dict, thresholds: Thresholds = Thresholds()) -> dict:
    """A truth's record in the truth file: the episode with its ``key``, or, where it has
    :func:`problems`, a refusal saying why, with its worst frame and grounded point."""
    found = problems(truth, thresholds)
    if not found:
        return {"kind": "episode", "key": key, **truth}
    return {
        "kind": "refused",
        "key": key,
        "task": truth["task"],
        "episode": truth["episode"],
        "status": truth["status"],
        "seconds": truth["seconds"],
        "problems": found,
        "worst_image_diff": max((c["image_diff"]["mean"] for c in truth["calls"]), default=None),
        "worst_point_px": max((g["distance"] for g in truth["grounded"] if g["distance"] is not None), default=None),
    }
