"""Label sets: one labeller's answers over one source, named, exportable, reusable.

A label set records where every answer is used (task, episode, style, boundary or call
frame, request key) and the labeller's provenance; the answers and canonical requests live
in the label store (:class:`~.cache.LabelCache`) under their keys. Made by
:mod:`..labelling`, read back by a build through :mod:`..build_labels`, exported and imported by
:mod:`.transfer` (one row per use: request, answer, usage).

A set's name is bound to its **scope** (:data:`SCOPE_KEYS`): the labeller and its parameters,
the source selection (per source file: name, task, episodes selected, plan checksum), the
styles, whether it has spatial memories, and the spec's strides. :func:`scope_differences`
names what differs between a stored set and a run; :mod:`..labelling` refuses to save over a
set of another scope unless told to replace it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ....formats import LABEL_SET_FORMAT  # noqa: F401  (a label set's format, read by labelling and transfer from here)
from ....prompts import (
    LABEL_ACTION_SYSTEM_GROUNDED,
    LABEL_ACTION_SYSTEM_SIMPLE,
    LABEL_ACTION_USER,
    LABEL_REASK,
    LABEL_SPATIAL_SYSTEM,
    LABEL_SPATIAL_USER,
)
from ...cachedir import cache_root
from ...checksum import PLAN_DIGEST
from ...spec import BuildSpec
from .cache import ENTRY_FIELDS, Answer

STORE_ENV = "ROBOMME_MEM_LABELS"
LABEL_TEMPLATES = (
    LABEL_ACTION_SYSTEM_SIMPLE,
    LABEL_ACTION_SYSTEM_GROUNDED,
    LABEL_ACTION_USER,
    LABEL_SPATIAL_SYSTEM,
    LABEL_SPATIAL_USER,
    LABEL_REASK,
)
ANSWER_FIELDS = tuple(Answer.__dataclass_fields__)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def default_store() -> Path:
    """``$ROBOMME_MEM_LABELS``, else ``labels.sqlite`` in the package cache folder."""
    return Path(os.environ[STORE_ENV]) if os.environ.get(STORE_ENV) else cache_root() / "labels.sqlite"


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"label set name {name!r}: use letters, digits and . _ @ + - (no spaces or slashes)")
    return name


def placed_id(placed) -> str:
    """:func:`..labelling.content_id` of (entry row, answer status, answer text) triples, in order."""
    digest = hashlib.sha256()
    for row, status, text in placed:
        digest.update(json.dumps([row[f] for f in ENTRY_FIELDS] + [status, text]).encode())
    return digest.hexdigest()


# -- scope: what a set's name is bound to -------------------------------------------------

SCOPE_KEYS = ("labeller", "params", "styles", "spatial", "sources", "spec")
"""Keys of a set's metadata that a rerun under its name must match to resume it."""


def run_scope(labeller, styles: Sequence[str], spatial: bool, sources: Sequence[dict], spec: BuildSpec) -> dict:
    """The :data:`SCOPE_KEYS` part of the metadata a run will save (``sources``: :func:`source_records`)."""
    return {
        "labeller": labeller.describe()["labeller"],
        "params": labeller.params.to_dict(),
        "styles": list(styles),
        "spatial": spatial,
        "sources": list(sources),
        "spec": {"stride": spec.stride, "strides": dict(sorted(spec.strides.items()))},
    }


def _family(labeller: str | None) -> str | None:
    """A labeller's name, the Batch API's route folded into its online one (a batch round resumes an online set)."""
    return labeller.removesuffix("-batch") if labeller else labeller


def who(meta: dict) -> str:
    """``openai (gpt-4o-mini)``: a set's or a run's labeller and model."""
    return f"{meta.get('labeller')} ({meta.get('params', {}).get('model')})"


def _names(files: Sequence[str], shown: int = 2) -> str:
    return ", ".join(files[:shown]) + (f" and {len(files) - shown} more" if len(files) > shown else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sources_checksum(records: Sequence[dict]) -> str:
    """12 hex digits over every source's name, episode count and plan checksum: equal selections, equal checksums."""
    rows = [[r.get("file"), r.get("episodes"), r.get(PLAN_DIGEST)] for r in records]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def describe_sources(records: Sequence[dict] | None) -> str:
    """``1 file (record_dataset_BinFill.h5), 8 episodes, checksum 0a1b2c3d4e5f``: a source selection in one phrase."""
    if not records:
        return "unrecorded sources"
    files = [r.get("file") or "?" for r in records]
    synthetic = " synthetic" if all(r.get("synthetic") for r in records) else ""
    episodes = sum(r.get("episodes") or 0 for r in records)
    return f"{len(files)}{synthetic} file{'' if len(files) == 1 else 's'} ({_names(files)}), {_plural(episodes, 'episode')}, checksum {sources_checksum(records)}"


def describe_set(meta: dict) -> str:
    """A stored set in one phrase: labeller, sources, request count, id prefix (what ``--replace`` reports)."""
    return (
        f"{who(meta)} answers for {describe_sources(meta.get('sources'))}, "
        f"{meta.get('counts', {}).get('requests', '?')} requests, id {str(meta.get('id'))[:12]}"
    )


def source_differences(old: Sequence[dict], new: Sequence[dict], shown: int = 3) -> list[str]:
    """How two source selections differ, file by file (at most ``shown`` files named per kind)."""
    a, b = {r.get("file"): r for r in old}, {r.get("file"): r for r in new}
    only_old, only_new = [f for f in a if f not in b], [f for f in b if f not in a]
    out = []
    if only_old:
        out.append(f"{_plural(len(only_old), 'file')} only in the set ({_names(only_old, shown)})")
    if only_new:
        out.append(f"{_plural(len(only_new), 'file')} only in this run ({_names(only_new, shown)})")
    changed = []
    for file in (f for f in a if f in b):
        x, y = a[file], b[file]
        if x.get("episodes") != y.get("episodes"):
            changed.append(f"{file}: {x.get('episodes')} episodes in the set, {y.get('episodes')} in this run")
        elif x.get(PLAN_DIGEST) and y.get(PLAN_DIGEST) and x[PLAN_DIGEST] != y[PLAN_DIGEST]:
            changed.append(
                f"{file}: other episodes or call frames (plan checksum {x[PLAN_DIGEST][:8]} in the set, {y[PLAN_DIGEST][:8]} in this run)"
            )
    out += changed[:shown] + ([f"{len(changed) - shown} more files differ"] if len(changed) > shown else [])
    return out


def _strides(spec: dict) -> str:
    extra = ", ".join(f"{task} {stride}" for task, stride in (spec.get("strides") or {}).items())
    return f"stride {spec.get('stride')}" + (f" ({extra})" if extra else "")


def scope_differences(old: dict, new: dict) -> list[str]:
    """What differs between a stored set's metadata and a run's :func:`run_scope`, one phrase each.

    Only keys both record are compared (a set saved by an older version may lack some); a
    labeller's Batch API route counts as the labeller itself.
    """
    out = []
    if "labeller" in old and "labeller" in new and _family(old["labeller"]) != _family(new["labeller"]):
        out.append(f"labeller ({old['labeller']} in the set, {new['labeller']} in this run)")
    if "params" in old and "params" in new and old["params"] != new["params"]:
        keys = sorted(k for k in {*old["params"], *new["params"]} if old["params"].get(k) != new["params"].get(k))
        out.append(f"parameters ({', '.join(keys)})")
    if old.get("sources") and new.get("sources"):
        differs = source_differences(old["sources"], new["sources"])
        if differs:
            out.append(f"sources ({'; '.join(differs)})")
    if "styles" in old and "styles" in new and set(old["styles"]) != set(new["styles"]):
        out.append(f"styles ({' and '.join(old['styles'])} in the set, {' and '.join(new['styles'])} in this run)")
    if "spatial" in old and "spatial" in new and bool(old["spatial"]) != bool(new["spatial"]):
        out.append(
            "spatial memories ("
            + ("in the set, not in this run" if old["spatial"] else "not in the set, in this run")
            + ")"
        )
    if old.get("spec") and new.get("spec"):
        a, b = _strides(old["spec"]), _strides(new["spec"])
        if a != b:
            out.append(f"spec strides ({a} in the set, {b} in this run)")
    return out


def free_name(taken: Sequence[str], name: str) -> str:
    """``name-2``, ``name-3``, ...: the first not in ``taken``."""
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"
