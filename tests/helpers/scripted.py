"""Hand-made RoboMME-format episodes from explicit per-step subgoals: the cases tests pin down."""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

from robomme_mem.dataset.sample.generator import COMPLETED, mark_synthetic, render, write_step

_STR = h5py.string_dtype("utf-8")


def write_scripted_episode(
    h5: h5py.File,
    episode: int,
    *,
    goals: Sequence[str],
    simple: Sequence[str],
    grounded: Sequence[str] | None = None,
    video: Sequence[bool] | None = None,
    seed: int = 0,
) -> None:
    """Write an episode from explicit per-step subgoals.

    Each step's image is distinct (a drawn step clock), ``grounded`` defaults to ``simple``
    and ``video`` to no video-demonstration steps.
    """
    grounded = list(grounded if grounded is not None else simple)
    video = list(video if video is not None else [False] * len(simple))
    if not len(simple) == len(grounded) == len(video):
        raise ValueError("simple, grounded and video need one entry per step")
    mark_synthetic(h5)
    group = h5.create_group(f"episode_{episode}")
    setup = group.create_group("setup")
    setup.create_dataset("seed", data=np.int64(seed))
    setup.create_dataset("difficulty", data="easy", dtype=_STR)
    setup.create_dataset("task_goal", data=np.array(list(goals), dtype=object), dtype=_STR)
    gripper = np.array([40.0, 128.0])
    for k, (s, g, v) in enumerate(zip(simple, grounded, video)):
        boundary = k == 0 or s != simple[k - 1]
        write_step(group, k, render({}, gripper, k), s, g, s, g, v, boundary, COMPLETED in s, gripper, 1)
