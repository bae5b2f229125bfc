"""One recorded episode replayed in RoboMME's simulator, recording what is true at each step.

The env is reset from the episode's own setup (task, seed, difficulty: RoboMME's builder reads
them from a metadata file, so the run writes one), then the recorded ``joint_action`` of every
executed step is stepped, cast to float32 as RoboMME's ``scripts/dataset_replay.py`` does.
Physics does not need pictures, so the scene is rendered only at call frames: the env runs in
ManiSkill's ``state_dict`` observation mode between them, and the front camera's RGB and
segmentation are captured at each call frame. That is most of the time RoboMME's own replay
spends (two cameras, depth and segmentation at every step).

Recorded per executed step: every task object's world position and its pixel on the front
camera (from the recorded extrinsic and the setup's intrinsic), the objects the gripper holds,
each cube under a container, the objects RoboMME keeps out of the scene, and the index of the
env's current subgoal; per call frame, each object's visible pixels and
mask centre, the replayed image's difference from the recorded one, and for a segment's first
frame the target's centre against the grounded subgoal's point. Events are the env's own
subgoal completions (a press, a pick, a placement) with their targets, objects leaving or
entering the scene (BinFill's cubes appear over time and leave once binned), highlights shown
and gone, and what the positions show afterwards (:mod:`.events`: StopCube's passes over the
target, containers swapping places).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
ACTION_DTYPE = np.float32
UNDER_XY = 0.02
"""Metres between a cube's and a container's centres, seen from above, within which a cube
lower than the container is under it."""
GRASP_REACH = 0.08
"""Metres between an object's centre and the gripper's tool point beyond which it cannot be held."""


ROBOMME_INSTALL = "pip install 'robomme-mem[sim]' 'robomme @ git+https://github.com/RoboMME/robomme_benchmark'"
"""How RoboMME's simulator gets installed beside robomme-mem (RoboMME's benchmark is not on PyPI)."""


def simulator_problem() -> str | None:
    """Why RoboMME's simulator cannot run here (None: it can), naming everything missing at once,
    before anything is imported."""
    import importlib.util

    missing = [module for module in ("mani_skill", "robomme") if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in this environment; install with: {ROBOMME_INSTALL}"


def make_env(planned: PlannedEpisode, episode: Episode):
    """RoboMME's env for this episode, from its own seed and difficulty (not the split's metadata)."""
    from robomme.env_record_wrapper import BenchmarkEnvBuilder

    record = {"task": planned.task, "episode": planned.episode, "seed": episode.seed, "difficulty": episode.difficulty}
    with tempfile.TemporaryDirectory(prefix="robomme-mem-truth-") as folder:  # read when the builder is made
        (Path(folder) / f"record_dataset_{planned.task}_metadata.json").write_text(json.dumps({"env_id": planned.task, "records": [record]}))
        builder = BenchmarkEnvBuilder(env_id=planned.task, dataset="train", action_space="joint_angle", override_metadata_path=folder)
    return builder.make_env_for_episode(planned.episode)


def object_name(obj, shared: set[str]) -> str:
    """An object's name in the truth: RoboMME's own, qualified by its articulation where two
    articulations have links of that name (ButtonUnmaskSwap's two buttons each have a
    ``button_cap``: ``button_left.button_cap`` and ``button_right.button_cap``)."""
    name = getattr(obj, "name", str(obj))
    articulation = getattr(getattr(obj, "articulation", None), "name", None)
    return f"{articulation}.{name}" if name in shared and articulation else name


def _task_entries(env) -> list[tuple[int, object]]:
    return [(int(seg_id), obj) for seg_id, obj in sorted(env.segmentation_id_map.items())
            if not NOT_TASK_OBJECTS.match(getattr(obj, "name", str(obj)))]


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


def _position(obj) -> list[float]:
    p = obj.pose.p
    p = p.cpu().numpy() if hasattr(p, "cpu") else np.asarray(p)
    return [round(float(v), 5) for v in np.asarray(p).reshape(-1, 3)[0]]


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
        after = parts[parts.index("cube") + 1:]
        return {"kind": "cube", "colour": after[0] if after and not after[0].isdigit() else None}
    if name == "button_cap":
        return {"kind": "button", "colour": None}
    if name == "button_base":
        return {"kind": "fixture", "colour": None}
    if name == "board_with_hole":
        return {"kind": "bin", "colour": None}
    if parts[0] == "bin":
        return {"kind": "container", "colour": None}
    if "target" in parts or parts[0] == "goal":  # StopCube's and PickXtimes' target, SwingXtimes' temp_target_<i>, MoveCube's goal_site
        return {"kind": "target", "colour": None}
    return {"kind": parts[0], "colour": None}


def gripper_closed(env) -> bool:
    """RoboMME's recorder's rule for ``obs/is_gripper_close``: a finger joint under 0.03 (the stick has none)."""
    qpos = env.agent.robot.qpos
    qpos = np.asarray(qpos.cpu().numpy() if hasattr(qpos, "cpu") else qpos).reshape(-1)
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


class _Demonstration:
    """During the reset, records a row at each env step of a video task's demonstration (marked
    ``demo``) and the subgoals the env completes in it: what the video showed, from the physics.

    RoboMME's wrapper plays the demonstration inside ``reset`` with its own planner, stepping the
    env; the steps it keeps are the recording's video-demo steps. The objects exist only once the
    reset has loaded the scene, so they are looked up at the first step.
    """

    def __init__(self, env, episode: Episode, task: str) -> None:
        self.env, self.episode, self.task = env, episode, task
        self.rows: list[dict] = []
        self.completions: list[dict] = []
        self._objects: dict | None = None

    def __enter__(self):
        env, step = self.env, self.env.step

        def recorded(action):
            out = step(action)
            self._record()
            return out

        env.step = recorded
        return self

    def __exit__(self, *exc) -> None:
        del self.env.step  # the class's own method again

    def _record(self) -> None:
        env = self.env
        if self._objects is None:
            self._objects = _objects_by_name(env)
            self._names = {id(obj): name for name, obj in self._objects.items()}
            self._kinds = {n: kind_of(n, self.task) for n in self._objects}
            self._task = int(getattr(env, "timestep", 0))
        index = len(self.rows)
        now = int(getattr(env, "timestep", self._task))
        if now != self._task:
            done = env.task_list[self._task] if self._task < len(env.task_list) else {}
            self.completions.append({"step": index, "kind": "subgoal_done", "subgoal": done.get("name"),
                                     "targets": _segment_names(done.get("segment"), self._names), "demo": True})
            self._task = now
        state = _state(env, self._objects, self._kinds, self.episode.front_camera_extrinsic(0), self.episode.front_camera_intrinsic)
        self.rows.append({"step": index, "task_index": now, "demo": True, **state})


def _parked(position) -> bool:
    return not in_scene(position)


def _under(positions: dict, kinds: dict) -> dict[str, str]:
    """Cube -> the container it is under, from their centres."""
    out = {}
    for cube, p in positions.items():
        if kinds[cube]["kind"] != "cube" or _parked(p):
            continue
        for container, q in positions.items():
            if kinds[container]["kind"] == "container" and not _parked(q) and p[2] < q[2] and np.hypot(p[0] - q[0], p[1] - q[1]) <= UNDER_XY:
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


def _render(env) -> tuple[np.ndarray, np.ndarray]:
    """The front camera's RGB and segmentation now; the wrist camera is not rendered."""
    for obj in env._hidden_objects:  # as ManiSkill's own sensor observation does
        obj.hide_visual()
    env.scene.update_render(update_sensors=True, update_human_render_cameras=False)
    camera = env.scene.sensors["base_camera"]
    camera.capture()
    images = camera.get_obs(rgb=True, depth=False, position=False, segmentation=True)
    rgb, seg = images["rgb"][0], images["segmentation"][0]
    return (rgb.cpu().numpy() if hasattr(rgb, "cpu") else np.asarray(rgb)).astype(np.uint8), (seg.cpu().numpy() if hasattr(seg, "cpu") else np.asarray(seg))[..., 0]


class _Blind:
    """During the reset, sensors return blank images of their own shapes instead of rendering.

    RoboMME's wrapper plays a video task's demonstration at reset, rendering both cameras at
    every step of it for the recorded video; the motion comes from its planner and the env's
    state, never from the pictures, and the truth renders what it needs afterwards.
    """

    def __init__(self, env) -> None:
        self.env = env

    def __enter__(self):
        import torch

        env = self.env

        def blank(apply_texture_transforms: bool = True) -> dict:
            out = {}
            for name, sensor in env.scene.sensors.items():
                h, w = sensor.config.height, sensor.config.width
                out[name] = {"rgb": torch.zeros((1, h, w, 3), dtype=torch.uint8), "depth": torch.zeros((1, h, w, 1), dtype=torch.int16),
                             "segmentation": torch.zeros((1, h, w, 1), dtype=torch.int16)}
            return out

        env._get_obs_sensor_data = blank
        return self

    def __exit__(self, *exc) -> None:
        del self.env._get_obs_sensor_data  # the class's own method again


_RENDERERS_KEPT: list = []


def keep_renderer(env) -> None:
    """Keep this process's first render system alive for good.

    Each env builds its own SAPIEN render system, and the first picture of one costs ~4.5 s on
    the CPU (lavapipe) unless another render system is alive when it is made: SAPIEN's shared
    render resources live as long as some render system does, and ManiSkill collects the last
    env's before building the next. Holding the first one keeps them for every later episode
    in the process (measured on PickHighlight: 4.7 s, then 0.0 s, for an env's first picture).
    """
    if not _RENDERERS_KEPT:
        scenes = getattr(env.scene, "sub_scenes", [])
        if scenes and getattr(scenes[0], "render_system", None) is not None:
            _RENDERERS_KEPT.append(scenes[0].render_system)


def open_robomme_env(planned: PlannedEpisode, episode: Episode):
    """RoboMME's env for this episode, reset to its first step (a video task's demonstration played
    blind, its steps recorded as ``wrapped.demonstration``: rows and the env's subgoal completions)."""
    from ...stock_maniskill import patch_stock_maniskill

    patch_stock_maniskill()  # the stick tasks on stock mani-skill (a no-op where nothing needs it)
    wrapped = make_env(planned, episode)
    keep_renderer(wrapped.unwrapped)
    with _Blind(wrapped.unwrapped), _Demonstration(wrapped.unwrapped, episode, planned.task) as demo:
        wrapped.reset()
    wrapped.demonstration = {"steps": demo.rows, "completions": demo.completions} if planned.timeline.execution_start > 0 else None
    return wrapped


def replay(planned: PlannedEpisode, episode: Episode, open_env: Callable | None = None) -> dict:
    """The truth of one episode (see the module's docstring); raises only for a broken env.

    ``open_env(planned, episode)`` gives the env reset to the episode's setup: RoboMME's
    (:func:`open_robomme_env`) by default; the tests pass a stock ManiSkill task's. An env that
    does not name its subgoal's targets (``current_segment``) gets no grounded-point check.
    """
    started = time.perf_counter()
    wrapped = (open_env or open_robomme_env)(planned, episode)
    try:
        made = time.perf_counter() - started
        env = wrapped.unwrapped
        env._obs_mode = "state_dict"  # physics only between call frames: no camera renders
        ids = task_objects(env)
        objects = _objects_by_name(env)
        name_of = {id(obj): name for name, obj in objects.items()}
        intrinsic = episode.front_camera_intrinsic
        # the recorder pads the stick robot's 7 joint targets with a gripper value it has not got
        width = int(np.prod(env.single_action_space.shape)) if hasattr(env, "single_action_space") else None
        timeline = planned.timeline
        start, steps = timeline.execution_start, timeline.num_steps
        calls = set(timeline.call_frames)
        boundaries = {s.start for s in timeline.segments}
        rows, call_rows, grounded, events = [], [], [], []
        status, task_index, ended_at = "ongoing", getattr(env, "timestep", 0), None  # the recording goes on after success: so does the replay
        kinds = {n: kind_of(n, planned.task) for n in ids}
        was_under: dict[str, str] = {}
        for step in range(start, steps):
            if step > start:
                _, _, terminated, _, info = env.step(episode.joint_action(step - 1)[:width].astype(ACTION_DTYPE))
                if int(getattr(env, "timestep", task_index)) != task_index:
                    done = env.task_list[task_index] if task_index < len(env.task_list) else {}
                    events.append({"step": step, "kind": "subgoal_done", "subgoal": done.get("name"), "targets": _segment_names(done.get("segment"), name_of)})
                    task_index = int(env.timestep)
                if status == "ongoing" and bool(terminated.any()):
                    status = "success" if bool(info.get("success", np.array([False])).any()) else "fail"
                    ended_at = step
            state = _state(env, objects, kinds, episode.front_camera_extrinsic(step), intrinsic)
            parked, under = set(state["parked"]), state["under"]
            for cube, container in was_under.items():  # RoboMME takes a covered cube out of the scene while its container is
                if cube in parked and cube not in under and container not in parked:  # shuffled, and puts it back under it
                    under[cube] = container
            was_under = under
            rows.append({"step": step, "task_index": task_index, **state, "highlighted": _highlighted(env, objects)})
            if step in calls:
                rgb, seg = _render(env)
                recorded = episode.front_image(step)
                mean, most = image_difference(rgb, recorded)
                visible = mask_centres(seg, ids)
                call_rows.append({"step": step, "image_sha256": image_sha256(recorded), "visible": {n: {"pixels": v["pixels"], "centre": list(v["centre"]) if v["centre"] else None} for n, v in visible.items()},
                                  "image_diff": {"mean": round(mean, 3), "max": most}})
                point = first_point(planned.grounded_subgoal(step)) if step in boundaries and hasattr(env, "current_segment") else None
                if point is not None:
                    targets = _segment_names(getattr(env, "current_segment", None), name_of)
                    found = [visible[t]["centre"] for t in targets if t in visible and visible[t]["centre"]]
                    truth_point = min(found, key=lambda c: distance(c, point)) if found else None
                    grounded.append({"step": step, "subgoal": planned.grounded_subgoal(step), "point": list(point), "target": ",".join(targets) or None,
                                     "truth": list(truth_point) if truth_point else None, "distance": distance(truth_point, point)})
        demo = vars(wrapped).get("demonstration") or {"steps": [], "completions": []}  # set by open_robomme_env (never a wrapper lookup)
        events = episode_events(planned.task, rows, kinds, events, demo["steps"], demo["completions"])
        return {
            "task": planned.task,
            "episode": planned.episode,
            "seed": episode.seed,
            "difficulty": episode.difficulty,
            "execution_start": start,
            "num_steps": steps,
            "objects": {n: kinds[n] for n in sorted(ids)},
            "status": status,
            "ended_at": ended_at,
            "recorded_status": "success" if episode.is_completed(steps - 1) else "unknown",
            "steps": rows,
            "demonstration": demo["steps"],
            "calls": call_rows,
            "grounded": grounded,
            "events": events,
            "seconds": {"make": round(made, 2), "total": round(time.perf_counter() - started, 2)},
        }
    finally:
        wrapped.close()
