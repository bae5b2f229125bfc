"""Labelling a source into a named label set: the library's one labelling entry point.

Episodes are planned with the build spec's strides, as ``build`` plans them, so the set holds
exactly the call frames a build with that spec asks for; answers go through the store, and
the set is saved once nothing is pending (a Batch API round leaves requests pending).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ... import __version__
from ...subgoals import STYLES
from ..plan import plan_source, source_records
from ..spec import BuildSpec, load_spec
from .engine.episodes import EpisodeLabels, label_works
from .engine.requests import LabelParams
from .engine.session import LabelSession, Stats
from .store.cache import LabelCache
from .store.sets import (
    LABEL_SET_FORMAT,
    LABEL_TEMPLATES,
    check_name,
    describe_sources,
    free_name,
    placed_id,
    run_scope,
    scope_differences,
    who,
)


def default_name(params: LabelParams) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]+", "-", params.model).strip("-") or "labels"


def content_id(episodes: Sequence[EpisodeLabels]) -> str:
    """sha256 over every answer in its place: equal ids, equal labels."""
    return placed_id(
        (row, entry.answer.status, entry.answer.text) for episode in episodes for row, entry in episode.placed()
    )


def set_meta(
    name: str,
    labeller,
    styles: Sequence[str],
    spatial: bool,
    sources: Sequence[Path],
    episodes: Sequence[EpisodeLabels],
    spec: BuildSpec,
) -> dict:
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
    scope = run_scope(labeller, styles, spatial, source_records(sources, [e.work for e in episodes]), spec)
    return {
        "format": LABEL_SET_FORMAT,
        "name": name,
        "id": content_id(episodes),
        "package": {"name": "robomme-mem", "version": __version__},
        "labeller": scope["labeller"],
        "located": bool(getattr(labeller, "located", False)),
        "params": scope["params"],
        "styles": scope["styles"],
        "spatial": scope["spatial"],
        "prompt_templates": {f"{t.id}@{t.version}": t.sha256 for t in LABEL_TEMPLATES},
        "spec": {**spec.recorded(), **scope["spec"]},
        "sources": scope["sources"],
        "counts": {"entries": entries, "requests": len(seen), "failed": failed},
        "usage": usage,
    }


@dataclass
class LabelRun:
    """What one ``label`` run produced."""

    name: str
    episodes: list[EpisodeLabels]
    stats: Stats
    meta: dict | None
    """The saved label set's metadata (``None`` while requests are still pending)."""
    replaced: dict | None = None
    """Metadata of the set of this name that ``replace`` overwrote (``None``: there was none)."""

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

    ``robomme-mem label`` is this function; ``spec`` defaults to the package's. A set already
    saved under ``name`` is resumed only when this run has its scope (:func:`check_replacement`);
    otherwise the run is refused before anything is asked, unless ``replace`` (then
    :attr:`LabelRun.replaced` holds the metadata of the set it replaced).
    """
    check_name(name)
    spec = spec or load_spec()
    works = plan_source(files, max_episodes, spec.stride_for)
    if store is not None and not replace and name in store.set_names():
        check_replacement(
            store, name, labeller, run_scope(labeller, styles, spatial, source_records(files, works), spec)
        )
    session = LabelSession(labeller, store, concurrency=concurrency, retry_failed=retry_failed)

    async def go() -> list[EpisodeLabels]:
        try:
            return await label_works(
                works, session, styles=styles, spatial=spatial, image_size=labeller.params.image_size, progress=progress
            )
        finally:
            await labeller.aclose()

    episodes = asyncio.run(go())
    meta = replaced = None
    if store is not None and not any(e.pending for e in episodes):
        entries = [row for e in episodes for row in e.entries()]
        meta = set_meta(name, labeller, styles, spatial, files, episodes, spec)
        if replace:
            replaced = store.set_meta(name) if name in store.set_names() else None
        else:  # another process may have saved a set of this name while this run labelled
            check_replacement(store, name, labeller, meta)
        store.save_set(name, meta, entries)
    return LabelRun(name, episodes, session.stats, meta, replaced)


def check_replacement(store: LabelCache, name: str, labeller, scope: dict | None = None) -> None:
    """Refuse to save over a set of this name that holds other answers (``replace`` allows it).

    ``scope`` is the run's :func:`~.sets.run_scope` (without it only the labeller and its
    parameters are compared). A rerun of the same scope (same labeller and parameters,
    online or through the Batch API alike, same source selection, styles, spatial memories
    and strides) resumes or refreshes its own set. Anything else is refused naming what
    differs, as one line: a set is work someone may have paid for, and a name typed twice (or
    a default name such as ``rules-v4`` used for two sources) must not throw it away.

    A subset or a superset of the stored selection counts as another selection: the same
    files with other episodes (``--max-episodes``), other files (``--tasks``, another folder),
    files of the same names with other content. A narrower run would drop answers a build
    from the set relies on; a wider one would change what the name means (and its id) under
    whoever uses it. Either is refused unless ``--replace``; ``--name`` keeps both.
    """
    if name not in store.set_names():
        return
    old = store.set_meta(name)
    new = (
        scope
        if scope is not None
        else {"labeller": labeller.describe()["labeller"], "params": labeller.params.to_dict()}
    )
    differs = scope_differences(old, new)
    if not differs:
        return
    same_sources = bool(old.get("sources")) and not any(d.startswith("sources (") for d in differs)
    selection = (
        "its sources"
        if not new.get("sources")
        else "the same sources"
        if same_sources
        else describe_sources(new["sources"])
    )
    raise ValueError(
        f"{store.path}: label set {name!r} holds {who(old)} answers for {describe_sources(old.get('sources'))}; "
        f"this run labels {selection} with {who(new)}; they differ in {'; '.join(differs)}: "
        f"pass --name {free_name(store.set_names(), name)} (or another free name) to keep both, or --replace to replace it"
    )
