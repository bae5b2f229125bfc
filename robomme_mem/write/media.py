"""Frames and video demonstrations written to files, deterministically.

The mp4 is encoded single-threaded: x264 output depends on its thread count, and builds must
be byte-identical on any machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from ..layout import PNG_COMPRESS_LEVEL, VIDEO_FPS
from ..png import encode_png


def write_png(path: str | Path, image: np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL) -> None:
    Path(path).write_bytes(encode_png(image, compress_level))


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: int = VIDEO_FPS) -> int:
    """Encode RGB frames as H.264 (yuv420p) mp4; returns the number of frames written."""
    count = 0
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.thread_count = 1
                stream.options = {"crf": "18", "preset": "veryfast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count
