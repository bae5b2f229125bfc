"""A build's labels: the rules labeller computed in the worker, or a stored label set read once per worker."""

from __future__ import annotations

import asyncio

import pytest

from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.labels.build_labels import BuildLabels, resolve
from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import find_source_files


@pytest.fixture
def stored(sample_dir, tmp_path):
    """The sample's first two files labelled by ``rules`` into a store, as set ``r``."""
    files = find_source_files([sample_dir])[:2]
    store = tmp_path / "labels.sqlite"
    with LabelCache(store) as cache:
        run = label_source(files, RulesLabeller(), store=cache, name="r", progress=False)
    return files, store, run


def test_a_worker_reads_a_sets_answers_once_and_runs_no_event_loop(stored, tmp_path, monkeypatch):
    files, store, run = stored
    reads = []
    real = LabelCache.set_answers
    monkeypatch.setattr(LabelCache, "set_answers", lambda self, name: reads.append(name) or real(self, name))
    monkeypatch.setattr(asyncio, "run", lambda *a, **k: pytest.fail("a stored label set needs no event loop"))
    out = build(files, tmp_path / "out", BuildOptions(labels="r", label_store=str(store), workers=1), progress=False)
    assert reads == ["r"]  # one read for every episode of the build
    assert len(out.manifest["episodes"]) > 1
    assert out.manifest["labels"]["id"] == run.meta["id"]


def test_stored_answers_give_the_labels_the_labeller_gave(stored):
    files, store, run = stored
    with LabelCache(store) as cache:
        again = resolve(plan_source(files), cache, "r")
    assert [e.placed() for e in again] == [e.placed() for e in run.episodes]


def test_a_set_relabelled_during_a_build_is_refused(stored):
    files, store, _ = stored
    pinned = BuildLabels("r", str(store)).pinned()
    with LabelCache(store) as cache:
        label_source(files[:1], RulesLabeller(), store=cache, name="r", progress=False, replace=True)
    with pytest.raises(ValueError, match="changed during the build"):
        pinned.label(plan_source(files[:1])[0])
