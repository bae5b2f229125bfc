"""Two build folders side by side: every text field of every row, and the images' PSNR.

Used by the LeRobot parity test and ``benchmarks/lerobot.py``: a build from a LeRobot copy must
match the HDF5 build's text exactly, with images that differ only by the video codec.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def _is_image(value) -> bool:
    return isinstance(value, dict) and set(value) >= {"bytes", "path"}


def _split(row: dict) -> tuple[dict, dict]:
    texts, images = {}, {}
    for key, value in row.items():
        if _is_image(value):
            images[key] = value
        elif isinstance(value, list) and value and all(_is_image(v) for v in value):
            images[key] = value
        else:
            texts[key] = value
    return texts, images


def _pixels(value: dict) -> np.ndarray:
    with Image.open(io.BytesIO(value["bytes"])) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def compare_builds(a: str | Path, b: str | Path) -> dict:
    """Per config: rows on each side, rows whose text fields differ (with the first difference), and
    the PSNR (mean, min) of every image of ``b`` against ``a``'s; the swift JSONL lines compared too."""
    a, b = Path(a), Path(b)
    out: dict = {"configs": {}, "swift": {}}
    configs = json.loads((a / "manifest.json").read_text())["configs"]
    for config in configs:
        folder = lambda root: root / config if (root / config).is_dir() else root / "data" / config  # noqa: E731
        rows = {
            side: [r for f in sorted(folder(root).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
            for side, root in (("a", a), ("b", b))
        }
        differ, first, values = 0, None, []
        for ra, rb in zip(rows["a"], rows["b"]):
            ta, ia = _split(ra)
            tb, ib = _split(rb)
            if ta != tb:
                differ += 1
                if first is None:
                    key = next(k for k in sorted(set(ta) | set(tb)) if ta.get(k) != tb.get(k))
                    first = {"field": key, "a": ta.get(key), "b": tb.get(key)}
            for key in ia:
                pairs = zip(ia[key], ib.get(key, [])) if isinstance(ia[key], list) else [(ia[key], ib.get(key))]
                values.extend(psnr(_pixels(x), _pixels(y)) for x, y in pairs if y is not None)
        finite = [v for v in values if math.isfinite(v)]
        out["configs"][config] = {
            "rows": (len(rows["a"]), len(rows["b"])),
            "text_differ": differ + abs(len(rows["a"]) - len(rows["b"])),
            "first_difference": first,
            "images": len(values),
            "psnr_mean": float(np.mean(finite)) if finite else math.inf,
            "psnr_min": min(values) if values else math.inf,
        }
    for path in sorted((a / "swift").glob("*/*.jsonl")):
        mine = path.read_text().splitlines()
        theirs = (b / path.relative_to(a)).read_text().splitlines()
        out["swift"][str(path.relative_to(a / "swift"))] = {
            "lines": (len(mine), len(theirs)),
            "differ": sum(x != y for x, y in zip(mine, theirs)) + abs(len(mine) - len(theirs)),
        }
    return out
