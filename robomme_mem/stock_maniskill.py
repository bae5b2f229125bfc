"""Let RoboMME's two stick tasks (PatternLock, RouteStick) run on stock ``mani-skill`` 3.0.1 from PyPI.

RoboMME is built against its own ManiSkill fork. On stock mani-skill 3.0.1 its stick tasks fail
twice over, both in recording and in replay:

- **No wrist camera.** Stock ``panda_stick`` has no sensors, but RoboMME's recorder and its
  demonstration wrapper read ``obs["sensor_data"]["hand_camera"]`` at every step. The patch mounts a
  256x256, 90-degree ``hand_camera`` on the ``panda_hand`` link, at the pose of stock ManiSkill's
  old, commented-out Panda hand camera (``mani_skill/agents/robots/panda/panda.py``). Of the data
  RoboMME keeps, only ``setup/wrist_camera_intrinsic`` (and the wrist images) depend on it.
- **A planner that cannot be built.** ``PandaStickMotionPlanningSolver.__init__`` passes
  ``visualize_target_grasp_pose`` on to ``BaseMotionPlanningSolver.__init__``, which has no such
  parameter (``TypeError: ... takes from 2 to 8 positional arguments but 9 were given``). RoboMME
  builds this planner in its generation flow and at ``reset`` of its demonstration wrapper. The
  patch accepts the argument and drops it; everything else is passed on unchanged.

Both are applied in memory, to the classes, never to installed files, and each only where it is
needed (a ManiSkill whose stick robot has its own sensors, or whose base planner takes the argument,
is left alone). Call :func:`patch_stock_maniskill` before making a stick task's environment; it is
safe to call any number of times. Importing this module imports neither ManiSkill nor RoboMME.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

HAND_CAMERA_UID = "hand_camera"
HAND_CAMERA_LINK = "panda_hand"
HAND_CAMERA_SIZE = 256
HAND_CAMERA_P = (0.0464982, -0.0200011, 0.0360011)
HAND_CAMERA_Q = (0.0, 0.70710678, 0.0, 0.70710678)
"""The pose (wxyz quaternion) of stock ManiSkill's old, commented-out Panda hand camera, relative to ``panda_hand``."""

_MARK = "_robomme_mem_stock_patch"
_lock = threading.Lock()
_applied = False


def patch_stock_maniskill() -> None:
    """Give ``panda_stick`` a hand camera and make the stick planner buildable; once, idempotent."""
    global _applied
    with _lock:
        if _applied:
            return
        _patch_stick_hand_camera()
        _patch_stick_planner()
        _applied = True


def _patch_stick_hand_camera() -> None:
    """Mount RoboMME's 256x256 ``hand_camera`` on ``panda_stick``'s ``panda_hand`` link, if it has no sensors of its own."""
    import numpy as np
    import sapien
    from mani_skill.agents.base_agent import BaseAgent
    from mani_skill.agents.robots.panda.panda_stick import PandaStick
    from mani_skill.sensors.camera import CameraConfig

    if getattr(PandaStick, _MARK, False) or inspect.getattr_static(
        PandaStick, "_sensor_configs"
    ) is not inspect.getattr_static(BaseAgent, "_sensor_configs"):
        return  # already patched, or this ManiSkill's stick robot defines its own sensors

    def _sensor_configs(self: Any) -> list[CameraConfig]:
        """The wrist camera RoboMME's recorder reads, as mounted on the Panda arm's hand."""
        return [
            CameraConfig(
                uid=HAND_CAMERA_UID,
                pose=sapien.Pose(p=list(HAND_CAMERA_P), q=list(HAND_CAMERA_Q)),
                width=HAND_CAMERA_SIZE,
                height=HAND_CAMERA_SIZE,
                fov=np.pi / 2,
                near=0.01,
                far=100,
                mount=self.robot.links_map[HAND_CAMERA_LINK],
            )
        ]

    PandaStick._sensor_configs = property(_sensor_configs)  # type: ignore[method-assign,assignment]
    setattr(PandaStick, _MARK, True)


def _patch_stick_planner() -> None:
    """Build ``PandaStickMotionPlanningSolver`` without the argument its base class cannot take."""
    from mani_skill.examples.motionplanning.base_motionplanner.motionplanner import BaseMotionPlanningSolver
    from mani_skill.examples.motionplanning.panda.motionplanner_stick import PandaStickMotionPlanningSolver

    solver = PandaStickMotionPlanningSolver
    if (
        getattr(solver, _MARK, False)
        or "visualize_target_grasp_pose" in inspect.signature(BaseMotionPlanningSolver.__init__).parameters
    ):
        return  # already patched, or this ManiSkill's base planner takes the argument

    def __init__(
        self: Any,
        env: Any,
        debug: bool = False,
        vis: bool = True,
        base_pose: Any = None,
        visualize_target_grasp_pose: bool = True,
        print_env_info: bool = True,
        joint_vel_limits: float = 0.9,
        joint_acc_limits: float = 0.9,
    ) -> None:
        """The stock signature; ``visualize_target_grasp_pose`` is accepted and ignored."""
        BaseMotionPlanningSolver.__init__(
            self, env, debug, vis, base_pose, print_env_info, joint_vel_limits, joint_acc_limits
        )

    solver.__init__ = __init__  # type: ignore[method-assign]
    setattr(solver, _MARK, True)
