"""Assembly on its own: one planned episode and its labels make the memory rows, no build needed."""

from __future__ import annotations

from robomme_mem.dataset.assemble.rows import memory_config_rows
from robomme_mem.prompts import INITIAL_MEMORY, MEMORY_TAG

PRESS = ["press the button"] * 40
PICK = ["pick up the red cube"] * 40
PUT = ["put the red cube into the bin"] * 40
DONE = ["All tasks completed"] * 2


def test_each_call_targets_its_segments_memory_and_carries_the_previous_calls(planned_episode, episode_labels):
    planned = planned_episode("BinFill", goals=["put one red cube into the bin"], simple=PRESS + PICK + PUT + DONE)
    memories = episode_labels(planned).memories()
    (rows,) = memory_config_rows(planned, ["simple"], memories).values()
    segments = [planned.timeline.segment_of(step).index for step in planned.timeline.call_frames]
    assert len(rows) == len(segments) > len(set(segments)) == 3  # several calls per segment
    outs = [meta["memory_out"] for _, meta in rows]
    assert outs == [memories.action["simple"][k] for k in segments]  # M_k, forward-filled over its segment
    assert [meta["memory_in"] for _, meta in rows] == [INITIAL_MEMORY, *outs[:-1]]  # in: the previous call's target
    assert all(MEMORY_TAG.inside(row["messages"][-1]["content"]) == out for (row, _), out in zip(rows, outs))


def test_a_video_task_shows_its_demonstration_to_the_first_call_only(planned_episode, episode_labels):
    steps = ["no record"] * 20 + PICK + PUT + DONE
    planned = planned_episode(
        "VideoUnmask", goals=["pick up the cube the video hid"], simple=steps, video=[True] * 20 + [False] * 82
    )
    memories = episode_labels(planned).memories()
    (rows,) = memory_config_rows(planned, ["simple"], memories, "videos/VideoUnmask_0.mp4").values()
    assert [meta["videos"] for _, meta in rows[:2]] == [["videos/VideoUnmask_0.mp4"], []]
