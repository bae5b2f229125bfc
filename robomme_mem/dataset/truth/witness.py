"""What is true at each step of an episode as it runs in RoboMME's simulator: one witness for the
replay and for the recorder.

A :class:`Witness` is told after each recorded action (:func:`.replay.replay` steps the recorded
actions; :mod:`.capture` rides RoboMME's recorder while it records) and notes, from the env
itself, every task object's world position and its pixel on the front camera (from the step's
extrinsic and the setup's intrinsic), the objects the gripper holds, each cube under a container,
the objects RoboMME keeps out of the scene, the highlights shown, the env's current subgoal and
the subgoals it completes, and how the episode ended. Row ``k`` is the scene after the action
recorded at step ``k``: what RoboMME's recorder stores at ``timestep_<k>`` (its image included).

:func:`call_row`, :func:`grounded_check` and :func:`truth_record` make the rest of a truth record
the same way for both, so a captured truth and a replayed one can be compared field by field.
"""

from __future__ import annotations

import re

import numpy as np

from ...subgoals import first_point
from ..checksum import image_sha256
from ..plan import PlannedEpisode
from ..source import Episode
from .events import in_scene
from .fidelity import distance
from .geometry import image_difference, mask_centres, project
from .story import episode_events

NOT_TASK_OBJECTS = re.compile(r"^(panda_|camera_|table-workspace$|ground$)")
"""Segmentation entries that are the robot, the camera mount or the room, not task objects."""
UNDER_XY = 0.02
"""Metres between a cube's and a container's centres, seen from above, within which a cube
lower than the container is under it."""
GRASP_REACH = 0.08
"""Metres between an object's centre and the gripper's tool point beyond which it cannot be held."""


def object_name(obj, shared: set[str]) -> str:
    """An object's name in the truth: RoboMME's own, qualified by its articulation where two
    articulations have links of that name (ButtonUnmaskSwap's two buttons each have a
    ``button_cap``: ``button_left.button_cap`` and ``button_right.button_cap``)."""
    name = getattr(obj, "name", str(obj))
    articulation = getattr(getattr(obj, "articulation", None), "name", None)
    return f"{articulation}.{name}" if name in shared and articulation else name


def _task_entries(env) -> list[tuple[int, object]]:
    return [
        (int(seg_id), obj)
        for seg_id, obj in sorted(env.segmentation_id_map.items())
        if not NOT_TASK_OBJECTS.match(getattr(obj, "name", str(obj)))
    ]


def _shared_names(entries) -> set[str]:
    """Names more than one task object carries (counting a link once however many ids it has)."""
    seen: dict[str, set[int]] = {}
    for _, obj in entries:
        seen.setdefault(getattr(obj, "name", str(obj)), set()).add(id(obj))
    return {name for name, objs in seen.items() if len(objs) > 1}


def task_objects(env) -> dict[str, list[int]]:
    """Segmentation ids of each task object, by its truth name (:func:`object_name`)."""
    entries = _task_entries(env)
    shared = _shared_names(entries)
    out: dict[str, list[int]] = {}
    for seg_id, obj in entries:
        out.setdefault(object_name(obj, shared), []).append(seg_id)
    return out


def _objects_by_name(env) -> dict:
    """Each task object by its truth name."""
    entries = _task_entries(env)
    shared = _shared_names(entries)
    return {object_name(obj, shared): obj for _, obj in entries}


def as_numpy(value) -> np.ndarray:
    """A simulator value (a torch tensor, or anything array-like) as a NumPy array."""
    return value.cpu().numpy() if hasattr(value, "cpu") else np.asarray(value)


def _position(obj) -> list[float]:
    return [round(float(v), 5) for v in as_numpy(obj.pose.p).reshape(-1, 3)[0]]


def _holds(env, obj, tcp: np.ndarray) -> bool:
    """Whether the gripper holds ``obj``: ManiSkill's contact test, asked only of objects within
    :data:`GRASP_REACH` of the gripper (the test reads contact forces, and costs ~0.7 ms)."""
    if np.linalg.norm(np.asarray(_position(obj)) - tcp) > GRASP_REACH:
        return False
    try:
        return bool(env.agent.is_grasping(obj).any())
    except Exception:  # noqa: BLE001  (links and fixtures cannot be grasped; ManiSkill says so by raising)
        return False


CUBES_NAMED_BIN = {"VideoRepick"}
"""Tasks whose cubes RoboMME names ``bin_<i>`` (elsewhere ``bin_<i>`` is a container); they share one colour."""


def kind_of(name: str, task: str | None = None) -> dict:
    """RoboMME's object name as the memories' vocabulary: its kind and, for a cube, its colour.

    RoboMME names the containers of its Unmask tasks ``bin_<i>`` and BinFill's bin
    ``board_with_hole``; a button is its cap (its base is a fixture). VideoRepick's cubes are
    ``bin_<i>`` too (:data:`CUBES_NAMED_BIN`).
    """
    name = name.rsplit(".", 1)[-1]  # an articulation-qualified link: its own name decides
    parts = name.split("_")
    if task in CUBES_NAMED_BIN and parts[0] == "bin":
        return {"kind": "cube", "colour": None}
    if "cube" in parts:
        after = parts[parts.index("cube") + 1 :]
        return {"kind": "cube", "colour": after[0] if after and not after[0].isdigit() else None}
    if name == "button_cap":
        return {"kind": "button", "colour": None}
    if name == "button_base":
        return {"kind": "fixture", "colour": None}
    if name == "board_with_hole":
        return {"kind": "bin", "colour": None}
    if parts[0] == "bin":
        return {"kind": "container", "colour": None}
    if (
        "target" in parts or parts[0] == "goal"
    ):  # StopCube's and PickXtimes' target, SwingXtimes' temp_target_<i>, MoveCube's goal_site
        return {"kind": "target", "colour": None}
    return {"kind": parts[0], "colour": None}


def gripper_closed(env) -> bool:
    """RoboMME's recorder's rule for ``obs/is_gripper_close``: a finger joint under 0.03 (the stick has none)."""
    qpos = as_numpy(env.agent.robot.qpos).reshape(-1)
    return bool(qpos.size >= 9 and np.any(qpos[7:9] < 0.03))


def _state(env, objects: dict, kinds: dict, extrinsic: np.ndarray, intrinsic: np.ndarray) -> dict:
    """What is true now of the task objects and the gripper: positions, pixels, held, parked, under."""
    names = list(objects)
    positions = [_position(objects[n]) for n in names]
    tcp = np.asarray(_position(env.agent.tcp))
    pixels = project(np.array([*positions, list(tcp)]), extrinsic, intrinsic)
    where = dict(zip(names, positions))
    parked = {n for n in names if _parked(where[n])}
    return {
        "position": where,
        "pixel": {n: (list(p) if p and n not in parked else None) for n, p in zip(names, pixels)},
        "held": [n for n in names if n not in parked and _holds(env, objects[n], tcp)],
        "under": _under(where, kinds),
        "parked": sorted(parked),
        "gripper_closed": gripper_closed(env),
        "tcp_pixel": list(pixels[-1]) if pixels[-1] else None,
    }


def _parked(position) -> bool:
    return not in_scene(position)


def _under(positions: dict, kinds: dict) -> dict[str, str]:
    """Cube -> the container it is under, from their centres."""
    out = {}
    for cube, p in positions.items():
        if kinds[cube]["kind"] != "cube" or _parked(p):
            continue
        for container, q in positions.items():
            if (
                kinds[container]["kind"] == "container"
                and not _parked(q)
                and p[2] < q[2]
                and np.hypot(p[0] - q[0], p[1] - q[1]) <= UNDER_XY
            ):
                out[cube] = container
    return out


def _highlighted(env, objects: dict) -> list[str]:
    """Objects RoboMME shows a white highlight disk under now (PickHighlight): its own per-object
    record, since the disks are drawn outside the segmentation map."""
    cache = getattr(env, "_highlight_cache", None)
    if not cache:
        return []
    candidates = {**{getattr(o, "name", ""): o for o in getattr(env, "all_cubes", [])}, **objects}
    return sorted(n for n, o in candidates.items() if n in objects and cache.get(id(o), {}).get("is_highlighted"))


def _segment_names(segment, names: dict[int, str]) -> list[str]:
    """The truth names of a subgoal's targets (``names``: ``id(object)`` -> truth name)."""
    if segment is None:
        return []
    items = segment if isinstance(segment, (list, tuple)) else [segment]
    return [names.get(id(s), getattr(s, "name", str(s))) for s in items]


class Witness:
    """Rows, subgoal completions and the ending of one episode (or of a video task's
    demonstration: ``demo``), noted from the env after each recorded action."""

    def __init__(self, env, task: str, intrinsic: np.ndarray, *, demo: bool = False) -> None:
        self.env, self.task, self.intrinsic, self.demo = env, task, np.asarray(intrinsic), demo
        self.objects = _objects_by_name(env)
        self.ids = task_objects(env)
        self.kinds = {n: kind_of(n, task) for n in self.ids}
        self.name_of = {id(obj): name for name, obj in self.objects.items()}
        self.rows: list[dict] = []
        self.completions: list[dict] = []
        self.status, self.ended_at = "ongoing", None  # the recording goes on after success: so does the witness
        self.task_index = int(getattr(env, "timestep", 0))
        self._was_under: dict[str, str] = {}

    def stepped(self, step: int, extrinsic: np.ndarray, terminated=None, info: dict | None = None) -> dict:
        """Note the scene after the action recorded at ``step`` (``terminated``/``info``: what that env step returned)."""
        env = self.env
        now = int(getattr(env, "timestep", self.task_index))
        if now != self.task_index:
            done = env.task_list[self.task_index] if self.task_index < len(env.task_list) else {}
            self.completions.append(
                {
                    "step": step,
                    "kind": "subgoal_done",
                    "subgoal": done.get("name"),
                    "targets": _segment_names(done.get("segment"), self.name_of),
                    **({"demo": True} if self.demo else {}),
                }
            )
            self.task_index = now
        if self.status == "ongoing" and terminated is not None and bool(as_numpy(terminated).any()):
            self.status = "success" if bool(as_numpy((info or {}).get("success", False)).any()) else "fail"
            self.ended_at = step
        state = _state(env, self.objects, self.kinds, extrinsic, self.intrinsic)
        if self.demo:
            row = {"step": step, "task_index": now, "demo": True, **state}
        else:
            parked, under = set(state["parked"]), state["under"]
            for (
                cube,
                container,
            ) in self._was_under.items():  # RoboMME takes a covered cube out of the scene while its container
                if (
                    cube in parked and cube not in under and container not in parked
                ):  # is shuffled, and puts it back under it
                    under[cube] = container
            self._was_under = under
            row = {"step": step, "task_index": now, **state, "highlighted": _highlighted(env, self.objects)}
        self.rows.append(row)
        return row

    def targets(self) -> list[str] | None:
        """The truth names of the targets of the env's current subgoal (``task_list[timestep]``;
        None: the env names none). RoboMME's own ``current_segment`` is set only when the env is
        asked between solves, which a replay never does; at a segment's first frame the two agree."""
        tasks, index = getattr(self.env, "task_list", None), getattr(self.env, "timestep", None)
        if not tasks or index is None:
            return None
        return _segment_names(tasks[index].get("segment") if index < len(tasks) else None, self.name_of)


def visible_objects(segmentation: np.ndarray, ids: dict) -> dict:
    """Each object's visible pixels and mask centre on a front-camera segmentation."""
    return {
        n: {"pixels": v["pixels"], "centre": list(v["centre"]) if v["centre"] else None}
        for n, v in mask_centres(segmentation, ids).items()
    }


def call_row(step: int, visible: dict, recorded: np.ndarray, rendered: np.ndarray | None = None) -> dict:
    """A call frame's record: each object's visible pixels and mask centre (:func:`visible_objects`),
    the recorded image's checksum, and the rendered image's difference from it (none rendered:
    the recorded image is the scene's own picture, difference 0)."""
    mean, most = image_difference(rendered, recorded) if rendered is not None else (0.0, 0)
    return {
        "step": step,
        "image_sha256": image_sha256(recorded),
        "visible": visible,
        "image_diff": {"mean": round(mean, 3), "max": most},
    }


def grounded_check(planned: PlannedEpisode, step: int, targets: list[str] | None, visible: dict) -> dict | None:
    """At a segment's first call frame, the grounded subgoal's point against the nearest visible
    centre of the env's targets (None: no point, or an env that names no targets)."""
    point = first_point(planned.grounded_subgoal(step)) if targets is not None else None
    if point is None:
        return None
    found = [visible[t]["centre"] for t in targets if t in visible and visible[t]["centre"]]
    truth_point = min(found, key=lambda c: distance(c, point)) if found else None
    return {
        "step": step,
        "subgoal": planned.grounded_subgoal(step),
        "point": list(point),
        "target": ",".join(targets) or None,
        "truth": list(truth_point) if truth_point else None,
        "distance": distance(truth_point, point),
    }


def truth_record(
    planned: PlannedEpisode,
    episode: Episode,
    witness: Witness,
    calls: list[dict],
    grounded: list[dict],
    demo: Witness | None,
    seconds: dict,
) -> dict:
    """One episode's truth record (without its key), from what its witnesses noted."""
    demo_rows, demo_done = (demo.rows, demo.completions) if demo is not None else ([], [])
    steps = planned.timeline.num_steps
    return {
        "task": planned.task,
        "episode": planned.episode,
        "seed": episode.seed,
        "difficulty": episode.difficulty,
        "execution_start": planned.timeline.execution_start,
        "num_steps": steps,
        "objects": {n: witness.kinds[n] for n in sorted(witness.ids)},
        "status": witness.status,
        "ended_at": witness.ended_at,
        "recorded_status": "success" if episode.is_completed(steps - 1) else "unknown",
        "steps": witness.rows,
        "demonstration": demo_rows,
        "calls": calls,
        "grounded": grounded,
        "events": episode_events(planned.task, witness.rows, witness.kinds, witness.completions, demo_rows, demo_done),
        "seconds": seconds,
    }
