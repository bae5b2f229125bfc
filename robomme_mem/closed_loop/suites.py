"""The simulators a rollout runs in: RoboMME's evaluation episodes and stock ManiSkill tasks.

Each suite makes episodes for :mod:`robomme_mem.closed_loop.loop` (joint-angle actions from a pi0.5
server) or, for RoboMME with ``low_level="oracle"``, for :mod:`robomme_mem.closed_loop.oracle` (RoboMME's
``multi_choice`` action space: one motion-planning solve per subgoal). The simulators are
imported only when a suite is made, so this module loads without them; :func:`robomme_problem`
says, without starting anything, why RoboMME cannot run here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

from .commands import Candidate, Command, Option
from .loop import Observation
from .oracle import ENDED, Turn


def robomme_problem() -> str | None:
    """Why RoboMME's benchmark cannot be used in this environment (None: it can), before any import."""
    if importlib.util.find_spec("robomme") is None:
        return "RoboMME is not installed in this environment (its benchmark is not on PyPI; see evaluate/README.md)"
    return None


def robomme_episode_count(tasks: list[str], dataset: str = "test") -> dict[str, int]:
    """Episodes per task in one of RoboMME's splits, from its metadata (no simulator starts)."""
    from robomme.env_record_wrapper import BenchmarkEnvBuilder

    return {
        t: BenchmarkEnvBuilder(
            env_id=t, dataset=dataset, action_space="joint_angle", gui_render=False
        ).get_episode_num()
        for t in tasks
    }


def _numpy(x) -> np.ndarray:
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


# -- RoboMME -----------------------------------------------------------------------------------


class RoboMMESuite:
    """RoboMME's evaluation episodes (``BenchmarkEnvBuilder``, test split).

    ``low_level="pi05"``: joint-angle actions (:class:`RoboMMEEpisode`); ``"oracle"``: RoboMME's
    ``multi_choice`` action space (:class:`RoboMMEOracleEpisode`).
    """

    def __init__(self, max_steps: int, dataset: str = "test", low_level: str = "pi05") -> None:
        if (problem := robomme_problem()) is not None:
            raise SystemExit(f"error: {problem}")
        import robomme.robomme_env  # noqa: F401  (registers the environments)
        from robomme.env_record_wrapper import BenchmarkEnvBuilder

        from ..stock_maniskill import patch_stock_maniskill

        patch_stock_maniskill()  # PatternLock and RouteStick on stock mani-skill (a no-op where nothing needs it)

        self._builder_cls, self.max_steps, self.dataset, self.low_level = (
            BenchmarkEnvBuilder,
            max_steps,
            dataset,
            low_level,
        )
        self._builders: dict = {}

    def builder(self, task: str):
        if task not in self._builders:
            space = "multi_choice" if self.low_level == "oracle" else "joint_angle"
            self._builders[task] = self._builder_cls(
                env_id=task, dataset=self.dataset, action_space=space, gui_render=False, max_steps=self.max_steps
            )
        return self._builders[task]

    def make(self, task: str, episode: int):
        env = self.builder(task).make_env_for_episode(episode)
        return RoboMMEOracleEpisode(env) if self.low_level == "oracle" else RoboMMEEpisode(env)

    def close(self) -> None:
        self._builders.clear()


@dataclass
class RoboMMEEpisode:
    env: object
    goal: str = ""

    @staticmethod
    def _state(joints, gripper) -> np.ndarray:
        return np.concatenate([_numpy(joints), _numpy(gripper)[:1]]).astype(np.float32)

    def reset(self) -> list[Observation]:
        obs, info = self.env.reset()
        self.goal = _goal(info)
        return [
            Observation(_numpy(f).astype(np.uint8), _numpy(w).astype(np.uint8), self._state(j, g))
            for f, w, j, g in zip(
                obs["front_rgb_list"], obs["wrist_rgb_list"], obs["joint_state_list"], obs["gripper_state_list"]
            )
        ]

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        status = (info or {}).get("status", "ongoing")
        if status == "error":
            raise RuntimeError(info.get("error_message", "RoboMME reported an error"))
        last = Observation(
            _numpy(obs["front_rgb_list"][-1]).astype(np.uint8),
            _numpy(obs["wrist_rgb_list"][-1]).astype(np.uint8),
            self._state(obs["joint_state_list"][-1], obs["gripper_state_list"][-1]),
        )
        return last, bool(terminated) or bool(truncated), status

    def close(self) -> None:
        self.env.close()


def _goal(info: dict) -> str:
    goal = info["task_goal"]
    return goal[0] if isinstance(goal, (list, tuple)) else str(goal)


@dataclass
class RoboMMEOracleEpisode:
    """One RoboMME episode in its ``multi_choice`` action space (``OraclePlannerDemonstrationWrapper``)."""

    env: object
    goal: str = ""
    _front: np.ndarray | None = None
    _options: tuple[Option, ...] = field(default_factory=tuple)

    def _turn(self, obs, info: dict, terminated: bool = False, truncated: bool = False) -> Turn:
        fronts = obs.get("front_rgb_list") if isinstance(obs, dict) else None
        fronts = [] if fronts is None else fronts
        if len(fronts):
            self._front = _numpy(fronts[-1]).astype(np.uint8)
        if info.get("available_multi_choices"):
            self._options = tuple(Option.from_info(o) for o in info["available_multi_choices"])
        status = str(info.get("status") or "ongoing")
        if status not in ENDED and (terminated or truncated):
            status = "timeout" if truncated else "fail"
        return Turn(
            self._front,
            self._options,
            len(fronts),
            status,
            online_subgoal=info.get("grounded_subgoal_online"),
            online_simple=info.get("simple_subgoal_online"),
            error=info.get("error_message"),
        )

    def reset(self) -> Turn:
        obs, info = self.env.reset()
        self.goal = _goal(info)
        return self._turn(obs, info)

    def step(self, command: Command) -> Turn:
        obs, _, terminated, truncated, info = self.env.step(command.to_env())
        flag = lambda x: bool(_numpy(x).reshape(-1)[-1]) if np.size(_numpy(x)) else False  # noqa: E731
        return self._turn(obs, info or {}, flag(terminated), flag(truncated))

    def _oracle(self):
        from robomme.env_record_wrapper.OraclePlannerDemonstrationWrapper import OraclePlannerDemonstrationWrapper

        env = self.env
        while not isinstance(env, OraclePlannerDemonstrationWrapper):
            env = env.env
        return env

    def candidates(self, label: str) -> list[Candidate]:
        """The option's candidates and where the front camera sees them, as RoboMME's point matching does."""
        from robomme.robomme_env.utils import choice_action_mapping as cam

        oracle = self._oracle()
        _, options = oracle._build_step_options()
        option = next((o for o in options if str(o.get("label")) == label), {})
        out = []
        for actor in cam._unique_candidates(option.get("available")):
            position = cam.extract_actor_position_xyz(actor)
            xy = (
                None
                if position is None
                else cam.project_world_to_pixel(
                    position,
                    intrinsic_cv=oracle._front_camera_intrinsic_cv,
                    extrinsic_cv=oracle._front_camera_extrinsic_cv,
                    image_shape=oracle._front_rgb_shape,
                )
            )
            out.append(Candidate(str(getattr(actor, "name", "?")), None if xy is None else (int(xy[1]), int(xy[0]))))
        return out

    def close(self) -> None:
        self.env.close()


# -- stock ManiSkill (CI: the same loop without RoboMME) ----------------------------------------

MANISKILL_GOALS = {"PickCube-v1": "pick up the red cube and move it to the goal"}
"""Stock tasks the adapter knows how to describe and give a state for."""


class ManiSkillSuite:
    """Stock ManiSkill tasks on the CPU (``sim_backend="cpu"``), one env per task reused across seeds.

    The state handed to the low-level policy is privileged (tcp, cube and goal positions,
    grasped): it is for a scripted stand-in, not a learned policy. Episode ``i`` is seed ``i``.
    """

    def __init__(self, max_steps: int) -> None:
        import gymnasium as gym
        import mani_skill.envs  # noqa: F401  (registers the environments)

        self._gym, self.max_steps, self._envs = gym, max_steps, {}

    def make(self, task: str, episode: int) -> ManiSkillEpisode:
        if task not in MANISKILL_GOALS:
            raise SystemExit(f"error: unsupported ManiSkill task {task!r}; one of {', '.join(MANISKILL_GOALS)}")
        if task not in self._envs:
            self._envs[task] = self._gym.make(
                task,
                obs_mode="rgb",
                control_mode="pd_ee_delta_pos",
                sim_backend="cpu",
                render_mode=None,
                max_episode_steps=self.max_steps + 1,
            )
        return ManiSkillEpisode(self._envs[task], episode, MANISKILL_GOALS[task])

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


@dataclass
class ManiSkillEpisode:
    env: object
    seed: int
    goal: str

    def _obs(self, obs) -> Observation:
        u = self.env.unwrapped
        front = _numpy(obs["sensor_data"]["base_camera"]["rgb"][0]).astype(np.uint8)
        grasped = float(_numpy(u.agent.is_grasping(u.cube))[0])
        state = np.concatenate(
            [_numpy(u.agent.tcp.pose.p[0]), _numpy(u.cube.pose.p[0]), _numpy(u.goal_site.pose.p[0]), [grasped]]
        )
        return Observation(front, None, state.astype(np.float32))

    def reset(self) -> list[Observation]:
        obs, _ = self.env.reset(seed=self.seed, options={"reconfigure": True})
        return [self._obs(obs)]

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        success, terminated, truncated = (
            bool(_numpy(flag).reshape(-1)[0]) for flag in (info["success"], terminated, truncated)
        )
        status = "success" if success else "timeout" if truncated else "fail" if terminated else "ongoing"
        return self._obs(obs), status != "ongoing", status

    def close(self) -> None:
        """The env is reused by the next episode; the suite closes it."""


def make_suite(name: str, max_steps: int, low_level: str = "pi05"):
    """``robomme`` or ``maniskill`` (whose episodes take the pi0.5 path only)."""
    if name == "robomme":
        return RoboMMESuite(max_steps, low_level=low_level)
    if low_level != "pi05":
        raise SystemExit(f"error: the {low_level} low level needs --suite robomme")
    return ManiSkillSuite(max_steps)
