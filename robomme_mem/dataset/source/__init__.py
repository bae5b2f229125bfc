"""Where demonstrations come from: RoboMME's HDF5 files, or a LeRobot v3.0 copy of them.

Everything downstream names a source by a path and opens it with :func:`open_source`, which
gives the same interface for both formats: ``task``, ``episode_indices``, ``episode(n)`` (an
episode with its goal, subgoal strings, video-demo flags and front-camera frames), ``synthetic``
and ``size_bytes``.

- An HDF5 path is a ``record_dataset_<Task>.h5`` file (:mod:`.hdf5`).
- A LeRobot dataset folder (``meta/info.json`` with ``codebase_version`` v3.0) holds many tasks;
  :func:`find_source_files` turns it into one path per task, ``<folder>#<Task>``
  (:mod:`.lerobot`), so that a task's episodes are a unit as they are in HDF5.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import SourceError
from ...tasks import SOURCE_FILE_PREFIX, SOURCE_FILE_SUFFIX
from .hdf5 import SYNTHETIC_ATTR, Episode, SourceFile
from .hdf5 import task_of as _hdf5_task_of
from .lerobot_dataset import PART_SEPARATOR, LeRobotPart, is_lerobot_folder, lerobot_parts, split_part

__all__ = [
    "SYNTHETIC_ATTR",
    "Episode",
    "LeRobotPart",
    "SourceFile",
    "find_source_files",
    "is_lerobot",
    "open_source",
    "require_hdf5",
    "select_files",
    "task_of",
]


def is_lerobot(path: str | Path) -> bool:
    """Whether ``path`` names a task of a LeRobot copy (``<folder>#<Task>``)."""
    return split_part(path) is not None


def require_hdf5(paths, what: str) -> None:
    """Refuse LeRobot parts for work that replays RoboMME's recordings (the scene truth and what reads it)."""
    for path in paths:
        if is_lerobot(path):
            raise SourceError(
                path,
                f"{what} needs RoboMME's HDF5 recordings (it replays joint actions with the camera poses, "
                "which a LeRobot copy does not carry); pass the record_dataset_<Task>.h5 files",
            )


def open_source(path: str | Path) -> SourceFile | LeRobotPart:
    """Open one source path (an HDF5 file, or a LeRobot folder's task); use as a context manager."""
    part = split_part(path)
    if part is not None:
        return LeRobotPart(*part)
    return SourceFile(path)


def task_of(path: str | Path) -> str:
    """The RoboMME task a source path holds; unknown names are an error."""
    part = split_part(path)
    if part is not None:
        return part[1]
    return _hdf5_task_of(Path(path))


def find_source_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders into source paths, sorted by name.

    A folder with ``meta/info.json`` is a LeRobot copy and gives one ``<folder>#<Task>`` per task
    it holds; any other folder contributes every ``record_dataset_*.h5`` directly inside it. The
    reference builder takes ``os.listdir`` order; we sort so builds are reproducible.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if is_lerobot_folder(path):
            files.extend(lerobot_parts(path))
        elif split_part(path) is not None:
            files.append(path)
        elif path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.name.startswith(SOURCE_FILE_PREFIX) and p.name.endswith(SOURCE_FILE_SUFFIX)
            )
            if not found:
                below = sorted({p.parent.name for p in path.glob(f"*/{SOURCE_FILE_PREFIX}*{SOURCE_FILE_SUFFIX}")})
                hint = (
                    f"; found some one level down, in {', '.join(f'{b}/' for b in below[:3])}{', ...' if len(below) > 3 else ''}: pass those folders"
                    if below
                    else ""
                )
                raise SourceError(
                    path,
                    f"folder has no {SOURCE_FILE_PREFIX}<Task>{SOURCE_FILE_SUFFIX} files and no meta/info.json (a LeRobot dataset){hint}",
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise SourceError(path, "file not found")
    return sorted(dict.fromkeys(_resolved(f) for f in files), key=lambda p: (p.name, str(p)))


def _resolved(path: Path) -> Path:
    part = split_part(path)
    return path.resolve() if part is None else Path(f"{Path(part[0]).resolve()}{PART_SEPARATOR}{part[1]}")


def select_files(files: list[Path], tasks: Sequence[str] | None) -> list[Path]:
    """The files of ``tasks`` (all files when ``None``); no match is an error naming what was found."""
    by_task = [(f, task_of(f)) for f in files]
    if tasks is None:
        return files
    chosen = [f for f, t in by_task if t in tasks]
    if not chosen:
        have = sorted({t for _, t in by_task})
        raise SourceError(files[0].parent if files else ".", f"no source file for tasks {list(tasks)} (found {have})")
    return chosen
