"""An episode's rows per config, from its plan and labels (pure functions).

Each row is an ms-swift row (``messages``, ``images``, and for the baselines ``videos`` and
``objects``) plus flat metadata; :func:`table_row` makes the Parquet row of both, with the
frame's PNG bytes embedded.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...configs import BASELINE_CONFIGS, ROW_CONFIGS
from ..labels.engine.memories import EpisodeMemories
from ..layout import image_path
from ..plan import PlannedEpisode
from .baseline import BaselineCall, baseline_rows
from .memory import memory_calls, memory_meta, memory_row

Row = tuple[dict, dict]
"""(ms-swift row, flat metadata)."""


def episode_rng(seed: int, task: str, episode: int) -> np.random.Generator:
    """Per-episode random stream: the same rows whatever the file order or worker count."""
    return np.random.default_rng([seed, zlib.crc32(task.encode()), episode])


def baseline_config_rows(
    planned: PlannedEpisode,
    configs: Sequence[str],
    video: str | None,
    noise_seed: int,
    duplicate_keyframes: bool,
) -> dict[str, list[Row]]:
    """Rows of the requested baseline configs (RoboMME's QwenVL subgoal data)."""
    wanted = [c for c in BASELINE_CONFIGS if c in configs]
    if not wanted:
        return {}
    plan = planned.timeline
    calls = []
    for step in plan.call_frames:
        start = plan.segment_of(step).start
        calls.append(
            BaselineCall(
                step=step,
                simple=planned.simple_subgoal(step),
                grounded=planned.grounded_subgoal(step),
                image=image_path(planned.task, planned.episode, step),
                segment_simple=planned.simple_subgoal(start),
                segment_grounded=planned.grounded_subgoal(start),
            )
        )
    rows = baseline_rows(
        planned.goal,
        calls,
        video=video,
        rng=episode_rng(noise_seed, planned.task, planned.episode),
        duplicates=plan.duplicates if duplicate_keyframes else None,
    )
    out: dict[str, list[Row]] = {}
    for config in wanted:
        key = config.removeprefix("baseline_")
        out[config] = []
        for row in rows:
            segment = plan.segment_of(row.step)
            swift = getattr(row, key)
            meta = {
                "frame": row.step,
                "segment": segment.index,
                "is_boundary": row.step == segment.start,
                "subgoal": swift["messages"][-1]["content"],
            }
            out[config].extend([(swift, meta)] * row.copies)
    return out


def memory_config_rows(
    planned: PlannedEpisode, configs: Sequence[str], memories: EpisodeMemories, video: str | None = None
) -> dict[str, list[Row]]:
    """Rows of the requested memory configs and their ``*_history`` ablations (``video``: a video
    task's demonstration, shown to its first call)."""
    wanted = [c for c in configs if c in ROW_CONFIGS and c not in BASELINE_CONFIGS]
    if not wanted:
        return {}
    images = [image_path(planned.task, planned.episode, step) for step in planned.timeline.call_frames]
    calls = memory_calls(planned.timeline, memories, images, video)
    return {
        config: [(memory_row(config, planned.goal, call), memory_meta(config, call)) for call in calls]
        for config in wanted
    }


def table_row(task: str, episode: int, row: Row, frames: Mapping[str, bytes], baseline: bool) -> dict:
    """The Parquet row of an ms-swift row: frames embedded as PNG bytes, metadata flat."""
    swift, meta = row
    images = [{"bytes": frames[p], "path": Path(p).name} for p in swift["images"]]
    out = {"messages": swift["messages"], "images": images, "task": task, "episode": episode, **meta}
    if baseline:
        out["videos"] = swift.get("videos", [])
        out["objects"] = swift.get("objects", {"ref": [], "bbox": []})
    return out
