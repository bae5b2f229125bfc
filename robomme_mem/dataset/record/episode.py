"""One episode in RoboMME's simulator: its recorder, its solvers, its fail-aware planners.

Follows the flow of RoboMME's own dataset generation (read in its benchmark repository:
``tests/_shared/dataset_generation.py``): the env made with the episode's seed and difficulty
(joint-position control, RGB, depth and segmentation, dense reward), ``RobommeRecordWrapper``
recording every step, and each subgoal's ``solve`` from the env's task list run through
``FailAwarePandaArmMotionPlanningSolver`` (the stick's for PatternLock and RouteStick). A move
is planned with the screw planner up to 3 times, then RRT* up to 3 times; a subgoal whose
planning is exhausted fails the episode. The episode stops at the env's first success or fail.

Two things differ, both for stock ManiSkill 3.0.1 (RoboMME pins a fork):
:func:`robomme_mem.stock_maniskill.patch_stock_maniskill` (the stick tasks) and the wrist camera
set to RoboMME's 256 x 256 (stock is 128 x 128).

Imported only in the process that records (a worker): nothing here loads in the parent.
"""

from __future__ import annotations

import contextlib
import resource
import time
from pathlib import Path

from .jobs import RecordJob

PLAN_ATTEMPTS = 3
"""Tries of each planner per move (screw first, then RRT*), as RoboMME's flow."""
STICK_TASKS = ("PatternLock", "RouteStick")
WRIST_SIZE = 256


def _to_bool(value) -> bool:
    import numpy as np
    import torch

    if value is None:
        return False
    if isinstance(value, torch.Tensor):
        return bool(value.detach().cpu().bool().any().item())
    if isinstance(value, np.ndarray):
        return bool(np.any(value))
    return bool(value)


def _screw_then_rrt(planner, screw_failure) -> None:
    """Plan each move with the screw planner up to 3 times, then RRT* up to 3 times, else -1."""
    screw, rrt = planner.move_to_pose_with_screw, planner.move_to_pose_with_RRTStar

    def move(*args, **kwargs):
        for plan, errors in ((screw, (screw_failure,)), (rrt, (Exception,))):
            for _ in range(PLAN_ATTEMPTS):
                try:
                    result = plan(*args, **kwargs)
                except errors:
                    continue
                if not (isinstance(result, int) and result == -1):
                    return result
        return -1

    planner.move_to_pose_with_screw = move


def record_once(job: RecordJob, seed: int, raw_dir: Path, *, capture: bool = False) -> dict:
    """Record ``job`` with ``seed`` into ``raw_dir`` (RoboMME's recorder writes
    ``hdf5_files/<Task>_ep<N>_seed<S>.h5``); what happened, with the file on success.

    ``capture``: take the scene truth while recording (:mod:`..truth.capture`); the result's
    ``capture`` makes its record once the episode is read back."""
    from ...stock_maniskill import patch_stock_maniskill

    patch_stock_maniskill()
    import gymnasium as gym
    import robomme.robomme_env  # noqa: F401  (registers the tasks)
    import torch
    from robomme.env_record_wrapper import FailsafeTimeout, RobommeRecordWrapper
    from robomme.robomme_env.utils import subgoal_planner_func as planner_functions
    from robomme.robomme_env.utils.planner_fail_safe import (
        FailAwarePandaArmMotionPlanningSolver,
        FailAwarePandaStickMotionPlanningSolver,
        ScrewPlanFailure,
    )
    from robomme.robomme_env.utils.SceneGenerationError import SceneGenerationError

    from ..truth.replay import RECORDER_ENV

    executed: list[
        str
    ] = []  # the failed grasps the solvers really ran (the env marks one; a solver may never reach it)
    failing = planner_functions.solve_pickup_fail

    def counted(*args, **kwargs):
        executed.append(str(kwargs.get("mode")))
        return failing(*args, **kwargs)

    planner_functions.solve_pickup_fail = counted
    kwargs = dict(
        **RECORDER_ENV,
        seed=seed,
        difficulty=job.difficulty,
        sensor_configs={"hand_camera": {"width": WRIST_SIZE, "height": WRIST_SIZE}},
    )
    if job.failure is not None:
        kwargs["robomme_failure_recovery"] = True
        kwargs["robomme_failure_recovery_mode"] = None if job.failure == "mixed" else job.failure
    out = {"seed": seed, "success": False, "reason": None, "raw": None, "injected_failure": None, "capture": None}
    started = time.perf_counter()
    env = gym.make(job.task, **kwargs)
    env = RobommeRecordWrapper(
        env, dataset=str(raw_dir), env_id=job.task, episode=job.episode, seed=seed, save_video=True
    )
    success = False
    riding = contextlib.ExitStack()
    try:
        env.reset()
        base = env.unwrapped
        if capture:
            from ..truth.capture import robomme_capture

            out["capture"] = robomme_capture(env, job.task)
        tasks = list(getattr(base, "task_list", []) or [])
        marked = getattr(base, "fail_grasp_task_index", None)
        if marked is not None:
            out["injected_failure"] = {
                "mode": getattr(base, "robomme_failure_recovery_mode", None) or job.failure,
                "subgoal_index": int(marked),
                "subgoal": str(tasks[marked].get("name", "")) if marked < len(tasks) else None,
                "executed": False,
            }
        common = dict(
            debug=False,
            vis=False,
            base_pose=base.agent.robot.pose,
            visualize_target_grasp_pose=False,
            print_env_info=False,
        )
        if job.task in STICK_TASKS:
            planner = FailAwarePandaStickMotionPlanningSolver(env, **common, joint_vel_limits=0.3)
        else:
            planner = FailAwarePandaArmMotionPlanningSolver(env, **common)
        _screw_then_rrt(planner, ScrewPlanFailure)
        if out["capture"] is not None:
            riding.enter_context(out["capture"])  # the solvers step the recorder from here on
        for index, entry in enumerate(tasks):
            solve = entry.get("solve")
            if not callable(solve):
                continue
            base.evaluate(solve_complete_eval=True)
            exhausted = False
            try:
                result = solve(env, planner)
                exhausted = isinstance(result, int) and result == -1
            except ScrewPlanFailure:
                exhausted = True
            except FailsafeTimeout as exc:
                out["reason"] = f"subgoal {index} ({entry.get('name', '')}): the recorder's time limit: {exc}"
                break
            if exhausted:
                base.failureflag, base.successflag = torch.tensor([True]), torch.tensor([False])
                base.current_task_failure = True
            evaluation = base.evaluate(solve_complete_eval=True)
            if _to_bool(evaluation.get("success", False)):
                success = True
                break
            if exhausted or _to_bool(evaluation.get("fail", False)):
                out["reason"] = f"subgoal {index} ({entry.get('name', '')}): " + (
                    "no plan (screw and RRT* exhausted)" if exhausted else "the env says fail"
                )
                break
        else:
            success = _to_bool(base.evaluate(solve_complete_eval=True).get("success", False))
            if not success:
                out["reason"] = "every subgoal solved, but the env does not say success"
        success = success or _to_bool(getattr(env, "episode_success", False))
    except SceneGenerationError as exc:
        out["reason"] = f"the scene could not be generated: {exc}"
    except Exception as exc:  # noqa: BLE001  (one episode's broken simulation is its own refusal, not the run's end)
        out["reason"] = f"{type(exc).__name__}: {exc}".strip()
    finally:
        planner_functions.solve_pickup_fail = failing
        riding.close()
        try:
            env.close()  # the recorder writes its file here
        except Exception as exc:  # noqa: BLE001
            out["reason"] = out["reason"] or f"the recorder failed to close its file: {type(exc).__name__}: {exc}"
            success = False
    if out["injected_failure"] is not None:
        out["injected_failure"]["executed"] = bool(executed)
        if executed and executed[0] not in ("None", ""):
            out["injected_failure"]["mode"] = executed[0]  # what the solver ran (``mixed``: the env's choice)
    raw = Path(raw_dir) / "hdf5_files" / f"{job.task}_ep{job.episode}_seed{seed}.h5"
    out["success"] = bool(success and raw.is_file())
    if success and not raw.is_file():
        out["reason"] = f"a success, but the recorder wrote no {raw}"
    out["raw"] = str(raw) if raw.is_file() else None
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out
