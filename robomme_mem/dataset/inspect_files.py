"""The pre-flight check of source files: every field a build reads, every frame it reads decoded.

A broken file is found here in seconds, not an hour into a build. The check yields what it
finds file by file and episode by episode, so a caller can show each as it comes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .plan import plan_episode
from .source import open_source
from .spec import BuildSpec


@dataclass(frozen=True)
class CheckedFile:
    """A source file, opened: yielded before its episodes are checked."""

    path: Path
    task: str
    episodes: list[int]


@dataclass(frozen=True)
class CheckedEpisode:
    index: int
    steps: int
    execution_start: int
    seed: int | None
    difficulty: str | None
    call_frames: int
    decoded: int
    """Frames decoded: those a build reads, or every frame."""


@dataclass(frozen=True)
class Segment:
    index: int
    start: int
    stop: int
    calls: int
    subgoal: str
    grounded_subgoal: str


@dataclass(frozen=True)
class Segments:
    """The subgoal segments of one episode of a file, yielded after its episodes."""

    episode: int
    goal: str
    stride: int
    segments: list[Segment]
    call_frames: list[int]


def check_files(
    files: Sequence[Path], spec: BuildSpec, episode: int | None = None, all_frames: bool = False, progress: bool = True
) -> Iterator[CheckedFile | CheckedEpisode | Segments]:
    """Check each file's episodes and yield, per file, its :class:`CheckedFile`, a :class:`CheckedEpisode`
    each, then the :class:`Segments` of ``episode`` (default: its first).

    ``spec``'s strides pick the call frames whose images are decoded (``all_frames``: every frame).
    """
    for path in files:
        with open_source(path) as src:
            indices = src.episode_indices
            yield CheckedFile(path, src.task, indices)
            shown = episode if episode is not None else indices[0]
            if shown not in indices:
                raise ValueError(f"{path}: no episode_{shown} (episodes {indices[0]}..{indices[-1]})")
            segments = None
            for index in tqdm(indices, desc=f"checking {src.task}", unit="ep", leave=False, disable=not progress):
                ep = src.episode(index)
                ep.check_images()
                planned = plan_episode(ep, spec.stride_for)
                steps = range(ep.num_steps) if all_frames else planned.read_steps
                for step in steps:
                    ep.front_image(step)
                yield CheckedEpisode(
                    index,
                    ep.num_steps,
                    ep.execution_start,
                    ep.seed,
                    ep.difficulty,
                    len(planned.timeline.call_frames),
                    len(steps),
                )
                if index == shown:
                    segments = _segments(ep, planned)
            yield segments


def _segments(ep, planned) -> Segments:
    plan = planned.timeline
    return Segments(
        ep.index,
        ep.goal,
        plan.stride,
        [
            Segment(
                seg.index,
                seg.start,
                seg.stop,
                sum(seg.start <= f < seg.stop for f in plan.call_frames),
                ep.simple_subgoal(seg.start),
                ep.grounded_subgoal(seg.start),
            )
            for seg in plan.segments
        ],
        list(plan.call_frames),
    )
