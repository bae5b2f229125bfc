"""``robomme-mem export lerobot``: any source plus a label set -> a LeRobot v3.0 dataset with the memories.

Each episode is planned, its frames read once (every step: LeRobot keeps them all), labelled from
those frames (``rules``) or looked up in a label set, and handed to
:class:`~.write.lerobot.LeRobotWriter` with its ``language_persistent`` slice: the subtasks and
both styles' action memories at each boundary, the spatial memory at each call frame
(:func:`~.source.lerobot_features.language_rows`, from the episode's ``traces`` row). The folder is
written beside ``out`` and renamed into place.

With ``annotate`` the frames are not written: the language columns are added to an existing
LeRobot copy of the same episodes, matched by RoboMME task and episode number and checked frame
by frame against its subgoal strings (never matched by position).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from ..errors import SourceError
from .assemble.traces import trace_row
from .labels.build_labels import RULES, BuildLabels
from .lerobot_layout import INFO_PATH
from .plan import episodes_of, plan_episode
from .source import find_source_files, open_source, select_files
from .source import lerobot_features as F
from .source.lerobot_dataset import LeRobotFolder
from .spec import BuildSpec, load_spec
from .staging import staged
from .write.lerobot import EpisodeFrames, LeRobotWriter, annotate


@dataclass
class ExportResult:
    out: Path
    episodes: int = 0
    frames: int = 0
    language_rows: int = 0
    unlabelled: list[str] = field(default_factory=list)
    """Episodes whose label set lacks answers: exported without language rows."""
    seconds: float = 0.0


def export_lerobot(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    labels: str | None = RULES,
    store: str | Path | None = None,
    spec: BuildSpec | None = None,
    tasks: Sequence[str] | None = None,
    max_episodes: int | None = None,
    fps: int = F.DEFAULT_FPS,
    progress: bool = True,
) -> ExportResult:
    """Write ``sources`` (HDF5 or LeRobot) as a LeRobot v3.0 dataset at ``out`` with the memories of ``labels``
    (``None``: frames and subgoals only)."""
    started = time.perf_counter()
    spec = spec or load_spec()
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / INFO_PATH).is_file():
        raise FileExistsError(f"{out} exists and is not a LeRobot dataset; choose another --out or remove it")
    files = select_files(find_source_files(sources), tasks)
    where = episodes_of(files, max_episodes)
    chosen = BuildLabels.named(labels, store) if labels else None
    label_info = chosen.info() if chosen else None
    result = ExportResult(out=out)
    with staged(out) as tmp:  # the old export is dropped only once the new one is in place
        writer = None
        for path, index in tqdm(where, desc="exporting", unit="ep", disable=not progress):
            with open_source(path) as source:
                episode = source.episode(index)
                planned = plan_episode(episode, spec.stride_for)
                frames = _frames(episode, planned)
                language = None
                if chosen is not None:
                    labelled = chosen.label(planned, frames=lambda _, step: frames.images[step])
                    if labelled.complete:
                        language = F.language_rows(trace_row(planned, labelled.memories(), label_info), fps)
                        result.language_rows += len(language)
                    else:
                        result.unlabelled.append(planned.name)
                frames.language = language
                if writer is None:
                    writer = LeRobotWriter(
                        tmp,
                        fps,
                        tuple(frames.images[0].shape),
                        frames.state is not None,
                        chosen is not None,
                        provenance=_provenance(source, label_info, spec),
                    )
                elif (frames.state is not None) != writer.motion:
                    raise SourceError(
                        path,
                        "some episodes carry joint state and actions and others do not; export them separately",
                        episode=episode.name,
                    )
                writer.add(frames)
                result.episodes += 1
                result.frames += len(frames.images)
        if writer is None:
            raise ValueError("the source has no episodes; nothing was written")
        writer.finalize()
    result.seconds = time.perf_counter() - started
    return result


def _frames(episode, planned) -> EpisodeFrames:
    n = episode.num_steps
    motion = [episode.motion(k) for k in range(n)] if episode.has_motion else None
    return EpisodeFrames(
        task=episode.task,
        number=episode.index,
        goal=episode.raw_goal,
        seed=episode.seed,
        images=[episode.front_image(k) for k in range(n)],
        simple=list(episode.simple_subgoals),
        grounded=[episode.grounded_subgoal(k) for k in range(n)],
        video_demo=[episode.is_video_demo(k) for k in range(n)],
        state=None if motion is None else np.stack([m[0] for m in motion]),
        actions=None if motion is None else np.stack([m[1] for m in motion]),
    )


def _provenance(source, label_info: dict | None, spec: BuildSpec) -> dict:
    return {
        "version": __version__,
        "synthetic": None if source is None else source.synthetic,
        "spec": spec.recorded(),
        "label_set": None if label_info is None else {k: label_info.get(k) for k in ("name", "labeller", "params")},
    }


def annotate_lerobot(
    existing: str | Path,
    sources: Sequence[str | Path] | None = None,
    *,
    labels: str = RULES,
    store: str | Path | None = None,
    spec: BuildSpec | None = None,
    fps: int | None = None,
    progress: bool = True,
) -> ExportResult:
    """Add the memories of ``labels`` to ``existing`` (a LeRobot copy) as language columns, in place.

    The memories are labelled from ``sources`` (default: ``existing`` itself). Each source episode
    is matched to the copy's by RoboMME task and episode number, and refused unless the copy's
    frame count and both subgoal strings agree at every step."""
    started = time.perf_counter()
    spec = spec or load_spec()
    existing = Path(existing).resolve()
    folder = LeRobotFolder.open(existing)
    fps = fps or folder.fps
    by_identity = {(e.task, e.number): e for e in folder.episodes}
    chosen = BuildLabels.named(labels, store)
    label_info = chosen.info()
    slices: dict[int, list[dict]] = {}
    result = ExportResult(out=existing)
    files = find_source_files(sources or [existing])
    for path, index in tqdm(episodes_of(files), desc="labelling", unit="ep", disable=not progress):
        with open_source(path) as source:
            episode = source.episode(index)
            planned = plan_episode(episode, spec.stride_for)
            entry = by_identity.get((episode.task, episode.index))
            if entry is None:
                raise SourceError(
                    existing,
                    f"the copy has no {episode.task} episode {episode.index} (matched by robomme_task and robomme_episode)",
                    episode=episode.name,
                )
            _check_same(episode, entry, existing)
            steps = sorted(set(planned.timeline.call_frames))
            images = {k: episode.front_image(k) for k in steps}
            labelled = chosen.label(planned, frames=lambda _, step: images[step])
            if not labelled.complete:
                result.unlabelled.append(planned.name)
                continue
            slices[entry.index] = F.language_rows(trace_row(planned, labelled.memories(), label_info), fps)
            result.language_rows += len(slices[entry.index])
            result.episodes += 1
            result.frames += entry.length
    annotate(existing, slices, _provenance(None, label_info, spec))
    result.seconds = time.perf_counter() - started
    return result


def _check_same(episode, entry, existing: Path) -> None:
    """The copy's episode must be this one: same length, same subgoal strings at every step."""
    from .source.lerobot_dataset import LeRobotPart

    if episode.num_steps != entry.length:
        raise SourceError(
            existing,
            f"the copy's {entry.task} episode {entry.number} has {entry.length} frames, the source {episode.num_steps}",
            episode=episode.name,
            field="length",
        )
    with LeRobotPart(existing, entry.task) as part:
        theirs = part.episode(entry.number)
        for step in range(episode.num_steps):
            if (theirs.simple_subgoal(step), theirs.grounded_subgoal(step)) != (
                episode.simple_subgoal(step),
                episode.grounded_subgoal(step),
            ):
                raise SourceError(
                    existing,
                    f"the copy's subgoal strings differ from the source's ({theirs.simple_subgoal(step)!r} vs "
                    f"{episode.simple_subgoal(step)!r}): not the same episode",
                    episode=episode.name,
                    step=step,
                    field=F.SIMPLE,
                )
