"""Label sets: one labeller's answers over one source, named, exportable, reusable.

A label set records where every answer is used (task, episode, style, boundary or call
frame, request key) and the labeller's provenance; the answers and canonical requests live
in the label store (:class:`~.cache.LabelCache`) under their keys. Made by
:mod:`.labelling`, read back by a build through :mod:`.lookup`, exported and imported by
:mod:`.transfer` (one row per use: request, answer, usage).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
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
from ..plan import source_records
from ..spec import BuildSpec
from .cache import ENTRY_FIELDS, Answer
from .engine import EpisodeLabels
from .requests import LabelParams

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
        "located": bool(getattr(labeller, "located", False)),
        "params": labeller.params.to_dict(),
        "styles": list(styles),
        "spatial": spatial,
        "prompt_templates": {f"{t.id}@{t.version}": t.sha256 for t in LABEL_TEMPLATES},
        "spec": {**spec.recorded(), "stride": spec.stride, "strides": dict(sorted(spec.strides.items()))},
        "sources": source_records(sources, [e.work for e in episodes]),
        "counts": {"entries": entries, "requests": len(seen), "failed": failed},
        "usage": usage,
    }


