"""Which memories an episode needs, and how they reach its call frames (pure functions).

DESIGN section 2: the action memory ``M_k`` is labelled once per subgoal boundary from the task
goal and the earlier subgoals ``l_0 .. l_{k-1}`` (consecutive duplicates removed, "(none yet)"
for k = 0), then forward-filled: a call in segment k has target ``M_k`` and input the previous
call's target (the initial memory on the first call). The spatial memory is a chain over the
call frames: ``S_c = describe(goal, S_{c-1}, image_c)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..prompts import INITIAL_MEMORY, INITIAL_SPATIAL, NO_HISTORY_YET, format_history
from ..segment import EpisodePlan, resolve_complete


@dataclass(frozen=True)
class Boundary:
    """Segment ``segment`` starts at ``step`` with subgoal ``subgoal``; ``history`` is what came before."""

    segment: int
    step: int
    subgoal: str
    history: tuple[str, ...]

    @property
    def history_text(self) -> str:
        """The labeller's ``{history}``: ``1. a; 2. b`` or "(none yet)"."""
        return format_history(list(self.history)) if self.history else NO_HISTORY_YET


def boundaries(segment_subgoals: Sequence[tuple[int, str]]) -> list[Boundary]:
    """Boundaries from (boundary step, subgoal text) per segment, in order.

    A "complete" marker continues the subgoal before it (it is never an action of its own).
    """
    out: list[Boundary] = []
    history: list[str] = []
    resolved = resolve_complete([text for _, text in segment_subgoals])
    for index, ((step, raw), text) in enumerate(zip(segment_subgoals, resolved)):
        text = raw if text is None else text  # a marker with nothing before it stays as written
        out.append(Boundary(segment=index, step=step, subgoal=text, history=tuple(history)))
        if not history or history[-1] != text:
            history.append(text)
    return out


@dataclass(frozen=True)
class CallMemory:
    """Action memory around one call: what the prompt carries in, what the target writes out."""

    step: int
    segment: int
    is_boundary: bool
    memory_in: str
    memory_out: str


def forward_fill(plan: EpisodePlan, memories: Sequence[str], initial: str = INITIAL_MEMORY) -> list[CallMemory]:
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
