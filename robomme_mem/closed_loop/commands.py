"""A subgoal's text as one of the multiple-choice commands RoboMME's oracle planner runs.

The option whose action words appear in the subgoal in order, verb first, wins, the longest
first ("press the first button" is not "press the button"); ordinals and counts leave the
letter alone and the point picks the object. Simple subgoals carry no point, so their referent
is resolved as far as their words go, then by a seeded random pick that is recorded.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..subgoals import COLOURS, first_point, strip_grounding

_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")


@dataclass(frozen=True)
class Option:
    """One of the env's multiple-choice options."""

    label: str
    action: str
    need_point: bool

    @classmethod
    def from_info(cls, item: dict) -> Option:
        return cls(str(item["label"]), str(item["action"]), bool(item.get("need_parameter")))


@dataclass(frozen=True)
class Candidate:
    """An object an option can act on, where the front camera sees it (``(y, x)``; None: not in view)."""

    name: str
    pixel: tuple[int, int] | None


@dataclass(frozen=True)
class Command:
    """What goes to the env: ``{"choice": label, "point": [y, x]}``; how the point was chosen."""

    choice: str
    action: str
    point: tuple[int, int] | None = None
    source: str = "none"
    """``said`` (the subgoal's ``<y, x>``), ``text`` (one candidate fits the words), ``random``, ``none``."""
    among: int = 0
    """Candidates that fit the words (``text``/``random``)."""
    target: str | None = None

    def to_env(self) -> dict:
        return {"choice": self.choice} if self.point is None else {"choice": self.choice, "point": list(self.point)}

    def to_json(self) -> dict:
        out = {
            "choice": self.choice,
            "action": self.action,
            "point": list(self.point) if self.point else None,
            "source": self.source,
        }
        if self.source in ("text", "random"):
            out.update(among=self.among, target=self.target)
        return out


@dataclass(frozen=True)
class Miss:
    """A subgoal that gives no command: ``unmapped`` or ``no_point``."""

    kind: str
    why: str


def words(text: str) -> list[str]:
    """Lower-case words of a subgoal, its ``at <y, x>`` groundings dropped."""
    return _WORD_RE.findall(strip_grounding(text.lower(), " "))


def _in_order(needle: Sequence[str], hay: Sequence[str]) -> bool:
    it = iter(hay)
    return all(w in it for w in needle)


def match_option(subgoal: str, options: Sequence[Option]) -> Option | None:
    """The option whose action words appear in ``subgoal`` in order, verb first; the longest wins.

    None when nothing fits, or when two options fit equally well.
    """
    said = words(subgoal)
    fits = []
    for option in options:
        want = words(option.action)
        if want and said and said[0] == want[0] and _in_order(want, said):
            fits.append((len(want), option))
    if not fits:
        return None
    fits.sort(key=lambda f: -f[0])
    if len(fits) > 1 and fits[0][0] == fits[1][0]:
        return None
    return fits[0][1]


def _colours(text_words: Sequence[str]) -> set[str]:
    return {w for w in text_words if w in COLOURS} | ({"grey"} if "gray" in text_words else set())


def resolve_by_text(subgoal: str, candidates: Sequence[Candidate], rng: random.Random) -> tuple[Candidate | None, int]:
    """The candidate the words pick, else a seeded random one among those that fit; (it, how many fit).

    Only candidates in view count. A colour in the subgoal keeps the candidates of that colour
    (by their names, e.g. ``cube_red_2``) when any has one; "left-side"/"right-side" (RoboMME's
    SwingXtimes targets, named from the robot, which faces the camera) keep the candidate furthest
    to the image's right or left.
    """
    said = words(subgoal)
    pool = [c for c in candidates if c.pixel is not None]
    colours = _colours(said)
    if colours:
        coloured = [c for c in pool if colours & set(re.split(r"[_\W]+", c.name.lower()))]
        pool = coloured or pool
    if pool and ("left-side" in said or "right-side" in said):
        xs = [c.pixel[1] for c in pool]
        pick = max(xs) if "left-side" in said else min(xs)
        pool = [c for c in pool if c.pixel[1] == pick]
    if not pool:
        return None, 0
    return (pool[0] if len(pool) == 1 else rng.choice(pool)), len(pool)


def command_for(
    subgoal: str, options: Sequence[Option], candidates, rng: random.Random, *, by_text: bool
) -> Command | Miss:
    """The command for one subgoal.

    ``candidates(label)`` lists an option's candidates (only asked for when needed). A grounded
    variant must give the point; ``by_text`` (simple variants) resolves it from the words instead.
    """
    option = match_option(subgoal, options)
    if option is None:
        listed = "; ".join(o.action for o in options)
        return Miss("unmapped", f"{subgoal!r} matches none of: {listed}")
    if not option.need_point:
        return Command(option.label, option.action)
    point = first_point(subgoal)
    if point is not None:
        return Command(option.label, option.action, point, "said")
    if not by_text:
        return Miss("no_point", f"{option.action!r} needs a point <y, x>; {subgoal!r} gives none")
    found, among = resolve_by_text(subgoal, candidates(option.label), rng)
    if found is None:
        return Miss("no_point", f"no candidate of {option.action!r} is in view")
    return Command(option.label, option.action, found.pixel, "text" if among == 1 else "random", among, found.name)
