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
