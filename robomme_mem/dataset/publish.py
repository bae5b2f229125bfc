"""Publish a build folder as a Hub dataset repo, with a version tag.

A build folder is already laid out as a Hub dataset repo (card with ``configs:``, Parquet
shards, ms-swift JSONL, manifest), so publishing is one commit of the whole folder with
``huggingface_hub``: create the repo if needed, upload the folder (deleting shards an older
build left under ``data/``, ``traces/`` and ``swift/``), then tag the commit so users can pin
``load_dataset(repo_id, config, revision=tag)``. The card that goes up is rendered again for
the repo (its load line and citation name ``ORG/NAME``, not the local folder): the upload reads
a staging folder of hard links to the build's files beside that card, so the build folder
itself is left as it is. A build from synthetic episodes is refused unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from .audit import overall_table, overall_truth_table
from .layout import CARD, MANIFEST
from .staging import staged
from .write.card import render_card
from .write.manifest import read_build_manifest
from .write.replace import link_or_copy

REPO_TYPE = "dataset"
STALE_PATTERNS = ["data/**", "traces/**", "swift/**"]
"""Remote files a new build replaces: whatever of them this build does not upload is deleted."""


@dataclass(frozen=True)
class PushPlan:
    folder: Path
    repo_id: str
    files: list[tuple[str, int]]
    """(path in repo, bytes) of every file to upload."""
    commit_message: str
    tag: str | None
    card: str
    """The card as it is uploaded: rendered for ``repo_id``."""

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def plan_push(folder: str | Path, repo_id: str, tag: str | None = None, *, allow_synthetic: bool = False) -> PushPlan:
    """What :func:`push` would upload; refuses a folder that is not a finished build, or one
    built from synthetic episodes unless ``allow_synthetic``."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{folder}: not a robomme-mem build (no {MANIFEST}); run `robomme-mem build` first")
    manifest = read_build_manifest(manifest_path)
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    synthetic = [s["file"] for s in manifest.get("sources", []) if s.get("synthetic")]
    if synthetic and not allow_synthetic:
        raise ValueError(
            f"{folder} was built from synthetic episodes ({', '.join(synthetic)}: robomme-mem's generator, not RoboMME demonstrations); "
            "build from real RoboMME files, or pass --allow-synthetic to publish it anyway (its card says it is synthetic)"
        )
    spec = manifest.get("spec", {})
    labels = manifest.get("labels") or {}
    message = f"robomme-mem {spec.get('version', '?')}: build with robomme-mem {manifest['package']['version']}"
    if labels:
        message += f", labels {labels.get('name')} ({(labels.get('id') or '')[:12]})"
    if manifest.get("origin") in ("synthetic", "mixed"):
        message += f" ({manifest['origin']} source)"
    card = render_card(
        manifest,
        repo_id,
        overall_table(manifest.get("labels_audit")),
        overall_truth_table(manifest.get("labels_audit_truth")),
    )
    files = [(path, len(card.encode("utf-8")) if path == CARD else size) for path, size in files]
    return PushPlan(folder, repo_id, files, message, tag, card)


def push(plan: PushPlan, *, private: bool = False, api: HfApi | None = None) -> str:
    """Upload the planned folder in one commit and tag it; returns the commit id."""
    api = api or HfApi()
    api.create_repo(plan.repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    with _staged(plan) as folder:
        commit = api.upload_folder(
            repo_id=plan.repo_id,
            repo_type=REPO_TYPE,
            folder_path=str(folder),
            commit_message=plan.commit_message,
            ignore_patterns=[".*", "**/.*"],
            delete_patterns=STALE_PATTERNS,
        )
    if plan.tag:
        api.create_tag(
            plan.repo_id, tag=plan.tag, repo_type=REPO_TYPE, revision=commit.oid, tag_message=plan.commit_message
        )
    return commit.oid


@contextmanager
def _staged(plan: PushPlan) -> Iterator[Path]:
    """A folder holding the planned files (hard links, copies where links fail) and the repo's card."""
    with staged(plan.folder.resolve(), swap=False) as stage:
        for path, _ in plan.files:
            target = stage / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path == CARD:
                target.write_text(plan.card, encoding="utf-8")
                continue
            link_or_copy(plan.folder / path, target)
        yield stage
