"""Read a LeRobot v3.0 copy of RoboMME as a source: the same episodes, subgoals and frames as HDF5.

A LeRobot dataset folder holds ``meta/info.json`` (version, fps, features), ``meta/tasks.parquet``,
``meta/episodes/chunk-*/file-*.parquet`` (each episode's rows and its span of each video file),
``data/chunk-*/file-*.parquet`` (one row per frame) and ``videos/<key>/chunk-*/file-*.mp4``.
Everything is validated on opening and a problem is one line naming the file and field.

Per frame it reads ``simple_subgoal`` and ``grounded_subgoal`` (RoboMME's own strings, as its
recorder wrote them); the front camera from ``image`` (or ``observation.images.image`` /
``.front``), decoded with PyAV, seeking to the call frames only. What RoboMME's HDF5 has and a
LeRobot copy may lack is read when present and otherwise derived:

- **the task** (``robomme_task``): else from the episode's task sentence by RoboMME's goal
  wording (:func:`~robomme_mem.tasks.tasks_from_goal`). VideoUnmask and VideoUnmaskSwap are worded
  alike, so their episodes cannot be told apart and are refused, naming the episode.
- **the video-demonstration flag** (``is_video_demo`` or ``is_demo``): else ``False`` at every step
  of a task without demonstrations, which is exact; a video task's demonstration cannot be told
  from its execution, so such an episode is refused (it would be built with the demonstration
  as execution: wrong segments and memories).
- **the episode number** (``robomme_episode``): else LeRobot's ``episode_index``; ids and the
  seeded train/validation split then differ from an HDF5 build's.
- **the seed** (``seed``): else none (the traces config carries ``null``).

The scene truth replays RoboMME's HDF5 (camera poses, joint actions): not from this format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ...errors import SourceError, first_line
from ...tasks import ALL_TASKS, VIDEO_DEMO_TASKS, tasks_from_goal
from ..lerobot_layout import CHUNK_FILE_GLOB, EPISODES_DIR, INFO_PATH, PROVENANCE_PATH
from . import lerobot_features as F

PART_SEPARATOR = "#"
_EPISODE_COLUMNS = (
    "episode_index",
    "length",
    "dataset_from_index",
    "dataset_to_index",
    "data/chunk_index",
    "data/file_index",
)


def is_lerobot_folder(path: str | Path) -> bool:
    return (Path(path) / INFO_PATH).is_file()


def split_part(path: str | Path) -> tuple[Path, str] | None:
    """``<folder>#<Task>`` -> (folder, task); any other path -> ``None``."""
    text = str(path)
    if PART_SEPARATOR not in Path(text).name:
        return None
    root, task = text.rsplit(PART_SEPARATOR, 1)
    if not is_lerobot_folder(root):
        return None
    if task not in ALL_TASKS:
        raise SourceError(path, f"no RoboMME task {task!r} (expected one of {', '.join(ALL_TASKS)})")
    return Path(root), task


def lerobot_parts(root: str | Path) -> list[Path]:
    """One ``<folder>#<Task>`` per task the copy holds."""
    folder = LeRobotFolder.open(root)
    if folder.unresolved:
        raise folder.unresolved[0]
    return [Path(f"{folder.root}{PART_SEPARATOR}{task}") for task in sorted({e.task for e in folder.episodes})]


@dataclass(frozen=True)
class EpisodeEntry:
    """Where one LeRobot episode lives, and who it is in RoboMME's terms."""

    index: int
    """LeRobot's ``episode_index``."""
    task: str
    number: int
    goal: str
    length: int
    data_file: Path
    video: tuple[Path, float] | None
    """(mp4, from_timestamp) of the front camera when it is a video feature."""
    seed: int | None


class LeRobotFolder:
    """A validated LeRobot v3.0 dataset folder: its info, tasks and episodes (no frames read)."""

    _cache: dict[tuple[str, int], LeRobotFolder] = {}

    @classmethod
    def open(cls, root: str | Path) -> LeRobotFolder:
        """One parse per folder and process (keyed by ``info.json``'s change time)."""
        root = Path(root).resolve()
        try:
            key = (str(root), (root / INFO_PATH).stat().st_mtime_ns)
        except OSError:
            raise SourceError(root / INFO_PATH, "file not found") from None
        if key not in cls._cache:
            cls._cache[key] = cls(root)
        return cls._cache[key]

    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = _read_info(root / INFO_PATH)
        features = self.info["features"]
        self.fps = int(self.info["fps"])
        self.image_key = next(k for k in F.IMAGE_KEYS if k in features)
        self.image_is_video = features[self.image_key]["dtype"] == "video"
        self.video_demo_key = next((k for k in F.VIDEO_DEMO_KEYS if k in features), None)
        self.has_motion = F.STATE in features and F.ACTIONS in features
        self.unresolved: list[SourceError] = []
        """Episodes whose RoboMME task cannot be told (see :func:`_task_from_goal`)."""
        self.episodes = self._episodes()

    @property
    def synthetic(self) -> str | None:
        """What generated the episodes, when robomme-mem's export recorded it of a synthetic source."""
        record = self.root / PROVENANCE_PATH
        try:
            return json.loads(record.read_text(encoding="utf-8")).get("synthetic") if record.is_file() else None
        except (OSError, ValueError, AttributeError):
            raise SourceError(record, "not readable JSON") from None

    def path_of(self, template_key: str, **fields) -> Path:
        return self.root / self.info[template_key].format(**fields)

    def _episodes(self) -> list[EpisodeEntry]:
        import pyarrow as pa

        files = sorted((self.root / EPISODES_DIR).glob(f"{CHUNK_FILE_GLOB}.parquet"))
        if not files:
            raise SourceError(
                self.root / EPISODES_DIR, f"no {CHUNK_FILE_GLOB}.parquet: not a LeRobot v3.0 dataset, or not finalized"
            )
        video_columns = (
            tuple(f"videos/{self.image_key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp"))
            if self.image_is_video
            else ()
        )
        meta = pa.concat_tables(
            [_read_parquet(path, [*_EPISODE_COLUMNS, "tasks", *video_columns]) for path in files]
        ).to_pylist()
        identity = self._identities((row["data/chunk_index"], row["data/file_index"]) for row in meta)
        out = []
        for row in meta:
            k = int(row["episode_index"])
            data_file = self.path_of(
                "data_path", chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
            )
            goal = (row["tasks"] or [None])[0]
            if not isinstance(goal, str):
                raise SourceError(files[0], "episode has no task sentence", episode=f"episode_index {k}", field="tasks")
            if k not in identity:
                raise SourceError(
                    data_file,
                    "episode has no rows in its data file",
                    episode=f"episode_index {k}",
                    field="episode_index",
                )
            task, number, seed = identity[k]
            if task is None:
                try:
                    task = _task_from_goal(goal, data_file, k)
                except SourceError as exc:  # kept: listing the copy's tasks says it; its other tasks stay readable
                    self.unresolved.append(exc)
                    continue
            video = None
            if self.image_is_video:
                mp4 = self.path_of(
                    "video_path",
                    video_key=self.image_key,
                    chunk_index=row[video_columns[0]],
                    file_index=row[video_columns[1]],
                )
                video = (mp4, float(row[video_columns[2]]))
            length = int(row["length"])
            out.append(EpisodeEntry(k, task, number, goal, length, data_file, video, seed))
        seen: dict[tuple[str, int], int] = {}
        for e in out:
            if (e.task, e.number) in seen:
                raise SourceError(
                    e.data_file,
                    f"{e.task} episode {e.number} is both LeRobot episode_index {seen[(e.task, e.number)]} and {e.index}",
                    episode=f"episode_index {e.index}",
                    field=F.EPISODE,
                )
            seen[(e.task, e.number)] = e.index
        return out

    def _identities(self, data_files) -> dict[int, tuple[str | None, int, int | None]]:
        """Per LeRobot episode with rows: (robomme_task or None, robomme_episode or episode_index, seed), read off its first row."""
        features = self.info["features"]
        columns = ["episode_index", *(c for c in (F.TASK, F.EPISODE, F.SEED) if c in features)]
        out: dict[int, tuple[str | None, int, int | None]] = {}
        for chunk, file in sorted(set(data_files)):
            path = self.path_of("data_path", chunk_index=chunk, file_index=file)
            table = _read_parquet(path, columns)
            indices = np.asarray(table.column("episode_index").to_numpy(zero_copy_only=False))
            starts = np.flatnonzero(np.r_[True, indices[1:] != indices[:-1]])
            for start in starts:
                k = int(indices[start])
                task = table.column(F.TASK)[int(start)].as_py() if F.TASK in columns else None
                if task is not None and task not in ALL_TASKS:
                    raise SourceError(
                        path, f"{task!r} is not a RoboMME task", episode=f"episode_index {k}", field=F.TASK
                    )
                number = int(_scalar(table.column(F.EPISODE)[int(start)].as_py())) if F.EPISODE in columns else k
                seed = _scalar(table.column(F.SEED)[int(start)].as_py()) if F.SEED in columns else None
                out[k] = (task, number, None if seed is None or seed < 0 else int(seed))
        return out


class LeRobotPart:
    """One task's episodes of a LeRobot copy, with :class:`~.hdf5.SourceFile`'s interface."""

    def __init__(self, root: str | Path, task: str) -> None:
        self.folder = LeRobotFolder.open(root)
        self.task = task
        self.path = Path(f"{self.folder.root}{PART_SEPARATOR}{task}")
        self._entries = {e.number: e for e in self.folder.episodes if e.task == task}
        if not self._entries:
            raise SourceError(self.path, f"the LeRobot copy holds no {task} episode")
        self._videos: dict[Path, _Video] = {}

    def __enter__(self) -> LeRobotPart:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for video in self._videos.values():
            video.close()
        self._videos.clear()

    @property
    def synthetic(self) -> str | None:
        return self.folder.synthetic

    @property
    def episode_indices(self) -> list[int]:
        return sorted(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes of the data and video files this task's episodes are in."""
        files = {e.data_file for e in self._entries.values()} | {e.video[0] for e in self._entries.values() if e.video}
        return sum(f.stat().st_size for f in files if f.exists())

    def episode(self, number: int) -> LeRobotEpisode:
        if number not in self._entries:
            raise SourceError(self.path, "episode not in the LeRobot copy", episode=f"episode_{number}")
        return LeRobotEpisode(self, self._entries[number])

    def rows(self, entry: EpisodeEntry):
        """The columns a build reads of one episode's frames: its own row group (LeRobot writes one per episode)."""
        features = self.folder.info["features"]
        wanted = [
            "episode_index",
            "frame_index",
            "timestamp",
            F.SIMPLE,
            F.GROUNDED,
            *(k for k in (self.folder.video_demo_key, F.STATE, F.ACTIONS) if k and k in features),
            *([self.folder.image_key] if not self.folder.image_is_video else []),
        ]
        return _read_parquet(entry.data_file, wanted, filters=[("episode_index", "==", entry.index)])

    def video(self, path: Path) -> _Video:
        if path not in self._videos:
            self._videos[path] = _Video(path)
        return self._videos[path]


class LeRobotEpisode:
    """One demonstration read from a LeRobot copy, with :class:`~.hdf5.Episode`'s interface."""

    def __init__(self, part: LeRobotPart, entry: EpisodeEntry) -> None:
        self._part, self.entry = part, entry
        self.file = part.path
        self.task = entry.task
        self.index = entry.number

    @property
    def name(self) -> str:
        return f"episode_{self.index}"

    def error(
        self, problem: str, *, step: int | None = None, field: str | None = None, file: Path | None = None
    ) -> SourceError:
        return SourceError(
            file or self.entry.data_file,
            problem,
            episode=f"{self.name} ({self.task}, LeRobot episode_index {self.entry.index})",
            step=step,
            field=field,
        )

    # -- what the build reads -----------------------------------------------------------

    @cached_property
    def _rows(self):
        rows = self._part.rows(self.entry)
        if rows.num_rows != self.entry.length:
            raise self.error(
                f"the episodes table says {self.entry.length} frames, the data file has {rows.num_rows}", field="length"
            )
        episode = rows.column("episode_index").to_numpy(zero_copy_only=False)
        frames = rows.column("frame_index").to_numpy(zero_copy_only=False)
        if not (np.all(episode == self.entry.index) and np.array_equal(frames, np.arange(len(frames)))):
            raise self.error("rows are not frames 0..length-1 of this episode in order", field="frame_index")
        return rows

    @cached_property
    def num_steps(self) -> int:
        if self.entry.length <= 0:
            raise self.error("episode is empty", field="length")
        return self.entry.length

    @cached_property
    def goal(self) -> str:
        return self.entry.goal.lower()

    @property
    def raw_goal(self) -> str:
        return self.entry.goal

    @property
    def seed(self) -> int | None:
        return self.entry.seed

    recording = None
    """A LeRobot copy keeps no record of how its episodes were made."""
    injected_failure = None

    @property
    def difficulty(self) -> str | None:
        return None

    @cached_property
    def simple_subgoals(self) -> tuple[str, ...]:
        return tuple(self._texts(F.SIMPLE))

    def simple_subgoal(self, step: int) -> str:
        return self.simple_subgoals[step]

    def grounded_subgoal(self, step: int) -> str:
        self._check_step(step)
        return self._grounded[step]

    @cached_property
    def _grounded(self) -> list[str]:
        return self._texts(F.GROUNDED)

    def _texts(self, key: str) -> list[str]:
        values = [_scalar(v) for v in self._rows.column(key).to_pylist()]
        for step, value in enumerate(values):
            if not isinstance(value, str):
                raise self.error(f"expected a string, got {type(value).__name__}", step=step, field=key)
        return values

    @cached_property
    def _video_demo(self) -> np.ndarray:
        key = self._part.folder.video_demo_key
        if key is not None:
            return np.array([bool(_scalar(v)) for v in self._rows.column(key).to_pylist()])
        if self.task in VIDEO_DEMO_TASKS:
            raise self.error(
                f"{self.task} opens with a video demonstration, and this copy has no is_video_demo column to tell it from "
                "the execution; export the copy with `robomme-mem export lerobot` (which writes it), or leave video tasks out with --tasks",
                field=F.VIDEO_DEMO,
            )
        return np.zeros(self.num_steps, dtype=bool)

    def is_video_demo(self, step: int) -> bool:
        self._check_step(step)
        return bool(self._video_demo[step])

    @cached_property
    def execution_start(self) -> int:
        executed = np.flatnonzero(~self._video_demo)
        if not len(executed):
            raise self.error("every step is a video demonstration; there is nothing to execute", field=F.VIDEO_DEMO)
        return int(executed[0])

    @property
    def has_motion(self) -> bool:
        return self._part.folder.has_motion

    def motion(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_step(step)
        state = np.asarray(self._rows.column(F.STATE)[step].as_py(), dtype=np.float32)
        action = np.asarray(self._rows.column(F.ACTIONS)[step].as_py(), dtype=np.float32)
        return state, action

    # -- frames -----------------------------------------------------------------------

    def front_image(self, step: int) -> np.ndarray:
        """The front camera at ``step``, decoded from the video (a seek only when the next frame asked for is not just ahead)."""
        self._check_step(step)
        folder = self._part.folder
        if not folder.image_is_video:
            return self._stored_image(step)
        path, start = self.entry.video
        timestamp = start + float(self._rows.column("timestamp")[step].as_py())
        try:
            image = self._part.video(path).frame_at(timestamp, folder.fps)
        except (OSError, ValueError) as exc:
            raise self.error(
                f"cannot decode the frame at {timestamp:.3f} s ({first_line(exc)})",
                step=step,
                field=folder.image_key,
                file=path,
            ) from None
        expected = tuple(folder.info["features"][folder.image_key]["shape"])
        if image.shape != expected:
            raise self.error(
                f"decoded a {image.shape} frame, info.json says {expected}",
                step=step,
                field=folder.image_key,
                file=path,
            )
        return image

    def _stored_image(self, step: int) -> np.ndarray:
        import io

        from PIL import Image

        value = self._rows.column(self._part.folder.image_key)[step].as_py()
        try:
            with Image.open(io.BytesIO(value["bytes"])) as im:
                return np.asarray(im.convert("RGB"))
        except (TypeError, KeyError, OSError) as exc:
            raise self.error(
                f"cannot decode the stored image ({first_line(exc)})", step=step, field=self._part.folder.image_key
            ) from None

    def check_images(self) -> None:
        """Check the video file exists and its stream is the size info.json says, without decoding."""
        folder = self._part.folder
        if not folder.image_is_video:
            return
        path = self.entry.video[0]
        if not path.is_file():
            raise self.error("video file not found", field=folder.image_key, file=path)
        height, width = folder.info["features"][folder.image_key]["shape"][:2]
        stream = self._part.video(path).stream
        if (stream.height, stream.width) != (height, width):
            raise self.error(
                f"video is {stream.width}x{stream.height}, info.json says {width}x{height}",
                field=folder.image_key,
                file=path,
            )

    # -- what only HDF5 has -------------------------------------------------------------

    def _hdf5_only(self, what: str):
        raise self.error(f"a LeRobot copy has no {what}: the scene truth replays RoboMME's HDF5 recordings", field=what)

    @property
    def front_camera_intrinsic(self):
        return self._hdf5_only("setup/front_camera_intrinsic")

    def front_camera_extrinsic(self, step: int):
        return self._hdf5_only("obs/front_camera_extrinsic")

    def joint_action(self, step: int):
        return self._hdf5_only("action/joint_action")

    def is_completed(self, step: int):
        return self._hdf5_only("info/is_completed")

    def _check_step(self, step: int) -> None:
        if not 0 <= step < self.num_steps:
            raise IndexError(f"{self.file.name} {self.name}: step {step} out of range 0..{self.num_steps - 1}")


class _Video:
    """One mp4, decoded forward from the last frame served, or from a seek when the next one asked for is behind or far ahead."""

    SEEK_GAP_S = 0.25

    def __init__(self, path: Path) -> None:
        import av

        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self._frames = None
        self._last: tuple[float, np.ndarray] | None = None

    def frame_at(self, timestamp: float, fps: int) -> np.ndarray:
        tolerance = 0.5 / fps
        if self._last is not None and abs(self._last[0] - timestamp) < tolerance:
            return self._last[1].copy()
        if (
            self._frames is None
            or self._last is None
            or timestamp < self._last[0]
            or timestamp - self._last[0] > self.SEEK_GAP_S
        ):
            self.container.seek(
                max(0, int(timestamp / self.stream.time_base)), stream=self.stream, backward=True, any_frame=False
            )
            self._frames = self.container.decode(self.stream)
        for frame in self._frames:
            at = float(frame.pts * self.stream.time_base)
            if at >= timestamp - tolerance:
                if at > timestamp + tolerance:
                    raise ValueError(f"no frame at {timestamp:.3f} s (next is at {at:.3f} s)")
                self._last = (at, frame.to_ndarray(format="rgb24"))
                return self._last[1].copy()
        raise ValueError(f"the video ends before {timestamp:.3f} s")

    def close(self) -> None:
        self.container.close()


def _read_info(path: Path) -> dict:
    """``meta/info.json``, checked for what a build reads; a problem is one line naming the field."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(path, f"not readable JSON ({first_line(exc)})") from None
    if not isinstance(info, dict):
        raise SourceError(path, "expected a JSON object")
    version = info.get("codebase_version")
    if not isinstance(version, str) or not version.startswith("v3."):
        raise SourceError(
            path,
            f"codebase_version is {version!r}; this reads LeRobot v3.x datasets (convert older ones with LeRobot's v2.1 -> v3.0 script)",
            field="codebase_version",
        )
    fps = info.get("fps")
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or fps <= 0:
        raise SourceError(path, f"fps must be a positive number, got {fps!r}", field="fps")
    for key in (
        "data_path",
        *(
            ("video_path",)
            if any(isinstance(f, dict) and f.get("dtype") == "video" for f in (info.get("features") or {}).values())
            else ()
        ),
    ):
        if not isinstance(info.get(key), str):
            raise SourceError(path, f"{key} must be a path template string", field=key)
    features = info.get("features")
    if not isinstance(features, dict):
        raise SourceError(path, "features must be an object", field="features")
    image = next((k for k in F.IMAGE_KEYS if k in features), None)
    if image is None:
        raise SourceError(path, f"no front camera: expected one of {', '.join(F.IMAGE_KEYS)}", field="features")
    if (
        not isinstance(features[image], dict)
        or features[image].get("dtype") not in ("video", "image")
        or len(features[image].get("shape") or ()) != 3
    ):
        raise SourceError(
            path,
            "the front camera must be a video or image feature of shape [height, width, 3]",
            field=f"features.{image}",
        )
    for key in (F.SIMPLE, F.GROUNDED):
        if not isinstance(features.get(key), dict):
            raise SourceError(
                path, "missing: a build reads RoboMME's subgoal strings per frame", field=f"features.{key}"
            )
        if features[key].get("dtype") != "string":
            raise SourceError(
                path, f"dtype must be 'string', got {features[key].get('dtype')!r}", field=f"features.{key}.dtype"
            )
    return info


def _read_parquet(path: Path, columns: list[str], filters=None):
    """``columns`` of a Parquet file (a missing one is an error naming it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise SourceError(
                path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}", field=missing[0]
            )
        return pq.read_table(path, columns=columns, filters=filters)
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(path, f"not a readable Parquet file ({first_line(exc)})") from None


def _task_from_goal(goal: str, data_file: Path, index: int) -> str:
    found = tasks_from_goal(goal)
    if len(found) == 1:
        return found[0]
    why = (
        f"it matches {' and '.join(found)}, whose goals are worded alike"
        if found
        else "it matches no RoboMME task's goal wording"
    )
    raise SourceError(
        data_file,
        f"cannot tell RoboMME's task from the task sentence {goal!r}: {why}; a robomme_task column names it "
        "(`robomme-mem export lerobot` writes one)",
        episode=f"episode_index {index}",
        field=F.TASK,
    )


def _scalar(value):
    """LeRobot stores shape-(1,) features as one-element lists or as scalars: either way, the value."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value
