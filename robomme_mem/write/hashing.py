"""Files hashed as they are written, so a manifest can list every file's checksum without reading it back."""

from __future__ import annotations

from pathlib import Path

import xxhash

from ..checksum import SOURCE_CHECKSUM


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
