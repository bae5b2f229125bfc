"""A recorded episode on disk: staged whole, checked by the project's own reader, merged into its task's file.

The recorder writes one raw file per episode. Each is copied into a **staged** file of its own
(:func:`staged_file`, written beside and renamed into place), with the
run's provenance on the episode group and, with ``trim``, without what a memory dataset never
reads. A staged episode is done: a killed run resumes without recording it again. At the end of
a run, each task's staged episodes and those its ``record_dataset_<Task>.h5`` already holds are
written into a new file that replaces the old one in one rename; only then are the staged files
removed. So a file is whole or absent, and an episode is in one place or the other.

At scale a task's episodes are sharded (``shard_episodes``): episode ``e`` goes to
``record_dataset_<Task>.shard-<e // n>.h5``, so a merge rewrites only the shards it adds to. The
source reads a shard as any task file (the task is the name's last ``_`` part before its first
dot, as RoboMME's own builder reads it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from ...tasks import SOURCE_FILE_PREFIX, SOURCE_FILE_SUFFIX
from ..source.hdf5 import RECORDING_ATTR

PROVENANCE_ATTR = RECORDING_ATTR
"""Episode-group attribute: JSON of how the episode was recorded (the source reads it back)."""
STAGED = ".staged"
TRIMMED_OBS = ("wrist_rgb", "front_depth", "wrist_depth", "wrist_camera_extrinsic")
"""What a memory dataset never reads, left out by ``trim`` (as ``../shared/data/robomme-real`` was trimmed)."""


SHARD = ".shard-{:05d}"


def task_file(out: Path, task: str, episode: int | None = None, shard_episodes: int | None = None) -> Path:
    """The file ``episode`` of ``task`` goes to: ``record_dataset_<Task>.h5``, or its shard."""
    shard = SHARD.format(episode // shard_episodes) if shard_episodes and episode is not None else ""
    return Path(out) / f"{SOURCE_FILE_PREFIX}{task}{shard}{SOURCE_FILE_SUFFIX}"


def task_files(out: Path, task: str) -> list[Path]:
    """Every file of ``task`` in ``out``: the task file and its shards, sorted by name."""
    whole = task_file(out, task)
    return sorted(p for p in [whole, *Path(out).glob(f"{whole.stem}.shard-*{SOURCE_FILE_SUFFIX}")] if p.is_file())


def episodes_in(path: Path) -> list[int]:
    with h5py.File(path, "r") as h5:
        return sorted(int(k.split("_")[1]) for k in h5 if k.startswith("episode_"))


def staged_file(out: Path, task: str, episode: int) -> Path:
    """``<out>/.staged/<Task>/episode_<N>/record_dataset_<Task>.h5``: a source file of one episode, read as any other."""
    return Path(out) / STAGED / task / f"episode_{episode}" / task_file(Path(), task).name


def _staged_episode(path: Path) -> int:
    return int(path.parent.name.split("_")[1])


def stage_episode(raw: Path, staged: Path, episode: int, provenance: dict, *, trim: bool = False) -> Path:
    """Copy ``episode_<episode>`` of the recorder's ``raw`` file into ``staged``, with ``provenance``.

    Kept datasets are copied as they are (same names, shapes, types, values and storage);
    ``trim`` leaves out :data:`TRIMMED_OBS` and stores the front images with gzip 9 + shuffle.
    """
    staged.parent.mkdir(parents=True, exist_ok=True)
    part = staged.with_name(staged.name + ".part")
    name = f"episode_{episode}"
    with h5py.File(raw, "r") as src, h5py.File(part, "w") as dst:
        if name not in src:
            raise ValueError(f"{raw}: the recorder wrote no {name} (groups: {', '.join(list(src)[:5])})")
        if not trim:
            src.copy(src[name], dst, name)
        else:
            _copy_trimmed(src[name], dst.create_group(name))
        dst[name].attrs[PROVENANCE_ATTR] = json.dumps(provenance, sort_keys=True)
    part.replace(staged)
    return staged


def _copy_trimmed(source: h5py.Group, target: h5py.Group) -> None:
    for key, item in source.items():
        if not key.startswith("timestep_"):
            source.copy(item, target, key)
            continue
        step = target.create_group(key)
        for part, group in item.items():
            if part != "obs":
                item.copy(group, step, part)
                continue
            obs = step.create_group("obs")
            for field, data in group.items():
                if field in TRIMMED_OBS:
                    continue
                if field == "front_rgb":
                    image = data[()]
                    obs.create_dataset(
                        field, data=image, chunks=image.shape, compression="gzip", compression_opts=9, shuffle=True
                    )
                else:
                    group.copy(data, obs, field)


def same_kept_data(raw: Path, staged: Path, episode: int) -> int:
    """Check every dataset of the staged episode against the raw one (shape, type, value); the number checked."""
    name = f"episode_{episode}"
    checked = []
    with h5py.File(raw, "r") as a, h5py.File(staged, "r") as b:
        b[name].visititems(lambda path, obj: checked.append(path) if isinstance(obj, h5py.Dataset) else None)
        for path in checked:
            x, y = a[name][path], b[name][path]
            if (
                x.shape != y.shape
                or x.dtype != y.dtype
                or not np.array_equal(np.asarray(x[()]), np.asarray(y[()]), equal_nan=x.dtype.kind == "f")
            ):
                raise ValueError(f"{staged}: {name}/{path} differs from the recorder's {raw}")
    return len(checked)


def provenance_of(group: h5py.Group) -> dict | None:
    text = group.attrs.get(PROVENANCE_ATTR)
    return json.loads(text) if text is not None else None


def recorded_episodes(out: Path, task: str) -> set[int]:
    """Episodes of ``task`` already recorded into ``out``: in its task file, or staged."""
    done = {_staged_episode(p) for p in (Path(out) / STAGED / task).glob("episode_*/*.h5")}
    for path in task_files(out, task):
        done.update(episodes_in(path))
    return done


def merge_staged(out: Path, tasks: Iterable[str], shard_episodes: int | None = None) -> dict[str, int]:
    """Write each task's staged episodes into its file (or shards: :func:`task_file`), each a new
    file renamed into place with the episodes it held, then remove them; episodes per file written."""
    counts = {}
    for task in tasks:
        staged = sorted((Path(out) / STAGED / task).glob("episode_*/*.h5"), key=_staged_episode)
        if not staged:
            continue
        into: dict[Path, list[Path]] = {}
        for path in staged:
            into.setdefault(task_file(out, task, _staged_episode(path), shard_episodes), []).append(path)
        for final, paths in into.items():
            counts[final.name] = _merge_into(final, paths)
        shutil.rmtree(Path(out) / STAGED / task, ignore_errors=True)
    staged_root = Path(out) / STAGED
    if staged_root.is_dir() and not any(staged_root.iterdir()):
        staged_root.rmdir()
    return counts


def _merge_into(final: Path, staged: list[Path]) -> int:
    """``final`` rewritten with the episodes it held and ``staged`` (one rename); its episode count."""
    part = final.with_name(final.name + ".part")
    with h5py.File(part, "w") as dst:
        if final.is_file():
            with h5py.File(final, "r") as old:
                for key, value in old.attrs.items():
                    dst.attrs[key] = value
                for key in old:
                    old.copy(old[key], dst, key)
        for path in staged:
            with h5py.File(path, "r") as src:
                for key in src:
                    if key in dst:
                        del dst[key]  # recorded again on purpose: the new one wins
                    src.copy(src[key], dst, key)
        count = sum(1 for k in dst if k.startswith("episode_"))
    os.replace(part, final)
    return count
