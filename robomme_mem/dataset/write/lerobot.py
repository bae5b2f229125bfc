"""Write LeRobot v3.0: frames to one AV1 stream per file, rows to Parquet, and the metadata LeRobot reads.

The layout is LeRobot's (:mod:`..lerobot_layout`: ``meta/info.json``, ``meta/tasks.parquet``, ``meta/stats.json``,
``meta/episodes/chunk-000/file-000.parquet``, ``data/chunk-*/file-*.parquet``,
``videos/image/chunk-*/file-*.mp4``) and so are the video settings (libsvtav1, yuv420p, GOP 2,
CRF 30, preset 12: LeRobot 0.6's defaults), so a LeRobot user gets what LeRobot's own writer
gives. The difference is the path: LeRobot's writer saves each frame as a PNG, encodes each
episode to its own mp4 and then concatenates; this one feeds the decoded arrays straight into the
one mp4 of its file and writes each data file once.

:func:`language_table` and :func:`annotate` put the memories in LeRobot 0.6's
``language_persistent`` / ``language_events`` columns (see :mod:`..source.lerobot_features`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...formats import LEROBOT_CODEBASE_VERSION
from ..lerobot_layout import (
    CHUNK_FILE_GLOB,
    DATA_DIR,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_DATA_FILE_SIZE_IN_MB,
    DEFAULT_DATA_PATH,
    DEFAULT_EPISODES_PATH,
    DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    DEFAULT_VIDEO_PATH,
    INFO_PATH,
    PROVENANCE_PATH,
    STATS_PATH,
    TASKS_PATH,
)
from ..source import lerobot_features as F

VIDEO = {"vcodec": "libsvtav1", "pix_fmt": "yuv420p", "g": 2, "crf": 30, "preset": 12}
"""LeRobot 0.6's ``VideoEncoderConfig`` defaults for RGB."""
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
LANGUAGE_PERSISTENT, LANGUAGE_EVENTS = "language_persistent", "language_events"


def _tool_calls_type() -> pa.DataType:
    """JSON tool calls as strings: pyarrow cannot build its JSON extension type from Python values
    (LeRobot's own writer infers the type for the same reason); no row of ours has one."""
    return pa.list_(pa.string())


def persistent_type() -> pa.DataType:
    """LeRobot 0.6's ``language_persistent`` column: a list of rows of role, content, style, timestamp, camera, tool_calls."""
    return pa.list_(
        pa.struct(
            [
                pa.field("role", pa.string(), nullable=False),
                pa.field("content", pa.string()),
                pa.field("style", pa.string()),
                pa.field("timestamp", pa.float32(), nullable=False),
                pa.field("camera", pa.string()),
                pa.field("tool_calls", _tool_calls_type()),
            ]
        )
    )


def events_type() -> pa.DataType:
    return pa.list_(
        pa.struct(
            [
                pa.field("role", pa.string(), nullable=False),
                pa.field("content", pa.string()),
                pa.field("style", pa.string()),
                pa.field("camera", pa.string()),
                pa.field("tool_calls", _tool_calls_type()),
            ]
        )
    )


LANGUAGE_FEATURES = {
    LANGUAGE_PERSISTENT: {"dtype": "language", "shape": [1], "names": None},
    LANGUAGE_EVENTS: {"dtype": "language", "shape": [1], "names": None},
}


def language_arrays(slices: list[list[dict]], lengths: list[int]) -> tuple[pa.Array, pa.Array]:
    """Per frame: its episode's persistent slice (the same on every frame, as LeRobot's writer
    broadcasts it) and no events."""
    persistent = [rows for rows, n in zip(slices, lengths) for _ in range(n)]
    return pa.array(persistent, type=persistent_type()), pa.array([[] for _ in persistent], type=events_type())


@dataclass
class EpisodeFrames:
    """One episode as the writer takes it: every step's frame, texts and (when the source has them) motion."""

    task: str
    number: int
    goal: str
    seed: int | None
    images: list[np.ndarray]
    simple: list[str]
    grounded: list[str]
    video_demo: list[bool]
    state: np.ndarray | None = None
    actions: np.ndarray | None = None
    language: list[dict] | None = None


@dataclass
class _File:
    chunk: int
    index: int
    frames: int = 0


@dataclass
class LeRobotWriter:
    """Appends episodes to a LeRobot v3.0 folder at ``root`` (a temp folder the caller renames)."""

    root: Path
    fps: int
    image_shape: tuple[int, int, int]
    motion: bool
    language: bool
    video: dict = field(default_factory=lambda: dict(VIDEO))
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = {
            k: {**v, "shape": list(v["shape"])} for k, v in F.frame_features(self.image_shape, self.motion).items()
        }
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict] = []
        self._rows: list[pa.Table] = []
        self._data = _File(0, 0)
        self._video_file = _File(0, 0)
        self._mp4 = None
        self._total = 0
        self._stats: list[dict] = []
        """Each episode's stats, aggregated into meta/stats.json at the end."""

    # -- episodes ----------------------------------------------------------------------

    def add(self, episode: EpisodeFrames) -> None:
        n = len(episode.images)
        k = len(self.episodes)
        task_index = self.tasks.setdefault(episode.goal, len(self.tasks))
        start_s = self._video_file.frames / self.fps
        self._encode(episode.images)
        frame = np.arange(n, dtype=np.int64)
        columns = {}
        if self.motion:
            columns[F.STATE] = _fixed(episode.state)
            columns[F.ACTIONS] = _fixed(episode.actions)
        columns.update(
            {
                F.SIMPLE: pa.array(episode.simple, pa.string()),
                F.GROUNDED: pa.array(episode.grounded, pa.string()),
                F.VIDEO_DEMO: pa.array(episode.video_demo, pa.bool_()),
                F.TASK: pa.array([episode.task] * n, pa.string()),
                F.EPISODE: pa.array(np.full(n, episode.number, np.int64)),
                F.SEED: pa.array(np.full(n, -1 if episode.seed is None else episode.seed, np.int64)),
                "timestamp": pa.array((frame / self.fps).astype(np.float32)),
                "frame_index": pa.array(frame),
                "episode_index": pa.array(np.full(n, k, np.int64)),
                "index": pa.array(self._total + frame),
                "task_index": pa.array(np.full(n, task_index, np.int64)),
            }
        )
        if self.language:
            persistent, events = language_arrays([episode.language or []], [n])
            columns[LANGUAGE_PERSISTENT], columns[LANGUAGE_EVENTS] = persistent, events
        table = pa.table(columns)
        if self._rows and sum(t.nbytes for t in self._rows) + table.nbytes > DEFAULT_DATA_FILE_SIZE_IN_MB * 1e6:
            self._flush_rows()
        self._rows.append(table)
        stats = self._episode_stats(episode, n, k)
        self.episodes.append(
            {
                "episode_index": k,
                "tasks": [episode.goal],
                "length": n,
                "data/chunk_index": self._data.chunk,
                "data/file_index": self._data.index,
                "dataset_from_index": self._total,
                "dataset_to_index": self._total + n,
                f"videos/{F.IMAGE}/chunk_index": self._video_file.chunk,
                f"videos/{F.IMAGE}/file_index": self._video_file.index,
                f"videos/{F.IMAGE}/from_timestamp": start_s,
                f"videos/{F.IMAGE}/to_timestamp": self._video_file.frames / self.fps,
                "meta/episodes/chunk_index": 0,
                "meta/episodes/file_index": 0,
                **{f"stats/{key}/{name}": value for key, s in stats.items() for name, value in s.items()},
            }
        )
        self._total += n

    def _encode(self, images: list[np.ndarray]) -> None:
        import av

        os.environ.setdefault(
            "SVT_LOG", "1"
        )  # SVT-AV1's banner, settings and advice (its "Svt[warn]" lines) on stderr; errors only
        if self._mp4 is not None and self._mp4_path().stat().st_size > DEFAULT_VIDEO_FILE_SIZE_IN_MB * 1e6:
            self._close_video()
            self._video_file = _File(*_next(self._video_file.chunk, self._video_file.index))
        if self._mp4 is None:
            path = self._mp4_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            container = av.open(str(path), "w")
            options = {"g": str(self.video["g"]), "crf": str(self.video["crf"]), "preset": str(self.video["preset"])}
            stream = container.add_stream(self.video["vcodec"], rate=self.fps, options=options)
            stream.width, stream.height, stream.pix_fmt = (
                self.image_shape[1],
                self.image_shape[0],
                self.video["pix_fmt"],
            )
            self._mp4 = (container, stream)
        container, stream = self._mp4
        for image in images:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self._video_file.frames
            for packet in stream.encode(frame):
                container.mux(packet)
            self._video_file.frames += 1

    def _mp4_path(self) -> Path:
        return self.root / DEFAULT_VIDEO_PATH.format(
            video_key=F.IMAGE, chunk_index=self._video_file.chunk, file_index=self._video_file.index
        )

    def _close_video(self) -> None:
        container, stream = self._mp4
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        self._mp4 = None

    def _flush_rows(self) -> None:
        """One data file, one row group per episode (as LeRobot writes them: a reader of one episode reads its group only)."""
        path = self.root / DEFAULT_DATA_PATH.format(chunk_index=self._data.chunk, file_index=self._data.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, self._rows[0].schema) as out:
            for table in self._rows:
                out.write_table(table, row_group_size=max(1, table.num_rows))
        self._rows = []
        self._data = _File(*_next(self._data.chunk, self._data.index))

    # -- stats (LeRobot's: min, max, mean, std, count and quantiles per feature) ---------

    def _episode_stats(self, episode: EpisodeFrames, n: int, k: int) -> dict[str, dict]:
        values = {
            "timestamp": np.arange(n) / self.fps,
            "frame_index": np.arange(n),
            "episode_index": np.full(n, k),
            "index": self._total + np.arange(n),
            "task_index": np.full(n, self.tasks[episode.goal]),
        }
        if self.motion:
            values[F.STATE], values[F.ACTIONS] = episode.state, episode.actions
        out = {key: _stats(np.asarray(v, dtype=np.float64).reshape(n, -1)) for key, v in values.items()}
        out[F.IMAGE] = _image_stats(episode.images)
        self._stats.append(out)
        return out

    # -- the end -------------------------------------------------------------------------

    def finalize(self) -> None:
        """Close the video, write the last data file and every metadata file."""
        if self._mp4 is not None:
            self._close_video()
        if self._rows:
            self._flush_rows()
        episodes = self.root / DEFAULT_EPISODES_PATH.format(chunk_index=0, file_index=0)
        episodes.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self.episodes), episodes)
        import pandas as pd

        pd.DataFrame(
            {"task_index": list(self.tasks.values())}, index=pd.Index(list(self.tasks), name="task")
        ).to_parquet(self.root / TASKS_PATH)
        (self.root / STATS_PATH).write_text(json.dumps(_aggregate(self._stats), indent=2) + "\n", encoding="utf-8")
        (self.root / INFO_PATH).write_text(json.dumps(self.info(), indent=4) + "\n", encoding="utf-8")
        (self.root / PROVENANCE_PATH).write_text(
            json.dumps(self.provenance_record(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    def info(self) -> dict:
        features = dict(self.features)
        h, w, c = self.image_shape
        features[F.IMAGE] = {
            **features[F.IMAGE],
            "info": {
                "video.height": h,
                "video.width": w,
                "video.codec": "av1",
                "video.pix_fmt": self.video["pix_fmt"],
                "video.fps": self.fps,
                "video.channels": c,
                "has_audio": False,
                "video.g": self.video["g"],
                "video.crf": self.video["crf"],
                "video.preset": self.video["preset"],
                "video.fast_decode": 0,
                "video.video_backend": "pyav",
                "video.extra_options": {},
                "is_depth_map": False,
            },
        }
        for key in ("timestamp",):
            features[key] = {"dtype": "float32", "shape": [1], "names": None}
        for key in ("frame_index", "episode_index", "index", "task_index"):
            features[key] = {"dtype": "int64", "shape": [1], "names": None}
        if self.language:
            features.update(LANGUAGE_FEATURES)
        return {
            "codebase_version": LEROBOT_CODEBASE_VERSION,
            "robot_type": F.ROBOT_TYPE,
            "total_episodes": len(self.episodes),
            "total_frames": self._total,
            "total_tasks": len(self.tasks),
            "chunks_size": DEFAULT_CHUNK_SIZE,
            "data_files_size_in_mb": DEFAULT_DATA_FILE_SIZE_IN_MB,
            "video_files_size_in_mb": DEFAULT_VIDEO_FILE_SIZE_IN_MB,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DEFAULT_DATA_PATH,
            "video_path": DEFAULT_VIDEO_PATH,
            "features": features,
        }

    def provenance_record(self) -> dict:
        """``meta/robomme_mem.json``: what made the export, and the project styles of its language rows
        (beside info.json, whose unknown fields LeRobot warns about)."""
        return {**self.provenance, "language_styles": dict(F.PROJECT_STYLES) if self.language else {}}


def _next(chunk: int, index: int) -> tuple[int, int]:
    return (chunk + 1, 0) if index + 1 >= DEFAULT_CHUNK_SIZE else (chunk, index + 1)


def _fixed(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _stats(values: np.ndarray) -> dict:
    return {
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
        "mean": values.mean(0).tolist(),
        "std": values.std(0).tolist(),
        "count": [len(values)],
        **{f"q{int(q * 100):02d}": np.quantile(values, q, axis=0).tolist() for q in QUANTILES},
    }


def _image_stats(images: list[np.ndarray]) -> dict:
    """Per-channel stats of every pixel of every frame, scaled to [0, 1] and shaped (3, 1, 1) as LeRobot's
    are; exact, from each channel's 256-bin histogram (LeRobot samples and downsizes frames instead)."""
    stack = np.stack(images)
    levels = np.arange(256, dtype=np.float64) / 255.0
    hists = [np.bincount(stack[..., c].ravel(), minlength=256).astype(np.float64) for c in range(3)]
    stat: dict[str, list] = {k: [] for k in ("min", "max", "mean", "std", *(f"q{int(q * 100):02d}" for q in QUANTILES))}
    for h in hists:
        p = h / h.sum()
        present = np.flatnonzero(h)
        mean = float(p @ levels)
        cdf = np.cumsum(p)
        stat["min"].append(levels[present[0]])
        stat["max"].append(levels[present[-1]])
        stat["mean"].append(mean)
        stat["std"].append(float(np.sqrt(p @ (levels - mean) ** 2)))
        for q in QUANTILES:
            stat[f"q{int(q * 100):02d}"].append(levels[int(np.searchsorted(cdf, q))])
    out = {k: np.asarray(v).reshape(3, 1, 1).tolist() for k, v in stat.items()}
    out["count"] = [len(images)]
    return out


def _aggregate(per_episode: list[dict]) -> dict:
    """Dataset stats from episode stats, as LeRobot aggregates them: count-weighted mean and variance,
    min of mins, max of maxes, count-weighted quantiles."""
    out = {}
    for key in per_episode[0] if per_episode else {}:
        items = [e[key] for e in per_episode]
        counts = np.array([i["count"][0] for i in items], dtype=np.float64)
        weights = counts / counts.sum()
        means = np.array([i["mean"] for i in items], dtype=np.float64)
        mean = np.tensordot(weights, means, axes=1)
        var = np.tensordot(
            weights, np.array([i["std"] for i in items], dtype=np.float64) ** 2 + (means - mean) ** 2, axes=1
        )
        stat = {
            "min": np.min([i["min"] for i in items], 0).tolist(),
            "max": np.max([i["max"] for i in items], 0).tolist(),
            "mean": mean.tolist(),
            "std": np.sqrt(var).tolist(),
            "count": [int(counts.sum())],
        }
        for q in QUANTILES:
            name = f"q{int(q * 100):02d}"
            stat[name] = np.tensordot(weights, np.array([i[name] for i in items], dtype=np.float64), axes=1).tolist()
        out[key] = stat
    return out


def annotate(existing: Path, slices: dict[int, list[dict]], provenance: dict) -> list[Path]:
    """Add the language columns to an existing LeRobot copy, in place, one data file at a time
    (written beside, then renamed over): ``slices`` maps LeRobot ``episode_index`` to its persistent
    rows; an episode without a slice gets none. Returns the files rewritten."""
    info_path = existing / INFO_PATH
    info = json.loads(info_path.read_text(encoding="utf-8"))
    written = []
    for path in sorted((existing / DATA_DIR).glob(f"{CHUNK_FILE_GLOB}.parquet")):
        table = pq.read_table(path)
        table = table.drop_columns([c for c in (LANGUAGE_PERSISTENT, LANGUAGE_EVENTS) if c in table.column_names])
        episodes = table.column("episode_index").to_numpy(zero_copy_only=False)
        persistent = pa.array([slices.get(int(k), []) for k in episodes], type=persistent_type())
        events = pa.array([[] for _ in episodes], type=events_type())
        table = table.append_column(LANGUAGE_PERSISTENT, persistent).append_column(LANGUAGE_EVENTS, events)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table.replace_schema_metadata(None), tmp)
        written.append((tmp, path))
    for tmp, path in written:
        tmp.replace(path)
    info["features"].update(LANGUAGE_FEATURES)
    record_path = existing / PROVENANCE_PATH
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    record.update(annotated=provenance, language_styles=dict(F.PROJECT_STYLES))
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp = info_path.with_name(".info.json.tmp")
    tmp.write_text(json.dumps(info, indent=4) + "\n", encoding="utf-8")
    tmp.replace(info_path)
    return [path for _, path in written]
