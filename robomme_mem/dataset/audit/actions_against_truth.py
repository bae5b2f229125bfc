"""Any label set's action memories scored against what the replay saw happen (:mod:`..truth.actions`).

A memory's claims are read off its text (:func:`claims`): an action (``bin``, ``target``,
``table``, ``pick``, ``press``), the object it names (kind, colour, and in grounded style its
point) and how often ("twice", "two blue cubes"). Against the truth's events up to the
boundary's step:

- **true**: each claim matches the truth: an object of that kind and colour had that action done
  to it that many times (a grounded claim: the object acted on within :data:`MATCH_PX` of the
  point where it was acted on; "two blue cubes": two distinct blue cubes);
- **complete**: each (action, object) the truth has by then is stated by a true claim, one by
  one or compressed into a count;
- **leaked**: a false claim that the rest of the episode makes true (the memory told the future);
- **failed attempts**: at a boundary after a grasp that closed on nothing, no claim counts more
  picks than happened.

What a video's demonstration showed ("In the video ...", "The video showed ...") is not an
action claim: the answerable-rows check asks about it. Rates come with Wilson 95% intervals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...subgoals import (
    BUTTON,
    COLOURS,
    CONTAINER,
    CUBE,
    IN_THE_VIDEO,
    NUMBER_WORDS,
    POINT,
    TIMES_WORDS,
    VIDEO_SHOWED,
    count_value,
    point_of,
)
from ..labels.engine.episodes import EpisodeLabels
from ..labels.labellers.rules import PAST_TENSE
from ..truth.actions import records_actions
from ..truth.seen import never_seen
from .demonstrations import Rate, rate_cell

MATCH_PX = 10.0
"""Pixels between a claim's point and where the object was when acted on."""
_OBJECT_RE = re.compile(
    rf"\b(?:(?P<number>{'|'.join(NUMBER_WORDS)}|\d+)\s+)?(?:the\s+|a\s+)?(?:(?:first|second|third|fourth|fifth|other|same|left|right|middle|highlighted)\s+)*"
    rf"(?P<colour>{'|'.join(COLOURS)})?\s*(?P<kind>{CUBE}s?|{BUTTON}s?|{CONTAINER}s?|pegs?)\b(?:\s*{POINT})?"
    rf"(?:\s+(?P<times>{'|'.join(TIMES_WORDS)}|\d+ times))?",
    re.IGNORECASE,
)
_VERBS = "|".join(sorted({*PAST_TENSE.values(), "lifted", "binned"}))
_CLAUSE_RE = re.compile(rf"(?<!\bI)(?:,\s*|\s+)(?:and\s+)?(?:then\s+)?(?=(?:I\s+)?(?:{_VERBS})\b)|;")
"""Where a memory's clauses part: before each verb, so a list of objects ("the cube <1, 2>, the cube
<3, 4> and the cube <5, 6> into the bin") stays one clause."""
_VIDEO_RE = re.compile(rf"\b(?:{IN_THE_VIDEO}|{VIDEO_SHOWED})\b", re.IGNORECASE)
_RELATIVE_RE = re.compile(r"\b(?:that|which)\s+(?:hides?|hid|is|was)\b[^,;]*|\bhiding\s+the\b[^,;]*", re.IGNORECASE)
"""A relative clause names an object only to single out another ("the container that hides the blue cube")."""


@dataclass(frozen=True)
class Claim:
    action: str
    kind: str
    colour: str | None
    point: tuple[int, int] | None
    count: int
    distinct: bool
    """``True`` for "two blue cubes" (that many objects), ``False`` for "the blue cube twice" (that many times)."""
    text: str


def _action_of(clause: str) -> str | None:
    clause = clause.lower()
    if "press" in clause:
        return "press"
    if "bin" in clause and re.search(r"\b(put|drop|place|placed|binned)\b", clause):
        return "bin"
    if "target" in clause and re.search(r"\b(put|place|placed|drop|dropped)\b", clause):
        return "target"
    if "table" in clause or re.search(r"\b(put|placed|set)\b.*\bdown\b", clause):
        return "table"
    if re.search(r"\b(picked up|grasped|lifted|picked)\b", clause):
        return "pick"
    return None


def claims(memory: str) -> list[Claim]:
    """The action claims of a memory (see the module's docstring); video sentences left out."""
    out = []
    for sentence in re.split(r"(?<=\.)\s+", memory.strip()):
        if _VIDEO_RE.search(sentence):
            continue
        last: Claim | None = None
        for clause in _CLAUSE_RE.split(sentence):
            action = _action_of(clause)
            if action is None:
                continue
            clause = _RELATIVE_RE.sub("", clause)
            found = [
                m
                for m in _OBJECT_RE.finditer(clause)
                if not (action in ("bin", "target") and m.group("kind").lower().startswith("target"))
            ]
            clause_times = (
                count_value(m.group(1))
                if (m := re.search(rf"\b({'|'.join(TIMES_WORDS)}|\d+ times)\s*(?:in all)?\.?\s*$", clause.strip()))
                else None
            )
            if not found and last is not None and re.search(r"\bit\b", clause):  # "and put it into the bin twice"
                out.append(
                    last := Claim(action, last.kind, last.colour, last.point, clause_times or 1, False, clause.strip())
                )
                continue
            for m in found:
                kind = m.group("kind").lower().rstrip("s")
                if action == "press" and kind != BUTTON or action != "press" and kind == BUTTON:
                    continue
                number, times = count_value(m.group("number")), count_value(m.group("times"))
                point = point_of(m.group(4), m.group(5)) if m.group(4) else None
                distinct = number is not None
                count = number if distinct else times or (clause_times if len(found) == 1 else None) or 1
                out.append(
                    last := Claim(
                        action, kind, (m.group("colour") or "").lower() or None, point, count, distinct, clause.strip()
                    )
                )
    return out


def tallies(
    events: Sequence[dict],
    objects: dict,
    step: int | None = None,
    *,
    held_only: bool = False,
    unseen: frozenset[str] = frozenset(),
) -> dict[tuple[str, str], list[tuple[int, int] | None]]:
    """(action, object) -> the points where it was done, one per time, from the execution's events up to ``step``.

    ``held_only``: a pick counts only while its object is still held (what a memory must state:
    a pick followed by a placement is stated by the placement)."""
    out: dict[tuple[str, str], list] = {}
    picked: dict[str, tuple[int, int] | None] = {}
    for e in events:
        if e.get("demo") or (step is not None and e["step"] > step):
            continue
        name = e.get("object")
        point = tuple(e["point"]) if e.get("point") else None
        if e["kind"] == "pick":
            picked[name] = point
            out.setdefault(("pick", name), []).append(point)
        elif e["kind"] == "place":
            origin = picked.get(name, point)
            onto = None if e.get("onto") in unseen else e.get("onto")  # a marker no camera shows: the table
            action = "bin" if onto == "bin" else "target" if onto else "table"
            if held_only and ("pick", name) in out:
                out[("pick", name)].pop()
                if not out[("pick", name)]:
                    del out[("pick", name)]
            if objects.get(name, {}).get("kind") != "container":
                out.setdefault((action, name), []).append(origin)
            elif not held_only:  # a container lifted and put down: a claim may say so; it need not
                out.setdefault(("table", name), []).append(origin)
        elif e["kind"] == "press":
            out.setdefault(("press", name), []).append(point)
    return out


def _fits(claim: Claim, name: str, objects: dict) -> bool:
    info = objects.get(name, {})
    return info.get("kind") == claim.kind and (claim.colour is None or info.get("colour") in (None, claim.colour))


SAME_OUTCOME = {"table": {"table", "target"}}
"""A claim's action and the truth's that make it true: a cube at rest on a target is on the table too."""


def claim_is_true(claim: Claim, done: dict, objects: dict) -> bool:
    actions = SAME_OUTCOME.get(claim.action, {claim.action})
    candidates: dict[str, list] = {}
    for (action, name), points in done.items():
        if action in actions and _fits(claim, name, objects):
            candidates.setdefault(name, []).extend(points)
    if claim.point is not None:
        candidates = {
            n: p
            for n, p in candidates.items()
            if any(q is not None and math.dist(q, claim.point) <= MATCH_PX for q in p)
        }
    if not candidates:
        return False
    if claim.distinct:
        return len(candidates) == claim.count
    return (
        any(len(p) == claim.count for p in candidates.values())
        or sum(map(len, candidates.values())) == claim.count
        and claim.point is None
    )


def _covers(claim: Claim, action: str, name: str, points: list, objects: dict) -> bool:
    if action not in SAME_OUTCOME.get(claim.action, {claim.action}) or not _fits(claim, name, objects):
        return False
    return claim.point is None or any(q is not None and math.dist(q, claim.point) <= MATCH_PX for q in points)


@dataclass
class ActionAudit:
    true: Rate = field(default_factory=Rate)
    complete: Rate = field(default_factory=Rate)
    leaked: Rate = field(default_factory=Rate)
    failed_counted: Rate = field(default_factory=Rate)
    false_claims: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "true": self.true.to_dict(),
            "complete": self.complete.to_dict(),
            "leaked": self.leaked.to_dict(),
            "failed_attempt_counted": self.failed_counted.to_dict(),
            "false_claims": self.false_claims[:5],
            "missed": self.missed[:5],
        }


def score_memory(memory: str, episode: dict, step: int, scores: ActionAudit, where: str) -> list[Claim]:
    """One action memory at a boundary ``step`` against the truth; returns its false claims."""
    objects, events = episode["objects"], episode.get("events", [])
    unseen = never_seen(episode)
    done, later = tallies(events, objects, step, unseen=unseen), tallies(events, objects, unseen=unseen)
    held = tallies(events, objects, step, held_only=True, unseen=unseen)
    said = claims(memory)
    false = []

    def true(claim: Claim) -> bool:
        # a pick is true counted in all, or counting only the object's pick now in the gripper
        # ("I put the cube down and picked it up": the second pick, the first being in the put)
        return claim_is_true(claim, done, objects) or claim.action == "pick" and claim_is_true(claim, held, objects)

    for claim in said:
        ok = true(claim)
        scores.true.add(ok)
        if not ok:
            false.append(claim)
            scores.false_claims.append(f"{where}: {claim.text!r}")
            scores.leaked.add(claim_is_true(claim, later, objects))
        else:
            scores.leaked.add(False)
    for (action, name), points in held.items():
        stated = any(true(c) and _covers(c, action, name, points, objects) for c in said)
        scores.complete.add(stated)
        if not stated:
            scores.missed.append(f"{where}: {action} {name} x{len(points)} not stated")
    if any(e["kind"] == "failed_grasp" and not e.get("demo") and e["step"] <= step for e in events):
        picks = sum(len(p) for (a, _), p in done.items() if a == "pick")
        claimed = sum(c.count for c in said if c.action == "pick")
        scores.failed_counted.add(claimed > picks)
    return false


@dataclass
class ActionScores:
    """The action audit of a label set, episode by episode beside its truth record (the spatial
    audit's pass reads each record once and hands it here too)."""

    by_task: dict[str, dict[str, ActionAudit]] = field(default_factory=dict)
    overall: dict[str, ActionAudit] = field(default_factory=dict)
    without: list[str] = field(default_factory=list)
    """Labelled episodes the truth lacks."""

    def add(self, labels: EpisodeLabels, record: dict | None) -> None:
        work = labels.work
        if record is None or not records_actions(record):  # no truth, or one recorded before it held what the robot did
            self.without.append(work.name)
            return
        for style, entries in labels.action.items():
            for entry in entries:
                for scores in (
                    self.by_task.setdefault(work.task, {}).setdefault(style, ActionAudit()),
                    self.overall.setdefault(style, ActionAudit()),
                ):
                    score_memory(entry.text, record, entry.step, scores, f"{work.name} step {entry.step} ({style})")

    def to_dict(self, truth: str | Path) -> dict:
        """Scores per task, style and ``overall`` (JSON-ready), plus the episodes the truth lacks."""
        out = {
            task: {style: s.to_dict() for style, s in sorted(styles.items())}
            for task, styles in sorted(self.by_task.items())
        }
        out["overall"] = {style: s.to_dict() for style, s in sorted(self.overall.items())}
        return {"scores": out, "without_truth": self.without, "truth": Path(truth).name}


def actions_table(result: dict) -> str:
    """The action audit as a Markdown table: one row per task and style, and the overall rows."""
    rate = rate_cell
    header = "| task | style | claims true | complete | leaked | failed attempt counted |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for task, styles in result["scores"].items():
        for style, s in styles.items():
            lines.append(
                f"| {task} | {style} | {rate(s['true'])} | {rate(s['complete'])} | {rate(s['leaked'])} | {rate(s['failed_attempt_counted'])} |"
            )
    return "\n".join(lines)
