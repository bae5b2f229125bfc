"""Rows of the ``scene`` config: one per call frame, what the simulator says is in it.

Made from an episode's scene truth (``robomme-mem truth``) and the build's own plan and frames,
for reuse outside this project: every task object with its kind and colour, where it is (its
world position and its pixel on the front image), how much of it the camera sees and where its
mask's centre is (the rule RoboMME's grounded points follow), what hides it, whether the gripper
holds it, what it is inside, and the events since the previous call frame. The image is the
recorded call frame, the one every other config embeds; the row says how far the replay's own
picture of that frame was from it (``image_diff_mean``).
"""

from __future__ import annotations

import json

from ..layout import image_path
from ..plan import PlannedEpisode


class SceneMismatch(ValueError):
    """A truth that does not describe the episode being built (another spec's call frames, say)."""


def _inside(name: str, step: int, objects: dict, left: dict[str, int], parked: set[str]) -> str | None:
    """The bin an object went into: it left the scene (RoboMME moves a binned cube away) in a task with a bin."""
    if name not in parked or name not in left or left[name] > step:
        return None
    return next((n for n, info in sorted(objects.items()) if info["kind"] == "bin"), None)


def scene_rows(planned: PlannedEpisode, truth: dict) -> list[dict]:
    """The ``scene`` rows of one episode (pure: its plan and its truth); each row's ``image`` is its call
    frame's path in the build, whose PNG bytes the writer embeds (:meth:`.write.folder.BuildWriters.add_scene`)."""
    name = planned.name
    if (truth.get("task"), truth.get("episode")) != (planned.task, planned.episode):
        raise SceneMismatch(f"{name}: the truth record is of {truth.get('task')} episode {truth.get('episode')}")
    steps = {row["step"]: row for row in truth["steps"]}
    calls = {call["step"]: call for call in truth["calls"]}
    timeline = planned.timeline
    missing = [s for s in timeline.call_frames if s not in calls or s not in steps]
    if missing:
        raise SceneMismatch(
            f"{name}: the truth has no call frame at step(s) {missing[:5]} (it was recorded with another build spec's "
            "strides: run `robomme-mem truth` with this spec)"
        )
    objects = truth["objects"]
    left: dict[str, int] = {}
    for event in truth.get("events", []):
        if event["kind"] == "left_scene":
            left.setdefault(event["object"], event["step"])
        elif event["kind"] == "entered_scene":
            left.pop(event["object"], None)
    failure = json.dumps(planned.injected_failure, sort_keys=True) if planned.injected_failure else None
    rows, previous = [], -1
    for step in timeline.call_frames:
        row, call = steps[step], calls[step]
        segment = timeline.segment_of(step)
        parked, held, under = set(row.get("parked", [])), set(row.get("held", [])), row.get("under", {})
        highlighted = set(row.get("highlighted", []))
        listed = []
        for obj, info in sorted(objects.items()):
            seen = call["visible"].get(obj, {"pixels": 0, "centre": None})
            pixel = row["pixel"].get(obj)
            listed.append(
                {
                    "name": obj,
                    "kind": info["kind"],
                    "colour": info.get("colour"),
                    "point": list(pixel) if pixel else None,
                    "mask_point": list(seen["centre"]) if seen.get("centre") else None,
                    "visible_pixels": int(seen["pixels"]),
                    "position": [float(v) for v in row["position"][obj]],
                    "in_scene": obj not in parked,
                    "hidden_by": under.get(obj),
                    "held": obj in held,
                    "inside": _inside(obj, step, objects, left, parked),
                    "highlighted": obj in highlighted,
                }
            )
        events = [
            {
                "step": e["step"],
                "kind": e["kind"],
                "object": e.get("object") or ",".join(e.get("targets") or e.get("objects") or []) or None,
                "subgoal": e.get("subgoal"),
            }
            for e in truth.get("events", [])
            if previous < e["step"] <= step
        ]
        path = image_path(planned.task, planned.episode, step)
        rows.append(
            {
                "image": path,
                "task": planned.task,
                "episode": planned.episode,
                "frame": step,
                "segment": segment.index,
                "is_boundary": step == segment.start,
                "subgoal": planned.simple_subgoal(step),
                "grounded_subgoal": planned.grounded_subgoal(step),
                "objects": listed,
                "events": events,
                "image_diff_mean": float(call["image_diff"]["mean"]),
                "injected_failure": failure,
            }
        )
        previous = step
    return rows
