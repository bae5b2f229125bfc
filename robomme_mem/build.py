"""Build a RoboMME-Mem folder from RoboMME HDF5: source -> segment -> assemble -> write.

Episodes are processed by a pool of worker processes (each opens its files itself and
writes its call frames' PNGs); the parent writes JSONL lines in source order, so the output
is identical whatever the number of workers. Everything is written into a temporary
sibling folder that replaces ``out`` only when the build has succeeded: a failed build
leaves nothing behind and never damages an earlier build.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .assemble.baseline import BaselineCall, baseline_rows
from .errors import SourceError
from .layout import (
    MANIFEST,
    PNG_COMPRESS_LEVEL,
    SWIFT_IMAGES_DIR,
    TRAIN_SPLIT,
    image_path,
    swift_jsonl,
    video_path,
)
from .prompts import template_hashes
from .segment import plan_episode
from .source import Episode, SourceFile, find_source_files, task_of
from .write.media import write_mp4, write_png
from .write.swift import swift_line

BASELINE_CONFIGS: tuple[str, ...] = ("baseline_simple", "baseline_grounded")
AVAILABLE_CONFIGS: tuple[str, ...] = BASELINE_CONFIGS
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

    def __post_init__(self) -> None:
        unknown = sorted(set(self.configs) - set(AVAILABLE_CONFIGS))
        if unknown or not self.configs:
            raise ValueError(f"unknown configs {unknown}; available: {', '.join(AVAILABLE_CONFIGS)}")

    def recorded(self) -> dict:
        """What the manifest keeps: everything that can change rows (not the worker count)."""
        out = asdict(self)
        out.pop("workers")
        out["configs"] = list(self.configs)
        out["tasks"] = None if self.tasks is None else list(self.tasks)
        return out


@dataclass(frozen=True)
class EpisodeJob:
    file: str
    task: str
    episode: int
    out: str
    options: BuildOptions


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
    files = _select_files(find_source_files(sources), options.tasks)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        jobs, source_info = _plan_jobs(files, tmp, options)
        (tmp / SWIFT_IMAGES_DIR).mkdir(parents=True)
        results = _run_jobs(jobs, options, source_info, progress)
        manifest = _write_outputs(tmp, results, source_info, options)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(out=out, manifest=manifest)


# -- planning -------------------------------------------------------------------------


def _select_files(files: list[Path], tasks: Sequence[str] | None) -> list[Path]:
    by_task = [(f, task_of(f)) for f in files]
    if tasks is None:
        return files
    chosen = [f for f, t in by_task if t in tasks]
    if not chosen:
        have = sorted({t for _, t in by_task})
        raise SourceError(files[0].parent if files else ".", f"no source file for tasks {list(tasks)} (found {have})")
    return chosen


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
            jobs.append(EpisodeJob(str(path), src.task, index, str(tmp), options))
        info.append({"file": path.name, "path": str(path), "task": src.task, "episodes": len(indices)})
    return jobs, info


# -- running --------------------------------------------------------------------------


def _run_jobs(jobs: list[EpisodeJob], options: BuildOptions, source_info: list[dict], progress: bool) -> list[EpisodeResult]:
    workers = options.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(jobs)))
    bar = tqdm(total=len(jobs), desc="episodes", unit="ep", disable=not progress, leave=False)
    results: list[EpisodeResult] = []
    try:
        if workers == 1:
            for job in jobs:
                results.append(build_episode(job))
                bar.update()
            for item in source_info:
                item["sha256"], item["bytes"] = file_sha256(item["path"])
            _close_sources()
        else:
            ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(workers) as pool:
                digests = pool.map_async(file_sha256, [s["path"] for s in source_info])
                for result in pool.imap(build_episode, jobs):
                    results.append(result)
                    bar.update()
                for item, (digest, size) in zip(source_info, digests.get()):
                    item["sha256"], item["bytes"] = digest, size
    finally:
        bar.close()
    return results


_OPEN: dict[str, SourceFile] = {}


def _source(path: str) -> SourceFile:
    """This process's handle on a source file; keeps one file open at a time."""
    if path not in _OPEN:
        _close_sources()
        _OPEN[path] = SourceFile(path)
    return _OPEN[path]


def _close_sources() -> None:
    for src in _OPEN.values():
        src.close()
    _OPEN.clear()


def build_episode(job: EpisodeJob) -> EpisodeResult:
    """Plan one episode, write its frames, and return its JSONL lines per config."""
    episode = _source(job.file).episode(job.episode)
    episode.check_images()
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


def file_sha256(path: str | Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# -- writing --------------------------------------------------------------------------


def _write_outputs(tmp: Path, results: list[EpisodeResult], source_info: list[dict], options: BuildOptions) -> dict:
    counts = {c: 0 for c in options.configs}
    with ExitStack() as stack:
        handles = {}
        for config in options.configs:
            path = tmp / swift_jsonl(config)
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[config] = stack.enter_context(open(path, "w", encoding="ascii", newline="\n"))
        for result in results:
            for config, lines in result.lines.items():
                handles[config].writelines(lines)
                counts[config] += len(lines)
    manifest = {
        "format": BUILD_FORMAT,
        "package": {"name": "robomme-mem", "version": __version__},
        "options": options.recorded(),
        "prompt_templates": template_hashes(),
        "sources": [{k: v for k, v in s.items() if k != "path"} for s in source_info],
        "configs": {c: {TRAIN_SPLIT: counts[c]} for c in options.configs},
        "totals": {
            "episodes": len(results),
            "steps": sum(r.steps for r in results),
            "call_frames": sum(r.calls for r in results),
            "segments": sum(r.segments for r in results),
            "videos": sum(r.video for r in results),
        },
        "episodes": [
            {"task": r.task, "episode": r.episode, "steps": r.steps, "execution_start": r.execution_start, "segments": r.segments, "calls": r.calls}
            for r in results
        ],
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


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
