"""Read an export with LeRobot's own dataset class (run in LeRobot's environment).

    $ROBOMME_MEM_LEROBOT_PYTHON tests/helpers/lerobot_check.py --root DIR [--frames 0,17,119]

Loads ``LeRobotDataset(repo_id, root=DIR)``, and for each asked-for dataset index takes the item
LeRobot returns (its decoded ``image``, ``timestamp``, episode, subgoal strings and language
columns) and resolves, with LeRobot's ``active_at`` and ``emitted_at``, the memory styles at the
frame's timestamp. Prints one JSON object: the dataset's length and fps, and per frame what LeRobot
answered, for the test to compare with robomme-mem's traces.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from robomme_mem.dataset.source import lerobot_features as F  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--frames", default="0")
    args = parser.parse_args()

    from lerobot.datasets.language_render import active_at, emitted_at
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    F.register_styles()
    dataset = LeRobotDataset("robomme-mem/export", root=args.root, video_backend="pyav")
    styles = [F.SUBTASK, F.MEMORY, F.SUBTASK_GROUNDED, F.MEMORY_GROUNDED, F.SPATIAL_MEMORY]
    out = {"len": len(dataset), "fps": dataset.fps, "episodes": dataset.num_episodes, "frames": []}
    for index in (int(i) for i in args.frames.split(",")):
        item = dataset[index]
        t = float(item["timestamp"])
        persistent = item.get("language_persistent") or []
        events = item.get("language_events") or []
        record = {
            "index": index,
            "timestamp": t,
            "episode_index": int(item["episode_index"]),
            "frame_index": int(item["frame_index"]),
            "task": item["task"],
            "robomme_task": item[F.TASK],
            "robomme_episode": int(item[F.EPISODE]),
            "simple_subgoal": item[F.SIMPLE],
            "grounded_subgoal": item[F.GROUNDED],
            "image_shape": list(item[F.IMAGE].shape),
            "image_mean": float(item[F.IMAGE].float().mean()),
            "persistent_rows": len(persistent),
            "active": {
                s: (row or {}).get("content") for s in styles for row in [active_at(t, persistent=persistent, style=s)]
            },
            "emitted": {
                s: (row or {}).get("content")
                for s in styles
                for row in [emitted_at(t, persistent=persistent, events=events, style=s)]
            },
        }
        out["frames"].append(record)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
