"""The user's own caches, kept out of the test session's reach.

The tests point the Hugging Face caches and robomme-mem's cache at a temporary folder before
anything imports ``datasets`` or ``huggingface_hub`` (both read their paths at import time), and
compare the user's real folders before and after the session: a test that writes there fails
the run (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

REDIRECTED = (
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
    "HF_ASSETS_CACHE",
    "ROBOMME_MEM_CACHE",
    "ROBOMME_MEM_LABELS",
)
"""Every variable that decides where a Hugging Face library or robomme-mem writes its cache."""

VENV_SUFFIX = "-venv"
"""``~/.cache/robomme-mem/<name>-venv``: the environments `.ci/run` makes for the tests to run in, not a cache they write."""


def user_cache_dirs(env: Mapping[str, str]) -> list[Path]:
    """The folders the user's own runs would write to, as this environment names them."""
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    hf_home = Path(env.get("HF_HOME") or cache / "huggingface")
    dirs = [
        hf_home,
        Path(env.get("HF_DATASETS_CACHE") or hf_home / "datasets"),
        Path(env.get("HF_HUB_CACHE") or hf_home / "hub"),
        Path(env.get("ROBOMME_MEM_CACHE") or cache / "robomme-mem"),
    ]
    if env.get("ROBOMME_MEM_LABELS"):
        dirs.append(Path(env["ROBOMME_MEM_LABELS"]).parent)
    return list(dict.fromkeys(dirs))


def snapshot(dirs: list[Path]) -> dict[str, tuple[int, int]]:
    """Every file under ``dirs`` (skipping the test environments) with its size and modification time."""
    seen: dict[str, tuple[int, int]] = {}
    for root in dirs:
        for folder, subdirs, files in os.walk(root):
            subdirs[:] = [d for d in subdirs if not (Path(folder) == root and d.endswith(VENV_SUFFIX))]
            for name in files:
                path = Path(folder) / name
                try:
                    stat = path.lstat()
                except FileNotFoundError:
                    continue
                seen[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return seen


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """What a session did to the user's caches, one line per file, empty when nothing."""
    return (
        [f"added {p}" for p in sorted(after.keys() - before.keys())]
        + [f"removed {p}" for p in sorted(before.keys() - after.keys())]
        + [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    )


def redirect(environ: dict[str, str]) -> Path:
    """Point every cache variable of ``environ`` into one new temporary folder, and return it."""
    root = Path(tempfile.mkdtemp(prefix="robomme-mem-test-caches-"))
    for name in REDIRECTED:
        environ[name] = str(root / ("labels.sqlite" if name == "ROBOMME_MEM_LABELS" else name.lower()))
    return root
