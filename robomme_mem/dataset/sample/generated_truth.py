"""The embedded sample's scene truth, written by the generator that draws it.

The generator knows where every object is at every step (it placed them), so the sample ships
the truth file ``robomme-mem truth`` would write for a recorded episode, with no simulator: the
same record (:mod:`.truth.files`), the same events (:func:`.truth.story.episode_events`), visible
pixels counted on an object-id image drawn with the frame. This is what lets a newcomer run
``robomme-mem audit --truth sample --pictures DIR`` on the first day.

Positions are the drawn pixels on a table seen from straight above (:data:`METRES_PER_PIXEL`),
with heights that say what is stacked or carried, so the truth's rules (what is under what, what
is held, what passed over a target) read them as they read a replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ... import __version__
from ...subgoals import first_point
from ..checksum import SOURCE_CHECKSUM, file_checksum, image_sha256
from ..plan import plan_episode
from ..source import SourceFile
from ..spec import BuildSpec
from ..truth.fidelity import distance
from ..truth.geometry import mask_centres
from ..truth.story import episode_events
from ..truth.truth_file import TruthWriter
from .generator import COLOURS, GENERATOR, Frame, Thing, episode_seed, play, segmentation

METRES_PER_PIXEL = 0.002
"""The drawn table's scale: 256 pixels are half a metre."""
PARKED = [10.0, 10.0, 10.0]
"""Where RoboMME keeps an object out of the scene (:data:`.truth.events.PARKED_BEYOND`)."""
HEIGHT = {"held": 0.10, "container": 0.04}
"""Metres above the table: a carried object, a container (over the cube it hides); others 0.02."""
UNDER_PX = 2
SIMULATOR = {"generator": GENERATOR, "robomme-mem": __version__}
"""What made the truth, in the place a replay's truth names its simulator."""
_COLOUR_NAMES = {rgb: name for name, rgb in COLOURS.items()}


def _objects(things: dict[str, Thing]) -> dict[str, dict]:
    return {
        name: {"kind": t.kind, "colour": _COLOUR_NAMES.get(t.colour) if t.kind == "cube" else None}
        for name, t in sorted(things.items())
        if t.kind != "halo"
    }


def _position(thing: Thing) -> list[float]:
    if thing.parked:
        return list(PARKED)
    z = HEIGHT["held"] if thing.held else HEIGHT.get(thing.kind, 0.02)
    return [round(thing.yx[1] * METRES_PER_PIXEL, 4), round(thing.yx[0] * METRES_PER_PIXEL, 4), z]


def _row(frame: Frame, names: Iterable[str]) -> dict:
    """A truth row (:func:`.truth.replay._state`'s fields) of one drawn frame."""
    things = frame.things
    names = list(names)
    held = [n for n in names if things[n].held]
    under = {}
    for cube in names:
        c = things[cube]
        if c.kind != "cube" or c.parked or c.held:
            continue
        for container in names:
            k = things[container]
            if (
                k.kind == "container"
                and not k.parked
                and abs(c.yx[0] - k.yx[0]) <= UNDER_PX
                and abs(c.yx[1] - k.yx[1]) <= UNDER_PX
            ):
                under[cube] = container
    row = {
        "step": frame.step,
        "task_index": max(frame.segment, 0),
        "position": {n: _position(things[n]) for n in names},
        "pixel": {n: None if things[n].parked else list(things[n].yx) for n in names},
        "held": held,
        "under": under,
        "parked": sorted(n for n in names if things[n].parked),
        "gripper_closed": bool(held),
        "tcp_pixel": [int(round(frame.gripper[0])), int(round(frame.gripper[1]))],
        "highlighted": sorted(n for n in names if f"halo_{n}" in things),
    }
    if frame.video:
        row["demo"] = True
    return row


def _targets(frame: Frame, target: tuple[int, int], names: list[str]) -> list[str]:
    """The objects a subgoal aims at, as it begins: those standing at its point; the visible ones
    the gripper does not hold first (a cube carried over a target is not what a placement aims at)."""
    things = frame.things
    here = [n for n in names if things[n].yx == tuple(target) and not things[n].parked]
    seen = [n for n in here if things[n].visible]
    return [n for n in seen if not things[n].held] or seen or here


def episode_truth(
    task: str, episode: int, call_frames: Iterable[int], boundaries: Iterable[int], *, seed: int = 0
) -> dict:
    """The truth record of one generated episode (without its ``key``), drawn step by step."""
    script, frames = play(task, episode, seed)
    objects = _objects(script.things)
    names = sorted(objects)
    ids = {name: i + 1 for i, name in enumerate(names)}
    calls_at, starts = set(call_frames), set(boundaries)
    rows, demo, calls, grounded, completions = [], [], [], [], []
    aimed: dict[int, list[str]] = {}
    start, steps, ended = script.video_steps, 0, None
    for frame in frames:
        steps += 1
        row = _row(frame, names)
        (demo if frame.video else rows).append(row)
        if frame.done is not None:
            completions.append(
                {
                    "step": frame.step,
                    "kind": "subgoal_done",
                    "subgoal": frame.done.simple,
                    "targets": aimed[frame.segment - 1],
                }
            )
        if frame.boundary and 0 <= frame.segment < len(script.segments) and not frame.video:
            aimed[frame.segment] = _targets(frame, script.segments[frame.segment].target, names)
            if frame.completed:
                ended = frame.step
        if frame.step in calls_at and not frame.video:
            visible = mask_centres(segmentation(frame.things, frame.gripper, ids), {n: [ids[n]] for n in names})
            visible = {
                n: {"pixels": v["pixels"], "centre": list(v["centre"]) if v["centre"] else None}
                for n, v in visible.items()
            }
            calls.append(
                {
                    "step": frame.step,
                    "image_sha256": image_sha256(frame.image),
                    "visible": visible,
                    "image_diff": {"mean": 0.0, "max": 0},
                }
            )
            point = first_point(frame.grounded) if frame.step in starts else None
            if point is not None:
                targets = aimed[frame.segment]
                found = [visible[t]["centre"] for t in targets if visible[t]["centre"]]
                truth = min(found, key=lambda c: distance(c, point)) if found else None
                grounded.append(
                    {
                        "step": frame.step,
                        "subgoal": frame.grounded,
                        "point": list(point),
                        "target": ",".join(targets) or None,
                        "truth": list(truth) if truth else None,
                        "distance": distance(truth, point),
                    }
                )
    return {
        "task": task,
        "episode": episode,
        "seed": episode_seed(task, episode, seed),
        "difficulty": script.difficulty,
        "execution_start": start,
        "num_steps": steps,
        "objects": objects,
        "status": "success",
        "ended_at": ended,
        "recorded_status": "success",
        "steps": rows,
        "demonstration": demo,
        "calls": calls,
        "grounded": grounded,
        "events": episode_events(task, rows, objects, completions, demo),
        "seconds": {},
    }


def write_sample_truth(files: Iterable[Path], out: Path, spec: BuildSpec, *, seed: int = 0) -> Path:
    """``out``: the truth of every episode of the generated ``files``, keyed as a replay's would be."""
    writer = TruthWriter(out, {"package": {"name": "robomme-mem", "version": __version__}, "simulator": SIMULATOR})
    for path in files:
        checksum = file_checksum(path)[0]
        with SourceFile(path) as source:
            for index in source.episode_indices:
                planned = plan_episode(source.episode(index), spec.stride_for)
                timeline = planned.timeline
                record = episode_truth(
                    planned.task, index, timeline.call_frames, [s.start for s in timeline.segments], seed=seed
                )
                key = {"file": Path(path).name, SOURCE_CHECKSUM: checksum, "episode": index, "simulator": SIMULATOR}
                writer.append({"kind": "episode", "key": key, **record})
    return out
