"""Parquet shards with ``datasets`` features, written incrementally.

Rows arrive an episode at a time and are buffered up to :data:`ROW_GROUP_ROWS` rows (100,
as ``datasets`` writes image datasets, so the Hub's viewer and streaming read small groups) or
:data:`ROW_GROUP_BYTES`, then written as one row group; a shard is closed once it passes
``max_shard_bytes`` (default 500 MB, under the Hub's recommended size) and the next one opens.
Memory stays flat however many episodes there are. Image bytes are stored as they are (PNG
is already deflated), without dictionary or statistics, which would hash and compare every
frame for nothing; everything else is zstd-compressed. Shards are renamed ``<split>-NNNNN-of-MMMMM.parquet`` at the end, when their count
is known. The schema carries the features in its ``huggingface`` metadata, so ``datasets``
decodes images and nested columns without being told.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..checksum import SOURCE_CHECKSUM, HashingFile
from ..layout import MAX_SHARD_BYTES

ROW_GROUP_ROWS = 100
ROW_GROUP_BYTES = 16 * 1024 * 1024
COMPRESSION = "zstd"
IMAGE_BYTES = ("images.list.element.bytes", "image.bytes")
"""Leaves holding PNG bytes (the row configs' ``images``, the ``scene`` config's ``image``): stored as they are."""


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


class ShardWriter:
    """Appends rows of one (config, split) to Parquet shards under ``folder``."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
        self.folder, self.split, self.schema = folder, split, schema
        self.max_shard_bytes = max_shard_bytes
        self.rows = 0
        self._buffer: list[dict] = []
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink: HashingFile | None = None
        self._parts: list[Path] = []
        self._digests: list[tuple[str, int]] = []
        self.checksums: dict[str, dict] = {}
        """Per final shard path: its xxh3-128 and size, hashed as it was written."""

    def add(self, row: dict, size_hint: int = 0) -> None:
        """Queue one row; ``size_hint`` (its image bytes, say) decides when a row group is due."""
        self._buffer.append(row)
        self._buffered_bytes += size_hint + 512
        self.rows += 1
        if len(self._buffer) >= ROW_GROUP_ROWS or self._buffered_bytes >= ROW_GROUP_BYTES:
            self._flush()

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def flush(self) -> None:
        """Write the buffered rows as a row group now (the caller's memory budget asks for it)."""
        self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            part = self.folder / f".{self.split}-part{len(self._parts):05d}.parquet"
            self._parts.append(part)
            text = [p for p in _leaf_paths(self.schema) if not p.endswith(IMAGE_BYTES)]
            self._sink = HashingFile(part)
            self._writer = pq.ParquetWriter(
                self._sink,
                self.schema,
                compression={p: COMPRESSION if p in text else "none" for p in _leaf_paths(self.schema)},
                use_dictionary=text,  # hashing 100 KB PNGs for a dictionary that never pays
                write_statistics=text,  # nor min/max statistics of image bytes
            )
        self._writer.write_table(table)
        self._buffer, self._buffered_bytes = [], 0
        if self._sink.size >= self.max_shard_bytes:
            self._close_part()

    def _close_part(self) -> None:
        self._writer.close()
        self._sink.close()
        self._digests.append((self._sink.digest.hexdigest(), self._sink.size))
        self._writer = self._sink = None

    def close(self) -> list[Path]:
        """Write what is left and give the shards their final names (an empty split has none:
        ``datasets`` cannot read a Parquet file without rows, so the card leaves the split out)."""
        self._flush()
        if self._writer is not None:
            self._close_part()
        final = []
        for index, (part, (digest, size)) in enumerate(zip(self._parts, self._digests)):
            target = self.folder / shard_name(self.split, index, len(self._parts))
            part.rename(target)
            final.append(target)
            self.checksums[target] = {SOURCE_CHECKSUM: digest, "bytes": size}
        return final


def _leaf_paths(schema: pa.Schema) -> list[str]:
    """Parquet's dotted paths of every leaf column (``images.list.element.bytes``)."""

    def walk(name: str, kind: pa.DataType) -> list[str]:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return walk(f"{name}.list.element", kind.value_type)
        if pa.types.is_struct(kind):
            return [p for i in range(kind.num_fields) for p in walk(f"{name}.{kind.field(i).name}", kind.field(i).type)]
        return [name]

    return [p for f in schema for p in walk(f.name, f.type)]
