"""One recorded episode replayed in RoboMME's simulator, recording what is true at each step.

The env is reset from the episode's own setup (task, seed, difficulty: RoboMME's builder reads
them from a metadata file, so the run writes one), then the recorded ``joint_action`` of every
executed step is stepped, cast to float32 as RoboMME's ``scripts/dataset_replay.py`` does.
Physics does not need pictures, so the scene is rendered only at call frames: the env runs in
ManiSkill's ``state_dict`` observation mode between them, and the front camera's RGB and
segmentation are captured at each call frame. That is most of the time RoboMME's own replay
spends (two cameras, depth and segmentation at every step).

After each action, a :class:`.witness.Witness` notes what is true (row ``k``: the scene after the
recorded action ``k``, which is what RoboMME's recorder stores at ``timestep_<k>``); at each call
frame, each object's visible pixels and mask centre, the replayed image's difference from the
recorded one, and for a segment's first frame the target's centre against the grounded
subgoal's point. :mod:`.capture` takes the same truth while an episode is recorded, with no replay.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..plan import PlannedEpisode
from ..source import Episode
from .witness import Witness, as_numpy, call_row, grounded_check, truth_record, visible_objects

ACTION_DTYPE = np.float32


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


RECORDER_ENV = {
    "obs_mode": "rgb+depth+segmentation",
    "control_mode": "pd_joint_pos",
    "render_mode": "rgb_array",
    "reward_mode": "dense",
}
"""How RoboMME's dataset generation makes a task's env (with the episode's seed and difficulty):
``robomme-mem record`` makes it so, and the replay of an episode without a demonstration too."""


def make_recorder_env(planned: PlannedEpisode, episode: Episode):
    """RoboMME's env for this episode as its recorder had it: no wrapper, reset with no seed."""
    import gymnasium as gym
    import robomme.robomme_env  # noqa: F401  (registers the tasks)

    return gym.make(planned.task, **RECORDER_ENV, seed=episode.seed, difficulty=episode.difficulty)


def make_env(planned: PlannedEpisode, episode: Episode):
    """RoboMME's env for this episode as its benchmark makes it, from the episode's own seed and
    difficulty (not the split's metadata): wrapped to play a video task's demonstration at reset."""
    from robomme.env_record_wrapper import BenchmarkEnvBuilder

    record = {"task": planned.task, "episode": planned.episode, "seed": episode.seed, "difficulty": episode.difficulty}
    with tempfile.TemporaryDirectory(prefix="robomme-mem-truth-") as folder:  # read when the builder is made
        (Path(folder) / f"record_dataset_{planned.task}_metadata.json").write_text(
            json.dumps({"env_id": planned.task, "records": [record]})
        )
        builder = BenchmarkEnvBuilder(
            env_id=planned.task, dataset="train", action_space="joint_angle", override_metadata_path=folder
        )
    return builder.make_env_for_episode(planned.episode)


class _Demonstration:
    """During the reset, a :class:`.witness.Witness` (``demo``) of each env step of a video task's
    demonstration: what the video showed, from the physics.

    RoboMME's wrapper plays the demonstration inside ``reset`` with its own planner, stepping the
    env; the steps it keeps are the recording's video-demo steps. The objects exist only once the
    reset has loaded the scene, so the witness is made at the first step.
    """

    def __init__(self, env, episode: Episode, task: str) -> None:
        self.env, self.episode, self.task = env, episode, task
        self.witness: Witness | None = None

    def __enter__(self):
        env, step = self.env, self.env.step

        def recorded(action):
            out = step(action)
            if self.witness is None:
                self.witness = Witness(env, self.task, self.episode.front_camera_intrinsic, demo=True)
            self.witness.stepped(len(self.witness.rows), self.episode.front_camera_extrinsic(0))
            return out

        env.step = recorded
        return self

    def __exit__(self, *exc) -> None:
        del self.env.step  # the class's own method again


def _render(env) -> tuple[np.ndarray, np.ndarray]:
    """The front camera's RGB and segmentation now; the wrist camera is not rendered."""
    for obj in env._hidden_objects:  # as ManiSkill's own sensor observation does
        obj.hide_visual()
    env.scene.update_render(update_sensors=True, update_human_render_cameras=False)
    camera = env.scene.sensors["base_camera"]
    camera.capture()
    images = camera.get_obs(rgb=True, depth=False, position=False, segmentation=True)
    rgb, seg = images["rgb"][0], images["segmentation"][0]
    return as_numpy(rgb).astype(np.uint8), as_numpy(seg)[..., 0]


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
                out[name] = {
                    "rgb": torch.zeros((1, h, w, 3), dtype=torch.uint8),
                    "depth": torch.zeros((1, h, w, 1), dtype=torch.int16),
                    "segmentation": torch.zeros((1, h, w, 1), dtype=torch.int16),
                }
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


class _NoSettlingStep:
    """During the reset, keep the env as the demonstration leaves it, and put it back afterwards.

    RoboMME's ``DemonstrationWrapper`` ends its reset with one more env step, the arm holding its
    reset pose, that RoboMME's recorder never took. The arm does not move, but the world goes on:
    StopCube's cube moves a step, BinFill's cubes drop in a step early, PickHighlight's highlight
    shows a step early. So the physics state and the elapsed-step count (the clock RoboMME's timed
    events read) are saved once the demonstration is played and set back after the reset, and the
    demonstration's witness forgets the row of that step.
    """

    def __init__(self, wrapped) -> None:
        self.layer = wrapped
        while not hasattr(type(self.layer), "get_demonstration_trajectory") and hasattr(self.layer, "env"):
            self.layer = self.layer.env
        self.env = wrapped.unwrapped
        self.saved: dict | None = None

    def __enter__(self):
        if not hasattr(type(self.layer), "get_demonstration_trajectory"):
            return self  # not RoboMME's wrapper: nothing to undo
        played = self.layer.get_demonstration_trajectory

        def then_save():
            out = played()
            self.saved = {"state": self.env.get_state_dict(), "elapsed": self.env._elapsed_steps.clone()}
            return out

        self.layer.get_demonstration_trajectory = then_save
        return self

    def __exit__(self, *exc) -> None:
        if "get_demonstration_trajectory" in vars(self.layer):
            del self.layer.get_demonstration_trajectory  # the class's own method again
        if exc[0] is None and self.saved is not None:
            self.env.set_state_dict(self.saved["state"])
            self.env._elapsed_steps = self.saved["elapsed"]

    def forget_last(self, witness: Witness | None) -> None:
        """Drop the settling step's row (and a completion noted at it) from the demonstration's witness."""
        if self.saved is None or witness is None or not witness.rows:
            return
        last = witness.rows.pop()["step"]
        witness.completions = [c for c in witness.completions if c["step"] != last]


def open_robomme_env(planned: PlannedEpisode, episode: Episode):
    """RoboMME's env for this episode, reset to its first step as the recorder had it.

    An episode without a demonstration gets the env its recorder stepped
    (:func:`make_recorder_env`): replayed, it is the recording to the last bit (every frame 0.00
    off on the 14 episodes measured). A video task's demonstration is played at reset by RoboMME's
    benchmark wrapper (the recorder kept only some of its steps), blind, its steps noted as
    ``wrapped.demonstration``, with no settling step after it (:class:`_NoSettlingStep`).
    """
    from ...stock_maniskill import patch_stock_maniskill

    patch_stock_maniskill()  # the stick tasks on stock mani-skill (a no-op where nothing needs it)
    if planned.timeline.execution_start == 0:
        env = make_recorder_env(planned, episode)
        keep_renderer(env.unwrapped)
        with _Blind(env.unwrapped):
            env.reset()
        return env
    wrapped = make_env(planned, episode)
    keep_renderer(wrapped.unwrapped)
    with (
        _Blind(wrapped.unwrapped),
        _Demonstration(wrapped.unwrapped, episode, planned.task) as demo,
        _NoSettlingStep(wrapped) as settling,
    ):
        wrapped.reset()
    settling.forget_last(demo.witness)
    wrapped.demonstration = demo.witness
    return wrapped


def replay(planned: PlannedEpisode, episode: Episode, open_env: Callable | None = None) -> dict:
    """The truth of one episode (see the module's docstring); raises only for a broken env.

    ``open_env(planned, episode)`` gives the env reset to the episode's setup: RoboMME's
    (:func:`open_robomme_env`) by default; the tests pass a stock ManiSkill task's. An env that
    does not name its subgoals' targets (``task_list``) gets no grounded-point check.
    Row ``k`` is the scene after the recorded action ``k``, as the recorder's ``timestep_<k>``.
    """
    started = time.perf_counter()
    wrapped = (open_env or open_robomme_env)(planned, episode)
    try:
        made = time.perf_counter() - started
        env = wrapped.unwrapped
        env._obs_mode = "state_dict"  # physics only between call frames: no camera renders
        witness = Witness(env, planned.task, episode.front_camera_intrinsic)
        # the recorder pads the stick robot's 7 joint targets with a gripper value it has not got
        width = int(np.prod(env.single_action_space.shape)) if hasattr(env, "single_action_space") else None
        timeline = planned.timeline
        calls = set(timeline.call_frames)
        boundaries = {s.start for s in timeline.segments}
        call_rows, grounded = [], []
        for step in range(timeline.execution_start, timeline.num_steps):
            _, _, terminated, _, info = env.step(episode.joint_action(step)[:width].astype(ACTION_DTYPE))
            witness.stepped(step, episode.front_camera_extrinsic(step), terminated, info)
            if step in calls:
                rgb, seg = _render(env)
                call_rows.append(call_row(step, visible_objects(seg, witness.ids), episode.front_image(step), rgb))
                check = (
                    grounded_check(planned, step, witness.targets(), call_rows[-1]["visible"])
                    if step in boundaries
                    else None
                )
                if check is not None:
                    grounded.append(check)
        demo = vars(wrapped).get("demonstration")  # set by open_robomme_env (never a wrapper lookup)
        return truth_record(
            planned,
            episode,
            witness,
            call_rows,
            grounded,
            demo,
            {"make": round(made, 2), "total": round(time.perf_counter() - started, 2)},
        )
    finally:
        wrapped.close()
