"""Label sets: one labeller's answers over one source, named, exportable, reusable.

A label set records where every answer is used (task, episode, style, boundary or call
frame, request key) and the labeller's provenance; the answers and canonical requests live
in the label store (:class:`~.cache.LabelCache`) under their keys. Because every request is
a pure function of the source and the labeller's settings, a build reads a label set by
re-deriving each request and looking its key up (:func:`resolve`): nothing is sent, and a
label set that does not match the source (other images, other subgoals) is an error naming
the episode, not silently wrong rows.

Exported as Parquet or JSONL by :mod:`.files`, one row per use: request, answer, usage.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ... import __version__
from ...prompts import (
    LABEL_ACTION_SYSTEM_GROUNDED,
    LABEL_ACTION_SYSTEM_SIMPLE,
    LABEL_ACTION_USER,
    LABEL_REASK,
    LABEL_SPATIAL_SYSTEM,
    LABEL_SPATIAL_USER,
)
from ..cachedir import cache_root
from ..plan import PlannedEpisode, plan_source, source_records
from ..spec import BuildSpec, load_spec
from .cache import ENTRY_FIELDS, Answer, LabelCache
from .engine import EpisodeLabels, FrameSource, label_works
from .requests import STYLES, LabelParams, LabelRequest
from .rules import RulesLabeller
from .session import LabelSession, Pending, Stats

LABEL_SET_FORMAT = "robomme-mem-labels/1"
STORE_ENV = "ROBOMME_MEM_LABELS"
LABEL_TEMPLATES = (LABEL_ACTION_SYSTEM_SIMPLE, LABEL_ACTION_SYSTEM_GROUNDED, LABEL_ACTION_USER, LABEL_SPATIAL_SYSTEM, LABEL_SPATIAL_USER, LABEL_REASK)
ANSWER_FIELDS = tuple(Answer.__dataclass_fields__)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def default_store() -> Path:
    """``$ROBOMME_MEM_LABELS``, else ``labels.sqlite`` in the package cache folder."""
    return Path(os.environ[STORE_ENV]) if os.environ.get(STORE_ENV) else cache_root() / "labels.sqlite"


def default_name(params: LabelParams) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]+", "-", params.model).strip("-") or "labels"


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"label set name {name!r}: use letters, digits and . _ @ + - (no spaces or slashes)")
    return name


@dataclass
class LabelRun:
    """What one ``label`` run produced."""

    name: str
    episodes: list[EpisodeLabels]
    stats: Stats
    meta: dict | None
    """The saved label set's metadata (``None`` while requests are still pending)."""

    @property
    def problems(self) -> list[str]:
        return [p for e in self.episodes for p in e.problems]

    @property
    def pending(self) -> int:
        return sum(e.pending for e in self.episodes)


def label_source(
    files: Sequence[Path],
    labeller,
    *,
    store: LabelCache | None,
    name: str,
    spec: BuildSpec | None = None,
    max_episodes: int | None = None,
    styles: Sequence[str] = STYLES,
    spatial: bool = True,
    concurrency: int = 16,
    retry_failed: bool = False,
    replace: bool = False,
    progress: bool = True,
) -> LabelRun:
    """Label the episodes of ``files`` with ``labeller`` through ``store``; save the set once nothing is pending.

    The library's one labelling entry point (``robomme-mem label`` is this function): episodes
    are planned with ``spec``'s strides (default: the package's spec), as ``build`` plans them,
    so the set holds exactly the call frames a build with that spec asks for.
    """
    check_name(name)
    if store is not None and not replace:
        check_replacement(store, name, labeller)
    spec = spec or load_spec()
    works = plan_source(files, max_episodes, spec.stride_for)
    session = LabelSession(labeller, store, concurrency=concurrency, retry_failed=retry_failed)

    async def go() -> list[EpisodeLabels]:
        try:
            return await label_works(works, session, styles=styles, spatial=spatial, image_size=labeller.params.image_size, progress=progress)
        finally:
            await labeller.aclose()

    episodes = asyncio.run(go())
    meta = None
    if store is not None and not any(e.pending for e in episodes):
        entries = [row for e in episodes for row in e.entries()]
        meta = set_meta(name, labeller, styles, spatial, files, episodes, spec)
        store.save_set(name, meta, entries)
    return LabelRun(name, episodes, session.stats, meta)


def check_replacement(store: LabelCache, name: str, labeller) -> None:
    """Refuse to replace a set of this name made with another model or parameters (``replace`` allows it).

    A rerun with the same model and parameters resumes or refreshes its own set (online or
    through the Batch API alike); a set of another model is work someone paid for, and a name
    typed twice must not throw it away.
    """
    if name not in store.set_names():
        return
    old = store.set_meta(name)
    new = {"labeller": labeller.describe()["labeller"], "params": labeller.params.to_dict()}
    if old.get("params") == new["params"]:
        return
    differs = sorted(k for k in {*old.get("params", {}), *new["params"]} if old.get("params", {}).get(k) != new["params"].get(k))
    raise ValueError(
        f"{store.path}: label set {name!r} holds labels of {old.get('labeller')} ({old.get('params', {}).get('model')}), "
        f"not of this run's {new['labeller']} ({new['params'].get('model')})"
        + (f"; they differ in {', '.join(differs)}" if differs else "")
        + ": pass --replace to replace it, or choose another --name"
    )


def content_id(episodes: Sequence[EpisodeLabels]) -> str:
    """sha256 over every answer in its place: equal ids, equal labels."""
    return placed_id((row, entry.answer.status, entry.answer.text) for episode in episodes for row, entry in episode.placed())


def placed_id(placed) -> str:
    """:func:`content_id` of (entry row, answer status, answer text) triples, in order."""
    digest = hashlib.sha256()
    for row, status, text in placed:
        digest.update(json.dumps([row[f] for f in ENTRY_FIELDS] + [status, text]).encode())
    return digest.hexdigest()


def set_meta(name: str, labeller, styles: Sequence[str], spatial: bool, sources: Sequence[Path], episodes: Sequence[EpisodeLabels], spec: BuildSpec) -> dict:
    """Provenance and content id of a label set (deterministic: no run statistics or times)."""
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    failed = entries = 0
    seen: set[str] = set()
    for episode in episodes:
        for row, entry in episode.placed():
            answer = entry.answer
            entries += 1
            if row["key"] not in seen:
                seen.add(row["key"])
                usage["prompt_tokens"] += answer.prompt_tokens or 0
                usage["completion_tokens"] += answer.completion_tokens or 0
                failed += not answer.ok
    described = labeller.describe()
    return {
        "format": LABEL_SET_FORMAT,
        "name": name,
        "id": content_id(episodes),
        "package": {"name": "robomme-mem", "version": __version__},
        "labeller": described["labeller"],
        "params": labeller.params.to_dict(),
        "styles": list(styles),
        "spatial": spatial,
        "prompt_templates": {f"{t.id}@{t.version}": t.sha256 for t in LABEL_TEMPLATES},
        "spec": {**spec.recorded(), "stride": spec.stride, "strides": dict(sorted(spec.strides.items()))},
        "sources": source_records(sources, [e.work for e in episodes]),
        "counts": {"entries": entries, "requests": len(seen), "failed": failed},
        "usage": usage,
    }


# -- reading a label set back -------------------------------------------------------------


class LookupLabeller:
    """Answers nothing: every request must already be in the label set."""

    name = "label-set"

    def __init__(self, params: LabelParams) -> None:
        self.params = params

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        raise Pending(key, request)

    async def aclose(self) -> None:
        return None


def params_of(meta: dict) -> LabelParams:
    return LabelParams(**meta["params"])


RULES = "rules"
"""A build's ``--labels rules``: the offline ``rules`` labeller answers during the build (no store)."""


@dataclass(frozen=True)
class BuildLabels:
    """Where a build's memory labels come from: ``rules`` (computed), or a label set in a store.

    Picklable and cheap: each worker labels the episodes it builds, from the frames it has
    already read, so no frame is read twice and labelling runs on every core.
    """

    name: str
    store: str | None = None

    def info(self) -> dict:
        """Provenance for the manifest and the traces (the id is added once every episode is in)."""
        if self.name == RULES:
            labeller = RulesLabeller()
            return {"name": RULES, "labeller": labeller.name, "params": labeller.params.to_dict()}
        with LabelCache(self.store) as store:
            meta = store.set_meta(self.name)
        return {k: meta[k] for k in ("name", "labeller", "params", "styles", "spatial", "prompt_templates", "counts")}

    def prepare(self) -> None:
        """Import what labelling needs now, before workers fork, so they share it."""
        if self.name == RULES:
            import scipy.ndimage  # noqa: F401  (the rules spatial detector)

    def label(self, planned: PlannedEpisode, frames: FrameSource | None = None) -> EpisodeLabels:
        """One episode's labels, sending nothing; raises naming the episode if a set lacks them."""
        if self.name == RULES:
            session, styles, spatial = LabelSession(RulesLabeller()), STYLES, True
        else:
            store = _opened_store(self.store, os.getpid())
            meta = store.set_meta(self.name)
            allowed = _set_keys(self.store, self.name, meta["id"], os.getpid())
            session = LabelSession(LookupLabeller(params_of(meta)), store, concurrency=64, allowed=allowed)
            styles, spatial = meta["styles"], meta["spatial"]
        (labels,) = asyncio.run(
            label_works([planned], session, styles=styles, spatial=spatial, image_size=session.params.image_size, progress=False, frames=frames)
        )
        if labels.pending:
            raise ValueError(
                f"label set {self.name!r} has no answer for {planned.name} ({labels.pending} requests): "
                f"it was labelled from another source or with other settings; run `robomme-mem label` on this source"
            )
        return labels


@functools.lru_cache(maxsize=4)
def _opened_store(store: str, pid: int) -> LabelCache:
    """One open store per process (``pid``: a connection is never shared across a fork)."""
    return LabelCache(store)


@functools.lru_cache(maxsize=4)
def _set_keys(store: str, name: str, set_id: str, pid: int) -> frozenset[str]:
    """The keys of a label set, read once per process and per content (``set_id``: a set saved
    again under the same name is read again)."""
    return frozenset(e["key"] for e in _opened_store(store, pid).set_entries(name))


def resolve(works: Sequence[PlannedEpisode], store: LabelCache, name: str) -> list[EpisodeLabels]:
    """Every episode's labels from label set ``name`` in ``store``, sending nothing.

    Raises ``ValueError`` naming the first episode whose requests the set does not hold.
    """
    source = BuildLabels(name, str(store.path))
    return [source.label(work) for work in works]
