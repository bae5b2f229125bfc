"""The generator writes valid, varied RoboMME-format episodes (the sample and the fixtures rely on it)."""

import re

import numpy as np

from robomme_mem.dataset.sample.generator import SYNTHETIC_TASKS
from robomme_mem.dataset.segment import segment_episode
from robomme_mem.dataset.source import SourceFile, find_source_files
from robomme_mem.tasks import EVALUATED_TASKS


def episodes(sample_dir):
    for path in find_source_files([sample_dir]):
        with SourceFile(path) as src:
            for ep in map(src.episode, src.episode_indices):
                yield ep


def test_every_evaluated_task_and_a_video_task(sample_dir):
    tasks = {p.name.split("_")[-1][:-3] for p in sample_dir.glob("record_dataset_*.h5")}
    assert tasks == set(SYNTHETIC_TASKS)
    assert set(EVALUATED_TASKS) <= tasks and any(t.startswith("Video") for t in tasks)


def test_episodes_look_like_robomme(sample_dir):
    short_segments = 0
    for ep in episodes(sample_dir):
        simple = ep.simple_subgoals
        assert simple[-1] == "All tasks completed"
        assert ep.goal == ep.goal.lower() and ep.goal
        plan = segment_episode(simple, ep.execution_start, ep.task)
        for seg in plan.segments:
            grounded = ep.grounded_subgoal(seg.start)
            points = re.findall(r"<(\d+), (\d+)>", grounded)
            assert all(0 <= int(v) < 256 for p in points for v in p)
            short_segments += seg.stop - seg.start < plan.stride
        if ep.task.startswith("Video"):
            assert ep.execution_start > 0 and simple[0] == "static"
        else:
            assert ep.execution_start == 0
        a, b = ep.front_image(0), ep.front_image(1)
        assert a.dtype == np.uint8 and a.shape == (256, 256, 3) and not np.array_equal(a, b)
    assert short_segments > 0


def test_counting_tasks_repeat_actions(sample_dir):
    for ep in episodes(sample_dir):
        if ep.task in ("PickXtimes", "SwingXtimes"):
            texts = set(ep.simple_subgoals)
            assert any("for the first time" in t for t in texts)
        if ep.task == "BinFill":
            assert ep.simple_subgoals.count("put it into the bin") > 1 or "one" in ep.goal
