"""Pixels of world points and of segmentation masks, by the rules RoboMME's own recorder uses.

Points are ``(y, x)`` on the front image, RoboMME's order. A mask's centre is the integer part
of the mean row and column of its pixels, as RoboMME computes a grounded subgoal's point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def project(points: np.ndarray, extrinsic: np.ndarray, intrinsic: np.ndarray) -> list[tuple[int, int] | None]:
    """World points (N x 3) to front-image pixels ``(y, x)``; None for a point behind the camera.

    ``extrinsic`` is the 3 x 4 OpenCV world-to-camera matrix the recorder stores per step,
    ``intrinsic`` the 3 x 3 camera matrix of the episode's setup.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    camera = (
        np.asarray(extrinsic, dtype=np.float64)[:3, :3] @ points.T + np.asarray(extrinsic, dtype=np.float64)[:3, 3:4]
    )
    pixels = np.asarray(intrinsic, dtype=np.float64) @ camera
    out: list[tuple[int, int] | None] = []
    for u, v, w in pixels.T:
        out.append(None if w <= 1e-9 else (int(np.floor(v / w)), int(np.floor(u / w))))
    return out


def mask_centres(segmentation: np.ndarray, ids: Mapping[str, Sequence[int]]) -> dict[str, dict]:
    """Per object: visible pixels and the mask centre ``(y, x)`` (None where nothing is visible)."""
    segmentation = np.asarray(segmentation).squeeze()
    out = {}
    for name, object_ids in ids.items():
        mask = np.isin(segmentation, list(object_ids))
        count = int(mask.sum())
        if count:
            rows, cols = np.nonzero(mask)
            centre = (int(rows.mean()), int(cols.mean()))
        else:
            centre = None
        out[name] = {"pixels": count, "centre": centre}
    return out


def image_difference(replayed: np.ndarray, recorded: np.ndarray) -> tuple[float, int]:
    """(mean, max) absolute difference of two uint8 images, in 0..255."""
    a, b = np.asarray(replayed, dtype=np.int16), np.asarray(recorded, dtype=np.int16)
    if a.shape != b.shape:
        raise ValueError(f"replayed image {a.shape} and recorded image {b.shape} differ in shape")
    diff = np.abs(a - b)
    return float(diff.mean()), int(diff.max())
