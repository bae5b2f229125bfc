"""Read RoboMME HDF5 demonstrations lazily, one episode at a time, with validation.

A RoboMME file is ``record_dataset_<Task>.h5`` with one group ``episode_<n>`` per
demonstration: ``setup/`` (seed, difficulty, task_goal, ...) and contiguous
``timestep_<k>/{obs,action,info}`` groups. Nothing is read before it is asked for:
subgoal strings are read with HDF5's low-level API (a few tens of microseconds each)
and a frame's image only when :meth:`Episode.front_image` is called, so memory does not
grow with the size of an episode or a file.

Every problem raises :class:`~robomme_mem.errors.SourceError` naming file, episode,
step and field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

try:
    from isal import isal_zlib
    from isal.isal_zlib import error as isal_error
except ImportError:  # pragma: no cover - isal is a dependency; HDF5's own zlib reads the same pixels
    isal_zlib, isal_error = None, OSError

from ...errors import SourceError, first_line
from ...tasks import ALL_TASKS, SOURCE_FILE_PREFIX, SOURCE_FILE_SUFFIX, task_from_filename
from .lerobot_features import MOTION_FIELDS, state_of

EPISODE_RE = re.compile(r"^episode_(\d+)$")
TIMESTEP_RE = re.compile(r"^timestep_(\d+)$")

SIMPLE_SUBGOAL = "info/simple_subgoal"
GROUNDED_SUBGOAL = "info/grounded_subgoal"
IS_VIDEO_DEMO = "info/is_video_demo"
FRONT_RGB = "obs/front_rgb"
TASK_GOAL = "setup/task_goal"
SYNTHETIC_ATTR = "robomme_mem_synthetic"
"""Root attribute robomme-mem's own generator writes into every file it makes (RoboMME's recorder never does)."""
RECORDING_ATTR = "robomme_mem_record"
"""Episode-group attribute ``robomme-mem record`` writes: JSON of how the episode was recorded
(versions, split, seed, difficulty, the injected failure)."""


def task_of(path: Path) -> str:
    """The RoboMME task a file holds, from its name; unknown names are an error."""
    task = task_from_filename(path.name)
    if task not in ALL_TASKS:
        raise SourceError(
            path,
            f"cannot tell the task from the file name (expected {SOURCE_FILE_PREFIX}<Task>{SOURCE_FILE_SUFFIX}"
            f" with Task one of {', '.join(ALL_TASKS)})",
        )
    return task


class SourceFile:
    """One open RoboMME HDF5 file. Use as a context manager; episodes borrow its handle."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.task = task_of(self.path)
        if not self.path.is_file():
            raise SourceError(self.path, "file not found")
        try:
            self._h5 = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            raise SourceError(self.path, f"not a readable HDF5 file, or truncated ({first_line(exc)})") from None

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @cached_property
    def synthetic(self) -> str | None:
        """What generated the file, when robomme-mem's generator did (``None``: a recorded demonstration)."""
        value = self._h5.attrs.get(SYNTHETIC_ATTR)
        if value is None:
            return None
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    @cached_property
    def episode_indices(self) -> list[int]:
        """Episode numbers in numeric order (``episode_2`` before ``episode_10``)."""
        try:
            names = list(self._h5.keys())
        except (OSError, RuntimeError) as exc:
            raise SourceError(self.path, f"cannot list episodes ({first_line(exc)})") from None
        indices = sorted(int(m.group(1)) for n in names if (m := EPISODE_RE.match(n)))
        if not indices:
            raise SourceError(self.path, "file has no episode_<n> groups")
        return indices

    def episode(self, index: int) -> Episode:
        name = f"episode_{index}"
        if name not in self._h5:
            raise SourceError(self.path, "episode not in file", episode=name)
        group = self._h5[name]
        if not isinstance(group, h5py.Group):
            raise SourceError(self.path, "expected a group", episode=name)
        return Episode(file=self.path, task=self.task, index=index, _group=group)


@dataclass(eq=False)
class Episode:
    """One demonstration. Per-step fields are read on first use and cached; images never are."""

    file: Path
    task: str
    index: int
    _group: h5py.Group = field(repr=False)

    @property
    def name(self) -> str:
        return f"episode_{self.index}"

    def error(self, problem: str, *, step: int | None = None, field: str | None = None) -> SourceError:
        """A :class:`SourceError` located in this episode."""
        return SourceError(self.file, problem, episode=self.name, step=step, field=field)

    # -- structure -----------------------------------------------------------------

    @cached_property
    def num_steps(self) -> int:
        """Number of timesteps; checks they are ``timestep_0 .. timestep_{n-1}`` with no gap."""
        steps = sorted(int(m.group(1)) for n in self._group.keys() if (m := TIMESTEP_RE.match(n)))
        if not steps:
            raise self.error("episode is empty (no timestep_<k> groups)")
        if steps[0] != 0:
            raise self.error(f"timesteps must start at timestep_0, first is timestep_{steps[0]}")
        for expected, got in enumerate(steps):
            if got != expected:
                raise self.error(
                    f"timesteps are not contiguous: timestep_{expected} is missing (next is timestep_{got})"
                )
        return len(steps)

    # -- setup ---------------------------------------------------------------------

    @cached_property
    def goal(self) -> str:
        """The task goal, ``setup/task_goal[0]`` lower-cased as the reference builder does."""
        return self.raw_goal.lower()

    @cached_property
    def raw_goal(self) -> str:
        """``setup/task_goal[0]`` as recorded (a LeRobot copy's task sentence)."""
        value = self._read(TASK_GOAL)
        if isinstance(value, np.ndarray):
            if value.size == 0:
                raise self.error("task goal is empty", field=TASK_GOAL)
            value = value.reshape(-1)[0]
        return self._decode(value, field=TASK_GOAL)

    @cached_property
    def seed(self) -> int | None:
        value = self._read("setup/seed", optional=True)
        return None if value is None else int(np.asarray(value).reshape(-1)[0])

    @cached_property
    def recording(self) -> dict | None:
        """How ``robomme-mem record`` made this episode (:data:`RECORDING_ATTR`), or None (RoboMME's own files)."""
        text = self._group.attrs.get(RECORDING_ATTR)
        if text is None:
            return None
        try:
            value = json.loads(text.decode() if isinstance(text, bytes) else text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error(f"not JSON ({exc})", field=f"@{RECORDING_ATTR}") from None
        if not isinstance(value, dict):
            raise self.error(f"expected a JSON object, got {type(value).__name__}", field=f"@{RECORDING_ATTR}")
        return value

    @property
    def injected_failure(self) -> dict | None:
        """The failed grasp ``robomme-mem record`` injected and the solver ran (mode, subgoal), or None."""
        failure = (self.recording or {}).get("injected_failure")
        return failure if failure and failure.get("executed") else None

    @cached_property
    def difficulty(self) -> str | None:
        value = self._read("setup/difficulty", optional=True)
        return None if value is None else self._decode(value, field="setup/difficulty")

    @cached_property
    def front_camera_intrinsic(self) -> np.ndarray:
        """The front camera's 3 x 3 matrix (the scene truth projects world points with it)."""
        return self._matrix("setup/front_camera_intrinsic", (3, 3))

    # -- per step ------------------------------------------------------------------

    def joint_action(self, step: int) -> np.ndarray:
        """The recorded joint-space action of a step (7 joint targets and the gripper)."""
        self._check_step(step)
        value = np.asarray(self._read(f"timestep_{step}/action/joint_action", step=step, field="action/joint_action"))
        if value.ndim != 1 or value.size < 8 or not np.all(np.isfinite(value)):
            raise self.error(
                f"expected 8 finite joint targets, got {value.dtype} {value.shape}",
                step=step,
                field="action/joint_action",
            )
        return value

    @cached_property
    def has_motion(self) -> bool:
        """Whether the steps carry joint state, gripper state and joint action (recordings do; the sample does not)."""
        first = self._group.get("timestep_0")
        return first is not None and all(f in first for f in MOTION_FIELDS)

    def motion(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(state, action) of a step as LeRobot's ``state`` and ``actions`` hold them (float32, 8 each)."""
        self._check_step(step)
        joints, gripper = (self._read(f"timestep_{step}/{f}", step=step, field=f) for f in MOTION_FIELDS[:2])
        return state_of(joints, gripper), np.asarray(self.joint_action(step), dtype=np.float32)[:8]

    def front_camera_extrinsic(self, step: int) -> np.ndarray:
        """The front camera's 3 x 4 world-to-camera matrix at a step (OpenCV convention)."""
        self._check_step(step)
        return self._matrix(f"timestep_{step}/obs/front_camera_extrinsic", (3, 4), step=step)

    def is_completed(self, step: int) -> bool:
        self._check_step(step)
        return self._flag(step, "info/is_completed")

    def _matrix(self, path: str, shape: tuple[int, int], step: int | None = None) -> np.ndarray:
        field = path.split("/", 1)[1] if path.startswith("timestep_") else path
        value = np.asarray(self._read(path, step=step, field=field), dtype=np.float64)
        if value.shape != shape or not np.all(np.isfinite(value)):
            raise self.error(
                f"expected a finite {shape[0]} x {shape[1]} matrix, got {value.shape}", step=step, field=field
            )
        return value

    def simple_subgoal(self, step: int) -> str:
        """The raw simple subgoal of a step (decoded, not lower-cased)."""
        return self.simple_subgoals[step]

    @cached_property
    def simple_subgoals(self) -> tuple[str, ...]:
        """Simple subgoal of every step; segmentation needs all of them (the hot loop of a build)."""
        return tuple(self._texts(SIMPLE_SUBGOAL, range(self.num_steps)))

    def grounded_subgoal(self, step: int) -> str:
        """The raw grounded subgoal of a step (coordinates inline as RoboMME writes them)."""
        cache = self._grounded_cache
        if step not in cache:
            self._check_step(step)
            cache[step] = self._text(step, GROUNDED_SUBGOAL)
        return cache[step]

    @cached_property
    def _grounded_cache(self) -> dict[int, str]:
        return {}

    def is_video_demo(self, step: int) -> bool:
        self._check_step(step)
        return self._flag(step, IS_VIDEO_DEMO)

    @cached_property
    def execution_start(self) -> int:
        """First step that is not a video demonstration (scanning from step 0 as the reference does)."""
        for step in range(self.num_steps):
            if not self.is_video_demo(step):
                return step
        raise self.error("every step is a video demonstration; there is nothing to execute", field=IS_VIDEO_DEMO)

    def front_image(self, step: int) -> np.ndarray:
        """The 256x256 front-camera image the policy sees at ``step`` (uint8, HxWx3).

        RoboMME's recorder stores each frame as one gzip-9 chunk (shuffle + deflate). Such a
        chunk is read raw and inflated by ISA-L, about twice as fast as HDF5's own zlib; any
        other layout (or a chunk HDF5 stored unfiltered) goes through HDF5's normal read.
        """
        self._check_step(step)
        dsid = self._image_dataset(step)
        try:
            if _inflatable(dsid):
                mask, raw = dsid.read_direct_chunk((0,) * len(dsid.shape))
                if mask == 0:
                    data = isal_zlib.decompress(raw)
                    if len(data) == int(np.prod(dsid.shape)):
                        return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(dsid.shape)
            out = np.empty(dsid.shape, dtype=np.uint8)
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
        except (OSError, RuntimeError, ValueError, isal_error) as exc:
            raise self.error(f"cannot read image data ({first_line(exc)})", step=step, field=FRONT_RGB) from None
        return out

    def check_images(self) -> None:
        """Check every step's front image is a uint8 HxWx3 dataset, without reading pixels."""
        for step in range(self.num_steps):
            self._image_dataset(step)

    def _image_dataset(self, step: int):
        dsid = self._open(f"timestep_{step}/{FRONT_RGB}", step=step, field=FRONT_RGB)
        dtype, shape = dsid.dtype, dsid.shape
        if dtype != np.uint8 or len(shape) != 3 or shape[2] != 3:
            raise self.error(f"expected a uint8 HxWx3 image, got {dtype} {shape}", step=step, field=FRONT_RGB)
        return dsid

    # -- low level -----------------------------------------------------------------

    def _check_step(self, step: int) -> None:
        if not 0 <= step < self.num_steps:
            raise IndexError(f"{self.file.name} {self.name}: step {step} out of range 0..{self.num_steps - 1}")

    def _open(self, path: str, *, step: int | None = None, field: str | None = None):
        try:
            return h5py.h5d.open(self._group.id, path.encode())
        except KeyError:
            raise self.error("missing field", step=step, field=field or path) from None
        except (OSError, RuntimeError) as exc:
            raise self.error(f"cannot open ({first_line(exc)})", step=step, field=field or path) from None

    def _read(self, path: str, *, step: int | None = None, field: str | None = None, optional: bool = False):
        """Read a whole (small) dataset through the low-level API: ~3x faster than ``group[path][()]``."""
        if optional and path not in self._group:
            return None
        dsid = self._open(path, step=step, field=field)
        out = np.empty(dsid.shape, dtype=dsid.dtype)
        try:
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
        except (OSError, RuntimeError, TypeError) as exc:
            raise self.error(f"cannot read ({first_line(exc)})", step=step, field=field or path) from None
        return out[()] if out.shape == () else out

    def _text(self, step: int, rel: str) -> str:
        value = self._read(f"timestep_{step}/{rel}", step=step, field=rel)
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise self.error(f"expected a string scalar, got shape {value.shape}", step=step, field=rel)
            value = value.reshape(-1)[0]
        return self._decode(value, step=step, field=rel)

    def _texts(self, rel: str, steps: Sequence[int]) -> list[str]:
        """Strings of many steps, converted by HDF5 into one reused fixed-size buffer.

        About twice as fast as :meth:`_text` (no Python object per vlen string); anything
        unusual (a string that fills the buffer, a non-string dataset, bad bytes) goes through
        :meth:`_text`, which reads it the general way and raises the precise error.
        """
        buf = np.zeros((), dtype=f"S{_TEXT_BUFFER}")
        gid, everything, fmt = self._group.id, h5py.h5s.ALL, f"timestep_%d/{rel}".encode()
        out: list[str] = []
        for step in steps:
            try:
                dsid = h5py.h5d.open(gid, fmt % step)
                if dsid.shape != ():
                    raise TypeError
                dsid.read(everything, everything, buf, mtype=_TEXT_TYPE)
                raw = buf.item()
                if len(raw) >= _TEXT_BUFFER - 1:
                    raise ValueError
                out.append(raw.decode("utf-8"))
            except (KeyError, TypeError, ValueError, OSError, RuntimeError):
                out.append(self._text(step, rel))
        return out

    def _flag(self, step: int, rel: str) -> bool:
        value = self._read(f"timestep_{step}/{rel}", step=step, field=rel)
        arr = np.asarray(value)
        if arr.size != 1 or arr.dtype.kind not in "biu":
            raise self.error(f"expected a boolean scalar, got {arr.dtype} {arr.shape}", step=step, field=rel)
        return bool(arr.reshape(-1)[0])

    def _decode(self, value, *, step: int | None = None, field: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (bytes, np.bytes_)):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(
                    f"bytes are not valid UTF-8 ({exc.reason} at byte {exc.start})", step=step, field=field
                ) from None
        raise self.error(f"expected a string, got {type(value).__name__}", step=step, field=field)


def _inflatable(dsid) -> bool:
    """Whether a uint8 dataset is one chunk filtered by deflate alone (a byte shuffle changes nothing)."""
    if isal_zlib is None:
        return False
    plist = dsid.get_create_plist()
    if plist.get_layout() != h5py.h5d.CHUNKED or plist.get_chunk() != dsid.shape:
        return False
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    return filters.count(h5py.h5z.FILTER_DEFLATE) == 1 and set(filters) <= {
        h5py.h5z.FILTER_DEFLATE,
        h5py.h5z.FILTER_SHUFFLE,
    }


_TEXT_BUFFER = 4096
_TEXT_TYPE = h5py.h5t.C_S1.copy()
_TEXT_TYPE.set_size(_TEXT_BUFFER)
