"""Per config and split, one ms-swift JSONL file and one Parquet shard writer, appended per episode.

Rows arrive episode by episode in source order, so the files are byte-identical whatever the
number of workers. One memory budget covers every Parquet buffer, so the build's memory stays
flat however many configs and splits it writes.
"""

from __future__ import annotations

from pathlib import Path

from ...configs import BASELINE_CONFIGS, ROW_CONFIGS, SCENE, TRACES
from ..assemble.rows import Row, table_row
from ..assemble.schema import arrow_schema
from ..checksum import HashingFile
from ..layout import SPLITS, parquet_dir, swift_jsonl
from .parquet import MAX_SHARD_BYTES, ShardWriter
from .swift import swift_line

BUFFER_BUDGET = 48 * 1024 * 1024
"""Rows waiting for their Parquet row group, all configs and splits together."""


class BuildWriters:
    """Use as a context manager; on a clean exit every shard is closed and named."""

    def __init__(self, root: Path, configs: tuple[str, ...], max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
        self.root, self.configs, self.max_shard_bytes = root, configs, max_shard_bytes
        self.counts = {c: {s: 0 for s in SPLITS} for c in configs}
        self.files: dict[str, dict[str, list[str]]] = {c: {} for c in configs}
        self.checksums: dict[str, dict] = {}
        """Per Parquet and JSONL file (relative path): xxh3-128 and size, hashed while it was written."""
        self._jsonl: dict[tuple[str, str], HashingFile] = {}
        self._parquet: dict[tuple[str, str], ShardWriter] = {}

    def __enter__(self) -> BuildWriters:
        for config in self.configs:
            for split in SPLITS:
                self._open(config, split)
        return self

    def _open(self, config: str, split: str) -> ShardWriter:
        """The Parquet writer of (config, split), opened with its JSONL on first use (train and
        validation at the start: every build has them; the held-out failures only if it has some)."""
        if (config, split) not in self._parquet:
            if config in ROW_CONFIGS:
                path = self.root / swift_jsonl(config, split)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._jsonl[(config, split)] = HashingFile(path)
            self._parquet[(config, split)] = ShardWriter(
                self.root / parquet_dir(config), split, arrow_schema(config), self.max_shard_bytes
            )
            self.counts[config].setdefault(split, 0)
        return self._parquet[(config, split)]

    def __exit__(self, exc_type, *exc) -> None:
        for handle in self._jsonl.values():
            handle.close()
        if exc_type is None:
            for (config, split), writer in self._parquet.items():
                self.files[config][split] = [str(p.relative_to(self.root)) for p in writer.close()]
                self.checksums.update({str(p.relative_to(self.root)): c for p, c in writer.checksums.items()})
            for (config, split), handle in self._jsonl.items():
                if not self.counts[config][split]:  # no empty JSONL: ms-swift refuses an empty dataset
                    handle.path.unlink()
                else:
                    self.checksums[str(handle.path.relative_to(self.root))] = handle.record

    def add_rows(
        self, task: str, episode: int, split: str, rows: dict[str, list[Row]], frames: dict[str, bytes]
    ) -> None:
        """Write one episode's rows of every config (``frames``: PNG bytes by path, embedded in Parquet)."""
        for config, config_rows in rows.items():
            writer = self._open(config, split)
            handle = self._jsonl[(config, split)]
            baseline = config in BASELINE_CONFIGS
            for row in config_rows:
                handle.write(swift_line(row[0]).encode("utf-8"))
                table = table_row(task, episode, row, frames, baseline)
                writer.add(table, size_hint=sum(len(i["bytes"]) for i in table["images"]))
            self.counts[config][split] += len(config_rows)
        self._keep_budget()

    def add_scene(self, split: str, rows: list[dict], frames: dict[str, bytes]) -> None:
        """Write one episode's ``scene`` rows, each with its call frame embedded (``frames``: PNG bytes by path)."""
        writer = self._open(SCENE, split)
        for row in rows:
            row = {**row, "image": {"bytes": frames[row["image"]], "path": Path(row["image"]).name}}
            writer.add(row, size_hint=len(row["image"]["bytes"]))
        self.counts[SCENE][split] += len(rows)
        self._keep_budget()

    def add_trace(self, split: str, trace: dict) -> None:
        if TRACES in self.configs:
            self._open(TRACES, split).add(trace)
            self.counts[TRACES][split] += 1

    def _keep_budget(self) -> None:
        """Flush the fullest buffers until all of them together hold under :data:`BUFFER_BUDGET` bytes.

        Each writer alone stays under its row-group size, but 11 configs x 2 splits of them
        would add up to hundreds of MB.
        """
        writers = sorted(self._parquet.values(), key=lambda w: w.buffered_bytes, reverse=True)
        total = sum(w.buffered_bytes for w in writers)
        for writer in writers:
            if total <= BUFFER_BUDGET:
                break
            total -= writer.buffered_bytes
            writer.flush()
