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
    r, g, b = (image[..., i].astype(np.int32) for i in range(3))
    return {
        "red": (r > 90) & (r * 10 > g * 16) & (r * 10 > b * 16),
        "green": (g > 80) & (g * 10 > r * 14) & (g * 10 > b * 12),
        "blue": (b > 80) & (b * 10 > r * 14) & (b * 10 > g * 12),
        "yellow": (r > 120) & (g > 120) & (b * 10 < np.minimum(r, g) * 6),
    }


def detect(image: np.ndarray) -> list[tuple[str, int, int]]:
    """(colour, y, x) centre of every coloured region, largest first within a colour, colours in a fixed order."""
    found = []
    h, w = image.shape[0] // CELL, image.shape[1] // CELL
    for colour, mask in colour_masks(image).items():
        cells = mask[: h * CELL, : w * CELL].reshape(h, CELL, w, CELL).sum(axis=(1, 3))
        regions = []
        seen = np.zeros((h, w), bool)
        for y0, x0 in zip(*np.nonzero(cells)):
            if seen[y0, x0]:
                continue
            stack, members = [(y0, x0)], []
            seen[y0, x0] = True
            while stack:  # 4-connected cells holding any pixel of the colour
                y, x = stack.pop()
                members.append((y, x))
                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                    if 0 <= ny < h and 0 <= nx < w and cells[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
            pixels = sum(int(cells[y, x]) for y, x in members)
            if pixels >= MIN_PIXELS:
                region = np.zeros_like(mask)
                for y, x in members:
                    region[y * CELL : (y + 1) * CELL, x * CELL : (x + 1) * CELL] = mask[y * CELL : (y + 1) * CELL, x * CELL : (x + 1) * CELL]
                ys, xs = np.nonzero(region)
                regions.append((pixels, colour, int(ys.mean().round()), int(xs.mean().round())))
        found.extend((c, y, x) for _, c, y, x in sorted(regions, key=lambda r: -r[0]))
    return found


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
