"""Put a finished build in place at ``out`` without touching what the build does not own.

A build folder is a Hub dataset repo, so users ``git clone`` it and rebuild inside the clone:
``.git``, ``.gitattributes`` and their own notes must survive a rebuild byte for byte. A build
owns its card, its manifest, its folders (``data/``, ``traces/``, ``swift/``) and every file
the previous manifest lists; everything else in ``out`` is hard-linked (copied where links
fail) into the new build's stage (:func:`carry_over`), which :func:`..staging.staged` then
swaps in. Until that swap ``out`` is untouched; after it, only the old copy is removed. So a
crash or Ctrl-C at any point leaves either the old folder or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ... import __version__
from ...formats import BUILD_FORMAT
from ..layout import CARD, MANIFEST, PARQUET_DIR, SWIFT_IMAGES_DIR, TRACES_DIR

OWNED_FOLDERS = (PARQUET_DIR.split("/")[0], TRACES_DIR, SWIFT_IMAGES_DIR.split("/")[0])
"""Top-level folders a build writes in full: whatever is in them belongs to the build."""
OWNED_FILES = (CARD, MANIFEST)


def check_replaceable(out: Path) -> dict | None:
    """Refuse an ``out`` that holds something a build would clobber and is not a build of this
    format; return the manifest of the build it holds (None: none).

    Accepted: a missing or empty folder, a build (or a clone of a pushed one: it has the
    manifest), and a folder of dot-entries only (a fresh clone of an empty Hub repo). A build of
    another format is refused: what it owned cannot be told from the user's files.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
    if (out / MANIFEST).is_file():
        return _previous_build(out)
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if visible:
        shown = ", ".join(visible[:3]) + (", ..." if len(visible) > 3 else "")
        raise FileExistsError(
            f"{out} exists and is not a robomme-mem build (it holds {shown}); choose another --out or remove it"
        )
    return None


def _previous_build(out: Path) -> dict:
    """The manifest of the build at ``out``, refused in one line unless this robomme-mem wrote its format."""
    path = out / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileExistsError(
            f"{path}: not a readable build manifest ({exc}); remove it or choose another --out"
        ) from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found == BUILD_FORMAT:
        return manifest
    wrote = (manifest.get("package") or {}).get("version") if isinstance(manifest, dict) else None
    raise FileExistsError(
        f"{path}: a build of format {found!r}, and this robomme-mem ({__version__}) replaces only builds of {BUILD_FORMAT!r}, "
        "as it cannot tell which files the old one owned: remove that build (keep .git and your own files) or choose another --out"
        + (f", or rebuild it with the robomme-mem that wrote it ({wrote})" if wrote else "")
    )


def owned_paths(out: Path) -> set[str]:
    """Paths (relative, POSIX) in ``out`` that the build there owns, files and top folders alike."""
    owned = set(OWNED_FILES) | set(OWNED_FOLDERS)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        owned |= set(manifest.get("files") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return owned


def carry_over(out: Path, tmp: Path) -> None:
    """Link every entry of ``out`` the build does not own into ``tmp``, and give ``tmp`` the mode and times of ``out``.

    Folders are walked, so a foreign folder (``.git``, ``docs/``) keeps its whole tree, while
    anything under an owned folder is the old build's and is left behind.
    """
    owned = owned_paths(out)
    for root, dirs, names in os.walk(out):
        here = Path(root)
        prefix = "" if here == out else here.relative_to(out).as_posix() + "/"
        for name in list(dirs):
            if prefix + name in owned or (here / name).is_symlink():
                dirs.remove(name)  # not walked: the old build's, or a link (carried as a link below)
                if prefix + name not in owned:
                    names.append(name)
                continue
            (tmp / prefix / name).mkdir(exist_ok=True)
            os.chmod(tmp / prefix / name, (here / name).stat().st_mode & 0o7777)
        for name in names:
            if prefix + name not in owned and not (tmp / prefix / name).exists():
                link_or_copy(here / name, tmp / prefix / name)
    shutil.copystat(out, tmp)


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s bytes without copying them: a hard link, a copy where links fail, a symlink as a symlink."""
    if source.is_symlink():
        target.symlink_to(os.readlink(source))
        return
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(source, target)
