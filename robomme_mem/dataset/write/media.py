"""Frames and video demonstrations written to files, deterministically.

The mp4 is encoded single-threaded: x264 output depends on its thread count, and builds must
be byte-identical on any machine.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from ..layout import PNG_COMPRESS_LEVEL, VIDEO_FPS
from ...png import encode_png


def write_png(path: str | Path, image: np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL) -> None:
    Path(path).write_bytes(encode_png(image, compress_level))


def encode_mp4(frames: Iterable[np.ndarray], fps: int = VIDEO_FPS) -> bytes:
    """RGB frames as H.264 (yuv420p) mp4 bytes, so the caller can hash what it writes without reading it back."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
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
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return buffer.getvalue()


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: int = VIDEO_FPS) -> bytes:
    """Encode RGB frames as mp4 into ``path``; returns the bytes written."""
    data = encode_mp4(frames, fps)
    Path(path).write_bytes(data)
    return data
