"""The words of RoboMME's subgoals and of the memories written about them, in one place.

The builder, the labellers, the audit, the oracle, the scorers and the local test server all
read subgoal text; they must agree on what a point is, what a grounding is, how numbers are
said and when an episode says it is done. The memories' words live here too (colours, object
kinds, where an object is: held, hidden, last seen, in the bin), each with its writer and its
reader, so what a labeller writes is what the audit reads. The tags around a memory in a prompt
or an answer (``<mem>``, ``<spatial_mem>``) live with the prompts (:mod:`robomme_mem.prompts`).
"""

from __future__ import annotations

import re

COMPLETE_MARKER = "complete"
"""RoboMME ends episodes with "All tasks completed"; the reference treats any "complete" this way."""


def normalise(subgoal: str) -> str:
    """Comparison key of a subgoal: lower-case and stripped."""
    return subgoal.lower().strip()


def is_complete_marker(subgoal: str) -> bool:
    return COMPLETE_MARKER in subgoal.lower()


STYLES = ("simple", "grounded")
"""RoboMME's two forms of a subgoal (and of the action memory about it): plain words, or grounded
with the ``<y, x>`` point of its target."""

POINT = r"<\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*>"
"""A pixel ``<y, x>`` on the front image, in RoboMME's order (a policy may write decimals)."""
POINT_RE = re.compile(POINT)
AT_POINT_RE = re.compile(r"\bat\s*" + POINT)
"""RoboMME's inline grounding, ``at <y, x>``."""
GROUNDING = r"\s*\bat\s*" + POINT + r"|\s*" + POINT
"""A grounding with the space before it: ``" at <y, x>"`` or a bare ``" <y, x>"``."""
GROUNDING_RE = re.compile(GROUNDING)


def point_of(y: str, x: str) -> tuple[int, int]:
    """A matched point's two numbers, rounded to pixels."""
    return round(float(y)), round(float(x))


def point_text(point) -> str:
    """``(86, 136)`` -> ``"<86, 136>"``: how every memory and subgoal writes a point."""
    return f"<{point[0]}, {point[1]}>"


def points_in_order(text: str) -> list[tuple[int, int]]:
    """Every point of a text, in order, repeats kept."""
    return [point_of(y, x) for y, x in POINT_RE.findall(text)]


def points(text: str) -> set[tuple[int, int]]:
    """Every point of a text."""
    return set(points_in_order(text))


def first_point(text: str) -> tuple[int, int] | None:
    found = POINT_RE.search(text)
    return point_of(*found.groups()) if found else None


def strip_grounding(text: str, by: str = "") -> str:
    """A text with each grounding (and the space before it) replaced by ``by``."""
    return GROUNDING_RE.sub(by, text)


NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}
_NUMBER_OF = {n: w for w, n in NUMBER_WORDS.items()}
_ORDINAL_OF = {n: w for w, n in ORDINAL_WORDS.items()}
AGAIN = r"\bfor the (?:(\d+)(?:st|nd|rd|th)|(" + "|".join(ORDINAL_WORDS) + r")) time\b"
"""RoboMME's repetition of an action on the same object, ``for the third time`` (or ``3rd``)."""
AGAIN_RE = re.compile(AGAIN, re.IGNORECASE)
COUNTED_NOUNS = ("times", "cubes", "blocks", "objects", "items", "swings", "presses")
"""The words after a number that make it a count of repetitions ("3 times", "two cubes")."""
_COUNT_RE = re.compile(
    r"\b(" + "|".join(TIMES_WORDS) + r")\b"
    r"|\b(\d+|" + "|".join(NUMBER_WORDS) + r")\b(\s+(?:" + "|".join(COUNTED_NOUNS) + r")\b)?"
    r"|" + AGAIN,
    re.IGNORECASE,
)


def times_words(n: int) -> str:
    """``1`` -> ``"once"``, ``2`` -> ``"twice"``, ``3`` -> ``"3 times"``: how memories say a count of times."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def again_words(n: int) -> str:
    """``3`` -> ``"for the third time"``: how a subgoal says it repeats an action on the same object."""
    return f"for the {ordinal_word(n)} time"


def count_value(word: str | None) -> int | None:
    """``"two"``, ``"twice"``, ``"2"``, ``"2 times"``, ``"second"`` -> 2 (None: no count)."""
    first = (word or "").lower().split()[:1]
    if not first:
        return None
    return (
        int(first[0])
        if first[0].isdigit()
        else NUMBER_WORDS.get(first[0]) or TIMES_WORDS.get(first[0]) or ORDINAL_WORDS.get(first[0])
    )


def counts(text: str, *, repetitions: bool = False) -> list[int]:
    """The counts a text states, in order, coordinates excluded: ``"twice"``, ``"3 times"``, ``"two"``.

    ``repetitions``: only the counts of how often something was done (the audit's reading): a
    number must be followed by one of :data:`COUNTED_NOUNS` ("two cubes", not "two"), and "for
    the third time" counts 3. Otherwise every number word counts and ordinals do not (the
    offline scorer compares all the numbers a memory states with its target's)."""
    out = []
    for times, number, counted, nth, ordinal in _COUNT_RE.findall(POINT_RE.sub(" ", text)):
        if times or number and (counted or not repetitions):
            out.append(count_value(times or number))
        elif repetitions and (nth or ordinal):
            out.append(count_value(nth or ordinal))
    return out


def listed(parts: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``: how memories list clauses and objects."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def number_word(n: int) -> str:
    """``3`` -> ``"three"`` (one to ten, as RoboMME's goals say counts)."""
    return _NUMBER_OF[n]


def ordinal_word(n: int) -> str:
    """``3`` -> ``"third"`` (RoboMME's "for the third time")."""
    return _ORDINAL_OF[n]


COUNTING_TASKS = ("BinFill", "PickXtimes", "SwingXtimes")
"""Tasks whose goal is a number of repetitions: the action memory must carry the count."""


QUIET_SUBGOALS = frozenset({"static", "remain static", "no record"})
"""Subgoals that show nothing to remember or to single out (RoboMME's pauses and unrecorded steps)."""
IN_THE_VIDEO = "In the video"
"""How a memory opens what a video's demonstration showed ("In the video the robot ...", "The video
showed that ..."): the writers use it, and the audit reads such sentences as the video's, not as
what was done."""
VIDEO_SHOWED = "The video showed that"
DEMONSTRATION_MARK = "in the video: "
"""How a video demonstration's subgoal stands in a labelling history: before every executed one, so
each labeller can say what the video showed (and a memory can carry it)."""


def demonstration_items(subgoals: list[str]) -> list[str]:
    """A demonstration's subgoals as history items: consecutive repeats and quiet ones dropped, marked."""
    out: list[str] = []
    for text in subgoals:
        text = normalise(text)
        if text in QUIET_SUBGOALS or is_complete_marker(text):
            continue
        item = DEMONSTRATION_MARK + text
        if not out or out[-1] != item:
            out.append(item)
    return out


# -- objects and where a memory says they are ----------------------------------------------

COLOURS = (
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "white",
    "black",
    "pink",
    "brown",
    "grey",
    "gray",
    "cyan",
)
"""Every colour word an object is named by (both spellings of grey). The detector's hues and the
synthetic sample's palette are among them."""
CUBE, BUTTON, TARGET, CONTAINER, BIN, WHITE_AREA = "cube", "button", "target", "container", "bin", "white area"
OBJECT_KINDS = (CUBE, BUTTON, TARGET, CONTAINER, BIN, WHITE_AREA)
"""The task objects a memory names, in the order the ``rules`` labeller lists them."""


def object_name(kind: str, colour: str | None = None) -> str:
    """``("cube", "red")`` -> ``"red cube"``; any other kind (or a cube of no known colour) by its kind."""
    return f"{colour} {CUBE}" if kind == CUBE and colour else kind


def white_area_under(cube: str) -> str:
    """``"red cube"`` -> ``"white area under the red cube"`` (PickHighlight's highlight of that cube)."""
    return f"{WHITE_AREA} under the {cube}"


VISIBLE, NOT_IN_VIEW = "Visible", "Not in view"
"""The headings of a spatial memory's two parts: ``Visible: a, b. Not in view: c; d.``"""
NOTHING_VISIBLE_NOW = f"{VISIBLE}: nothing."
"""The visible part of a spatial memory that remembers objects but sees none now."""
HELD, HIDDEN, LAST_SEEN, IN_THE_BIN = "held", "hidden", "last seen", "in the bin"
UNDER_THE_CONTAINER = "under the container"


def seen_at(name: str, point, held: bool = False) -> str:
    """``red cube <80, 120>``, ``red cube <80, 120> (held)``: an object in view."""
    return f"{name} {point_text(point)}" + (f" ({HELD})" if held else "")


def held_by_gripper(name: str) -> str:
    return f"{name} {HELD} by the gripper"


def hidden_at(name: str, container, last_seen: bool = False) -> str:
    """``red cube hidden under the container at <y, x>``: a cube a container covers, at the container's
    place (``last_seen``: the container is out of view too, ``... under the container last seen at <y, x>``)."""
    under = f"{name} {HIDDEN} {UNDER_THE_CONTAINER}"
    return last_seen_at(under, container) if last_seen else f"{under} at {point_text(container)}"


def last_seen_at(name: str, point) -> str:
    """``red cube last seen at <y, x>``: an object out of view, where the camera saw it last."""
    return f"{name} {LAST_SEEN} at {point_text(point)}"


def in_the_bin(name: str) -> str:
    return f"{name} {IN_THE_BIN}"


def scene_parts(visible: list[str], gone: list[str]) -> list[str]:
    """A spatial memory's two parts from its entries: what is in view (or nothing) and what is not."""
    return [f"{VISIBLE}: {', '.join(visible)}." if visible else NOTHING_VISIBLE_NOW] + (
        [f"{NOT_IN_VIEW}: {'; '.join(gone)}."] if gone else []
    )


STATUS_WORDS = {
    "held": (HELD, "in the gripper", "holding", "carried", "grasped"),
    "in_bin": (IN_THE_BIN, "into the bin", "inside the bin"),
    "hidden": (HIDDEN, UNDER_THE_CONTAINER, "underneath the container", "covered", "beneath"),
    "last_seen": (LAST_SEEN, "previously", "was at", "no longer visible", NOT_IN_VIEW.lower()),
}
"""Where an entry says its object is, by the words any labeller may use (ours first), tried in this order."""
_STATUS_RES = {
    status: re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE) for status, words in STATUS_WORDS.items()
}


def status_of(entry: str, default: str = "visible") -> str:
    """``held``, ``in_bin``, ``hidden`` or ``last_seen`` by an entry's words; ``default`` where none says."""
    return next((status for status, pattern in _STATUS_RES.items() if pattern.search(entry)), default)
