"""Where a build's memory labels come from: the ``rules`` labeller computed in the worker, or a
label set read back from the store by re-deriving each request and looking its key up.

Nothing is sent: a label set that does not match the source (other images, other subgoals) is
an error naming the episode, not silently wrong rows.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..plan import PlannedEpisode
from .store.cache import Answer, LabelCache
from .engine.defaults import RULES, TRUTH
from .engine.episodes import EpisodeLabels, FrameSource, Frames, label_now, label_works
from .engine.requests import LabelParams, LabelRequest
from .labellers.rules import RulesLabeller
from .engine.session import LabelSession, Pending


class LookupLabeller:
    """Answers nothing: every request must already be in the label set."""

    name = "label-set"

    def __init__(self, params: LabelParams, located: bool = False) -> None:
        self.params = params
        self.located = located
        """Whether the set's labeller answered action requests from their place (``truth``), so
        its keys carry that place too."""

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        raise Pending(key, request)

    async def aclose(self) -> None:
        return None


def params_of(meta: dict) -> LabelParams:
    return LabelParams(**meta["params"])


LOCATED_LABELLERS = frozenset({TRUTH})
"""Labellers whose action requests carry their place (:attr:`.requests.LabelRequest.at`)."""

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
            if frames is not None:
                return label_now(planned, RulesLabeller(), frames)
            reader = Frames()
            try:
                return label_now(planned, RulesLabeller(), reader)
            finally:
                reader.close()
        store = _opened_store(self.store, os.getpid())
        meta = store.set_meta(self.name)
        allowed = _set_keys(self.store, self.name, meta["id"], os.getpid())
        session = LabelSession(LookupLabeller(params_of(meta), located=meta.get("located", meta.get("labeller") in LOCATED_LABELLERS)), store, concurrency=64, allowed=allowed)
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
