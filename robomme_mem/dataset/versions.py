"""The versions of everything that decides a build's bytes, recorded in its manifest.

Parquet (pyarrow), the features (datasets), the reader (h5py, numpy), PNG (isal), the mp4
(PyAV, its FFmpeg libraries and the x264 encoder, whose version string x264 writes into every
stream), the checksums (xxhash) and the rules detector (scipy). A rebuild over a folder built
with other versions says which ones changed.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata

PACKAGES = ("pyarrow", "datasets", "h5py", "numpy", "pillow", "av", "isal", "xxhash", "scipy")
_X264 = re.compile(rb"x264 - core (\d+)( r\d+ [0-9a-f]+)?")


def build_versions(x264: str | None = None) -> dict:
    """Package versions, Python's, FFmpeg's libraries (as PyAV links them) and x264's (from an mp4 written)."""
    out: dict = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    import av

    out["ffmpeg"] = {lib: ".".join(map(str, version)) for lib, version in sorted(av.library_versions.items())}
    out["x264"] = x264
    return out


def x264_version(mp4: bytes) -> str | None:
    """``core 164 r3108 31e19f9``: the encoder version x264 writes into the stream it encodes."""
    found = _X264.search(mp4)
    return None if found is None else ("core " + found.group(1).decode() + (found.group(2) or b"").decode())


def version_changes(old: dict | None, new: dict) -> list[str]:
    """``numpy 1.26.4 -> 2.4.6`` for every recorded version that differs (nested ones by path)."""
    if not old:
        return []
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if isinstance(before, dict) or isinstance(after, dict):
            changes += [f"{name}.{c}" for c in version_changes(before or {}, after or {})]
        elif before != after and not (name == "x264" and (before is None or after is None)):
            changes.append(f"{name} {before} -> {after}")
    return changes
