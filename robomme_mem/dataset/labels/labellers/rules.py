"""The ``rules`` labeller: offline, deterministic, free. A baseline, not a VLM.

- **Action memory** from the subgoal history alone, one clause per distinct object and action
  in first person, past tense, with how many times it was done. Ordinals and different
  grounded points are different objects ("the first blue cube", "the second blue cube");
  "for the N time" is the same object again, folded into the count; "it" is the object just
  picked up, and a pick followed by what was done with that object is one clause ("put the
  first blue cube into the bin"). In grounded style each object keeps the point the history
  gave it (copied, never invented). It cannot tell what really happened: a failed grasp under
  an unchanged subgoal, or two cubes behind the same simple text, need the scene truth.
- **Spatial memory** from the image with an object detector calibrated on RoboMME's renders
  (:mod:`.image_objects`: cubes by colour, buttons, containers, the bin, white areas; never the table
  or the arm) and their pixel centres ``<y, x>`` (RoboMME's order), chained with the prior
  memory so objects that disappear are remembered: a cube that vanished beside a container
  is under it, anything else is where it was last seen.

It makes the whole pipeline run with no key and no network, and gives a floor that any
labelling model should beat.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from ....prompts import ACTION_WORD_LIMITS, EMPTY_ACTION_MEMORY, EMPTY_SPATIAL_MEMORY, SPATIAL_WORD_LIMIT
from ....subgoals import (
    AGAIN,
    AGAIN_RE,
    BIN,
    BUTTON,
    CONTAINER,
    CUBE,
    DEMONSTRATION_MARK,
    GROUNDING_RE,
    HIDDEN,
    IN_THE_VIDEO,
    LAST_SEEN,
    POINT,
    TARGET,
    UNDER_THE_CONTAINER,
    WHITE_AREA,
    hidden_at,
    last_seen_at,
    listed,
    object_name,
    point_of,
    point_text,
    points_in_order,
    scene_parts,
    seen_at,
    strip_grounding,
    times_words,
    white_area_under,
)
from ..engine.defaults import RULES
from ..engine.requests import LabelParams, LabelRequest
from ..store.cache import Answer
from .image_objects import HUES, detect_objects

MODEL = RULES
VERSION = "4"

NOTHING_YET = EMPTY_ACTION_MEMORY
NOTHING_SEEN = EMPTY_SPATIAL_MEMORY

_AGAIN_RE = re.compile(r"\s*" + AGAIN, re.IGNORECASE)
"""RoboMME's repetition of an action on the same object ("for the second time"): folded into a count."""
_PICK_RE = re.compile(r"^(?:pick up|grasp) (.+)$")
SAME_OBJECT_PX = 10
"""Grounded points of one subgoal text this close are one object; farther apart, two."""
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


def past_tense(action: str) -> str:
    """``close the gripper and push the cube`` -> ``closed the gripper and pushed the cube``."""
    verb, _, rest = action.partition(" ")
    past = PAST_TENSE.get(verb.lower())
    if not past:
        return f"did: {action}"
    rest = re.sub(r"\band (\w+)\b", lambda m: f"and {PAST_TENSE.get(m.group(1).lower(), m.group(1))}", rest)
    return f"{past} {rest}".strip()


def _inline(text: str) -> str:
    """A subgoal with each grounding written as a bare `` <y, x>`` where it stands, lower-cased."""
    return (
        re.sub(
            r"\s+",
            " ",
            GROUNDING_RE.sub(lambda m: " " + point_text(point_of(*[g for g in m.groups() if g is not None])), text),
        )
        .strip()
        .lower()
    )


def _actions(history: Sequence[str]) -> list[tuple[str, bool]]:
    """The history as actions on named objects, each with whether it repeats an earlier one
    ("for the N time": the same object, wherever it now is): repetition marks dropped, "it"
    resolved to the object just picked up, and a pick merged into the action that follows on
    the same object."""
    out: list[tuple[str, bool]] = []
    held: str | None = None
    again = False
    for item in history:
        repeated = AGAIN_RE.search(item) is not None
        text = _inline(_AGAIN_RE.sub("", item.strip().rstrip(".")))
        picked = _PICK_RE.match(text)
        if picked:
            held, again = picked.group(1), repeated
            out.append((text, repeated))
            continue
        if held is not None and re.search(r"\bit\b", text):
            text = re.sub(r"\bit\b", held, text, count=1)
        if held is not None and out and _PICK_RE.match(out[-1][0]) and strip_grounding(held) in strip_grounding(text):
            out.pop()  # "pick up X", then "put X into the bin": one clause, the pick implied
            repeated = repeated or again
            if held not in text:  # the object as the pick named it (its point)
                text = text.replace(strip_grounding(held), held, 1)
        out.append((text, repeated))
        held, again = None, False
    return out


def _object_key(action: str, seen: dict[str, list[tuple[int, int]]], again: bool = False) -> tuple:
    """What makes two actions the same: their words, and (grounded) each point snapped to one
    already seen for those words within :data:`SAME_OBJECT_PX` (``again``: a repeat on the same
    object, whose points are the first ones seen for those words)."""
    words = strip_grounding(action)
    known = seen.setdefault(words, [])
    points = points_in_order(action)
    if again and len(known) >= len(points):
        return words, tuple(known[: len(points)])
    snapped = []
    for p in points:
        match = next((q for q in known if math.hypot(p[0] - q[0], p[1] - q[1]) <= SAME_OBJECT_PX), None)
        if match is None:
            known.append(p)
            match = p
        snapped.append(match)
    return words, tuple(snapped)


def _clauses(history: Sequence[str], style: str, counted: bool = True) -> list[str]:
    counts: dict[tuple, int] = {}
    shown: dict[tuple, str] = {}
    seen: dict[str, list[tuple[int, int]]] = {}
    for action, again in _actions(history):
        key = _object_key(action, seen, again)
        counts[key] = counts.get(key, 0) + 1
        shown.setdefault(key, action if style == "grounded" else key[0])
    return [past_tense(shown[key]) + (f" {times_words(n)}" if counted or n > 1 else "") for key, n in counts.items()]


def action_memory(history: Sequence[str], style: str) -> str:
    """Summary of the completed subgoals ``history`` (oldest first) in the given style; a video
    task's demonstration (items marked :data:`~robomme_mem.subgoals.DEMONSTRATION_MARK`) first, as
    what the video showed."""
    shown = [h[len(DEMONSTRATION_MARK) :] for h in history if h.startswith(DEMONSTRATION_MARK)]
    done = [h for h in history if not h.startswith(DEMONSTRATION_MARK)]
    video = f"{IN_THE_VIDEO} the robot {listed(_clauses(shown, style, counted=False))}." if shown else None
    return compose_action_memory(video, _clauses(done, style), style)


def compose_action_memory(video: str | None, clauses: list[str], style: str) -> str:
    """An action memory from what a video showed (a sentence, or ``None``) and the clauses of what
    was done (oldest first), under the style's word limit: the oldest clauses go first, the newest
    stays; the one empty wording when there is nothing. Every labeller that writes one uses it."""
    limit = ACTION_WORD_LIMITS[style] - 1
    while True:
        text = " ".join(t for t in (video, f"I {listed(clauses)}." if clauses else None) if t)
        if not text:
            return NOTHING_YET
        if len(text.split()) <= limit or len(clauses) <= 1:
            return text if len(text.split()) <= limit else " ".join(text.split()[:limit])
        clauses = clauses[1:]  # the oldest actions matter least


# -- spatial ------------------------------------------------------------------------------

TRACK_PX = 12
"""An object of the prior memory within this distance of one seen now is the same object."""
COVER_PX = 20
"""A cube gone from view this close to a container is taken to be under it."""
MAX_VISIBLE, MAX_GONE = 12, 4
_CUBES = "(?:" + "|".join(object_name(CUBE, colour) for colour in HUES) + ")"
_ENTRY_RE = re.compile(
    rf"({_CUBES}|{BUTTON}|{TARGET}|{CONTAINER}|{BIN}|{white_area_under(_CUBES)}|{WHITE_AREA})"
    rf"( {HIDDEN} {UNDER_THE_CONTAINER} at| {LAST_SEEN} at)? " + POINT
)
"""An entry of a memory this labeller wrote: a cube of a colour the detector names by hue, any other object, where it is."""


def spatial_memory(prior: str | None, image: np.ndarray) -> str:
    """The task's objects in view now (:mod:`.image_objects`), and those the prior memory saw that are gone.

    A cube that vanished next to a container is reported under it; anything else that left the
    view (picked up, hidden by the arm) is reported where it was last seen.
    """
    now = detect_objects(image)
    fixtures = [o for o in now if o.kind != CUBE]  # few, and what the task turns on: never cut for a crowd of cubes
    kept = {id(o) for o in [*fixtures, *[o for o in now if o.kind == CUBE]][:MAX_VISIBLE]}
    visible = [seen_at(o.name, (o.y, o.x), o.held) for o in now if id(o) in kept]
    containers = [o for o in now if o.kind == CONTAINER]
    gone: list[str] = []
    for name, y, x in _missing(_remembered(prior), now):
        cover = min(containers, key=lambda c: math.hypot(c.y - y, c.x - x), default=None)
        if name.endswith(CUBE) and cover is not None and math.hypot(cover.y - y, cover.x - x) <= COVER_PX:
            entry = hidden_at(name, (cover.y, cover.x))
        else:
            entry = last_seen_at(name, (y, x))
        if entry not in gone:
            gone.append(entry)
    if not visible and not gone:
        return NOTHING_SEEN
    text = " ".join(scene_parts(visible, gone[:MAX_GONE]))
    words = text.split()
    return text if len(words) < SPATIAL_WORD_LIMIT else " ".join(words[: SPATIAL_WORD_LIMIT - 1])


def _remembered(prior: str | None) -> list[tuple[str, str, int, int]]:
    """(name, how: "" for visible, "hidden" or "last seen", y, x) of every object a memory of this labeller mentions."""
    return [
        (name, HIDDEN if HIDDEN in how else LAST_SEEN if how else "", *point_of(y, x))
        for name, how, y, x in _ENTRY_RE.findall(prior or "")
    ]


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
        candidates = [
            (how, y, x)
            for how, y, x in known
            if not any(o.name == name and math.hypot(o.y - y, o.x - x) <= TRACK_PX for o in now)
        ]
        candidates.sort(key=lambda c: {HIDDEN: 0, "": 1, LAST_SEEN: 2}[c[0]])
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
