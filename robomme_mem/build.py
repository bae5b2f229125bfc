"""Build a RoboMME-Mem folder from RoboMME HDF5: source -> segment -> assemble -> write.

Episodes are processed by a pool of worker processes (each opens its files itself and
writes its call frames' PNGs); the parent writes JSONL lines in source order, so the output
is identical whatever the number of workers. Everything is written into a temporary
sibling folder that replaces ``out`` only when the build has succeeded: a failed build
leaves nothing behind and never damages an earlier build.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .assemble.baseline import BaselineCall, baseline_rows
from .assemble.memory import MEMORY_CONFIGS, EpisodeMemories, memory_calls, memory_row
from .checksum import SOURCE_CHECKSUM, file_checksum
from .errors import SourceError
from .labels.cache import LabelCache
from .labels.engine import label_works, plan_work
from .labels.rules import RulesLabeller
from .labels.session import LabelSession
from .labels.sets import default_store, resolve
from .layout import (
    MANIFEST,
    PNG_COMPRESS_LEVEL,
    SWIFT_IMAGES_DIR,
    TRAIN_SPLIT,
    image_path,
    swift_jsonl,
    video_path,
)
from .parallel import worker_context, worker_count
from .prompts import template_hashes
from .segment import plan_episode
from .source import Episode, SourceFile, find_source_files, select_files, task_of
from .write.media import write_mp4, write_png
from .write.swift import swift_line

BASELINE_CONFIGS: tuple[str, ...] = ("baseline_simple", "baseline_grounded")
AVAILABLE_CONFIGS: tuple[str, ...] = (*MEMORY_CONFIGS, *BASELINE_CONFIGS)
RULES = "rules"
"""``--labels rules``: label with the offline ``rules`` labeller during the build (no store)."""
"""Configs this version can build."""

BUILD_FORMAT = "robomme-mem/1"
"""Layout version of a build folder (bumped when readers must change)."""


@dataclass(frozen=True)
class BuildOptions:
    configs: tuple[str, ...] = AVAILABLE_CONFIGS
    tasks: tuple[str, ...] | None = None
    """Only these tasks (by name); ``None`` keeps every file's task."""
    max_episodes: int | None = None
    """Per file, the first N episodes in numeric order (the reference's ``max_episodes``)."""
    duplicate_keyframes: bool = False
    """Repeat segment-end rows as the reference's balancing describes (off, like its default output)."""
    noise_seed: int = 0
    """Seed of the baseline point jitter; each episode draws from (seed, task, episode)."""
    png_compress_level: int = PNG_COMPRESS_LEVEL
    workers: int | None = None
    """Worker processes; ``None`` = one per core, capped by the number of episodes."""
    labels: str = RULES
    """Label set of the memory configs: a name in the label store, or ``"rules"`` (computed here)."""
    label_store: str | None = None
    """Label store file; ``None`` = :func:`robomme_mem.labels.sets.default_store`."""
    allow_failed: bool = False
    """Leave episodes with failed labels out of the memory configs instead of refusing to build."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.configs) - set(AVAILABLE_CONFIGS))
        if unknown or not self.configs:
            raise ValueError(f"unknown configs {unknown}; available: {', '.join(AVAILABLE_CONFIGS)}")

    def recorded(self) -> dict:
        """What the manifest keeps: everything that can change rows (not the worker count)."""
        out = asdict(self)
        out.pop("workers")
        out.pop("label_store")  # a path on this machine; the label set's id is recorded instead
        out["configs"] = list(self.configs)
        out["tasks"] = None if self.tasks is None else list(self.tasks)
        return out


@dataclass(frozen=True)
class EpisodeJob:
    file: str
    episode: int
    out: str
    options: BuildOptions
    memories: EpisodeMemories | None = None


@dataclass
class EpisodeResult:
    task: str
    episode: int
    steps: int
    execution_start: int
    segments: int
    calls: int
    lines: dict[str, list[str]] = field(default_factory=dict)
    video: bool = False


@dataclass
class BuildResult:
    out: Path
    manifest: dict

    @property
    def rows(self) -> dict[str, int]:
        return {c: sum(s.values()) for c, s in self.manifest["configs"].items()}


def build(
    sources: Sequence[str | Path],
    out: str | Path,
    options: BuildOptions = BuildOptions(),
    *,
    progress: bool = True,
) -> BuildResult:
    """Build every requested config from ``sources`` (files or folders) into ``out``."""
    out = Path(out).resolve()
    files = select_files(find_source_files(sources), options.tasks)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        jobs, source_info = _plan_jobs(files, tmp, options)
        label_info = None
        if set(options.configs) & set(MEMORY_CONFIGS):
            jobs, label_info = _attach_labels(jobs, files, options, progress)
        (tmp / SWIFT_IMAGES_DIR).mkdir(parents=True)
        with _JsonlWriters(tmp, options.configs) as writers:
            summaries = [writers.add(result) for result in _run_jobs(jobs, options, source_info, progress)]
        manifest = _manifest(summaries, writers.counts, source_info, options)
        manifest["labels"] = label_info
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(out=out, manifest=manifest)


# -- planning -------------------------------------------------------------------------


def _plan_jobs(files: list[Path], tmp: Path, options: BuildOptions) -> tuple[list[EpisodeJob], list[dict]]:
    jobs: list[EpisodeJob] = []
    info: list[dict] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in files:
        with SourceFile(path) as src:
            indices = src.episode_indices[: options.max_episodes]
        for index in indices:
            key = (src.task, index)
            if key in seen:
                raise SourceError(path, f"{src.task} episode_{index} is also in {seen[key]}; episode numbers must be unique per task", episode=f"episode_{index}")
            seen[key] = path
            jobs.append(EpisodeJob(str(path), index, str(tmp), options))
        info.append({"file": path.name, "path": str(path), "task": src.task, "episodes": len(indices)})
    return jobs, info


def _attach_labels(jobs: list[EpisodeJob], files: list[Path], options: BuildOptions, progress: bool) -> tuple[list[EpisodeJob], dict]:
    """Resolve every episode's labels (sending nothing) and hand them to its job."""
    works = plan_work(files, options.max_episodes)
    if options.labels == RULES:
        labeller = RulesLabeller()
        episodes = asyncio.run(label_works(works, LabelSession(labeller), progress=progress))
        info = {"name": RULES, "labeller": labeller.name, "params": labeller.params.to_dict()}
    else:
        with LabelCache(options.label_store or default_store()) as store:
            episodes = resolve(works, store, options.labels, progress=progress)
            meta = store.set_meta(options.labels)
        info = {k: meta[k] for k in ("name", "id", "labeller", "params", "styles", "spatial", "prompt_templates", "counts")}
    failed = [e for e in episodes if not e.complete]
    if failed and not options.allow_failed:
        problems = [p for e in failed for p in e.problems]
        raise ValueError(
            f"{len(failed)} episodes have failed labels in label set {options.labels!r} (first: {problems[0] if problems else failed[0].work.name}); "
            "relabel with `robomme-mem label --retry-failed`, or build with --allow-failed to leave them out"
        )
    info["left_out"] = [f"{e.work.task} episode {e.work.episode}" for e in failed]
    by_episode = {(e.work.task, e.work.episode): e for e in episodes}
    attached = []
    for job in jobs:
        labels = by_episode[(task_of(Path(job.file)), job.episode)]
        memories = None
        if labels.complete:
            memories = EpisodeMemories(
                subgoals={style: [b.subgoal for b in labels.work.boundaries[style]] for style in labels.action},
                action={style: labels.action_memories(style) for style in labels.action},
                spatial=labels.spatial_memories() if labels.spatial else None,
            )
        attached.append(replace(job, memories=memories))
    return attached, info


# -- running --------------------------------------------------------------------------


def _run_jobs(jobs: list[EpisodeJob], options: BuildOptions, source_info: list[dict], progress: bool) -> Iterator[EpisodeResult]:
    """Episode results in job order, as they complete; fills in the sources' checksums."""
    workers = worker_count(options.workers, len(jobs))
    if workers == 1:
        with _progress(len(jobs), progress) as bar:
            for job in jobs:
                yield build_episode(job)
                bar.update()
        digests = [file_checksum(s["path"]) for s in source_info]
    else:
        with worker_context().Pool(workers) as pool, _progress(len(jobs), progress) as bar:
            results = pool.imap(build_episode, jobs)
            hashing = pool.map_async(file_checksum, [s["path"] for s in source_info])  # queued after the episodes
            for result in results:
                yield result
                bar.update()
            digests = hashing.get()
    for item, (digest, size) in zip(source_info, digests):
        item[SOURCE_CHECKSUM], item["bytes"] = digest, size


def _progress(total: int, enabled: bool) -> tqdm:
    return tqdm(total=total, desc="episodes", unit="ep", disable=not enabled, leave=False)


def build_episode(job: EpisodeJob) -> EpisodeResult:
    """Plan one episode, write its frames, and return its JSONL lines per config.

    The file is opened for this episode only: HDF5 keeps every string heap it has read
    cached until the file is closed, so a handle kept across episodes grows with the file.
    """
    with SourceFile(job.file) as source:
        return _build_episode(source.episode(job.episode), job)


def _build_episode(episode: Episode, job: EpisodeJob) -> EpisodeResult:
    try:
        plan = plan_episode(episode.simple_subgoals, episode.execution_start, episode.task)
    except ValueError as exc:
        raise episode.error(str(exc), field="info/simple_subgoal") from None
    out = Path(job.out)
    for step in plan.call_frames:
        write_png(out / image_path(episode.task, episode.index, step), episode.front_image(step), job.options.png_compress_level)
    video = None
    if plan.execution_start > 0:
        video = video_path(episode.task, episode.index)
        write_mp4(out / video, (episode.front_image(k) for k in range(plan.execution_start)))
    result = EpisodeResult(
        task=episode.task,
        episode=episode.index,
        steps=plan.num_steps,
        execution_start=plan.execution_start,
        segments=len(plan.segments),
        calls=len(plan.call_frames),
        video=video is not None,
    )
    if set(job.options.configs) & set(BASELINE_CONFIGS):
        result.lines.update(_baseline_lines(episode, plan, video, job.options))
    if job.memories is not None:
        images = [image_path(episode.task, episode.index, step) for step in plan.call_frames]
        calls = memory_calls(plan, job.memories, images)
        for config in job.options.configs:
            if config in MEMORY_CONFIGS:
                result.lines[config] = [swift_line(memory_row(config, episode.goal, call)) for call in calls]
    return result


def episode_rng(seed: int, task: str, episode: int) -> np.random.Generator:
    """Per-episode random stream: the same rows whatever the file order or worker count."""
    return np.random.default_rng([seed, zlib.crc32(task.encode()), episode])


def _baseline_lines(episode: Episode, plan, video: str | None, options: BuildOptions) -> dict[str, list[str]]:
    calls = []
    for step in plan.call_frames:
        segment = plan.segment_of(step)
        calls.append(
            BaselineCall(
                step=step,
                simple=episode.simple_subgoal(step),
                grounded=episode.grounded_subgoal(step),
                image=image_path(episode.task, episode.index, step),
                segment_simple=episode.simple_subgoal(segment.start),
                segment_grounded=episode.grounded_subgoal(segment.start),
            )
        )
    rows = baseline_rows(
        episode.goal,
        calls,
        video=video,
        rng=episode_rng(options.noise_seed, episode.task, episode.index),
        duplicates=plan.duplicates if options.duplicate_keyframes else None,
    )
    lines: dict[str, list[str]] = {}
    for config, key in (("baseline_simple", "simple"), ("baseline_grounded", "grounded")):
        if config in options.configs:
            lines[config] = [swift_line(getattr(r, key)) for r in rows for _ in range(r.copies)]
    return lines


# -- writing --------------------------------------------------------------------------


class _JsonlWriters:
    """One open JSONL file per config; episodes are appended as they arrive, so memory stays flat."""

    def __init__(self, root: Path, configs: Sequence[str]) -> None:
        self.root, self.configs = root, configs
        self.counts = {c: 0 for c in configs}
        self._stack = ExitStack()
        self._handles: dict = {}

    def __enter__(self) -> _JsonlWriters:
        for config in self.configs:
            path = self.root / swift_jsonl(config)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handles[config] = self._stack.enter_context(open(path, "w", encoding="ascii", newline="\n"))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def add(self, result: EpisodeResult) -> dict:
        """Write an episode's lines; return its summary (all the manifest keeps of it)."""
        for config, lines in result.lines.items():
            self._handles[config].writelines(lines)
            self.counts[config] += len(lines)
        return {
            "task": result.task,
            "episode": result.episode,
            "steps": result.steps,
            "execution_start": result.execution_start,
            "segments": result.segments,
            "calls": result.calls,
            "video": result.video,
        }


def _manifest(summaries: list[dict], counts: dict[str, int], source_info: list[dict], options: BuildOptions) -> dict:
    return {
        "format": BUILD_FORMAT,
        "package": {"name": "robomme-mem", "version": __version__},
        "options": options.recorded(),
        "prompt_templates": template_hashes(),
        "sources": [{k: v for k, v in s.items() if k != "path"} for s in source_info],
        "configs": {c: {TRAIN_SPLIT: counts[c]} for c in options.configs},
        "totals": {
            "episodes": len(summaries),
            "steps": sum(e["steps"] for e in summaries),
            "call_frames": sum(e["calls"] for e in summaries),
            "segments": sum(e["segments"] for e in summaries),
            "videos": sum(e["video"] for e in summaries),
        },
        "episodes": summaries,
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_replaceable(out: Path) -> None:
    """Refuse to overwrite a folder that is not an earlier build (or empty)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise FileExistsError(f"{out} exists and is not a robomme-mem build; choose another --out or remove it")


def _replace(tmp: Path, out: Path) -> None:
    """Swap the finished build into place; an earlier build at ``out`` is removed only after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
