"""Execution start, subgoal segments and high-level call frames of an episode (pure functions).

The call frames are picked exactly as RoboMME's reference QwenVL subgoal builder picks
them, so that every config of a build sees the same frames as RoboMME's baseline:

- a segment is a maximal run of one normalised simple subgoal from the execution start
  on; any text containing ``"complete"`` continues the previous subgoal;
- PatternLock is cut every 32 steps instead of by subgoal;
- a segment from ``a`` to the next segment's first step ``b`` (the episode's last step
  for the last segment) gets ``n = (b - a) // stride`` calls at
  ``linspace(a, b, n, endpoint=False)`` truncated to int, so a segment shorter than the
  stride gets no call at all, not even at its boundary;
- the episode's last step is always a call.

Each segment start is also a **boundary** (:func:`boundaries`): where an action memory is
labelled, from the subgoals before it.

Keyframe duplication (the reference's "balancing": a segment's end repeated ``n - 1``
times) is computed here but applied only when a build asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..prompts import NO_HISTORY_YET, format_history
from ..subgoals import is_complete_marker, normalise
from ..tasks import FIXED_CUT_TASKS, stride_for


def resolve_complete(subgoals: Sequence[str]) -> list[str | None]:
    """Replace each "complete" marker by the subgoal before it (``None`` if there is none yet)."""
    out: list[str | None] = []
    previous: str | None = None
    for text in subgoals:
        current = previous if is_complete_marker(text) else text
        out.append(current)
        previous = current
    return out


@dataclass(frozen=True)
class Segment:
    """A run of one subgoal: ``start`` is its boundary step, ``stop`` the next segment's start."""

    index: int
    start: int
    stop: int
    subgoal: str | None
    """Normalised simple subgoal at the boundary (``None`` only for a PatternLock cut before any subgoal)."""


@dataclass(frozen=True)
class Timeline:
    """Where the high-level policy is called in one episode, and which segment each call is in."""

    num_steps: int
    execution_start: int
    stride: int
    segments: tuple[Segment, ...]
    call_frames: tuple[int, ...]
    duplicates: dict[int, int]
    """Keyframe step -> extra copies the reference's balancing would write (unused unless asked for)."""

    @property
    def boundaries(self) -> tuple[int, ...]:
        return tuple(s.start for s in self.segments)

    def segment_of(self, step: int) -> Segment:
        """The segment a step falls in (the last one for steps at or after its start)."""
        if step < self.segments[0].start:
            raise ValueError(f"step {step} is before the first segment (starts at {self.segments[0].start})")
        lo, hi = 0, len(self.segments) - 1
        while lo < hi:  # last segment with start <= step
            mid = (lo + hi + 1) // 2
            if self.segments[mid].start <= step:
                lo = mid
            else:
                hi = mid - 1
        return self.segments[lo]


def _changes(resolved: Sequence[str | None], offset: int) -> list[int]:
    """Positions (plus ``offset``) where a resolved subgoal differs from the one before (``None`` first)."""
    return [offset + i for i, cur in enumerate(resolved) if cur != (resolved[i - 1] if i else None)]


def sample_calls(starts: Sequence[int], num_steps: int, stride: int) -> tuple[list[int], dict[int, int]]:
    """The reference's frame sampling over segment starts; returns (sorted call frames, duplicates)."""
    last = num_steps - 1
    ends = list(starts[1:]) + [last]
    frames: list[int] = []
    duplicates: dict[int, int] = {}
    for start, end in zip(starts, ends):
        n = (end - start) // stride
        frames.extend(np.linspace(start, end, n, endpoint=False).astype(np.int32).tolist())
        duplicates[end] = max(n - 1, 0)
    duplicates.pop(last, None)
    frames.append(last)
    return sorted(set(frames)), {k: v for k, v in duplicates.items() if v > 0}


def segment_episode(
    simple_subgoals: Sequence[str],
    execution_start: int,
    task: str,
    stride: int | None = None,
) -> Timeline:
    """Segments and call frames of an episode from its per-step simple subgoals.

    ``stride`` defaults to the task's (16, StopCube 32). Raises ``ValueError`` when no step
    from the execution start carries a subgoal.
    """
    num_steps = len(simple_subgoals)
    if not 0 <= execution_start < num_steps:
        raise ValueError(f"execution start {execution_start} outside 0..{num_steps - 1}")
    stride = stride or stride_for(task)
    resolved = resolve_complete([normalise(s) for s in simple_subgoals[execution_start:]])
    if task in FIXED_CUT_TASKS:
        starts = list(range(execution_start, num_steps, FIXED_CUT_TASKS[task]))
    else:
        starts = _changes(resolved, execution_start)
        if not starts:
            raise ValueError("no step from the execution start has a subgoal (all are 'complete' markers)")
    stops = starts[1:] + [num_steps]
    segments = tuple(
        Segment(index=i, start=a, stop=b, subgoal=resolved[a - execution_start])
        for i, (a, b) in enumerate(zip(starts, stops))
    )
    frames, duplicates = sample_calls(starts, num_steps, stride)
    return Timeline(
        num_steps=num_steps,
        execution_start=execution_start,
        stride=stride,
        segments=segments,
        call_frames=tuple(frames),
        duplicates=duplicates,
    )


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


def boundaries(segment_subgoals: Sequence[tuple[int, str]], demonstration: Sequence[str] = ()) -> list[Boundary]:
    """Boundaries from (boundary step, subgoal text) per segment, in order.

    A "complete" marker continues the subgoal before it (it is never an action of its own).
    ``demonstration``: a video task's demonstration as history items
    (:func:`robomme_mem.subgoals.demonstration_items`), which every history starts with.
    """
    out: list[Boundary] = []
    history: list[str] = list(demonstration)
    resolved = resolve_complete([text for _, text in segment_subgoals])
    for index, ((step, raw), text) in enumerate(zip(segment_subgoals, resolved)):
        text = raw if text is None else text  # a marker with nothing before it stays as written
        out.append(Boundary(segment=index, step=step, subgoal=text, history=tuple(history)))
        if not history or history[-1] != text:
            history.append(text)
    return out
