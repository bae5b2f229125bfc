"""One plan per episode: everything a build or a label run needs of it, read once, no pixels.

Planning opens an episode, reads its goal, video-demo flags, every step's simple subgoal and
the grounded subgoals that rows and labels use, segments it and picks its call frames with
the build spec's stride. Labelling consumes the plan (boundaries, call frames); assembly
consumes plan + labels + the frames, which are then read exactly once, by the worker that
encodes them.

A plan also carries a digest of what was read, so a build can record its sources' provenance
without hashing gigabytes of bytes it never reads (see :func:`source_records`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

from ..errors import SourceError
from ..subgoals import STYLES, demonstration_items
from .checksum import PLAN_DIGEST, READ_DIGEST
from .segment import Boundary, Timeline, boundaries, segment_episode
from .source import Episode, open_source


@dataclass(frozen=True)
class PlannedEpisode:
    """One episode, planned: where the high-level policy is called and what it is told."""

    file: Path
    task: str
    episode: int
    goal: str
    seed: int | None
    timeline: Timeline
    boundaries: Mapping[str, tuple[Boundary, ...]]
    """Per style, one boundary per segment (what action memories are labelled from)."""
    subgoals: Mapping[int, tuple[str, str]]
    """Raw (simple, grounded) subgoal of every call frame and segment start."""
    digest: str
    """xxh3-128 of everything planning read."""
    injected_failure: dict | None = None
    """The failed grasp ``robomme-mem record`` injected into the episode (mode, subgoal), if any."""

    @property
    def name(self) -> str:
        return f"{self.task} episode {self.episode}"

    @property
    def read_steps(self) -> list[int]:
        """Every step whose frame a build reads: the video demonstration's, then the call frames."""
        return sorted({*range(self.timeline.execution_start), *self.timeline.call_frames})

    def simple_subgoal(self, step: int) -> str:
        return self.subgoals[step][0]

    def grounded_subgoal(self, step: int) -> str:
        return self.subgoals[step][1]


def plan_episode(episode: Episode, stride_for: Callable[[str], int] | None = None) -> PlannedEpisode:
    """Plan an open episode; a source that cannot be planned is an error naming its field."""
    simple = episode.simple_subgoals
    try:
        plan = segment_episode(
            simple, episode.execution_start, episode.task, stride_for(episode.task) if stride_for else None
        )
    except ValueError as exc:
        raise episode.error(str(exc), field="info/simple_subgoal") from None
    steps = sorted({*plan.call_frames, *plan.boundaries})
    subgoals = {step: (simple[step], episode.grounded_subgoal(step)) for step in steps}
    texts = {style: [(s.start, subgoals[s.start][i].lower()) for s in plan.segments] for i, style in enumerate(STYLES)}
    demo = {
        "simple": demonstration_items(list(simple[: plan.execution_start])),
        "grounded": demonstration_items([episode.grounded_subgoal(k) for k in range(plan.execution_start)]),
    }
    read = [
        episode.goal,
        episode.seed,
        plan.num_steps,
        plan.execution_start,
        simple,
        [[k, g] for k, (_, g) in subgoals.items()],
        demo["grounded"],
    ]
    failure = episode.injected_failure
    if failure is not None:  # a recorded failure is in the traces' rows: it is part of what planning read
        read.append(failure)
    return PlannedEpisode(
        file=Path(episode.file),
        task=episode.task,
        episode=episode.index,
        goal=episode.goal,
        seed=episode.seed,
        timeline=plan,
        boundaries={style: tuple(boundaries(texts[style], demo[style])) for style in STYLES},
        subgoals=subgoals,
        digest=xxhash.xxh3_128_hexdigest(json.dumps(read, ensure_ascii=False, sort_keys=True).encode()),
        injected_failure=failure,
    )


def _plan_in_file(file: str | Path, index: int, stride_for: Callable[[str], int] | None = None) -> PlannedEpisode:
    """Open ``file`` for one episode and plan it.

    The file is opened per episode: HDF5 keeps every string heap it has read cached until the
    file is closed, so a handle kept across episodes grows with the file.
    """
    with open_source(file) as source:
        return plan_episode(source.episode(index), stride_for)


def episodes_of(files: Iterable[Path], max_episodes: int | None = None) -> list[tuple[Path, int]]:
    """(file, episode number) of every episode to plan, in file then numeric order.

    An episode number twice for one task (in two files) is an error naming both files.
    """
    out: list[tuple[Path, int]] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in files:
        with open_source(path) as source:
            task, indices = source.task, source.episode_indices[:max_episodes]
        for index in indices:
            if (task, index) in seen:
                raise SourceError(
                    path,
                    f"{task} episode_{index} is also in {seen[(task, index)]}; episode numbers must be unique per task",
                    episode=f"episode_{index}",
                )
            seen[(task, index)] = path
            out.append((Path(path), index))
    return out


def plan_source(
    files: Iterable[Path],
    max_episodes: int | None = None,
    stride_for: Callable[[str], int] | None = None,
) -> list[PlannedEpisode]:
    """Plan every episode of ``files`` (first ``max_episodes`` of each), in order.

    ``stride_for`` (task -> stride) is the build spec's; ``None`` takes RoboMME's strides.
    (A build plans each episode in the worker that builds it: :func:`plan_episode`.)
    """
    return [_plan_in_file(path, index, stride_for) for path, index in episodes_of(files, max_episodes)]


def source_records(
    files: Sequence[Path],
    episodes: Sequence[PlannedEpisode],
    frame_digests: Mapping[tuple[str, int], str] | None = None,
) -> list[dict]:
    """Per source file: name, task, episodes, size, and one digest of what was read from it.

    With ``frame_digests`` (a build) the digest is :data:`~.checksum.READ_DIGEST`; without
    (a label set, whose spatial answers are keyed on their frames) :data:`~.checksum.PLAN_DIGEST`.

    The digest chains each episode's plan digest (and, for a build, the digest of the frames
    it read) in episode order: a change to anything the rows come from changes it, while
    bytes nothing reads (wrist camera, depth, actions) are not hashed on every build.
    """
    by_file: dict[Path, list[PlannedEpisode]] = {Path(f): [] for f in files}
    for episode in episodes:
        by_file[Path(episode.file)].append(episode)
    records = []
    for path, planned in by_file.items():
        digest = xxhash.xxh3_128()
        for episode in planned:
            digest.update(episode.digest.encode())
            if frame_digests is not None:
                digest.update(frame_digests[(episode.task, episode.episode)].encode())
        with open_source(path) as source:
            synthetic, size = source.synthetic, source.size_bytes
        records.append(
            {
                "file": path.name,
                "synthetic": synthetic,
                "task": planned[0].task if planned else None,
                "episodes": len(planned),
                "injected_failures": sum(1 for e in planned if e.injected_failure),
                "bytes": size,
                (PLAN_DIGEST if frame_digests is None else READ_DIGEST): digest.hexdigest(),
            }
        )
    return records
