"""The ``rules`` labeller: offline, deterministic, free. A baseline, not a VLM.

- **Action memory** from the subgoal history alone: each distinct action (ordinals and
  "for the N time" folded away, so repeated actions count together) in first person, past
  tense, with how many times it was done; in grounded style, each action's object keeps the
  last coordinates the history gave it (copied, never invented).
- **Spatial memory** from the image with an object detector calibrated on RoboMME's renders
  (:mod:`.scene`: cubes by colour, buttons, containers, the bin, white areas; never the table
  or the arm) and their pixel centres ``<y, x>`` (RoboMME's order), chained with the prior
  memory so objects that disappear are remembered: a cube that vanished beside a container
  is under it, anything else is where it was last seen.

It makes the whole pipeline run with no key and no network, and gives a floor that any
labelling model should beat.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import math

import numpy as np

from ...subgoals import ORDINAL_WORDS, POINT, point_of, points_in_order, strip_grounding, times_words
from ...prompts import ACTION_WORD_LIMITS, SPATIAL_WORD_LIMIT
from .cache import Answer
from .requests import LabelParams, LabelRequest
from .scene import detect_objects

MODEL = "rules"
VERSION = "3"

NOTHING_YET = "I have not completed any subtask yet."
NOTHING_SEEN = "No task objects are visible."

_ORDINALS = "|".join(ORDINAL_WORDS)
_ORDINAL_RE = re.compile(rf"\s*\bfor the ({_ORDINALS}) time\b|\b({_ORDINALS})\s+", re.IGNORECASE)
PAST_TENSE = {
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
"""Past tense of RoboMME's subgoal verbs (the rules labeller writes it; the audit reads it)."""


def _past_tense(action: str) -> str:
    verb, _, rest = action.partition(" ")
    past = PAST_TENSE.get(verb.lower())
    return f"{past} {rest}".strip() if past else f"did: {action}"


def action_memory(history: Sequence[str], style: str) -> str:
    """Summary of the completed subgoals ``history`` (oldest first) in the given style."""
    if not history:
        return NOTHING_YET
    counts: dict[str, int] = {}
    last_points: dict[str, str] = {}
    for item in history:
        text = item.strip().rstrip(".")
        found = points_in_order(text)
        key = _ORDINAL_RE.sub(" ", strip_grounding(text)).strip()
        key = re.sub(r"\s+", " ", key).lower()
        counts[key] = counts.get(key, 0) + 1
        if found:
            last_points[key] = " ".join(f"<{a}, {b}>" for a, b in found)
    clauses = []
    for key, n in counts.items():
        clause = _past_tense(key)
        if style == "grounded" and key in last_points:
            clause += f" {last_points[key]}"
        clauses.append(f"{clause} {times_words(n)}")
    limit = ACTION_WORD_LIMITS[style] - 1
    while True:
        text = "I " + (clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]) + "."
        if len(text.split()) <= limit or len(clauses) == 1:
            return text
        clauses = clauses[1:]  # the oldest actions matter least


# -- spatial ------------------------------------------------------------------------------

TRACK_PX = 12
"""An object of the prior memory within this distance of one seen now is the same object."""
COVER_PX = 20
"""A cube gone from view this close to a container is taken to be under it."""
MAX_VISIBLE, MAX_GONE = 8, 4
_ENTRY_RE = re.compile(
    r"((?:red|green|blue|yellow) cube|button|target|container|bin|white area(?: under the (?:red|green|blue|yellow) cube)?)"
    r"( hidden under the container at| last seen at)? " + POINT
)


def spatial_memory(prior: str | None, image: np.ndarray) -> str:
    """The task's objects in view now (:mod:`.scene`), and those the prior memory saw that are gone.

    A cube that vanished next to a container is reported under it; anything else that left the
    view (picked up, hidden by the arm) is reported where it was last seen.
    """
    now = detect_objects(image)
    visible = [f"{o.name} <{o.y}, {o.x}>" + (" (held)" if o.held else "") for o in now[:MAX_VISIBLE]]
    containers = [o for o in now if o.kind == "container"]
    gone: list[str] = []
    for name, y, x in _missing(_remembered(prior), now):
        cover = min(containers, key=lambda c: math.hypot(c.y - y, c.x - x), default=None)
        if name.endswith("cube") and cover is not None and math.hypot(cover.y - y, cover.x - x) <= COVER_PX:
            entry = f"{name} hidden under the container at <{cover.y}, {cover.x}>"
        else:
            entry = f"{name} last seen at <{y}, {x}>"
        if entry not in gone:
            gone.append(entry)
    parts = [f"Visible: {', '.join(visible)}." if visible else NOTHING_SEEN]
    if gone:
        parts.append(f"Not in view: {'; '.join(gone[:MAX_GONE])}.")
    text = " ".join(parts)
    words = text.split()
    return text if len(words) < SPATIAL_WORD_LIMIT else " ".join(words[: SPATIAL_WORD_LIMIT - 1])


def _remembered(prior: str | None) -> list[tuple[str, str, int, int]]:
    """(name, how: "" for visible, "hidden" or "last seen", y, x) of every object a memory of this labeller mentions."""
    return [(name, "hidden" if "hidden" in how else "last seen" if how else "", *point_of(y, x)) for name, how, y, x in _ENTRY_RE.findall(prior or "")]


def _missing(remembered: list[tuple[str, str, int, int]], now) -> list[tuple[str, int, int]]:
    """The remembered objects that are gone now, one per object: as many of each name as the
    memory knew of minus those in view, so a cube carried across the table is not left behind as
    a trail of "last seen" copies. Kept first: those hidden under a container, then those in view
    in the prior frame (the freshest), then older sightings; each not where one is in view now."""
    in_view: dict[str, int] = {}
    for o in now:
        in_view[o.name] = in_view.get(o.name, 0) + 1
    out = []
    for name in dict.fromkeys(n for n, *_ in remembered):
        known = [(how, y, x) for n, how, y, x in remembered if n == name]
        absent = len(known) - in_view.get(name, 0)
        if absent <= 0:
            continue
        candidates = [(how, y, x) for how, y, x in known if not any(o.name == name and math.hypot(o.y - y, o.x - x) <= TRACK_PX for o in now)]
        candidates.sort(key=lambda c: {"hidden": 0, "": 1, "last seen": 2}[c[0]])
        out += [(name, y, x) for _, y, x in candidates[:absent]]
    return out


class RulesLabeller:
    """The ``rules`` labeller behind the same interface as a remote one (answers at once)."""

    name = MODEL

    def __init__(self) -> None:
        self.params = LabelParams(model=f"{MODEL}-v{VERSION}", temperature=None, spatial_max_tokens=None)

    def describe(self) -> dict:
        return {"labeller": self.name, "params": self.params.to_dict()}

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        return self.answer_now(request)

    def answer_now(self, request: LabelRequest) -> Answer:
        """The answer, computed here (no event loop needed: a build labels its episodes with this)."""
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
