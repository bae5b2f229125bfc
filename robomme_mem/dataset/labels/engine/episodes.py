"""Label a source: action memories per boundary and style, spatial chains per episode.

- **Action memory**: one request per (episode, style, boundary) from the goal and the
  boundary's history. Identical histories (frequent across episodes of a task) are keyed
  alike, so the session sends each once.
- **Spatial chain**: per episode, strictly in call-frame order, each request carrying the
  previous answer. Chains of different episodes run concurrently, longest first and with
  the longest remaining chain served first, so wall time approaches the longest chain
  times the latency (or all requests over the concurrency, whichever is larger).

Episodes come planned (:func:`robomme_mem.dataset.plan.plan_source`, with the build spec's
strides), so ``robomme-mem label`` and ``robomme-mem build`` ask for the same call frames.

A failed answer ends its chain (the next prior is unknown) and marks its episode failed; a
request the labeller does not send (:class:`~.session.Pending`) ends it too, which is how
batch export walks a chain one frame-step per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ....subgoals import STYLES
from ...plan import PlannedEpisode
from ...segment import Boundary
from ...source import Episode, SourceFile, open_source
from ..store.cache import Answer
from .memories import EpisodeMemories
from .requests import LabelRequest, action_request, location, spatial_request
from .session import LabelSession, Pending

ACTIVE_CHAINS_PER_SLOT = 2
"""Spatial chains in progress per concurrency slot: enough to keep every slot busy, few
enough that pending frames (read before their turn) stay a small, bounded amount of memory."""


@dataclass(frozen=True)
class LabelEntry:
    """One answer in its place: boundary ``item`` of a style, or call frame number ``item``."""

    kind: str
    style: str | None
    item: int
    step: int
    key: str
    answer: Answer

    @property
    def text(self) -> str:
        return self.answer.text or ""


@dataclass
class EpisodeLabels:
    """An episode's answers in place; failed answers are kept (a label set records them too)."""

    work: PlannedEpisode
    action: dict[str, list[LabelEntry]] = field(default_factory=dict)
    spatial: list[LabelEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why the episode is incomplete: failed answers (with the labeller's error)."""
    pending: int = 0

    @property
    def complete(self) -> bool:
        return not self.problems and not self.pending

    def placed(self) -> list[tuple[dict, LabelEntry]]:
        """(label set row, entry) per answer: action memories by style, then the spatial chain."""
        out = []
        for entry in [*(e for style in STYLES for e in self.action.get(style, [])), *self.spatial]:
            row = {
                "task": self.work.task,
                "episode": self.work.episode,
                "kind": entry.kind,
                "style": entry.style,
                "item": entry.item,
                "step": entry.step,
                "key": entry.key,
            }
            out.append((row, entry))
        return out

    def entries(self) -> list[dict]:
        """Rows of a label set: where each answer is used."""
        return [row for row, _ in self.placed()]

    def action_memories(self, style: str) -> list[str]:
        """``M_k`` per segment, in order (the episode must be complete)."""
        return [e.text for e in self.action[style]]

    def spatial_memories(self) -> list[str]:
        """``S_c`` per call frame, in order (the episode must be complete)."""
        return [e.text for e in self.spatial]

    def memories(self) -> EpisodeMemories:
        """What assembly and the traces take of a complete episode: texts and request keys, in order."""
        return EpisodeMemories(
            subgoals={style: [b.subgoal for b in self.work.boundaries[style]] for style in self.action},
            action={style: self.action_memories(style) for style in self.action},
            spatial=self.spatial_memories() if self.spatial else None,
            action_keys={style: [e.key for e in entries] for style, entries in self.action.items()},
            spatial_keys=[e.key for e in self.spatial] if self.spatial else None,
        )


FrameSource = Callable[[PlannedEpisode, int], np.ndarray]
"""(episode, step) -> the front image; a build passes the frames its worker has already read."""


class Frames:
    """Front images by (file, episode, step) for the chains in progress, read from the source files.

    Each episode opens its file for itself and closes it when its chain is done: HDF5 keeps
    every string heap it has read until a file is closed, so one handle kept for the whole
    run would grow with the file.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[Path, int], tuple[SourceFile, Episode]] = {}

    def __call__(self, work: PlannedEpisode, step: int) -> np.ndarray:
        key = (work.file, work.episode)
        if key not in self._open:
            source = open_source(work.file)
            self._open[key] = (source, source.episode(work.episode))
        return self._open[key][1].front_image(step)

    def done(self, work: PlannedEpisode) -> None:
        opened = self._open.pop((work.file, work.episode), None)
        if opened is not None:
            opened[0].close()

    def close(self) -> None:
        for source, _ in self._open.values():
            source.close()
        self._open.clear()


async def label_works(
    works: Sequence[PlannedEpisode],
    session: LabelSession,
    *,
    styles: Sequence[str] = STYLES,
    spatial: bool = True,
    image_size: int | None = None,
    progress: bool = True,
    frames: FrameSource | None = None,
) -> list[EpisodeLabels]:
    """Label every episode; returns one :class:`EpisodeLabels` per planned episode, in order.

    ``frames`` supplies the spatial chain's images (default: read from the source files).
    """
    results = [EpisodeLabels(work) for work in works]
    reader = Frames() if frames is None else None
    image = frames or reader
    n_action = sum(len(w.boundaries[s]) for w in works for s in styles)
    n_spatial = sum(len(w.timeline.call_frames) for w in works) if spatial else 0
    action_bar = tqdm(
        total=n_action, desc="action memories", unit="req", disable=not progress or not n_action, leave=False
    )
    spatial_bar = tqdm(
        total=n_spatial, desc="spatial chains", unit="frame", disable=not progress or not n_spatial, leave=False
    )
    active = asyncio.Semaphore(max(1, session.concurrency * ACTIVE_CHAINS_PER_SLOT))

    async def action(result: EpisodeLabels, style: str, boundary: Boundary, slots: list) -> None:
        work = result.work
        request = action_request(work.goal, boundary.history, style, _at(session.labeller, work, boundary))
        slots[boundary.segment] = await _ask(
            result, session, request, "action", style, boundary.segment, boundary.step, priority=1.0
        )
        action_bar.update()

    async def chain(result: EpisodeLabels) -> None:
        work = result.work
        calls = work.timeline.call_frames
        async with active:
            try:
                prior: str | None = None
                for index, step in enumerate(calls):
                    request = spatial_request(work.goal, prior, image(work, step), image_size)
                    entry = await _ask(
                        result, session, request, "spatial", None, index, step, priority=float(len(calls) - index)
                    )
                    spatial_bar.update()
                    if entry is not None:
                        result.spatial.append(entry)
                    if entry is None or not entry.answer.ok:  # the next prior is unknown: the chain ends here
                        spatial_bar.update(len(calls) - index - 1)
                        return
                    prior = entry.text
            finally:
                if reader is not None:
                    reader.done(work)

    slots: dict[tuple[int, str], list] = {}
    try:
        async with asyncio.TaskGroup() as group:
            if spatial:  # longest chains first: they bound the run's wall time
                for result in sorted(results, key=lambda r: -len(r.work.timeline.call_frames)):
                    group.create_task(chain(result))
            for number, result in enumerate(results):  # independent: all at once, filling the gaps
                for style in styles:
                    found = slots[(number, style)] = [None] * len(result.work.boundaries[style])
                    for boundary in result.work.boundaries[style]:
                        group.create_task(action(result, style, boundary, found))
    except BaseExceptionGroup as errors:  # the first error (a bad source field, say), as itself
        raise errors.exceptions[0] from None
    finally:
        session.flush()
        if reader is not None:
            reader.close()
        action_bar.close()
        spatial_bar.close()
    for (number, style), found in slots.items():
        results[number].action[style] = [entry for entry in found if entry is not None]
    return results


async def _ask(
    result: EpisodeLabels,
    session: LabelSession,
    request: LabelRequest,
    kind: str,
    style: str | None,
    item: int,
    step: int,
    priority: float,
) -> LabelEntry | None:
    try:
        key, answer = await session.answer(request, priority)
    except Pending:
        result.pending += 1
        session.stats.pending += 1
        return None
    return _placed(result, kind, style, item, step, key, answer)


def _at(labeller, work: PlannedEpisode, boundary: Boundary) -> str | None:
    """The boundary's place, for a labeller that answers from what happened there (``located``)."""
    return location(work.task, work.episode, work.seed, boundary.step) if getattr(labeller, "located", False) else None


def _placed(
    result: EpisodeLabels, kind: str, style: str | None, item: int, step: int, key: str, answer: Answer
) -> LabelEntry:
    if not answer.ok:
        where = f"{kind} memory" + (f" ({style})" if style else "") + f" at step {step}"
        result.problems.append(f"{result.work.name}: {where}: {answer.error}")
    return LabelEntry(kind, style, item, step, key, answer)


def label_now(
    work: PlannedEpisode, labeller, frames: FrameSource, *, styles: Sequence[str] = STYLES, spatial: bool = True
) -> EpisodeLabels:
    """One episode labelled in order, in this thread: for a labeller that answers at once
    (``answer_now``: ``rules``, or a stored label set), with the same requests, keys and entries
    as :func:`label_works`. A request the labeller has no answer for (:class:`~.session.Pending`)
    is counted, as there, and ends the spatial chain."""
    result = EpisodeLabels(work)
    params = labeller.params

    def ask(request: LabelRequest, kind: str, style: str | None, item: int, step: int) -> LabelEntry | None:
        key = request.key(params)
        try:
            answer = labeller.answer_now(request)
        except Pending:
            result.pending += 1
            return None
        return _placed(result, kind, style, item, step, key, answer)

    for style in styles:
        entries = (
            ask(action_request(work.goal, b.history, style, _at(labeller, work, b)), "action", style, b.segment, b.step)
            for b in work.boundaries[style]
        )
        result.action[style] = [entry for entry in entries if entry is not None]
    prior: str | None = None
    for index, step in enumerate(work.timeline.call_frames if spatial else ()):
        entry = ask(
            spatial_request(work.goal, prior, frames(work, step), params.image_size), "spatial", None, index, step
        )
        if entry is None:
            break
        result.spatial.append(entry)
        if not entry.answer.ok:
            break
        prior = entry.text
    return result
