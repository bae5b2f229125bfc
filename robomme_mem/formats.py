"""Every format this project writes, with its current version: the one table to read before changing one.

A version is bumped when a reader of the old bytes must change; the value is what the bytes
carry, so it never changes otherwise. Each owner imports its constant from here. Under each, what
carries it and what happens to one of another version.

The rollout results file (:mod:`robomme_mem.closed_loop.results`) carries no version: its
readers check each line's fields and refuse a line without them, naming the file and line.
"""

from __future__ import annotations

BUILD_FORMAT = "robomme-mem/2"
"""A build folder: ``format`` in its ``manifest.json`` (:mod:`robomme_mem.dataset.write.manifest`).
Another is refused by every reader (``--dataset`` of train and evaluate, ``push``, a rebuild over
it) in one line: build again with this robomme-mem, or use the robomme-mem that wrote it."""

TRUTH_FORMAT = "robomme-mem-truth/2"
"""A scene truth file: ``format`` in its header line (:mod:`robomme_mem.dataset.truth.truth_file`).
Version 2 (2026-12-07): row ``k`` is the scene after the recorded action ``k``, as RoboMME's recorder
keeps ``timestep_<k>``; version 1's rows lagged one action behind. Another is refused: write the
truth again with ``robomme-mem truth`` (or ``record --truth``) into a new file."""

LABEL_SET_FORMAT = "robomme-mem-labels/1"
"""A label set: ``format`` of its record in the label store and of its exported file
(:mod:`robomme_mem.dataset.labels.store.sets`). An exported file of another is refused on import."""

LABEL_CACHE_SCHEMA = 1
"""The label store (SQLite): ``schema_version`` in its ``meta`` table (:mod:`robomme_mem.dataset.labels.store.cache`).
Another is refused: use a new store file (``$ROBOMME_MEM_LABELS``)."""

SPEC_FORMAT = "robomme-mem-spec/1"
"""A build spec (TOML): its ``format`` (:mod:`robomme_mem.dataset.spec`). Another is refused on loading."""

PROMPT_SET_VERSION = "1"
"""The prompt set as a whole (:mod:`robomme_mem.prompts`), bumped with any template's version: a
spec's ``prompts.version``, a manifest's spec and a rollout's results carry it. A spec naming
another is refused."""

SAMPLE_VERSION = "6"
"""The embedded sample (:mod:`robomme_mem.dataset.sample.embedded`): its cache folder is ``sample-v<version>``,
bumped whenever the generator's output changes. Another version's folder is never read: a new one is generated."""

RECORD_FORMAT = "robomme-mem-record/1"
"""A recording's ``record-manifest.jsonl``: ``format`` in its header line (:mod:`robomme_mem.dataset.record.run`).
Written for the record; the recorded HDF5 files are what later commands read."""

LEROBOT_CODEBASE_VERSION = "v3.0"
"""A LeRobot export: ``codebase_version`` in its ``meta/info.json`` (LeRobot's own format,
:mod:`robomme_mem.dataset.write.lerobot`). The LeRobot source reads v3.x and refuses older
ones, saying to convert them with LeRobot's v2.1 -> v3.0 script."""
