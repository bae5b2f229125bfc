"""Shared fixtures: synthetic RoboMME sources made by the package's own generator, and the real files."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import pytest

from robomme_mem.dataset.sample import sample_source
from .helpers.scripted import write_scripted_episode

REAL_DATA = Path(os.environ.get("ROBOMME_MEM_REAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data" / "robomme-real")
"""Real RoboMME files: ``$ROBOMME_MEM_REAL_DATA``, or the developers' copy beside the checkout (not in the repo)."""


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory) -> Path:
    """A cache folder holding the embedded sample, generated once per test session."""
    cache = tmp_path_factory.mktemp("cache")
    sample_source(cache)
    return cache


@pytest.fixture(scope="session")
def sample_dir(sample_cache) -> Path:
    return sample_source(sample_cache)


@pytest.fixture
def scripted_file(tmp_path):
    """Factory: ``scripted_file(task, simple=[...], ...)`` writes record_dataset_<task>.h5 with one episode."""

    def make(task: str, *, episode: int = 0, folder: Path | None = None, **steps) -> Path:
        folder = folder or tmp_path / "src"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"record_dataset_{task}.h5"
        with h5py.File(path, "a") as h5:
            write_scripted_episode(h5, episode, **steps)
        return path

    return make


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL_DATA.is_dir() or not any(REAL_DATA.glob("record_dataset_*.h5")):
        pytest.skip(f"real RoboMME demonstrations not found at {REAL_DATA} (set $ROBOMME_MEM_REAL_DATA to a folder of record_dataset_<Task>.h5 files)")
    return REAL_DATA


@pytest.fixture(scope="session")
def simulator():
    """Stock ManiSkill in its own environment (:mod:`tests.helpers.sim`): skip or fail as it says."""
    from .helpers.sim import check_simulator

    check_simulator()
