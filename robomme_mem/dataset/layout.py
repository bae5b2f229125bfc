"""On-disk layout of a build: one folder that is exactly a Hub dataset repo.

Path patterns live here as constants so writers, readers and tests agree on them.
"""

from __future__ import annotations

from ..mp4 import VIDEO_FPS  # noqa: F401  (the frame rate of the demonstration mp4, as the reference writes it)

DEFAULT_OUT = "robomme-mem"
"""Where ``robomme-mem build`` writes when no ``--out`` is given."""

MANIFEST = "manifest.json"
SWIFT_IMAGES_DIR = "swift/images"
SWIFT_JSONL = "swift/{config}/{split}.jsonl"
IMAGE_NAME = "{task}_ep{episode}_step{step}.png"
VIDEO_NAME = "{task}_ep{episode}_video.mp4"

CARD = "README.md"
PARQUET_DIR = "data/{config}"
TRACES_DIR = "traces"
"""The ``traces`` config's shards (DESIGN section 5: beside ``data/``, not inside it)."""

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT)
"""The splits every build writes (validation may be empty)."""
FAILURES_SPLIT = "failures"
"""Episodes with a failed grasp injected while recording, held out by the spec's
``splits.hold_out_failures``; written only where a build has some."""
EVERY_SPLIT = (*SPLITS, FAILURES_SPLIT)

MAX_SHARD_BYTES = 500 * 1000 * 1000
"""A Parquet shard is closed once it passes this size (under the Hub's recommended size)."""


def image_path(task: str, episode: int, step: int) -> str:
    """Path of a call frame's PNG, relative to the build folder."""
    return f"{SWIFT_IMAGES_DIR}/{IMAGE_NAME.format(task=task, episode=episode, step=step)}"


def video_path(task: str, episode: int) -> str:
    """Path of an episode's video-demonstration mp4, relative to the build folder."""
    return f"{SWIFT_IMAGES_DIR}/{VIDEO_NAME.format(task=task, episode=episode)}"


def swift_jsonl(config: str, split: str = TRAIN_SPLIT) -> str:
    return SWIFT_JSONL.format(config=config, split=split)


def parquet_dir(config: str) -> str:
    """Folder of a config's Parquet shards, relative to the build folder."""
    return TRACES_DIR if config == "traces" else PARQUET_DIR.format(config=config)
