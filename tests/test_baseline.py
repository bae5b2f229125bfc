"""baseline_simple / baseline_grounded rows, compared field by field with rows derived by hand.

The episode (a video task, so the <video> prefix and the mp4 are exercised):

    steps  0-1   "static" (video demonstration)
    steps  2-41  "pick up the red cube"          grounded "... at <10, 20>"
    steps 42-51  "put it into the bin"           grounded "... at <30, 40>"   (shorter than the stride)
    steps 52-73  "press the button"              grounded "... at <50, 60>"
    steps 74-76  "All tasks completed"           grounded keeps "press the button at <50, 60>" (even episode)

Reference rules give call frames (2, 22) for the first segment (40 // 16 = 2), none for the second
(10 // 16 = 0), (52,) for the third (24 // 16 = 1), and the last step 76.
"""

import json

import av
import numpy as np
import pytest

from robomme_mem.dataset.build import BuildOptions, build

GOAL = "Pick up the red cube, then press the button"
SYSTEM_SIMPLE = "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence of language subgoals"
SYSTEM_GROUNDED = "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence of grounded language subgoals"
ASK_SIMPLE = "<image>What's the next language subgoal based on current observation?"
ASK_GROUNDED = "<image>What's the next grounded language subgoal based on current observation?"
VIDEO = "swift/images/VideoUnmask_ep0_video.mp4"


def image(step):
    return f"swift/images/VideoUnmask_ep0_step{step}.png"


@pytest.fixture
def built(scripted_file, tmp_path):
    simple = (
        ["static"] * 2
        + ["pick up the red cube"] * 40
        + ["put it into the bin"] * 10
        + ["press the button"] * 22
        + ["All tasks completed"] * 3
    )
    grounded = (
        ["static"] * 2
        + ["pick up the red cube at <10, 20>"] * 40
        + ["put it into the bin at <30, 40>"] * 10
        + ["press the button at <50, 60>"] * 25
    )
    video = [True] * 2 + [False] * 75
    src = scripted_file("VideoUnmask", goals=[GOAL, "another phrasing"], simple=simple, grounded=grounded, video=video)
    out = tmp_path / "out"
    build([src], out, BuildOptions(workers=1), progress=False)
    return out


def rows(out, config):
    return [json.loads(line) for line in (out / f"swift/{config}/train.jsonl").read_text().splitlines()]


def user(history, ask):
    return f"<video>The task goal is: {GOAL.lower()}\n{history}\n{ask}"


def test_simple_rows_match_the_reference_rules(built):
    history = "The history of previous predicted language subgoals are: "
    expected = [
        (2, "This is the initial turn for prediction", "pick up the red cube"),
        (22, history + "1. pick up the red cube", "pick up the red cube"),
        (52, history + "1. pick up the red cube", "press the button"),
        (76, history + "1. pick up the red cube; 2. press the button", "press the button"),
    ]
    got = rows(built, "baseline_simple")
    assert len(got) == len(expected)
    for row, (step, history_line, target) in zip(got, expected):
        assert row == {
            "messages": [
                {"role": "system", "content": SYSTEM_SIMPLE},
                {"role": "user", "content": user(history_line, ASK_SIMPLE)},
                {"role": "assistant", "content": target},
            ],
            "images": [image(step)],
            "videos": [VIDEO],
        }


def test_grounded_rows_match_the_reference_rules(built):
    history = "The history of previous predicted grounded language subgoals are: "
    expected = [
        (2, "This is the initial turn for prediction", "pick up the red cube at <bbox>", [[10, 20]]),
        (22, history + "1. pick up the red cube at <bbox>", "pick up the red cube at <bbox>", [[10, 20], [10, 20]]),
        (52, history + "1. pick up the red cube at <bbox>", "press the button at <bbox>", [[10, 20], [50, 60]]),
        (
            76,
            history + "1. pick up the red cube at <bbox>; 2. press the button at <bbox>",
            "press the button at <bbox>",
            [[10, 20], [50, 60], [50, 60]],
        ),
    ]
    got = rows(built, "baseline_grounded")
    assert len(got) == len(expected)
    for row, (step, history_line, target, points) in zip(got, expected):
        assert row["messages"] == [
            {"role": "system", "content": SYSTEM_GROUNDED},
            {"role": "user", "content": user(history_line, ASK_GROUNDED)},
            {"role": "assistant", "content": target},
        ]
        assert row["images"] == [image(step)] and row["videos"] == [VIDEO]
        assert row["objects"]["ref"] == []
        noise = np.array(row["objects"]["bbox"]) - np.array(points)
        assert noise.shape == (len(points), 2)
        assert noise.min() >= -2 and noise.max() <= 1  # numpy randint(-2, 2)
        assert list(row) == ["messages", "objects", "images", "videos"]  # the reference's key order


def test_rows_are_serialised_like_the_reference(built):
    line = (built / "swift/baseline_simple/train.jsonl").read_text().splitlines()[0]
    assert line.startswith('{"messages": [{"role": "system", "content": ')  # json.dumps default separators
    assert line.isascii()


def test_frames_and_video_are_written(built):
    for step in (2, 22, 52, 76):
        assert (built / image(step)).is_file()
    assert not (built / image(42)).exists()
    with av.open(str(built / VIDEO)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 2 and frames[0].shape == (256, 256, 3)


def test_point_jitter_is_seeded_per_episode(scripted_file, tmp_path, built):
    again = tmp_path / "again"
    src = next((tmp_path / "src").glob("*.h5"))
    build([src], again, BuildOptions(workers=1), progress=False)
    assert rows(again, "baseline_grounded") == rows(built, "baseline_grounded")
    other = tmp_path / "other"
    build([src], other, BuildOptions(workers=1, noise_seed=7), progress=False)
    assert rows(other, "baseline_grounded") != rows(built, "baseline_grounded")


def test_keyframe_duplication_is_an_option(scripted_file, tmp_path):
    src = scripted_file("BinFill", goals=["g"], simple=["a"] * 64 + ["b"] * 40 + ["c"] * 20)
    plain, dup = tmp_path / "plain", tmp_path / "dup"
    build([src], plain, BuildOptions(workers=1), progress=False)
    build([src], dup, BuildOptions(workers=1, duplicate_keyframes=True), progress=False)
    steps = lambda out: [int(r["images"][0].rsplit("step", 1)[1][:-4]) for r in rows(out, "baseline_simple")]  # noqa: E731
    assert steps(plain) == [0, 16, 32, 48, 64, 84, 104, 123]
    # segment ends 64 and 104 are written 1 + (calls of the segment before - 1) times, one copy after another
    assert steps(dup) == [0, 16, 32, 48, 64, 64, 64, 64, 84, 104, 104, 123]


def test_odd_episode_tail_uses_the_previous_grounded_subgoal(scripted_file, tmp_path):
    simple = ["pick up the cube"] * 20 + ["All tasks completed"] * 2
    grounded = ["pick up the cube at <5, 6>"] * 20 + ["All tasks completed"] * 2
    src = scripted_file("BinFill", episode=1, goals=["g"], simple=simple, grounded=grounded)
    out = tmp_path / "out"
    build([src], out, BuildOptions(workers=1), progress=False)
    last = rows(out, "baseline_grounded")[-1]
    assert last["messages"][2]["content"] == "pick up the cube at <bbox>"
