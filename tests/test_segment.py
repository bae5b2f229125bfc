"""Call frames picked exactly as RoboMME's reference QwenVL builder picks them, on hand-made sequences."""

import pytest

from robomme_mem.dataset.segment import resolve_complete, segment_episode

DONE = "All tasks completed"


def steps(*runs: tuple[str, int]) -> list[str]:
    return [text for text, n in runs for _ in range(n)]


def test_two_segments_and_the_last_step():
    sg = steps(("pick up the cube", 40), ("press the button", 20), (DONE, 3))
    plan = segment_episode(sg, 0, "BinFill")
    assert plan.boundaries == (0, 40)
    # (0, 40): 40 // 16 = 2 calls at linspace(0, 40, 2) = 0, 20; (40, 62): 22 // 16 = 1 call at 40; then step 62
    assert plan.call_frames == (0, 20, 40, 62)
    assert [s.subgoal for s in plan.segments] == ["pick up the cube", "press the button"]


def test_linspace_is_truncated_not_rounded():
    sg = steps(("a", 50), ("b", 20))
    # (0, 50): 3 calls at 0, 16.67, 33.33 -> 0, 16, 33; (50, 69): 19 // 16 = 1 call at 50; + 69
    assert segment_episode(sg, 0, "PickXtimes").call_frames == (0, 16, 33, 50, 69)


def test_segment_shorter_than_stride_gets_no_call_not_even_its_boundary():
    sg = steps(("pick", 32), ("put down the container", 12), ("pick again", 40), (DONE, 2))
    plan = segment_episode(sg, 0, "ButtonUnmask")
    assert plan.boundaries == (0, 32, 44)
    assert 32 not in plan.call_frames
    # (0, 32): 2 -> 0, 16; (32, 44): 12 // 16 = 0; (44, 85): 41 // 16 = 2 -> 44, 64.5 -> 64; + 85
    assert plan.call_frames == (0, 16, 44, 64, 85)


def test_stopcube_uses_stride_32():
    sg = steps(
        ("move to the top of the button to prepare", 40), ("remain static", 200), ("press the button", 30), (DONE, 5)
    )
    plan = segment_episode(sg, 0, "StopCube")
    assert plan.stride == 32
    # (0, 40): 1 -> 0; (40, 240): 6 -> 40, 73, 106, 140, 173, 206; (240, 274): 1 -> 240; + 274
    assert plan.call_frames == (0, 40, 73, 106, 140, 173, 206, 240, 274)


def test_video_demo_steps_are_skipped():
    sg = steps(("static", 66), ("pick up the container", 50), (DONE, 4))
    plan = segment_episode(sg, 66, "VideoUnmask")
    assert plan.execution_start == 66
    assert plan.boundaries == (66,)
    # (66, 119): 53 // 16 = 3 -> 66, 83.67, 101.33 -> 66, 83, 101; + 119
    assert plan.call_frames == (66, 83, 101, 119)


def test_complete_marker_continues_the_previous_subgoal():
    sg = steps(("a", 20), ("Task complete", 5), ("a", 10), ("b", 20))
    assert resolve_complete(["a", "task complete", "b"]) == ["a", "a", "b"]
    assert segment_episode(sg, 0, "BinFill").boundaries == (0, 35)


def test_repeated_subgoal_after_another_is_a_new_segment():
    sg = steps(("put it into the bin", 20), ("pick up the cube", 20), ("put it into the bin", 20))
    assert segment_episode(sg, 0, "BinFill").boundaries == (0, 20, 40)


def test_normalisation_ignores_case_and_surrounding_space():
    sg = steps(("Pick up the cube", 10), ("pick up the cube ", 10), ("press", 20))
    assert segment_episode(sg, 0, "BinFill").boundaries == (0, 20)


def test_patternlock_is_cut_every_32_steps():
    sg = steps(("static", 10), ("move left", 30), ("move forward", 60), (DONE, 1))
    plan = segment_episode(sg, 10, "PatternLock")
    assert plan.boundaries == (10, 42, 74)
    # stride stays 16: (10, 42): 2 -> 10, 26; (42, 74): 2 -> 42, 58; (74, 100): 26 // 16 = 1 -> 74; + 100
    assert plan.call_frames == (10, 26, 42, 58, 74, 100)


def test_change_on_the_last_step():
    sg = steps(("a", 32), ("b", 1))
    plan = segment_episode(sg, 0, "BinFill")
    assert plan.boundaries == (0, 32)
    assert plan.call_frames == (0, 16, 32)
    assert plan.segment_of(32).subgoal == "b"


def test_keyframe_duplicates_follow_the_reference():
    sg = steps(("a", 64), ("b", 40), ("c", 20))
    plan = segment_episode(sg, 0, "BinFill")
    # segment ends 64 (a had 4 calls -> 3 extra copies) and 104 (b had 2 -> 1); the last step never
    assert plan.duplicates == {64: 3, 104: 1}


def test_episode_of_only_complete_markers_is_an_error():
    with pytest.raises(ValueError, match="no step"):
        segment_episode([DONE] * 5, 0, "BinFill")


def test_segment_of():
    plan = segment_episode(steps(("a", 20), ("b", 20)), 0, "BinFill")
    assert [plan.segment_of(f).index for f in plan.call_frames] == [0, 1, 1]
