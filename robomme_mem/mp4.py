"""Frames as H.264 mp4 bytes, deterministically: the one encoder of a video task's demonstration,
for the builder's rows and the policy runtime's first call alike (so the model sees at rollout
the video it was trained on).

Encoded single-threaded: x264 output depends on its thread count, and builds must be
byte-identical on any machine.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

VIDEO_FPS = 30
"""Frame rate of the video-demonstration mp4, as RoboMME's reference builder writes it."""


def encode_mp4(frames: Iterable[np.ndarray], fps: int = VIDEO_FPS) -> bytes:
    """RGB frames as H.264 (yuv420p) mp4 bytes, so the caller can hash what it writes without reading it back."""
    import av  # PyAV loads FFmpeg's libraries: only where a video is encoded
    import numpy as np  # here, not at import: the command line reads VIDEO_FPS through the layout and answers --help without numpy

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
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame, dtype=np.uint8), format="rgb24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return buffer.getvalue()
