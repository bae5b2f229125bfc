"""The words of RoboMME's subgoals and of the memories written about them, in one place.

The builder, the labellers, the audit, the oracle, the scorers and the local test server all
read subgoal text; they must agree on what a point is, what a grounding is, how numbers are
said and when an episode says it is done.
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


NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}
_NUMBER_OF = {n: w for w, n in NUMBER_WORDS.items()}
_ORDINAL_OF = {n: w for w, n in ORDINAL_WORDS.items()}


def times_words(n: int) -> str:
    """``1`` -> ``"once"``, ``2`` -> ``"twice"``, ``3`` -> ``"3 times"``: how memories say a count of times."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


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
