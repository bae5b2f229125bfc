"""Shared fixtures: synthetic RoboMME sources made by the package's own generator, and the real files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .helpers import user_caches

# Before anything imports `datasets` or `huggingface_hub`: they read their cache paths at import time.
_USER_CACHES = user_caches.user_cache_dirs(os.environ)
_USER_CACHES_BEFORE = user_caches.snapshot(_USER_CACHES)
TEST_CACHES = user_caches.redirect(os.environ)
"""Where this session's Hugging Face caches, embedded sample and label store live (removed at the end)."""

import h5py  # noqa: E402
import pytest  # noqa: E402

from robomme_mem.dataset.sample.embedded import sample_source  # noqa: E402

from .helpers.scripted import write_scripted_episode  # noqa: E402

REAL_DATA = Path(
    os.environ.get("ROBOMME_MEM_REAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data" / "robomme-real"
)
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


@pytest.fixture
def planned_episode(scripted_file):
    """Factory: ``planned_episode(task, simple=[...], ...)``: a scripted episode, planned as a build plans it
    (no build: for testing assemble, labels and write on their own)."""
    from robomme_mem.dataset.plan import plan_source

    def make(task: str, **steps):
        (planned,) = plan_source([scripted_file(task, **steps)])
        return planned

    return make


@pytest.fixture
def episode_labels():
    """Factory: ``episode_labels(planned)``: the ``rules`` labels of a planned episode, as a build computes them."""
    from robomme_mem.dataset.labels.build_labels import BuildLabels
    from robomme_mem.dataset.labels.engine.defaults import RULES

    return BuildLabels(RULES).label


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL_DATA.is_dir() or not any(REAL_DATA.glob("record_dataset_*.h5")):
        pytest.skip(
            f"real RoboMME demonstrations not found at {REAL_DATA} (set $ROBOMME_MEM_REAL_DATA to a folder of record_dataset_<Task>.h5 files)"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def simulator():
    """Stock ManiSkill in its own environment (:mod:`tests.helpers.sim`): skip or fail as it says."""
    from .helpers.sim import check_simulator

    check_simulator()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test wrote into the user's own caches (they were redirected at import)."""
    shutil.rmtree(TEST_CACHES, ignore_errors=True)
    written = user_caches.changes(_USER_CACHES_BEFORE, user_caches.snapshot(_USER_CACHES))
    if written:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"the tests wrote into the user's caches ({len(written)} files):", *written[:20]]
        for line in lines:
            (reporter.write_line if reporter else print)(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
