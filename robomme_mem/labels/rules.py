"""The ``rules`` labeller: offline, deterministic, free. A baseline, not a VLM.

- **Action memory** from the subgoal history alone: each distinct action (ordinals and
  "for the N time" folded away, so repeated actions count together) in first person, past
  tense, with how many times it was done; in grounded style, each action's object keeps the
  last coordinates the history gave it (copied, never invented).
- **Spatial memory** from the image with a colour-region detector: saturated red, green,
  blue and yellow regions and their pixel centres ``<y, x>`` (RoboMME's order), chained with
  the prior memory so objects that disappear (picked up, covered) are remembered where they
  were last seen.

It makes the whole pipeline run with no key and no network, and gives a floor that any
labelling model should beat.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..prompts import ACTION_WORD_LIMITS, SPATIAL_WORD_LIMIT
from .cache import Answer
from .requests import LabelParams, LabelRequest
from .validate import POINT_RE

MODEL = "rules"
VERSION = "1"

NOTHING_YET = "I have not completed any subtask yet."
NOTHING_SEEN = "No task-relevant colored objects are visible."

_ORDINALS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth"
_ORDINAL_RE = re.compile(rf"\s*\bfor the ({_ORDINALS}) time\b|\b({_ORDINALS})\s+", re.IGNORECASE)
_AT_POINT_RE = re.compile(r"\s*\bat\s*<\s*\d+\s*,\s*\d+\s*>|\s*<\s*\d+\s*,\s*\d+\s*>")
_PAST = {
    "pick": "picked",
    "put": "put",
    "place": "placed",
    "press": "pressed",
    "move": "moved",
    "drop": "dropped",
    "insert": "inserted",
    "remain": "remained",
    "hook": "hooked",
    "close": "closed",
    "grasp": "grasped",
    "push": "pushed",
    "swing": "swung",
    "stop": "stopped",
}
_TIMES = {1: "once", 2: "twice"}


def _past_tense(action: str) -> str:
    verb, _, rest = action.partition(" ")
    past = _PAST.get(verb.lower())
    return f"{past} {rest}".strip() if past else f"did: {action}"


def _times(n: int) -> str:
    return _TIMES.get(n, f"{n} times")


def action_memory(history: Sequence[str], style: str) -> str:
    """Summary of the completed subgoals ``history`` (oldest first) in the given style."""
    if not history:
        return NOTHING_YET
    counts: dict[str, int] = {}
    last_points: dict[str, str] = {}
    for item in history:
        text = item.strip().rstrip(".")
        found = POINT_RE.findall(text)
        key = _ORDINAL_RE.sub(" ", _AT_POINT_RE.sub("", text)).strip()
        key = re.sub(r"\s+", " ", key).lower()
        counts[key] = counts.get(key, 0) + 1
        if found:
            last_points[key] = " ".join(f"<{a}, {b}>" for a, b in found)
    clauses = []
    for key, n in counts.items():
        clause = _past_tense(key)
        if style == "grounded" and key in last_points:
            clause += f" {last_points[key]}"
        clauses.append(f"{clause} {_times(n)}")
    limit = ACTION_WORD_LIMITS[style] - 1
    while True:
        text = "I " + (clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]) + "."
        if len(text.split()) <= limit or len(clauses) == 1:
            return text
        clauses = clauses[1:]  # the oldest actions matter least


# -- spatial ------------------------------------------------------------------------------

CELL = 8
"""Detector grid: 8x8-pixel cells (a 32x32 grid on RoboMME's 256x256 frames)."""
MIN_PIXELS = 30
"""Smallest region reported (a RoboMME cube covers ~100 pixels)."""
_SEEN_RE = re.compile(r"(red|green|blue|yellow) <(\d+), (\d+)>")


def colour_masks(image: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of saturated red, green, blue and yellow pixels."""
    r, g, b = (image[..., i].astype(np.int16) for i in range(3))  # x16 stays under 2**15
    return {
        "red": (r > 90) & (r * 10 > g * 16) & (r * 10 > b * 16),
        "green": (g > 80) & (g * 10 > r * 14) & (g * 10 > b * 12),
        "blue": (b > 80) & (b * 10 > r * 14) & (b * 10 > g * 12),
        "yellow": (r > 120) & (g > 120) & (b * 10 < np.minimum(r, g) * 6),
    }


def detect(image: np.ndarray) -> list[tuple[str, int, int]]:
    """(colour, y, x) centre of every coloured region, largest first within a colour, colours in a fixed order.

    A region is a 4-connected group of grid cells holding any pixel of the colour (labelled by
    SciPy in raster order, so ties keep the order in which regions are first met); its centre
    is the mean position of its pixels of that colour. A cell is 8 pixels wide, so each
    8-pixel run of a row packs into one byte, and per-cell counts and coordinate sums come
    from two 256-entry tables instead of a pass over every pixel.
    """
    from scipy import ndimage  # only where spatial memories are computed (0.2 s to import)

    masks = colour_masks(image)
    h, w = image.shape[0] // CELL, image.shape[1] // CELL
    stack = np.stack([m[: h * CELL, : w * CELL] for m in masks.values()])
    packed = np.packbits(stack, axis=-1)  # (colour, pixel row, cell column): one byte per 8 pixels
    counts = _BITS[packed]
    cells = counts.reshape(len(masks), h, CELL, w).sum(axis=2)
    rows = np.arange(h * CELL, dtype=np.int64)[None, :, None]
    sum_y = (counts * rows).reshape(len(masks), h, CELL, w).sum(axis=2)
    sum_x = _OFFSETS[packed].reshape(len(masks), h, CELL, w).sum(axis=2) + cells * (np.arange(w, dtype=np.int64) * CELL)
    found = []
    for i, colour in enumerate(masks):
        labels, count = ndimage.label(cells[i] > 0)
        if not count:
            continue
        flat = labels.ravel()
        totals = [np.bincount(flat, v.ravel(), minlength=count + 1)[1:] for v in (cells[i], sum_y[i], sum_x[i])]
        regions = [
            (int(n), colour, int(np.round(sy / n)), int(np.round(sx / n)))
            for n, sy, sx in zip(*totals)
            if n >= MIN_PIXELS
        ]
        found.extend((c, y, x) for _, c, y, x in sorted(regions, key=lambda r: -r[0]))
    return found


_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)  # (256, 8), most significant bit = first pixel
_BITS = _BYTE_BITS.sum(axis=1).astype(np.int64)
"""Pixels set in a packed byte."""
_OFFSETS = (_BYTE_BITS * np.arange(CELL)).sum(axis=1).astype(np.int64)
"""Sum of the in-cell x offsets (0..7) of the pixels set in a packed byte."""


def spatial_memory(prior: str | None, image: np.ndarray) -> str:
    """Visible coloured objects now, plus those the prior memory saw that are gone."""
    visible = detect(image)
    now = [f"{c} <{y}, {x}>" for c, y, x in visible[:6]]
    colours_now = {c for c, _, _ in visible}
    gone: list[str] = []
    if prior:
        for colour, y, x in _SEEN_RE.findall(prior):
            entry = f"{colour} <{y}, {x}>"
            if colour not in colours_now and entry not in gone:
                gone.append(entry)
    parts = [f"Visible: {', '.join(now)}." if now else NOTHING_SEEN]
    if gone:
        parts.append(f"No longer visible, last seen: {', '.join(gone[:4])}.")
    text = " ".join(parts)
    words = text.split()
    return text if len(words) < SPATIAL_WORD_LIMIT else " ".join(words[: SPATIAL_WORD_LIMIT - 1])


class RulesLabeller:
    """The ``rules`` labeller behind the same interface as a remote one (answers at once)."""

    name = MODEL

    def __init__(self) -> None:
        self.params = LabelParams(model=f"{MODEL}-v{VERSION}", temperature=None, spatial_max_tokens=None)

    def describe(self) -> dict:
        return {"labeller": self.name, "params": self.params.to_dict()}

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        if request.kind == "action":
            text = action_memory(request.history, request.style)
        else:
            text = spatial_memory(request.prior, request.image)
        return Answer(
            status="ok",
            text=text,
            finish_reason="stop",
            model_reported=self.params.model,
            template_id=request.template_id,
            template_version=request.template_version,
        )

    async def aclose(self) -> None:
        return None
