"""The tests leave the user's caches alone: everything they cache goes to one temporary folder."""

from __future__ import annotations

from pathlib import Path

from .conftest import TEST_CACHES
from .helpers.user_caches import changes, snapshot, user_cache_dirs


def test_the_libraries_cache_into_the_session_folder():
    import datasets.config
    import huggingface_hub.constants

    from robomme_mem.dataset.cachedir import cache_root
    from robomme_mem.dataset.labels.store.sets import default_store

    for path in (
        datasets.config.HF_DATASETS_CACHE,
        huggingface_hub.constants.HF_HUB_CACHE,
        cache_root(),
        default_store(),
    ):
        assert Path(path).resolve().is_relative_to(TEST_CACHES.resolve()), path


def test_a_file_written_into_a_cache_is_caught(tmp_path):
    home = {"XDG_CACHE_HOME": str(tmp_path)}
    (tmp_path / "robomme-mem" / "sim-venv").mkdir(parents=True)
    dirs = user_cache_dirs(home)
    before = snapshot(dirs)
    (tmp_path / "robomme-mem" / "sim-venv" / "python").write_text("an environment, not a cache")
    assert changes(before, snapshot(dirs)) == []
    (tmp_path / "huggingface" / "datasets").mkdir(parents=True)
    (tmp_path / "huggingface" / "datasets" / "out_scene.lock").touch()
    assert changes(before, snapshot(dirs)) == [f"added {tmp_path / 'huggingface' / 'datasets' / 'out_scene.lock'}"]
