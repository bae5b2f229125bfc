"""What a spatial memory claims, entry by entry, whatever labeller wrote it.

A memory is cut into clauses (at ``;``, sentence ends, and commas that do not sit inside a
``<y, x>`` point). A clause's first object word says what it names (``white area under the red
cube <y, x>`` names a white area; ``red cube hidden under the container at <y, x>`` names the red
cube, placed where the container is), its colour the word before it, its point the first ``<y,
x>`` in it, and its status the words around them: held, hidden, last seen, in the bin, or
visible. Words no task object answers to (``gripper``, ``arm``, ``table``) make an entry of kind
``other``, which no truth matches: an entry on the arm is false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...subgoals import (
    BIN,
    BUTTON,
    COLOURS,
    CONTAINER,
    CUBE,
    HIDDEN,
    NOT_IN_VIEW,
    OBJECT_KINDS,
    POINT_RE,
    TARGET,
    VISIBLE,
    WHITE_AREA,
    point_of,
    status_of,
)

KINDS = {
    **{kind: kind for kind in OBJECT_KINDS},
    **{kind + "s": kind for kind in (WHITE_AREA, CUBE, BUTTON, CONTAINER, TARGET)},
    "block": CUBE,
    "blocks": CUBE,
    "cup": CONTAINER,
    "cups": CONTAINER,
    "board": BIN,
    "goal": TARGET,
    "gripper": "other",
    "arm": "other",
    "robot": "other",
    "table": "other",
    "hand": "other",
}
"""The memories' object words, by the kind they name (``other``: no task object)."""
_NOUN_RE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in KINDS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)
_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOURS) + r")\s+$", re.IGNORECASE)
_COLOUR_AFTER_RE = re.compile(r"\W*(" + "|".join(COLOURS) + r")\b", re.IGNORECASE)
"""A colour after its noun, before the point ("cubes: red <106, 110>")."""
_CLAUSE_RE = re.compile(r";|\.(?:\s|$)|,(?!\s*\d+\s*>)|\n")


@dataclass(frozen=True)
class Entry:
    kind: str
    """cube, button, container, bin, target, white area, or other (no task object)."""
    colour: str | None
    point: tuple[int, int] | None
    status: str
    """visible, held, hidden, last_seen or in_bin."""
    text: str


def entries(memory: str) -> list[Entry]:
    """Every entry of a spatial memory that names an object (a clause with no object word names none)."""
    out = []
    heading_status = "visible"
    for clause in _CLAUSE_RE.split(memory or ""):
        text = clause.strip()
        if not text:
            continue
        lowered = text.lower()
        if lowered.startswith(NOT_IN_VIEW.lower()) or lowered.startswith(HIDDEN) and ":" in lowered:
            heading_status = "last_seen"
        elif lowered.startswith(VISIBLE.lower()):
            heading_status = "visible"
        noun = _NOUN_RE.search(text)
        if noun is None:
            continue
        kind = KINDS[noun.group(1).lower()]
        found = POINT_RE.search(text)
        colour_match = _COLOUR_RE.search(text[: noun.start()]) or _COLOUR_AFTER_RE.match(
            text[noun.end() : found.start() if found else None]
        )
        colour = colour_match.group(1).lower() if colour_match and kind != WHITE_AREA else None
        point = point_of(*found.groups()) if found else None
        status = status_of(text, heading_status)
        out.append(Entry(kind, colour, point, status, text))
    return out
