"""Record a stock ManiSkill episode in RoboMME's HDF5 layout, then run the scene truth on it.

Run in the simulator's environment (``$ROBOMME_MEM_SIM_PYTHON``: stock ManiSkill, no RoboMME):

    python tests/helpers/stock_truth.py OUT

ManiSkill's own motion-planning solution picks ``PickCube-v1``'s cube and carries it to the
goal; every step's joint-position action, and the front image and camera extrinsic after it, is
written as RoboMME's recorder writes them, and the cube's true pose and grasp after every step
are kept aside in ``OUT/poses.json`` (the truth must find them again). The scene truth is
captured while recording, through the capture ``robomme-mem record --truth`` uses, into
``OUT/captured.jsonl`` (it must equal the replay's). ``OUT/perturbed/`` holds the same
recording with a stretch of its actions pushed off (a replay that diverges: the truth must
refuse it). Both are then replayed by ``record_truth`` with a stock env in place of RoboMME's:
each alone in this process, then both together in two spawned processes and on a local Ray
cluster (``OUT/processes/``, ``OUT/ray/``), where the truth must come out the same.

The file is named for RoboMME's PickXtimes (the reader takes a file's task from its name, and
a pick is what PickXtimes does); its subgoals are the two of this pick.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import h5py
import mani_skill.envs  # noqa: F401  (registers the stock tasks)
import numpy as np

from robomme_mem.dataset.sample.generator import COMPLETED, write_step

TASK, ENV_ID, SEED = "PickXtimes", "PickCube-v1", 3
PICK, MOVE = "pick up the cube", "move the cube to the goal"
_STR = h5py.string_dtype("utf-8")


def make_stock(seed: int):
    import mani_skill.envs  # noqa: F401, F811  (again here: a worker handed this function by value has not run this file's imports)

    return gym.make(
        ENV_ID,
        obs_mode="rgb+segmentation",
        control_mode="pd_joint_pos",
        sensor_configs={"width": 256, "height": 256},
        max_episode_steps=1000,
        num_envs=1,
    )


def open_stock_env(planned, episode):
    """The truth's ``open_env``: the stock task reset from the episode's own seed."""
    env = make_stock(episode.seed)
    env.reset(seed=episode.seed)
    return env


def _np(x) -> np.ndarray:
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


def record(out: Path) -> dict:
    """Solve the task, keeping each step's action and the observation after it (as RoboMME's recorder
    keeps ``timestep_<k>``), with the scene truth captured as it runs; write the file, the poses
    and the captured truth (``OUT/captured.jsonl``)."""
    from mani_skill.examples.motionplanning.panda.solutions import solvePickCube

    from robomme_mem.dataset.truth.capture import Capture, Kept

    env = make_stock(SEED)
    obs, _ = env.reset(seed=SEED)
    cube = env.unwrapped.cube
    steps: list[dict] = []
    original = env.step

    def step(action):
        obs, reward, terminated, truncated, info = original(action)
        steps.append(
            {
                "obs": obs,
                "action": np.asarray(action, dtype=np.float64).reshape(-1),
                "cube": _np(cube.pose.p).reshape(-1).tolist(),
                "grasped": bool(_np(info["is_grasped"]).any()),
            }
        )
        return obs, reward, terminated, truncated, info

    def kept(result) -> Kept:  # this recorder keeps every step
        obs, _, terminated, _, info = result
        return Kept(
            len(steps) - 1,
            _camera(obs, "extrinsic_cv"),
            _np(obs["sensor_data"]["base_camera"]["segmentation"])[0],
            False,
            terminated,
            info,
        )

    env.step = step
    intrinsic = _camera(obs, "intrinsic_cv")
    capture = Capture(env, TASK, kept, intrinsic, lambda: _camera(obs, "extrinsic_cv"))
    with capture:
        result = solvePickCube(env, seed=SEED, debug=False, vis=False)
    info = result[-1] if isinstance(result, tuple) else result
    success = bool(_np(info["success"]).any())
    env.close()
    grasp = next(k for k, s in enumerate(steps) if s["grasped"])
    simple = [PICK if k < grasp else MOVE for k in range(len(steps))]
    simple[-1] = COMPLETED if success else simple[-1]
    raw = out / "raw" / f"{TASK}_ep0_seed{SEED}.h5"  # as RoboMME's recorder names its file
    write(raw, steps, simple, intrinsic, success)
    # through the writer `robomme-mem record` uses: staged whole with its provenance, checked, merged into the task file,
    # its captured truth saved, then keyed by the merged file and written as `record --truth` writes it
    from robomme_mem.dataset.record.captured import save_capture, write_captured_truth
    from robomme_mem.dataset.record.run import captured_record
    from robomme_mem.dataset.record.staged import merge_staged, same_kept_data, stage_episode, staged_file
    from robomme_mem.dataset.truth.replay_source import simulator_versions

    staged = stage_episode(
        raw,
        staged_file(out, TASK, 0),
        0,
        {"recorder": "tests/helpers/stock_truth.py", "env": ENV_ID, "seed": SEED, "injected_failure": None},
    )
    same_kept_data(raw, staged, 0)
    save_capture(out, TASK, 0, captured_record(capture, staged, 0))
    merge_staged(out, [TASK])
    captured = write_captured_truth(out, [TASK], out / "captured.jsonl", simulator_versions())
    poses = [{"step": k, "cube": s["cube"], "grasped": s["grasped"]} for k, s in enumerate(steps)]
    (out / "poses.json").write_text(json.dumps({"env": ENV_ID, "seed": SEED, "success": success, "steps": poses}))
    perturbed = [dict(s) for s in steps]
    for s in perturbed[10 : 10 + 30]:  # 30 steps with the shoulder 0.3 rad off: the arm misses the cube
        s["action"] = s["action"] + np.array([0, 0.3, 0, 0, 0, 0, 0, 0][: len(s["action"])])
    (out / "perturbed").mkdir(exist_ok=True)
    write(
        out / "perturbed" / f"record_dataset_{TASK}.h5", perturbed, simple, intrinsic, success, episode=1
    )  # one task's episode numbers are unique across files
    return {
        "steps": len(steps),
        "grasp": grasp,
        "success": success,
        "captured": {"kept": captured.kept, "refused": captured.refused},
        "capture_seconds": round(capture.seconds, 2),
    }


def _camera(obs, name: str) -> np.ndarray:
    value = _np(obs["sensor_param"]["base_camera"][name])[0]
    return value.astype(np.float64)


def write(
    path: Path, steps: list[dict], simple: list[str], intrinsic: np.ndarray, success: bool, episode: int = 0
) -> None:
    """One episode in RoboMME's layout (setup, then ``timestep_<k>`` with obs, info and action)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        group = h5.create_group(f"episode_{episode}")
        setup = group.create_group("setup")
        setup.create_dataset("seed", data=np.int64(SEED))
        setup.create_dataset("difficulty", data="easy", dtype=_STR)
        setup.create_dataset(
            "task_goal", data=np.array(["pick up the cube and move it to the goal"], dtype=object), dtype=_STR
        )
        setup.create_dataset("front_camera_intrinsic", data=intrinsic.astype(np.float64))
        for k, s in enumerate(steps):
            image = _np(s["obs"]["sensor_data"]["base_camera"]["rgb"])[0].astype(np.uint8)
            boundary = k == 0 or simple[k] != simple[k - 1]
            write_step(
                group,
                k,
                image,
                simple[k],
                simple[k],
                simple[k],
                simple[k],
                False,
                boundary,
                success and k == len(steps) - 1,
                np.array([0.0, 0.0]),
                1,
            )
            t = group[f"timestep_{k}"]
            t["obs"].create_dataset("front_camera_extrinsic", data=_camera(s["obs"], "extrinsic_cv"))
            t["action"].create_dataset("joint_action", data=s["action"].astype(np.float64))


def main(out: Path) -> None:
    from robomme_mem.dataset.truth.replay_source import record_truth

    out.mkdir(parents=True, exist_ok=True)
    made = record(out)
    runs = {}
    for name, folder in (("faithful", out), ("perturbed", out / "perturbed")):
        run = record_truth(
            [folder / f"record_dataset_{TASK}.h5"], folder / "truth.jsonl", progress=False, open_env=open_stock_env
        )
        runs[name] = {"kept": len(run.kept), "refused": [r["problems"] for r in run.refused]}
    both = [out / f"record_dataset_{TASK}.h5", out / "perturbed" / f"record_dataset_{TASK}.h5"]
    for name, where in (
        ("processes", {"workers_requested": 2}),
        ("ray", {"workers_requested": 2, "ray_address": "local"}),
    ):
        run = record_truth(both, out / name / "truth.jsonl", progress=False, open_env=open_stock_env, **where)
        runs[name] = {"kept": len(run.kept), "refused": [r["problems"] for r in run.refused]}
    print(json.dumps({"recorded": made, "runs": runs}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
