"""RoboMME's oracle planner as the low level: a high-level subgoal becomes a multiple-choice command.

RoboMME's ``multi_choice`` action space runs one subgoal's whole motion-planning solve per
``env.step({"choice": "a", "point": [y, x]})``. Used as the low level it leaves the high level
alone under test: no pi0.5 in between, no GPU. This module is the part that needs no
simulator:

- :func:`match_option` maps the subgoal text to one of the options the env lists
  (``info["available_multi_choices"]``: label, action text, whether it needs a point). The
  option's words must appear in the subgoal in order, the verb first; the option with most
  words wins ("pick up the first red cube" -> "pick up the cube", "press the first button" ->
  "press the first button", not "press the button"). Ordinals and counts leave the letter alone;
  the point picks the object.
- :func:`parse_point` reads the grounded ``<y, x>`` (RoboMME's order, the env's own order).
- :func:`resolve_by_text`: simple-subgoal variants give no point, so the referent is resolved only
  as far as the words say (a colour; RoboMME's "left-side"/"right-side" target). Where they leave
  a choice (which container hides the cube), a seeded random pick among the matching visible
  candidates; the pick and the number it was made among are recorded.
- :func:`run_oracle_episode`: the loop. The high level is called at reset and after each oracle
  step, on the last front frame; a subgoal that maps to no option, a missing point, a step that
  runs no simulator step, and RoboMME's "remain static" once its last checkpoint has passed are
  each counted and end the episode after ``max_repeats`` in a row, with their own status. The
  simulator-step cap and a call cap bound everything else.

The simulator side (``OracleEpisode``) is in :mod:`robomme_mem.closedloop.suites`.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .loop import MAX_STEPS, EpisodeOutcome

MAX_CALLS = 64
"""High-level calls per episode at most (the longest RoboMME episodes have about 20 subgoals)."""
MAX_REPEATS = 3
"""Unusable answers (or steps that run nothing) in a row before an episode is ended."""
ENDED = ("success", "fail", "timeout", "error")
"""The env's own final statuses."""
MISSES = ("unmapped", "no_point", "no_progress", "static_stall")
"""The harness's own ways to end an episode, each counted per episode."""
STATUSES = (*ENDED, *MISSES, "call_cap")

_POINT_RE = re.compile(r"<\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*>")
_AT_POINT_RE = re.compile(r"\s*\bat\s*<[^>]*>|\s*<[^>]*>")
_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black", "pink", "brown", "grey", "gray", "cyan")
STATIC = "remain static"
"""StopCube's wait: runs until the next checkpoint, and nothing once the last has passed."""


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
        out = {"choice": self.choice, "action": self.action, "point": list(self.point) if self.point else None, "source": self.source}
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
    return _WORD_RE.findall(_AT_POINT_RE.sub(" ", text.lower()))


def parse_point(text: str) -> tuple[int, int] | None:
    """The first ``<y, x>`` of a grounded subgoal, rounded; None without one."""
    found = _POINT_RE.search(text)
    return (round(float(found.group(1))), round(float(found.group(2)))) if found else None


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


def command_for(subgoal: str, options: Sequence[Option], candidates, rng: random.Random, *, by_text: bool) -> Command | Miss:
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
    point = parse_point(subgoal)
    if point is not None:
        return Command(option.label, option.action, point, "said")
    if not by_text:
        return Miss("no_point", f"{option.action!r} needs a point <y, x>; {subgoal!r} gives none")
    found, among = resolve_by_text(subgoal, candidates(option.label), rng)
    if found is None:
        return Miss("no_point", f"no candidate of {option.action!r} is in view")
    return Command(option.label, option.action, found.pixel, "text" if among == 1 else "random", among, found.name)


# -- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """What an oracle step (or the reset) leaves: the last front frame and the env's options."""

    front: np.ndarray
    options: tuple[Option, ...]
    steps: int
    """Simulator steps it ran (0 for the reset, and for a step that did nothing)."""
    status: str = "ongoing"
    online_subgoal: str | None = None
    """The env's own next grounded subgoal: privileged, read only by the built-in high levels."""
    online_simple: str | None = None
    """The same in simple form (no point)."""
    error: str | None = None
    """The env's message when ``status`` is ``error``."""


class OracleEpisode(Protocol):
    goal: str

    def reset(self) -> Turn: ...

    def step(self, command: Command) -> Turn: ...

    def candidates(self, label: str) -> list[Candidate]: ...

    def close(self) -> None: ...


@dataclass
class CeilingPolicy:
    """A privileged high level: it issues the env's own next subgoal.

    It measures the oracle executor itself, so every other number reads against it. ``simple``
    issues the simple form (no point), which the executor resolves from the words as it does a
    simple variant's: the ceiling of a simple-subgoal high level.
    """

    simple: bool = False
    privileged = True
    calls: int = 0
    subgoal: str = ""

    def reset(self, goal: str) -> None:
        self.subgoal, self.calls = "", 0

    def online(self, turn: Turn) -> str:
        return (turn.online_simple if self.simple else turn.online_subgoal) or ""

    def step(self, image, turn: Turn):
        from .policy import Parsed

        self.calls += 1
        self.subgoal = self.online(turn)
        return Parsed(self.subgoal, "", None)


@dataclass
class FirstSubgoalPolicy(CeilingPolicy):
    """A deliberately memoryless high level: it repeats the first subgoal it was given, forever."""

    def step(self, image, turn: Turn):
        from .policy import Parsed

        self.calls += 1
        if not self.subgoal:
            self.subgoal = self.online(turn)
        return Parsed(self.subgoal, "", None)


@dataclass
class OracleOutcome(EpisodeOutcome):
    misses: dict[str, int] = field(default_factory=dict)
    """Per episode: unmapped subgoals, missing points, steps that ran nothing, static stalls."""


def run_oracle_episode(episode: OracleEpisode, policy, *, by_text: bool, seed: int = 0, max_steps: int = MAX_STEPS,
                       max_calls: int = MAX_CALLS, max_repeats: int = MAX_REPEATS) -> OracleOutcome:
    """Roll one episode out with the oracle low level; never loops or hangs."""
    start = time.perf_counter()
    rng = random.Random(seed)
    turn = episode.reset()
    policy.reset(episode.goal)
    steps, sim_seconds, trace, misses, streak = 0, 0.0, [], Counter(), Counter()
    status, error = "ongoing", None
    while True:
        if len(trace) >= max_calls:
            status = "call_cap"
            break
        parsed = policy.step(turn.front, turn) if getattr(policy, "privileged", False) else policy.step(turn.front)
        command = command_for(parsed.subgoal, turn.options, episode.candidates, rng, by_text=by_text)
        call = {"step": steps, "subgoal": parsed.subgoal, "memory": parsed.memory, "spatial": parsed.spatial, "fallbacks": list(parsed.fallbacks)}
        trace.append(call)
        if isinstance(command, Miss):
            call["miss"] = command.kind
            call["why"] = command.why
            if _missed(command.kind, misses, streak, max_repeats):
                status = command.kind
                break
            continue
        call["command"] = command.to_json()
        t = time.perf_counter()
        after = episode.step(command)
        sim_seconds += time.perf_counter() - t
        call["ran"] = after.steps
        steps += after.steps
        if after.status in ENDED:
            status = after.status
            error = after.error
            break
        if steps >= max_steps:
            status = "timeout"
            break
        if after.steps == 0:
            kind = "static_stall" if command.action.strip().lower() == STATIC else "no_progress"
            call["miss"] = kind
            if _missed(kind, misses, streak, max_repeats):
                status = kind
                break
            continue
        streak.clear()
        turn = after
    fallbacks = Counter(f for c in trace for f in c["fallbacks"])
    return OracleOutcome(status, steps, len(trace), time.perf_counter() - start, sim_seconds, dict(fallbacks), trace, error, dict(misses))


def _missed(kind: str, misses: Counter, streak: Counter, max_repeats: int) -> bool:
    """Count a miss; True when it has happened ``max_repeats`` times in a row."""
    misses[kind] += 1
    for other in list(streak):
        if other != kind:
            del streak[other]
    streak[kind] += 1
    return streak[kind] >= max_repeats
