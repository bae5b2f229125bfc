"""RoboMME HDF5 -> LeRobot v3.0 with LeRobot's own writer (run in LeRobot's environment).

    $ROBOMME_MEM_LEROBOT_PYTHON tests/helpers/lerobot_reference.py --source DIR_OR_FILES --out DIR [--fps 10]

The reference side of the parity test and of ``benchmarks/lerobot.py``: every episode of the
given ``record_dataset_<Task>.h5`` files becomes one LeRobot episode, written frame by frame
through ``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` / ``finalize`` with LeRobot's
default video encoder. The features are robomme-mem's (``robomme_mem.dataset.source.lerobot_features``,
imported from the checkout so both writers describe the same frames); h5py reads the source.

Prints one JSON line: episodes, frames, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from robomme_mem.dataset.source import lerobot_features as F  # noqa: E402  (light: numpy only)


def episodes(paths: list[Path]):
    """(task, episode number, group) of every episode, files by name, episodes by number."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("record_dataset_*.h5")) if p.is_dir() else [p])
    for path in sorted(files, key=lambda p: p.name):
        task = path.name.split(".")[0].split("_")[-1]
        with h5py.File(path, "r") as h5:
            numbers = sorted(int(m.group(1)) for k in h5 if (m := re.match(r"^episode_(\d+)$", k)))
            for number in numbers:
                yield task, number, h5[f"episode_{number}"]


def text(value) -> str:
    value = np.asarray(value).reshape(-1)[0] if isinstance(value, np.ndarray) else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fps", type=int, default=F.DEFAULT_FPS)
    args = parser.parse_args()

    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    start = time.perf_counter()
    dataset = None
    count = frames = 0
    for task, number, group in episodes(args.source):
        steps = sum(1 for k in group if k.startswith("timestep_"))
        first = group["timestep_0"]
        has_motion = all(f in first for f in F.MOTION_FIELDS)
        shape = first[F.FRONT_RGB].shape
        if dataset is None:
            dataset = LeRobotDataset.create(
                repo_id="robomme-mem/reference",
                fps=args.fps,
                root=args.out,
                robot_type=F.ROBOT_TYPE,
                features=F.frame_features(tuple(shape), has_motion),
                use_videos=True,
            )
        goal = text(group["setup/task_goal"][()])
        seed = int(np.asarray(group["setup/seed"][()]).reshape(-1)[0]) if "setup/seed" in group else -1
        for k in range(steps):
            ts = group[f"timestep_{k}"]
            frame = {
                F.IMAGE: ts[F.FRONT_RGB][()],
                F.SIMPLE: text(ts["info/simple_subgoal"][()]),
                F.GROUNDED: text(ts["info/grounded_subgoal"][()]),
                F.VIDEO_DEMO: np.array([bool(ts["info/is_video_demo"][()])]),
                F.TASK: task,
                F.EPISODE: np.array([number], dtype=np.int64),
                F.SEED: np.array([seed], dtype=np.int64),
                "task": goal,
            }
            if has_motion:
                frame[F.STATE] = F.state_of(ts["obs/joint_state"][()], ts["obs/gripper_state"][()])
                frame[F.ACTIONS] = np.asarray(ts["action/joint_action"][()], dtype=np.float32)
            dataset.add_frame(frame)
        dataset.save_episode()
        count, frames = count + 1, frames + steps
    if dataset is None:
        raise SystemExit("no episodes")
    dataset.finalize()
    print(json.dumps({"episodes": count, "frames": frames, "seconds": round(time.perf_counter() - start, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
