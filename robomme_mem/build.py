"""Build a RoboMME-Mem folder from RoboMME HDF5: source -> segment -> labels -> assemble -> write.

The parent plans every episode (split, labels), a pool of worker processes assembles rows
and writes each episode's call frames, and the parent writes them in source order as ms-swift
JSONL and Parquet shards, so the output is byte-identical whatever the number of workers.
Everything is written into a temporary sibling folder that replaces ``out`` only when the
build has succeeded: a failed build leaves nothing behind and never damages an earlier build.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import tempfile
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .assemble.baseline import BaselineCall, baseline_rows
from .assemble.memory import EpisodeMemories, memory_calls, memory_meta, memory_row
from .assemble.schema import features_for
from .assemble.traces import trace_row
from .checksum import SOURCE_CHECKSUM, file_checksum
from .configs import (
    ALL_CONFIGS,
    BASELINE_CONFIGS,
    LABELLED_CONFIGS,
    ROW_CONFIGS,
    TRACES,
)
from .errors import SourceError
from .labels.cache import LabelCache
from .labels.engine import EpisodeLabels, label_works, plan_work
from .labels.rules import RulesLabeller
from .labels.session import LabelSession
from .labels.sets import content_id, default_store, resolve
from .layout import (
    CARD,
    MANIFEST,
    PNG_COMPRESS_LEVEL,
    SPLITS,
    SWIFT_IMAGES_DIR,
    image_path,
    parquet_dir,
    swift_jsonl,
    video_path,
)
from .parallel import worker_context, worker_count
from .prompts import template_hashes
from .segment import plan_episode
from .source import Episode, SourceFile, find_source_files, select_files, task_of
from .spec import BuildSpec, load_spec
from .splits import assign_splits, read_split_file
from .write.card import render_card
from .write.media import encode_png, write_mp4
from .write.parquet import MAX_SHARD_BYTES, ShardWriter
from .write.swift import swift_line

AVAILABLE_CONFIGS: tuple[str, ...] = ALL_CONFIGS
"""Configs this version can build."""
RULES = "rules"
"""``--labels rules``: label with the offline ``rules`` labeller during the build (no store)."""
BUILD_FORMAT = "robomme-mem/2"
BUFFER_BUDGET = 48 * 1024 * 1024
"""Rows waiting for their Parquet row group, all configs and splits together."""
"""Layout version of a build folder (bumped when readers must change)."""


@dataclass(frozen=True)
class BuildOptions:
    """What to build; ``None`` fields take the spec's value (the manifest records the result)."""

    spec: BuildSpec = field(default_factory=load_spec)
    configs: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None
    """Only these tasks (by name); ``None`` keeps the spec's (every file's task by default)."""
    max_episodes: int | None = None
    """Per file, the first N episodes in numeric order (the reference's ``max_episodes``)."""
    duplicate_keyframes: bool | None = None
    """Repeat segment-end baseline rows as the reference's balancing describes."""
    noise_seed: int | None = None
    """Seed of the baseline point jitter; each episode draws from (seed, task, episode)."""
    labels: str | None = None
    """Label set of the memory configs: a name in the label store, or ``"rules"`` (computed here)."""
    label_store: str | None = None
    """Label store file; ``None`` = :func:`robomme_mem.labels.sets.default_store`."""
    allow_failed: bool = False
    """Leave episodes with failed labels out of the labelled configs instead of refusing to build."""
    split_file: str | None = None
    """JSON file of held-out episodes, instead of the spec's seeded split."""
    png_compress_level: int = PNG_COMPRESS_LEVEL
    max_shard_bytes: int = MAX_SHARD_BYTES
    workers: int | None = None
    """Worker processes; ``None`` = one per core, capped by the number of episodes."""

    def __post_init__(self) -> None:
        spec = self.spec
        defaults = {
            "configs": spec.configs,
            "tasks": spec.tasks,
            "duplicate_keyframes": spec.duplicate_keyframes,
            "noise_seed": spec.noise_seed,
            "labels": spec.labels,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "configs", tuple(self.configs))
        unknown = sorted(set(self.configs) - set(AVAILABLE_CONFIGS))
        if unknown or not self.configs:
            raise ValueError(f"unknown configs {unknown}; available: {', '.join(AVAILABLE_CONFIGS)}")

    @property
    def labelled(self) -> bool:
        return bool(set(self.configs) & set(LABELLED_CONFIGS))

    def recorded(self) -> dict:
        """What the manifest keeps: everything that can change rows (not paths or worker counts)."""
        out = asdict(self)
        for private in ("spec", "workers", "label_store", "split_file"):
            out.pop(private)
        out["configs"] = list(self.configs)
        out["tasks"] = None if self.tasks is None else list(self.tasks)
        out["split_file"] = None if self.split_file is None else {"file": Path(self.split_file).name, SOURCE_CHECKSUM: file_checksum(self.split_file)[0]}
        return out


@dataclass(frozen=True)
class EpisodeJob:
    file: str
    episode: int
    out: str
    options: BuildOptions
    split: str = "train"
    memories: EpisodeMemories | None = None


@dataclass
class EpisodeResult:
    task: str
    episode: int
    steps: int
    execution_start: int
    segments: int
    calls: int
    video: str | None = None
    rows: dict[str, list[tuple[dict, dict]]] = field(default_factory=dict)
    """Per config, (ms-swift row, flat metadata) in call order."""
    frames: dict[str, bytes] = field(default_factory=dict)
    """PNG bytes of each call frame, by its path in the build folder (embedded in Parquet)."""


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
    options: BuildOptions | None = None,
    *,
    progress: bool = True,
) -> BuildResult:
    """Build every requested config from ``sources`` (files or folders) into ``out``."""
    options = options or BuildOptions()
    out = Path(out).resolve()
    files = select_files(find_source_files(sources), options.tasks)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        jobs, source_info = _plan_jobs(files, tmp, options)
        label_info, traces = None, {}
        if options.labelled:
            jobs, label_info, traces = _attach_labels(jobs, files, options, progress)
        (tmp / SWIFT_IMAGES_DIR).mkdir(parents=True)
        with _Writers(tmp, options) as writers:
            summaries = [writers.add(job, result, traces.get((result.task, result.episode))) for job, result in _run_jobs(jobs, options, source_info, progress)]
        manifest = _manifest(summaries, writers, source_info, options, label_info, tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / CARD).write_text(render_card(manifest), encoding="utf-8")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(out=out, manifest=manifest)


# -- planning -------------------------------------------------------------------------


def _plan_jobs(files: list[Path], tmp: Path, options: BuildOptions) -> tuple[list[EpisodeJob], list[dict]]:
    keys: list[tuple[str, int, Path]] = []
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
            keys.append((src.task, index, path))
        info.append({"file": path.name, "path": str(path), "task": src.task, "episodes": len(indices)})
    episodes = [(task, index) for task, index, _ in keys]
    if options.split_file:
        splits = read_split_file(options.split_file, episodes)
    else:
        splits = assign_splits(episodes, options.spec.split_seed, options.spec.validation_fraction)
    jobs = [EpisodeJob(str(path), index, str(tmp), options, splits[(task, index)]) for task, index, path in keys]
    return jobs, info


def _attach_labels(jobs: list[EpisodeJob], files: list[Path], options: BuildOptions, progress: bool) -> tuple[list[EpisodeJob], dict, dict]:
    """Resolve every episode's labels (sending nothing), hand them to its job, and make its trace."""
    works = plan_work(files, options.max_episodes, options.spec.stride_for)
    if options.labels == RULES:
        labeller = RulesLabeller()
        episodes = asyncio.run(label_works(works, LabelSession(labeller), progress=progress))
        info = {"name": RULES, "id": content_id(episodes), "labeller": labeller.name, "params": labeller.params.to_dict()}
    else:
        with LabelCache(options.label_store or default_store()) as store:
            episodes = resolve(works, store, options.labels, progress=progress)
            meta = store.set_meta(options.labels)
        info = {k: meta[k] for k in ("name", "labeller", "params", "styles", "spatial", "prompt_templates", "counts")}
        info["id"] = content_id(episodes)  # of the answers this build used (equal to the set's id unless it was edited)
    failed = [e for e in episodes if not e.complete]
    if failed and not options.allow_failed:
        problems = [p for e in failed for p in e.problems]
        raise ValueError(
            f"{len(failed)} episodes have failed labels in label set {options.labels!r} (first: {problems[0] if problems else failed[0].work.name}); "
            "relabel with `robomme-mem label --retry-failed`, or build with --allow-failed to leave them out"
        )
    info["left_out"] = [f"{e.work.task} episode {e.work.episode}" for e in failed]
    by_episode: dict[tuple[str, int], EpisodeLabels] = {(e.work.task, e.work.episode): e for e in episodes}
    attached, traces = [], {}
    for job in jobs:
        key = (task_of(Path(job.file)), job.episode)
        labels = by_episode[key]
        memories = None
        if labels.complete:
            memories = EpisodeMemories(
                subgoals={style: [b.subgoal for b in labels.work.boundaries[style]] for style in labels.action},
                action={style: labels.action_memories(style) for style in labels.action},
                spatial=labels.spatial_memories() if labels.spatial else None,
            )
            traces[key] = trace_row(labels, labels.work.seed, info)
        attached.append(replace(job, memories=memories))
    return attached, info, traces


# -- running --------------------------------------------------------------------------


def _run_jobs(jobs: list[EpisodeJob], options: BuildOptions, source_info: list[dict], progress: bool) -> Iterator[tuple[EpisodeJob, EpisodeResult]]:
    """(job, result) in job order, as results complete; fills in the sources' checksums."""
    workers = worker_count(options.workers, len(jobs))
    if workers == 1:
        with _progress(len(jobs), progress) as bar:
            for job in jobs:
                yield job, build_episode(job)
                bar.update()
        digests = [file_checksum(s["path"]) for s in source_info]
    else:
        gc.freeze()  # forked workers share the parent's objects; a collection in them must not copy every page
        try:
            with worker_context().Pool(workers) as pool, _progress(len(jobs), progress) as bar:
                for job, result in zip(jobs, _bounded_imap(pool, build_episode, jobs, window=2 * workers)):
                    yield job, result
                    bar.update()
                digests = pool.map(file_checksum, [s["path"] for s in source_info])
        finally:
            gc.unfreeze()
    for item, (digest, size) in zip(source_info, digests):
        item[SOURCE_CHECKSUM], item["bytes"] = digest, size


def _bounded_imap(pool, fn, items: Sequence, window: int) -> Iterator:
    """``pool.imap`` with back-pressure: at most ``window`` results wait for the parent.

    ``imap`` submits everything at once, and when writing is slower than the workers their
    results (frames and rows of whole episodes) pile up in the parent.
    """
    pending = deque()
    for item in items:
        pending.append(pool.apply_async(fn, (item,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _progress(total: int, enabled: bool) -> tqdm:
    return tqdm(total=total, desc="episodes", unit="ep", disable=not enabled, leave=False)


def build_episode(job: EpisodeJob) -> EpisodeResult:
    """Plan one episode, write its frames, and return its rows per config.

    The file is opened for this episode only: HDF5 keeps every string heap it has read
    cached until the file is closed, so a handle kept across episodes grows with the file.
    """
    with SourceFile(job.file) as source:
        return _build_episode(source.episode(job.episode), job)


def _build_episode(episode: Episode, job: EpisodeJob) -> EpisodeResult:
    options = job.options
    try:
        plan = plan_episode(episode.simple_subgoals, episode.execution_start, episode.task, options.spec.stride_for(episode.task))
    except ValueError as exc:
        raise episode.error(str(exc), field="info/simple_subgoal") from None
    out = Path(job.out)
    result = EpisodeResult(
        task=episode.task,
        episode=episode.index,
        steps=plan.num_steps,
        execution_start=plan.execution_start,
        segments=len(plan.segments),
        calls=len(plan.call_frames),
    )
    for step in plan.call_frames:
        path = image_path(episode.task, episode.index, step)
        data = encode_png(episode.front_image(step), options.png_compress_level)
        (out / path).write_bytes(data)
        result.frames[path] = data
    if plan.execution_start > 0:
        result.video = video_path(episode.task, episode.index)
        write_mp4(out / result.video, (episode.front_image(k) for k in range(plan.execution_start)))
    if set(options.configs) & set(BASELINE_CONFIGS):
        result.rows.update(_baseline_rows(episode, plan, result.video, options))
    if job.memories is not None:
        images = [image_path(episode.task, episode.index, step) for step in plan.call_frames]
        calls = memory_calls(plan, job.memories, images)
        for config in options.configs:
            if config in ROW_CONFIGS and config not in BASELINE_CONFIGS:
                result.rows[config] = [(memory_row(config, episode.goal, call), memory_meta(config, call)) for call in calls]
    return result


def episode_rng(seed: int, task: str, episode: int) -> np.random.Generator:
    """Per-episode random stream: the same rows whatever the file order or worker count."""
    return np.random.default_rng([seed, zlib.crc32(task.encode()), episode])


def _baseline_rows(episode: Episode, plan, video: str | None, options: BuildOptions) -> dict[str, list[tuple[dict, dict]]]:
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
    out: dict[str, list[tuple[dict, dict]]] = {}
    for config, key in (("baseline_simple", "simple"), ("baseline_grounded", "grounded")):
        if config in options.configs:
            out[config] = []
            for row in rows:
                segment = plan.segment_of(row.step)
                swift = getattr(row, key)
                meta = {"frame": row.step, "segment": segment.index, "is_boundary": row.step == segment.start, "subgoal": swift["messages"][-1]["content"]}
                out[config].extend([(swift, meta)] * row.copies)
    return out


# -- writing --------------------------------------------------------------------------


class _Writers:
    """Per config and split: one JSONL file and one Parquet shard writer, appended per episode."""

    def __init__(self, root: Path, options: BuildOptions) -> None:
        self.root, self.options = root, options
        self.counts = {c: {s: 0 for s in SPLITS} for c in options.configs}
        self.files: dict[str, dict[str, list[str]]] = {c: {} for c in options.configs}
        self._stack = ExitStack()
        self._jsonl: dict = {}
        self._parquet: dict[tuple[str, str], ShardWriter] = {}

    def __enter__(self) -> _Writers:
        for config in self.options.configs:
            for split in SPLITS:
                if config in ROW_CONFIGS:
                    path = self.root / swift_jsonl(config, split)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._jsonl[(config, split)] = self._stack.enter_context(open(path, "w", encoding="utf-8", newline="\n"))
                folder = self.root / parquet_dir(config)
                self._parquet[(config, split)] = ShardWriter(folder, split, features_for(config), self.options.max_shard_bytes)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self._stack.close()
        if exc_type is None:
            for (config, split), writer in self._parquet.items():
                self.files[config][split] = [str(p.relative_to(self.root)) for p in writer.close()]
            for (config, split), handle in self._jsonl.items():
                if not self.counts[config][split]:  # no empty JSONL: ms-swift refuses an empty dataset
                    Path(handle.name).unlink()

    def _keep_budget(self) -> None:
        """Flush the fullest buffers until all of them together hold under :data:`BUFFER_BUDGET` bytes.

        Each writer alone stays under its row-group size, but 11 configs x 2 splits of them
        would add up to hundreds of MB; one budget keeps the build's memory flat.
        """
        writers = sorted(self._parquet.values(), key=lambda w: w.buffered_bytes, reverse=True)
        total = sum(w.buffered_bytes for w in writers)
        for writer in writers:
            if total <= BUFFER_BUDGET:
                break
            total -= writer.buffered_bytes
            writer.flush()

    def add(self, job: EpisodeJob, result: EpisodeResult, trace: dict | None) -> dict:
        """Write an episode's rows; return its summary (all the manifest keeps of it)."""
        split = job.split
        for config, rows in result.rows.items():
            handle = self._jsonl[(config, split)]
            writer = self._parquet[(config, split)]
            baseline = config in BASELINE_CONFIGS
            for swift, meta in rows:
                handle.write(swift_line(swift))
                images = [{"bytes": result.frames[p], "path": Path(p).name} for p in swift["images"]]
                row = {"messages": swift["messages"], "images": images, "task": result.task, "episode": result.episode, **meta}
                if baseline:
                    row["videos"] = swift.get("videos", [])
                    row["objects"] = swift.get("objects", {"ref": [], "bbox": []})
                writer.add(row, size_hint=sum(len(i["bytes"]) for i in images))
            self.counts[config][split] += len(rows)
        if trace is not None and TRACES in self.options.configs:
            self._parquet[(TRACES, split)].add(trace)
            self.counts[TRACES][split] += 1
        self._keep_budget()
        return {
            "task": result.task,
            "episode": result.episode,
            "split": split,
            "steps": result.steps,
            "execution_start": result.execution_start,
            "segments": result.segments,
            "calls": result.calls,
            "video": result.video is not None,
            "labelled": job.memories is not None,
        }


def _manifest(summaries: list[dict], writers: _Writers, source_info: list[dict], options: BuildOptions, label_info: dict | None, root: Path) -> dict:
    data_files = {}
    for splits in writers.files.values():
        for paths in splits.values():
            for path in paths:
                digest, size = file_checksum(root / path)
                data_files[path] = {SOURCE_CHECKSUM: digest, "bytes": size}
    return {
        "format": BUILD_FORMAT,
        "package": {"name": "robomme-mem", "version": __version__},
        "spec": options.spec.recorded(),
        "options": options.recorded(),
        "splits": {"seed": options.spec.split_seed, "validation_fraction": options.spec.validation_fraction},
        "prompt_templates": template_hashes(),
        "labels": label_info,
        "sources": [{k: v for k, v in s.items() if k != "path"} for s in source_info],
        "configs": {c: dict(writers.counts[c]) for c in options.configs},
        "data_files": {c: writers.files[c] for c in options.configs},
        "files": data_files,
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
