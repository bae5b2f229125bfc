"""Build a RoboMME-Mem folder from RoboMME HDF5: source -> plan -> label -> assemble -> write.

One pass per episode. Each task of a pool of worker processes takes one episode: it opens
the file, plans the episode (segments, call frames, boundaries), reads each frame it needs
once and encodes it, labels the episode from those frames (``rules``) or looks its labels up
(a label set), and returns its rows per config. The parent assigns splits from the episode
numbers alone, and writes the rows in source order as ms-swift JSONL and Parquet shards, so
the output is byte-identical whatever the number of workers. Everything is written into a
temporary sibling folder that replaces ``out`` only when the build has succeeded: a failed
build leaves nothing behind and never damages an earlier build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import xxhash

from ..configs import BUILDABLE_CONFIGS, DEFAULT_CONFIG, LABELLED_CONFIGS, SCENE
from ..parallel import bounded_imap, workers
from ..png import PNG_COMPRESS_LEVEL
from .assemble.answerable import answerable_report
from .assemble.rows import Row, baseline_config_rows, memory_config_rows
from .assemble.scene_rows import scene_rows
from .assemble.traces import trace_row
from .audit import audit, audit_against_truth, overall_table, overall_truth_table
from .checksum import SOURCE_CHECKSUM, file_checksum
from .labels.build_labels import BuildLabels
from .labels.engine.episodes import EpisodeLabels
from .labels.labelling import content_id
from .layout import CARD, FAILURES_SPLIT, MANIFEST, MAX_SHARD_BYTES, SWIFT_IMAGES_DIR, video_path
from .plan import PlannedEpisode, episodes_of, plan_episode, source_records
from .source import find_source_files, open_source, select_files, task_of
from .spec import BuildSpec, load_spec
from .splits import assign_splits, read_split_file
from .staging import staged
from .truth.truth_file import offsets_by_source, read_record
from .versions import build_versions, version_changes
from .write.card import render_card
from .write.manifest import build_manifest
from .write.media import write_episode_media
from .write.replace import carry_over, check_replaceable

AVAILABLE_CONFIGS: tuple[str, ...] = BUILDABLE_CONFIGS
"""Configs this version can build."""


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
    """Label store file; ``None`` = :func:`robomme_mem.dataset.labels.store.sets.default_store`."""
    allow_failed: bool = False
    """Leave episodes with failed labels out of the labelled configs instead of refusing to build."""
    split_file: str | None = None
    """JSON file of held-out episodes, instead of the spec's seeded split."""
    png_compress_level: int = PNG_COMPRESS_LEVEL
    max_shard_bytes: int = MAX_SHARD_BYTES
    workers: int | None = None
    """Worker processes; ``None`` = one per core, capped by the number of episodes."""
    truth: str | None = None
    """A scene truth file (``robomme-mem truth``): adds the ``scene`` config, built from it."""

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
        if self.truth is not None and SCENE not in self.configs:
            object.__setattr__(self, "configs", (*self.configs, SCENE))
        if SCENE in self.configs and self.truth is None:
            raise ValueError(
                f"the {SCENE} config is built from a scene truth: pass --truth FILE (written by `robomme-mem truth` or `record --truth`)"
            )
        unknown = sorted(set(self.configs) - set(AVAILABLE_CONFIGS))
        if unknown or not self.configs:
            raise ValueError(f"unknown configs {unknown}; available: {', '.join(AVAILABLE_CONFIGS)}")

    @property
    def labelled(self) -> bool:
        return bool(set(self.configs) & set(LABELLED_CONFIGS))

    def build_labels(self) -> BuildLabels | None:
        """Where the labelled configs' labels come from (``None`` when no config needs labels)."""
        return BuildLabels.named(self.labels, self.label_store) if self.labelled else None

    def recorded(self) -> dict:
        """What the manifest keeps: everything that can change rows (not paths or worker counts)."""
        out = asdict(self)
        for private in ("spec", "workers", "label_store", "split_file", "truth"):
            out.pop(private)
        out["configs"] = list(self.configs)
        out["tasks"] = None if self.tasks is None else list(self.tasks)
        out["split_file"] = (
            None
            if self.split_file is None
            else {"file": Path(self.split_file).name, SOURCE_CHECKSUM: file_checksum(self.split_file)[0]}
        )
        out["truth"] = (
            None
            if self.truth is None
            else {"file": Path(self.truth).name, SOURCE_CHECKSUM: file_checksum(self.truth)[0]}
        )
        return out


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to build: all a worker needs (small, picklable)."""

    file: str
    episode: int
    out: str
    options: BuildOptions
    labels: BuildLabels | None = None
    truth_at: int | None = None
    """Byte offset of the episode's record in ``options.truth`` (``None``: no truth, no scene rows)."""


@dataclass
class EpisodeResult:
    planned: PlannedEpisode
    summary: dict
    """All the manifest keeps of the episode."""
    frame_digest: str
    """xxh3-128 of the raw pixels of every frame read (call frames, then the video demo)."""
    rows: dict[str, list[Row]] = field(default_factory=dict)
    """Per config, (ms-swift row, flat metadata) in call order."""
    frames: dict[str, bytes] = field(default_factory=dict)
    """PNG bytes of each call frame, by its path in the build folder (embedded in Parquet)."""
    files: dict[str, dict] = field(default_factory=dict)
    """xxh3-128 and size of every file the worker wrote (PNGs, mp4), by path."""
    x264: str | None = None
    """The encoder version the mp4 carries (video tasks)."""
    labels: EpisodeLabels | None = None
    frame_size: tuple[int, int] | None = None
    """(height, width) of the episode's call frames."""
    scene: list[dict] | None = None
    """The episode's ``scene`` rows (``None``: the truth has no record of it)."""


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    version_changes: list[str] = field(default_factory=list)
    """Versions that differ from those of the build this one replaced (``numpy 1.26.4 -> 2.4.6``)."""

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
    previous = check_replaceable(out)
    where = episodes_of(files, options.max_episodes)
    labels = options.build_labels()
    label_info = labels.info() if labels else None
    if labels:
        labels.prepare()
    with staged(out, carry=carry_over) as tmp:
        (tmp / SWIFT_IMAGES_DIR).mkdir(parents=True)
        splits = _splits(where, files, options)
        truth_at = offsets_by_source(files, options.truth) if options.truth else {}
        jobs = [
            EpisodeJob(str(path), index, str(tmp), options, labels, truth_at.get((str(path), index)))
            for path, index in where
        ]
        with workers(options.workers, len(jobs)) as (pool, count):
            results = bounded_imap(pool, build_episode, jobs, 2 * count, progress)
            from .write.folder import BuildWriters  # pyarrow loads here, while the workers run

            with BuildWriters(tmp, options.configs, options.max_shard_bytes) as writers:
                done = _write_episodes(results, writers, splits, options)
                if label_info is not None:
                    label_info["id"] = content_id([e for _, e in done.labels])  # of the answers this build used
                    label_info["left_out"] = [e.work.name for _, e in done.labels if not e.complete]
                    for split, episode in done.labels:
                        if episode.complete:
                            writers.add_trace(split, trace_row(episode.work, episode.memories(), label_info))
        _check_not_empty(writers.counts, label_info, done.no_truth)
        recorded = options.recorded()
        manifest = build_manifest(
            spec=options.spec.recorded(),
            options=recorded,
            splits={
                "seed": options.spec.split_seed,
                "validation_fraction": options.spec.validation_fraction,
                **({"hold_out_failures": True} if options.spec.hold_out_failures else {}),
            },
            labels=label_info,
            labels_audit=audit([e for _, e in done.labels]) if label_info is not None else None,
            sources=source_records(files, done.planned, done.frame_digests),
            counts={c: dict(writers.counts[c]) for c in options.configs},
            data_files={c: writers.files[c] for c in options.configs},
            files=dict(sorted({**done.files, **writers.checksums}.items())),
            versions=build_versions(done.x264),
            episodes=done.summaries,
            frame_sizes=sorted(done.frame_sizes),
            example=done.example,
            scene=_scene_record(options.truth, recorded["truth"], done.no_truth) if options.truth else None,
            labels_audit_truth=audit_against_truth([e for _, e in done.labels], options.truth, truth_at)
            if options.truth and label_info is not None
            else None,
            answerable=answerable_report(
                [(e.work, e.memories()) for _, e in done.labels if e.complete], options.configs
            )
            if label_info is not None
            else None,
        )
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tables = (overall_table(manifest.get("labels_audit")), overall_truth_table(manifest.get("labels_audit_truth")))
        (tmp / CARD).write_text(render_card(manifest, str(out), *tables), encoding="utf-8")
        changes = version_changes((previous or {}).get("versions"), manifest["versions"])
    return BuildResult(out=out, manifest=manifest, version_changes=changes)


@dataclass
class _Written:
    """What the parent keeps of the episodes it wrote, for the manifest and the traces."""

    planned: list[PlannedEpisode] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    frame_digests: dict[tuple[str, int], str] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    labels: list[tuple[str, EpisodeLabels]] = field(default_factory=list)
    """(split, labels) of every labelled episode, in source order."""
    x264: str | None = None
    frame_sizes: set[tuple[int, int]] = field(default_factory=set)
    example: dict | None = None
    """One target row of the build, shown in its card (see :func:`_example`)."""
    no_truth: list[str] = field(default_factory=list)
    """Episodes the truth file holds no truth of (never replayed, or refused): no ``scene`` rows."""


def _write_episodes(
    results: Iterator[EpisodeResult], writers, splits: dict[tuple[str, int], str], options: BuildOptions
) -> _Written:
    """Write each episode's rows as it arrives (in source order), keeping what the manifest needs."""
    done = _Written()
    for result in results:
        episode = result.planned
        held_out = options.spec.hold_out_failures and episode.injected_failure  # wherever the split put it
        split = FAILURES_SPLIT if held_out else splits[(episode.task, episode.episode)]
        if result.labels is not None:
            _check_labels(result.labels, options)
            done.labels.append((split, result.labels))
        writers.add_rows(episode.task, episode.episode, split, result.rows, result.frames)
        if result.scene is not None:
            writers.add_scene(split, result.scene, result.frames)
        elif options.truth:
            done.no_truth.append(episode.name)
        done.planned.append(episode)
        done.summaries.append({**result.summary, "split": split})
        done.frame_digests[(episode.task, episode.episode)] = result.frame_digest
        done.files.update(result.files)
        done.x264 = done.x264 or result.x264
        if result.frame_size:
            done.frame_sizes.add(result.frame_size)
        done.example = done.example or _example(episode, result.rows)
    return done


def _example(episode: PlannedEpisode, rows: dict[str, list[Row]]) -> dict | None:
    """The card's example answer: the default config's (else the first built memory config's)
    first call of the episode's second segment, where the memories already hold something."""
    config = next((c for c in (DEFAULT_CONFIG, *LABELLED_CONFIGS) if rows.get(c)), None)
    if config is None:
        return None
    calls = rows[config]
    swift_row, meta = next((row for row in calls if row[1]["segment"] == 1), calls[-1])
    answer = swift_row["messages"][-1]["content"]
    return {
        "config": config,
        "task": episode.task,
        "episode": episode.episode,
        "frame": meta["frame"],
        "answer": answer,
    }


def _splits(where: list[tuple[Path, int]], files: list[Path], options: BuildOptions) -> dict[tuple[str, int], str]:
    tasks = {path: task_of(path) for path in files}
    episodes = [(tasks[path], index) for path, index in where]
    if options.split_file:
        known = (
            [(tasks[path], index) for path, index in episodes_of(files)] if options.max_episodes is not None else None
        )
        return read_split_file(options.split_file, episodes, known)
    return assign_splits(episodes, options.spec.split_seed, options.spec.validation_fraction)


def _scene_record(truth: str, recorded: dict, no_truth: list[str]) -> dict:
    """What the manifest keeps of the scene truth: the file (``recorded``: its name and checksum, as the
    options record it), its simulator, and the episodes it lacked."""
    from .truth.truth_file import read_header

    header = read_header(truth)
    return {
        "truth": recorded,
        "simulator": header.get("simulator"),
        "thresholds": header.get("thresholds"),
        "episodes_without_truth": no_truth,
    }


def _check_not_empty(counts: dict[str, dict[str, int]], label_info: dict | None, no_truth: list[str] = ()) -> None:
    """A config with no rows is no dataset (and ``datasets`` cannot load it): stop and say why."""
    empty = [config for config, splits in counts.items() if not sum(splits.values())]
    if empty == [SCENE]:
        raise ValueError(
            f"nothing to write for {SCENE}: the truth file holds none of the {len(no_truth)} episodes built "
            f"({', '.join(no_truth[:3])}{', ...' if len(no_truth) > 3 else ''}; matched by each source file's checksum); nothing was written"
        )
    if empty:
        left_out = (label_info or {}).get("left_out") or []
        why = (
            f"every episode was left out for failed labels ({len(left_out)}: {', '.join(left_out[:3])}{', ...' if len(left_out) > 3 else ''})"
            if left_out
            else "the source has no episodes"
        )
        raise ValueError(f"nothing to write for {', '.join(empty)}: {why}; nothing was written")


def _check_labels(labels: EpisodeLabels, options: BuildOptions) -> None:
    """An episode with failed labels stops the build unless ``allow_failed`` leaves it out."""
    if not labels.complete and not options.allow_failed:
        problem = labels.problems[0] if labels.problems else labels.work.name
        raise ValueError(
            f"label set {options.labels!r} has failed labels ({problem}); "
            "relabel with `robomme-mem label --retry-failed`, or build with --allow-failed to leave such episodes out"
        )


def build_episode(job: EpisodeJob) -> EpisodeResult:
    """Plan an episode, read its frames once, write them, label it, and return its rows per config.

    The file is opened for this episode only: HDF5 keeps every string heap it has read
    cached until the file is closed, so a handle kept across episodes grows with the file.
    """
    options, digest = job.options, xxhash.xxh3_128()
    truth = read_record(options.truth, job.truth_at) if job.truth_at is not None else None
    with open_source(job.file) as source:
        episode = source.episode(job.episode)
        planned = plan_episode(episode, options.spec.stride_for)
        plan = planned.timeline
        images = {step: episode.front_image(step) for step in plan.call_frames}
        for image in images.values():
            digest.update(image.data)
        labels = job.labels.label(planned, frames=lambda _, step: images[step]) if job.labels is not None else None
        video = video_path(planned.task, planned.episode) if plan.execution_start > 0 else None
        rows = baseline_config_rows(planned, options.configs, video, options.noise_seed, options.duplicate_keyframes)
        if labels is not None and labels.complete:
            rows.update(memory_config_rows(planned, options.configs, labels.memories(), video))
        scene = scene_rows(planned, truth) if truth is not None else None
        prelude = _digested((episode.front_image(k) for k in range(plan.execution_start)), digest) if video else None
        frames, files, x264 = write_episode_media(
            Path(job.out), planned.task, planned.episode, images, options.png_compress_level, prelude
        )
    summary = {
        "task": planned.task,
        "episode": planned.episode,
        "steps": plan.num_steps,
        "execution_start": plan.execution_start,
        "segments": len(plan.segments),
        "calls": len(plan.call_frames),
        "video": video is not None,
        "labelled": labels is not None and labels.complete,
        "injected_failure": planned.injected_failure,
    }
    size = next((tuple(image.shape[:2]) for image in images.values()), None)
    return EpisodeResult(
        planned=planned,
        summary=summary,
        frame_digest=digest.hexdigest(),
        rows=rows,
        frames=frames,
        files=files,
        x264=x264,
        labels=labels,
        frame_size=size,
        scene=scene,
    )


def _digested(images, digest):
    for image in images:
        digest.update(image.data)
        yield image


# -- the build folder -----------------------------------------------------------------
