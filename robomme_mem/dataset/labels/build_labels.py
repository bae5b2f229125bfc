"""Where a build's memory labels come from: the ``rules`` labeller computed in the worker, or a
label set read back from the store by re-deriving each request and looking its key up.

Nothing is sent: a label set that does not match the source (other images, other subgoals) is
an error naming the episode, not silently wrong rows.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from ..plan import PlannedEpisode
from .engine.defaults import RULES, TRUTH
from .engine.episodes import EpisodeLabels, Frames, FrameSource, label_now
from .engine.requests import LabelParams, LabelRequest
from .engine.session import Pending
from .labellers.rules import RulesLabeller
from .store.cache import Answer, LabelCache
from .store.sets import default_store


@dataclass(frozen=True)
class StoredAnswers:
    """A label set's answers, read once per worker (:meth:`BuildLabels.label`): sends nothing, and a
    request whose key the set does not hold is :class:`~.engine.session.Pending`."""

    params: LabelParams
    answers: dict[str, Answer]
    styles: tuple[str, ...]
    spatial: bool
    located: bool = False
    """Whether the set's labeller answered action requests from their place (``truth``), so
    its keys carry that place too."""
    name: ClassVar[str] = "label-set"

    def answer_now(self, request: LabelRequest) -> Answer:
        key = request.key(self.params)
        found = self.answers.get(key)
        if found is None:
            raise Pending(key, request)
        return found


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
    set_id: str | None = None
    """The set's content id when the build began (:meth:`pinned`): every worker reads exactly that set."""

    @classmethod
    def named(cls, name: str, store: str | Path | None = None) -> BuildLabels:
        """``rules`` (computed, no store), or label set ``name`` of ``store`` (default: the user's label
        store) pinned to its content now, so every worker reads that set once."""
        if name == RULES:
            return cls(RULES)
        return cls(name, str(store or default_store())).pinned()

    def pinned(self) -> BuildLabels:
        """This label set with its current content id (``rules`` has none)."""
        if self.name == RULES or self.set_id:
            return self
        with LabelCache(self.store) as store:
            return replace(self, set_id=store.set_meta(self.name)["id"])

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
        labeller = (
            RulesLabeller()
            if self.name == RULES
            else _stored_answers(self.store, self.name, self.pinned().set_id, os.getpid())
        )
        reader = Frames() if frames is None else None
        try:
            if self.name == RULES:
                return label_now(planned, labeller, frames or reader)
            labels = label_now(planned, labeller, frames or reader, styles=labeller.styles, spatial=labeller.spatial)
        finally:
            if reader is not None:
                reader.close()
        if labels.pending:
            raise ValueError(
                f"label set {self.name!r} has no answer for {planned.name} ({labels.pending} requests): "
                f"it was labelled from another source or with other settings; run `robomme-mem label` on this source"
            )
        return labels


@functools.lru_cache(maxsize=4)
def _stored_answers(store: str, name: str, set_id: str, pid: int) -> StoredAnswers:
    """Label set ``name``'s answers, read once per process and per content (``set_id``: a set saved
    again under its name is read again; ``pid``: a forked worker opens the store itself)."""
    with LabelCache(store) as opened:
        meta = opened.set_meta(name)
        if meta["id"] != set_id:
            raise ValueError(f"label set {name!r} in {store} changed during the build (relabelled?): build again")
        answers = opened.set_answers(name)
    located = meta.get("located", meta.get("labeller") in LOCATED_LABELLERS)
    return StoredAnswers(params_of(meta), answers, tuple(meta["styles"]), meta["spatial"], located)


def resolve(works: Sequence[PlannedEpisode], store: LabelCache, name: str) -> list[EpisodeLabels]:
    """Every episode's labels from label set ``name`` in ``store``, sending nothing.

    Raises ``ValueError`` naming the first episode whose requests the set does not hold.
    """
    source = BuildLabels(name, str(store.path)).pinned()
    return [source.label(work) for work in works]
