"""Checksums recorded in manifests and label sets: of sources, of what was read from them, and of
every file written (hashed as it is written, so a manifest never reads a file back)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import xxhash

SOURCE_CHECKSUM = "xxh3_128"
"""Checksum of source files in the manifest: xxh3-128 hashes at ~25 GB/s (sha256 at ~1.7 GB/s
would add a third to the build time of raw-image RoboMME files)."""


READ_DIGEST = f"read_{SOURCE_CHECKSUM}"
"""Manifest key of a source file's digest of what the build read from it (not of its every byte)."""
READ_DIGEST_COVERS = (
    "per episode, in order: task goal, seed, step count, execution start, every step's simple subgoal, "
    "the grounded subgoals the rows use, and the raw pixels of every frame written (call frames and video demos)"
)
PLAN_DIGEST = f"plan_{SOURCE_CHECKSUM}"
"""Label sets' key: the same digest without the frames (a spatial answer's key already covers its frame)."""


def image_sha256(image) -> str:
    """An image's identity: sha256 of its shape and RGB bytes (a label request's key covers it;
    the scene truth keys its call frames by it, so a labeller can find the frame it is shown)."""
    import numpy as np

    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{image.shape}".encode())
    digest.update(memoryview(image).cast("B"))
    return digest.hexdigest()


def file_checksum(path: str | Path) -> tuple[str, int]:
    """(xxh3-128 hex digest, size in bytes) of a file, read into one reused 8 MiB buffer."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(8 << 20)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def checksum_of(data: bytes) -> dict:
    """The manifest's record of a file's bytes: xxh3-128 and size."""
    return {SOURCE_CHECKSUM: xxhash.xxh3_128_hexdigest(data), "bytes": len(data)}


class HashingFile:
    """A file that hashes what is written to it: a shard's checksum without reading it back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = open(path, "wb")  # noqa: SIM115  (closed by close())
        self.digest = xxhash.xxh3_128()
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._file.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.closed = True

    @property
    def record(self) -> dict:
        return {SOURCE_CHECKSUM: self.digest.hexdigest(), "bytes": self.size}
