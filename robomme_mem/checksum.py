"""Checksums recorded in manifests and label sets: of output files, and of what was read from sources."""

from __future__ import annotations

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
