"""The 16 RoboMME tasks and the per-task constants the reference builder hard-codes."""

from __future__ import annotations

ALL_TASKS: tuple[str, ...] = (
    "BinFill",
    "PickXtimes",
    "SwingXtimes",
    "StopCube",
    "VideoUnmask",
    "VideoUnmaskSwap",
    "ButtonUnmask",
    "ButtonUnmaskSwap",
    "PickHighlight",
    "VideoRepick",
    "VideoPlaceButton",
    "VideoPlaceOrder",
    "MoveCube",
    "InsertPeg",
    "PatternLock",
    "RouteStick",
)
"""Every RoboMME task, in the benchmark's suite order (counting, permanence, reference, imitation)."""

EVALUATED_TASKS: tuple[str, ...] = (
    "BinFill",
    "PickXtimes",
    "SwingXtimes",
    "StopCube",
    "ButtonUnmask",
    "ButtonUnmaskSwap",
    "PickHighlight",
)
"""The 7 non-video tasks the method is evaluated on (Table 1 of the report)."""

DEFAULT_STRIDE = 16
"""Steps between two high-level calls inside a segment."""

STRIDE_OVERRIDES: dict[str, int] = {"StopCube": 32}
"""StopCube is slow-paced: the reference builder samples it every 32 steps."""

FIXED_CUT_TASKS: dict[str, int] = {"PatternLock": 32}
"""Tasks segmented by a fixed step count instead of by subgoal changes (PatternLock: 32)."""

SOURCE_FILE_PREFIX = "record_dataset_"
SOURCE_FILE_SUFFIX = ".h5"


def stride_for(task: str) -> int:
    """Sampling stride of a task, as RoboMME's reference QwenVL builder picks it."""
    return STRIDE_OVERRIDES.get(task, DEFAULT_STRIDE)


def task_from_filename(name: str) -> str:
    """``record_dataset_BinFill.h5`` -> ``BinFill`` (the reference's ``split('.')[0].split('_')[-1]``)."""
    return name.split(".")[0].split("_")[-1]


VIDEO_DEMO_TASKS: frozenset[str] = frozenset(
    {
        "VideoUnmask",
        "VideoUnmaskSwap",
        "VideoRepick",
        "VideoPlaceButton",
        "VideoPlaceOrder",
        "MoveCube",
        "InsertPeg",
        "PatternLock",
        "RouteStick",
    }
)
"""Tasks whose episodes open with a video demonstration (every goal of theirs begins "watch the video");
in every other task no step is a demonstration."""

_GOAL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("BinFill", r"into the bin"),
    ("SwingXtimes", r"right-side target"),
    ("PickXtimes", r"^pick up the \w+ cube and place it on the target"),
    ("StopCube", r"stop the cube"),
    ("ButtonUnmaskSwap", r"^first press both buttons"),
    ("ButtonUnmask", r"^first press the button, then pick up the container"),
    ("PickHighlight", r"highlight"),
    ("VideoUnmask", r"^watch the video carefully, then pick up the container hiding"),
    ("VideoUnmaskSwap", r"^watch the video carefully, then pick up the container hiding"),
    ("VideoPlaceButton", r"^watch the video carefully.*the button was pressed"),
    ("VideoPlaceOrder", r"^watch the video carefully.* target (it was previously placed on|where it was placed)$"),
    ("VideoRepick", r"^watch the video carefully.*(previously picked up|cube that was picked up)"),
    ("InsertPeg", r"^watch the video carefully.*\bpeg\b"),
    ("MoveCube", r"^watch the video carefully, then move the cube to the target"),
    ("PatternLock", r"retrace the same pattern"),
    ("RouteStick", r"navigate around the sticks"),
)
"""Each task's goal sentences, as RoboMME's ``task_goal.get_language_goal`` words them (read, not copied)."""


def tasks_from_goal(goal: str) -> tuple[str, ...]:
    """The RoboMME tasks whose goal sentences ``goal`` matches (one, none, or, for the two video
    unmask tasks, whose goals are worded alike, both)."""
    import re

    text = goal.strip().lower()
    return tuple(task for task, pattern in _GOAL_PATTERNS if re.search(pattern, text))
