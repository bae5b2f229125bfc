"""How labels reach the call frames (DESIGN section 2, steps 5 and 6; pure functions).

A call in segment k has action-memory target ``M_k`` and, as input, the previous call's target
(the initial memory on the episode's first call). The spatial memory is a chain over the call
frames: a call's input is the previous call's output (the initial spatial string first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...prompts import INITIAL_MEMORY, INITIAL_SPATIAL
from ..segment import Timeline


@dataclass(frozen=True)
class CallMemory:
    """Action memory around one call: what the prompt carries in, what the target writes out."""

    step: int
    segment: int
    is_boundary: bool
    memory_in: str
    memory_out: str


def forward_fill(plan: Timeline, memories: Sequence[str], initial: str = INITIAL_MEMORY) -> list[CallMemory]:
    """Action memory in and out for every call frame, from one memory per segment (``M_k``)."""
    if len(memories) != len(plan.segments):
        raise ValueError(f"need one memory per segment ({len(plan.segments)}), got {len(memories)}")
    out: list[CallMemory] = []
    previous = initial
    for step in plan.call_frames:
        segment = plan.segment_of(step)
        target = memories[segment.index]
        out.append(CallMemory(step, segment.index, step == segment.start, previous, target))
        previous = target
    return out


def spatial_inputs(outputs: Sequence[str], initial: str = INITIAL_SPATIAL) -> list[str]:
    """Spatial memory each call's prompt carries: the previous call's output (``initial`` first)."""
    return [initial, *outputs[:-1]] if outputs else []
