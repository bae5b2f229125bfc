"""RoboMME's reference QwenVL subgoal procedure, re-implemented straightforwardly from its rules.

Not used by the builder. It is the independent oracle the tests compare our rows with, and
the baseline the benchmark times: one process, every step read through h5py's high-level
API as the reference does (``episode[f"timestep_{i}"]["info"]["simple_subgoal"][()]``), PNGs
at Pillow's default compression, and each row appended to its JSONL file with its own
``open``. Written from the behaviour in ``spec/reference_builder.md``; no code is shared with
:mod:`robomme_mem.dataset.segment` or :mod:`robomme_mem.dataset.assemble` on purpose (only the prompt
templates, whose text is checked against the reference's separately).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from robomme_mem.prompts import (
    BASELINE_HISTORY_GROUNDED,
    BASELINE_HISTORY_SIMPLE,
    BASELINE_INITIAL_TURN,
    BASELINE_SYSTEM_GROUNDED,
    BASELINE_SYSTEM_SIMPLE,
    BASELINE_USER_GROUNDED,
    BASELINE_USER_SIMPLE,
)

STYLES = (
    (BASELINE_SYSTEM_SIMPLE, BASELINE_USER_SIMPLE, BASELINE_HISTORY_SIMPLE, False),
    (BASELINE_SYSTEM_GROUNDED, BASELINE_USER_GROUNDED, BASELINE_HISTORY_GROUNDED, True),
)


def run_reference(raw_dir: str | Path, out_dir: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``simple_subgoal_train.jsonl`` and ``grounded_subgoal_train.jsonl`` (+ ``images/``)."""
    out_dir = Path(out_dir)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    simple_path, grounded_path = out_dir / "simple_subgoal_train.jsonl", out_dir / "grounded_subgoal_train.jsonl"
    for p in (simple_path, grounded_path):
        p.unlink(missing_ok=True)
    rng = np.random.RandomState(seed)
    for name in sorted(os.listdir(raw_dir)):
        if not name.endswith(".h5"):
            continue
        env = name.split(".")[0].split("_")[-1]
        with h5py.File(Path(raw_dir) / name, "r") as data:
            for idx in sorted(int(k.split("_")[1]) for k in data.keys() if k.startswith("episode_")):
                _episode(data[f"episode_{idx}"], env, idx, images, simple_path, grounded_path, rng)
    return simple_path, grounded_path


def _episode(ep, env, idx, images, simple_path, grounded_path, rng) -> None:
    goal = ep["setup"]["task_goal"][()][0].decode().lower()
    n = len([k for k in ep.keys() if k.startswith("timestep_")])
    start = 0
    while ep[f"timestep_{start}"]["info"]["is_video_demo"][()]:
        start += 1
    if "PatternLock" in env:
        trans = list(range(start, n, 32))
    else:
        trans, last = [], None
        for i in range(start, n):
            s = ep[f"timestep_{i}"]["info"]["simple_subgoal"][()].decode().lower()
            if "complete" in s:
                s = last
            if s != last:
                trans.append(i)
            last = s
    if not trans or trans[-1] != n - 1:
        trans.append(n - 1)
    stride = 32 if "StopCube" in env else 16
    select = []
    for a, b in zip(trans[:-1], trans[1:]):
        select += np.linspace(a, b, (b - a) // stride, endpoint=False).astype(np.int32).tolist()
    select = sorted(set(select + [n - 1]))

    video = None
    if start > 0:
        from robomme_mem.dataset.write.media import write_mp4

        video = str(images / f"{env}_ep{idx}_video.mp4")
        write_mp4(video, [ep[f"timestep_{i}"]["obs"]["front_rgb"][()] for i in range(start)])
    prefix = "<video>" if video else ""
    hist_s, hist_g, hist_pts = [], [], []
    last_s = last_g = None
    for i in select:
        img = ep[f"timestep_{i}"]["obs"]["front_rgb"][()]
        s = ep[f"timestep_{i}"]["info"]["simple_subgoal"][()].decode().lower()
        g = ep[f"timestep_{i}"]["info"]["grounded_subgoal"][()].decode().lower()
        s = last_s if "complete" in s else s
        g = last_g if "complete" in g else g
        path = str(images / f"{env}_ep{idx}_step{i}.png")
        Image.fromarray(img).save(path)
        pts = [[int(a), int(b)] for a, b in re.findall(r"at <(\d+), (\d+)>", g)]
        target = re.sub(r"at <(\d+), (\d+)>", "at <bbox>", g)
        rows = []
        for (system, user_t, hist_t, grounded), hist, answer in zip(STYLES, (hist_s, hist_g), (s, target)):
            line = (
                hist_t.render(history="; ".join(f"{k + 1}. {h}" for k, h in enumerate(hist)))
                if hist
                else BASELINE_INITIAL_TURN.render()
            )
            user = user_t.render(video=prefix, task_goal=goal, history_line=line)
            row = {
                "messages": [
                    {"role": "system", "content": system.render()},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ]
            }
            if grounded:
                noisy = [
                    [min(max(y + rng.randint(-2, 2), 0), 255), min(max(x + rng.randint(-2, 2), 0), 255)]
                    for y, x in hist_pts + pts
                ]
                row["objects"] = {"ref": [], "bbox": noisy}
            row["images"] = [path]
            if video:
                row["videos"] = [video]
            rows.append(row)
        if not hist_s or hist_s[-1] != s:
            hist_s.append(s)
        if not hist_g or hist_g[-1] != target:
            hist_g.append(target)
            hist_pts += pts
        for p, row in ((simple_path, rows[0]), (grounded_path, rows[1])):
            with open(p, "a") as f:
                f.write(json.dumps(row) + "\n")
        last_s, last_g = s, g
