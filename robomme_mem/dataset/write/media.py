"""An episode's frames and video demonstration written into the build folder, deterministically.

Each file is hashed as it is written, so the manifest lists it without reading it back. The
mp4 comes from :func:`robomme_mem.mp4.encode_mp4`, which the policy runtime uses too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ...mp4 import VIDEO_FPS, encode_mp4
from ...png import encode_png
from ..checksum import checksum_of
from ..layout import image_path, video_path
from ..versions import x264_version


def write_episode_media(
    out: Path,
    task: str,
    episode: int,
    images: Mapping[int, np.ndarray],
    level: int,
    video: Iterable[np.ndarray] | None = None,
) -> tuple[dict[str, bytes], dict[str, dict], str | None]:
    """An episode's call frames as PNGs and, for a video task, its demonstration as an mp4, under ``out``.

    Returns the PNG bytes by path (for the Parquet rows), every file's checksum by path, and the
    x264 version the mp4 carries (``None`` without a video).
    """
    frames, files = {}, {}
    for step, image in images.items():
        path = image_path(task, episode, step)
        data = frames[path] = encode_png(image, level)
        (out / path).write_bytes(data)
        files[path] = checksum_of(data)
    x264 = None
    if video is not None:
        path = video_path(task, episode)
        data = write_mp4(out / path, video)
        files[path], x264 = checksum_of(data), x264_version(data)
    return frames, files, x264


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: int = VIDEO_FPS) -> bytes:
    """Encode RGB frames as mp4 into ``path``; returns the bytes written."""
    data = encode_mp4(frames, fps)
    Path(path).write_bytes(data)
    return data
