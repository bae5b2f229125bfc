"""Rows of the ``baseline_simple`` and ``baseline_grounded`` configs: RoboMME's QwenVL subgoal data.

These reproduce the rows of RoboMME's reference builder (``build_vlm_subgoal_dataset_qwenvl.py``)
for the same call frames, so our memory variants are compared with RoboMME's baseline on one
build. Rules, as the reference applies them:

- texts are lower-cased; a call whose subgoal contains "complete" takes the subgoal of the
  previous *call* (not the previous step);
- the history lists the distinct consecutive subgoals of earlier calls and is updated after
  the prompt is built, so from the second call of a segment on it already ends with the
  current subgoal; an empty history is "This is the initial turn for prediction";
- grounded targets turn each ``at <a, b>`` into ``at <bbox>`` and carry ``objects.bbox``:
  the points of the history (which grows only when the grounded text changes) plus the
  current ones, kept in RoboMME's own order, each coordinate jittered by -2..+1 and clipped
  to [0, 255];
- video tasks prefix the user prompt with ``<video>`` and add ``videos: [mp4 of the demo]``.

Deliberate differences: the jitter comes from a generator seeded per episode (the reference
draws from the global NumPy state), keyframe duplication is off unless asked for, and a first
call that only sees a "complete" marker uses its segment's subgoal instead of ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...prompts import (
    BASELINE_HISTORY_GROUNDED,
    BASELINE_HISTORY_SIMPLE,
    BASELINE_INITIAL_TURN,
    BASELINE_SYSTEM_GROUNDED,
    BASELINE_SYSTEM_SIMPLE,
    BASELINE_USER_GROUNDED,
    BASELINE_USER_SIMPLE,
    GROUNDED_BOX_PLACEHOLDER,
    VIDEO_PLACEHOLDER,
    PromptTemplate,
    format_history,
)
from ...subgoals import AT_POINT_RE, is_complete_marker, point_of

POINT_NOISE_LOW, POINT_NOISE_HIGH = -2, 2  # numpy's randint(-2, 2): -2..+1
PIXEL_MAX = 255


@dataclass(frozen=True)
class BaselineCall:
    """What one call frame contributes: raw texts at the step and the image path to write."""

    step: int
    simple: str
    grounded: str
    image: str
    segment_simple: str
    """Simple subgoal of the call's segment: used only if the very first call is a "complete" marker."""
    segment_grounded: str


@dataclass(frozen=True)
class BaselineRow:
    step: int
    simple: dict
    grounded: dict
    copies: int = 1


def to_qwen_points(grounded: str) -> tuple[str, list[list[int]]]:
    """``"pick up the cube at <86, 136>"`` -> (``"pick up the cube at <bbox>"``, ``[[86, 136]]``)."""
    points = [list(point_of(y, x)) for y, x in AT_POINT_RE.findall(grounded)]
    return AT_POINT_RE.sub("at " + GROUNDED_BOX_PLACEHOLDER, grounded), points


def jitter_points(points: Sequence[Sequence[int]], rng: np.random.Generator) -> list[list[int]]:
    """The reference's point noise: each coordinate + randint(-2, 2), clipped to the 256-pixel image."""
    if not points:
        return []
    noise = rng.integers(POINT_NOISE_LOW, POINT_NOISE_HIGH, size=(len(points), 2))
    return [
        [min(max(a + int(da), 0), PIXEL_MAX), min(max(b + int(db), 0), PIXEL_MAX)]
        for (a, b), (da, db) in zip(points, noise)
    ]


def user_prompt(
    template: PromptTemplate, history_template: PromptTemplate, goal: str, history: list[str], video: bool
) -> str:
    history_line = (
        history_template.render(history=format_history(history)) if history else BASELINE_INITIAL_TURN.render()
    )
    return template.render(video=VIDEO_PLACEHOLDER if video else "", task_goal=goal, history_line=history_line)


def baseline_rows(
    goal: str,
    calls: Sequence[BaselineCall],
    *,
    video: str | None,
    rng: np.random.Generator,
    duplicates: Mapping[int, int] | None = None,
) -> list[BaselineRow]:
    """Both baseline rows for every call of one episode, in call order.

    ``goal`` is the lower-cased task goal; ``duplicates`` (step -> extra copies) turns on
    the reference's keyframe duplication.
    """
    simple_history: list[str] = []
    grounded_history: list[str] = []
    grounded_points: list[list[int]] = []
    last_simple: str | None = None
    last_grounded: str | None = None
    rows: list[BaselineRow] = []
    for call in calls:
        simple = call.simple.lower()
        grounded = call.grounded.lower()
        if is_complete_marker(simple):
            simple = last_simple if last_simple is not None else call.segment_simple.lower()
        if is_complete_marker(grounded):
            grounded = last_grounded if last_grounded is not None else call.segment_grounded.lower()
        target, points = to_qwen_points(grounded)

        simple_row = {
            "messages": [
                {"role": "system", "content": BASELINE_SYSTEM_SIMPLE.render()},
                {
                    "role": "user",
                    "content": user_prompt(
                        BASELINE_USER_SIMPLE, BASELINE_HISTORY_SIMPLE, goal, simple_history, video is not None
                    ),
                },
                {"role": "assistant", "content": simple},
            ],
            "images": [call.image],
        }
        grounded_row = {
            "messages": [
                {"role": "system", "content": BASELINE_SYSTEM_GROUNDED.render()},
                {
                    "role": "user",
                    "content": user_prompt(
                        BASELINE_USER_GROUNDED, BASELINE_HISTORY_GROUNDED, goal, grounded_history, video is not None
                    ),
                },
                {"role": "assistant", "content": target},
            ],
            "objects": {"ref": [], "bbox": jitter_points(grounded_points + points, rng)},
            "images": [call.image],
        }
        if video is not None:
            simple_row["videos"] = [video]
            grounded_row["videos"] = [video]

        if not simple_history or simple_history[-1] != simple:
            simple_history.append(simple)
        if not grounded_history or grounded_history[-1] != target:
            grounded_history.append(target)
            grounded_points.extend(points)

        copies = 1 + (duplicates or {}).get(call.step, 0)
        rows.append(BaselineRow(step=call.step, simple=simple_row, grounded=grounded_row, copies=copies))
        last_simple, last_grounded = simple, grounded
    return rows
