"""On-disk layout of a LeRobot v3.0 dataset, as LeRobot 0.6 names it (``lerobot/datasets/utils.py``).

``export lerobot`` writes these paths and the LeRobot source reads them, so both follow
LeRobot's names; a reader still takes the data and video paths from ``meta/info.json``
(``data_path``, ``video_path``), where a copy records its own.
"""

from __future__ import annotations

DEFAULT_CHUNK_SIZE = 1000
"""Files per chunk folder (``chunks_size`` in info.json)."""
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
"""A data file is closed once its rows pass this size."""
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200
"""An mp4 is closed once it passes this size."""

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEO_DIR = "videos"
PROVENANCE_PATH = "meta/robomme_mem.json"
"""Ours, not LeRobot's: what made the export (beside info.json, whose unknown fields LeRobot warns about)."""

CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
CHUNK_FILE_GLOB = "chunk-*/file-*"
"""Every file of :data:`CHUNK_FILE_PATTERN` (add the suffix)."""
DEFAULT_EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_DATA_PATH = DATA_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_VIDEO_PATH = VIDEO_DIR + "/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
