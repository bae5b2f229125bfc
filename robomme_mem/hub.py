"""Publish a build folder as a Hub dataset repo, with a version tag.

A build folder is already laid out as a Hub dataset repo (card with ``configs:``, Parquet
shards, ms-swift JSONL, manifest), so publishing is one commit of the whole folder with
``huggingface_hub``: create the repo if needed, upload the folder (deleting shards an older
build left under ``data/``, ``traces/`` and ``swift/``), then tag the commit so users can pin
``load_dataset(repo_id, config, revision=tag)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from .layout import MANIFEST

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

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def plan_push(folder: str | Path, repo_id: str, tag: str | None = None) -> PushPlan:
    """What :func:`push` would upload; refuses a folder that is not a finished build."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{folder}: not a robomme-mem build (no {MANIFEST}); run `robomme-mem build` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    spec = manifest.get("spec", {})
    labels = manifest.get("labels") or {}
    message = f"robomme-mem {spec.get('version', '?')}: build with robomme-mem {manifest['package']['version']}"
    if labels:
        message += f", labels {labels.get('name')} ({(labels.get('id') or '')[:12]})"
    return PushPlan(folder, repo_id, files, message, tag)


def push(plan: PushPlan, *, private: bool = False, api: HfApi | None = None) -> str:
    """Upload the planned folder in one commit and tag it; returns the commit id."""
    api = api or HfApi()
    api.create_repo(plan.repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=plan.repo_id,
        repo_type=REPO_TYPE,
        folder_path=str(plan.folder),
        commit_message=plan.commit_message,
        ignore_patterns=[".*", "**/.*"],
        delete_patterns=STALE_PATTERNS,
    )
    if plan.tag:
        api.create_tag(plan.repo_id, tag=plan.tag, repo_type=REPO_TYPE, revision=commit.oid, tag_message=plan.commit_message)
    return commit.oid
