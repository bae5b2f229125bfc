"""Labelling a source into a named label set: the library's one labelling entry point.

Episodes are planned with the build spec's strides, as ``build`` plans them, so the set holds
exactly the call frames a build with that spec asks for; answers go through the store, and
the set is saved once nothing is pending (a Batch API round leaves requests pending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..plan import plan_source
from ..spec import BuildSpec, load_spec
from .cache import LabelCache
from .engine import EpisodeLabels, label_works
from ...subgoals import STYLES
from .session import LabelSession, Stats
from .sets import check_name, set_meta


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

    ``robomme-mem label`` is this function; ``spec`` defaults to the package's.
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
