"""``manifest.json``: what a build made and everything that produced it."""

from __future__ import annotations

import json
from pathlib import Path

from ... import __version__
from ...formats import BUILD_FORMAT
from ...prompts import template_hashes
from ..checksum import READ_DIGEST_COVERS, SOURCE_CHECKSUM


def build_format_problem(manifest: dict, where: str) -> str | None:
    """Why this robomme-mem cannot read the build whose manifest this is (None: it can), in one line."""
    found = manifest.get("format")
    if found == BUILD_FORMAT:
        return None
    wrote = (manifest.get("package") or {}).get("version")
    return (
        f"{where}: a build of format {found!r}, and this robomme-mem ({__version__}) reads {BUILD_FORMAT!r}: build it again "
        f"with `robomme-mem build`" + (f", or read it with the robomme-mem that wrote it ({wrote})" if wrote else "")
    )


def read_build_manifest(path: Path) -> dict:
    """The manifest of a build to read, refused in one line (``ValueError``) if it is not JSON or
    not of :data:`BUILD_FORMAT` (every reader of a build comes through here)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if problem := build_format_problem(manifest, str(path)):
        raise ValueError(problem)
    return manifest


def build_manifest(
    *,
    spec: dict,
    options: dict,
    splits: dict,
    labels: dict | None,
    labels_audit: dict | None,
    sources: list[dict],
    counts: dict[str, dict[str, int]],
    data_files: dict[str, dict[str, list[str]]],
    files: dict[str, dict],
    versions: dict,
    episodes: list[dict],
    frame_sizes: list[tuple[int, int]] = (),
    example: dict | None = None,
    scene: dict | None = None,
    labels_audit_truth: dict | None = None,
    answerable: dict | None = None,
) -> dict:
    """The manifest of a build: ``files`` maps every file but the card and the manifest to its
    xxh3-128 and size; ``versions`` pins what decides the bytes."""
    return (
        {
            "format": BUILD_FORMAT,
            "package": {"name": "robomme-mem", "version": __version__},
            "versions": versions,
            "spec": spec,
            "options": options,
            "splits": splits,
            "prompt_templates": template_hashes(),
            "labels": labels,
            "labels_audit": labels_audit,
            "origin": source_origin(sources),
            "sources": sources,
            "source_digest": {"algorithm": SOURCE_CHECKSUM, "covers": READ_DIGEST_COVERS},
            "configs": counts,
            "data_files": data_files,
            "files": files,
            "totals": {
                "episodes": len(episodes),
                "steps": sum(e["steps"] for e in episodes),
                "call_frames": sum(e["calls"] for e in episodes),
                "segments": sum(e["segments"] for e in episodes),
                "videos": sum(e["video"] for e in episodes),
                "injected_failures": sum(1 for e in episodes if e.get("injected_failure")),
            },
            "frames": {
                "camera": "front_rgb",
                "sizes": [list(size) for size in frame_sizes],
                "points": "<y, x>: row, then column, in pixels from the top-left corner of the frame",
            },
            "example": example,
            "episodes": episodes,
        }
        | ({"scene": scene} if scene is not None else {})
        | ({"labels_audit_truth": labels_audit_truth} if labels_audit_truth is not None else {})
        | ({"answerable": answerable} if answerable is not None else {})
    )


def source_origin(sources: list[dict]) -> str:
    """``recorded`` (RoboMME demonstrations), ``synthetic`` (robomme-mem's generator) or ``mixed``."""
    kinds = {"synthetic" if s.get("synthetic") else "recorded" for s in sources}
    return kinds.pop() if len(kinds) == 1 else "mixed"
