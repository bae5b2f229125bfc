"""Label quality you can measure: a label set scored against what the demonstrations prove.

Any labeller's answers (the offline ``rules`` ones, or a set bought from a remote model) are
scored the same way, per task and overall, so labellers are compared on their labels before
anyone pays for training (DESIGN section 6):

- **action memory**, both styles, at every boundary with a history:
  - ``count``: on the counting tasks, the largest number of repetitions the memory states
    ("twice", "3 times", "for the second time", "two cubes") equals the largest number of times
    one action was completed in the history (a memory that states none counts as one);
  - ``coordinates`` (grounded): every ``<a, b>`` in the memory is one of the history's;
  - ``recent``: the last completed subgoal is mentioned (its verb, in any tense, and its object);
  - ``rules``: under the word limit, ASCII, no preamble;
- **spatial memory**:
  - ``target recall``: for every grounded subgoal with a point (from an episode's second segment
    on), the spatial memory the policy receives at the first call of that segment (the previous
    call's answer) holds a point within :data:`RECALL_PX` pixels of it;
  - ``fixtures``: points found, within :data:`FIXTURE_PX`, in every spatial memory of every
    episode of a task, or (the overall row) of every episode of every task: a table, a wall, a
    fixed marker, nothing a policy needs to remember. It takes two episodes or more: in one, an
    object that never moved looks the same;
  - entries (points) per memory, and how often a memory repeats the previous one.

Rates come with Wilson 95% intervals, means with normal ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ...subgoals import (
    AGAIN,
    COUNTING_TASKS,
    GROUNDING,
    NUMBER_WORDS,
    ORDINAL_WORDS,
    POINT,
    counts,
    point_of,
    point_text,
    points,
)
from ..labels.engine.episodes import EpisodeLabels
from ..labels.engine.validate import check_action
from ..labels.labellers.rules import PAST_TENSE

RECALL_PX = 10.0
FIXTURE_PX = 20.0
"""A fixture's reported centre may drift this far as the arm hides part of it (the rules
detector's "red" table moves up to 17 px on real frames); objects of episodes with other seeds
lie further apart."""
Z95 = 1.959964

_FOLD_RE = re.compile(
    GROUNDING + "|" + AGAIN + r"|\b(" + "|".join(ORDINAL_WORDS) + r")\b|\b(" + "|".join(NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)
_STOP = {
    "the",
    "a",
    "an",
    "it",
    "to",
    "of",
    "on",
    "in",
    "into",
    "onto",
    "at",
    "from",
    "that",
    "which",
    "is",
    "and",
    "then",
    "up",
    "down",
    "top",
    "with",
}


def stated_count(text: str) -> int:
    """The largest repetition count a memory states (1 when it states none)."""
    return max([1, *counts(text, repetitions=True)])


def action_key(subgoal: str) -> str:
    """A subgoal with its point, ordinal and count words folded away: "pick up the red cube"."""
    return re.sub(r"\s+", " ", _FOLD_RE.sub(" ", subgoal.lower())).strip(" .,")


_REPEAT_FOLD_RE = re.compile(GROUNDING + "|" + AGAIN, re.IGNORECASE)
_PICK_OBJECT_RE = re.compile(r"^pick up (.+)$")


def history_count(history: Sequence[str]) -> int:
    """The largest number of times one action was done to one object in a history.

    "for the N time" repeats an action on the same object; an ordinal names another object
    (BinFill's first and second blue cube are one pick each), and "it" is the object just picked
    up, so "put it into the bin" after two different picks is two different placements.
    """
    counts: dict[str, int] = {}
    held = None
    for item in history:
        text = re.sub(r"\s+", " ", _REPEAT_FOLD_RE.sub(" ", item.lower())).strip(" .,")
        picked = _PICK_OBJECT_RE.match(text)
        if picked:
            held = picked.group(1)
        elif held is not None:
            text = re.sub(r"\bit\b", held, text, count=1)
        counts[text] = counts.get(text, 0) + 1
    return max(counts.values(), default=0)


def mentions(memory: str, subgoal: str) -> bool:
    """Whether a memory mentions a subgoal: its verb (any tense) and its last content word."""
    words = [w for w in re.findall(r"[a-z]+", action_key(subgoal)) if w not in _STOP]
    if not words:
        return True
    text = set(re.findall(r"[a-z]+", memory.lower()))
    verb, thing = words[0], words[-1]
    verb_forms = {verb, PAST_TENSE.get(verb, verb + "ed"), verb + "s", verb + "ing"}
    return bool(verb_forms & text) and (thing in text or thing.rstrip("s") in text or thing + "s" in text)


@dataclass
class Rate:
    hits: int = 0
    n: int = 0

    def add(self, hit: bool) -> None:
        self.hits += bool(hit)
        self.n += 1

    def to_dict(self) -> dict:
        if not self.n:
            return {"rate": None, "low": None, "high": None, "n": 0}
        p, n = self.hits / self.n, self.n
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return {
            "rate": round(p, 4),
            "low": round(max(0.0, centre - half), 4),
            "high": round(min(1.0, centre + half), 4),
            "n": n,
        }


def rate_cell(d: dict | None) -> str:
    """A rate as a table cell: ``0.92 [0.67, 0.99] n=13`` (``-`` where nothing was counted)."""
    return "-" if not d or d["n"] == 0 else f"{d['rate']:.2f} [{d['low']:.2f}, {d['high']:.2f}] n={d['n']}"


@dataclass
class Mean:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(float(value))

    def to_dict(self) -> dict:
        n = len(self.values)
        if not n:
            return {"mean": None, "low": None, "high": None, "n": 0}
        mean = sum(self.values) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in self.values) / (n - 1)) if n > 1 else 0.0
        half = Z95 * sd / math.sqrt(n)
        return {"mean": round(mean, 4), "low": round(mean - half, 4), "high": round(mean + half, 4), "n": n}


@dataclass
class TaskAudit:
    """The scores of one task (or of all, for the overall row)."""

    count: dict[str, Rate] = field(default_factory=lambda: {"simple": Rate(), "grounded": Rate()})
    recent: dict[str, Rate] = field(default_factory=lambda: {"simple": Rate(), "grounded": Rate()})
    rules: dict[str, Rate] = field(default_factory=lambda: {"simple": Rate(), "grounded": Rate()})
    coordinates: Rate = field(default_factory=Rate)
    recall: Rate = field(default_factory=Rate)
    entries: Mean = field(default_factory=Mean)
    repeats: Rate = field(default_factory=Rate)
    fixtures: list[str] | None = None
    """``None`` with fewer than two episodes (a fixture cannot be told from an object that stayed put).
    Overall: every task's, named ``Task: point`` (so the column adds up over the task rows)."""
    fixtures_every_task: list[str] | None = None
    """Overall only: points found in every memory of every episode of every task."""
    misses: list[str] = field(default_factory=list)
    """Where target recall failed: "episode 3 step 120: <a, b> not in '...'" (the first few)."""

    def to_dict(self) -> dict:
        return {
            "action": {
                style: {
                    "count": self.count[style].to_dict(),
                    "recent": self.recent[style].to_dict(),
                    "rules": self.rules[style].to_dict(),
                }
                for style in ("simple", "grounded")
            },
            "grounded_coordinates": self.coordinates.to_dict(),
            "spatial": {
                "target_recall": self.recall.to_dict(),
                "fixtures": self.fixtures,
                **({"fixtures_every_task": self.fixtures_every_task} if self.fixtures_every_task is not None else {}),
                "entries_per_memory": self.entries.to_dict(),
                "repeats_previous": self.repeats.to_dict(),
            },
            "recall_misses": self.misses[:5],
        }


def audit(episodes: Iterable[EpisodeLabels]) -> dict[str, dict]:
    """Scores per task and ``overall`` (JSON-ready) of complete episodes' labels."""
    by_task: dict[str, TaskAudit] = {}
    overall = TaskAudit()
    spatial_by_task: dict[str, list[list[str]]] = {}
    for labels in episodes:
        if not labels.complete:
            continue
        task = labels.work.task
        scores = by_task.setdefault(task, TaskAudit())
        for target in (scores, overall):
            _score_actions(labels, target)
            _score_spatial(labels, target)
        if labels.spatial:
            spatial_by_task.setdefault(task, []).append(labels.spatial_memories())
    for task, chains in spatial_by_task.items():
        by_task[task].fixtures = fixtures(chains) if len(chains) > 1 else None
    every = [chain for chains in spatial_by_task.values() for chain in chains]
    found = [task for task in sorted(by_task) if by_task[task].fixtures is not None]
    overall.fixtures = [f"{task}: {point}" for task in found for point in by_task[task].fixtures] if found else None
    overall.fixtures_every_task = fixtures(every) if len(every) > 1 else None
    out = {task: by_task[task].to_dict() for task in sorted(by_task)}
    out["overall"] = overall.to_dict()
    return out


def _score_actions(labels: EpisodeLabels, scores: TaskAudit) -> None:
    work = labels.work
    for style in ("simple", "grounded"):
        for boundary, memory in zip(work.boundaries.get(style, ()), labels.action.get(style, [])):
            text = memory.text
            scores.rules[style].add(_keeps_the_rules(text, style, boundary.history_text))
            if not boundary.history:
                continue
            if work.task in COUNTING_TASKS:
                scores.count[style].add(stated_count(text) == history_count(boundary.history))
            scores.recent[style].add(mentions(text, boundary.history[-1]))
            if style == "grounded":
                scores.coordinates.add(points(text) <= points(boundary.history_text))


def _keeps_the_rules(text: str, style: str, history: str) -> bool:
    """Word limit, ASCII, no preamble (invented coordinates are scored by ``coordinates``)."""
    return all(p.startswith("coordinates not in the history") for p in check_action(text, style, history))


def _score_spatial(labels: EpisodeLabels, scores: TaskAudit) -> None:
    if not labels.spatial:
        return
    work, memories = labels.work, labels.spatial_memories()
    plan = work.timeline
    previous = None
    for memory in memories:
        scores.entries.add(len(points(memory)))
        if previous is not None:
            scores.repeats.add(memory == previous)
        previous = memory
    first_call = {}
    for index, step in enumerate(plan.call_frames):
        first_call.setdefault(plan.segment_of(step).index, index)
    for boundary in work.boundaries.get("grounded", ()):
        index = first_call.get(boundary.segment)
        targets = points(boundary.subgoal)
        if boundary.segment == 0 or index is None or index == 0 or not targets:
            continue
        seen = points(memories[index - 1])  # what the policy is told at that call
        for a, b in targets:
            hit = any(math.hypot(a - y, b - x) <= RECALL_PX for y, x in seen)
            scores.recall.add(hit)
            if not hit:
                scores.misses.append(
                    f"episode {work.episode} step {plan.call_frames[index]}: {point_text((a, b))} not in {memories[index - 1]!r}"
                )


def fixtures(chains: Sequence[Sequence[str]], tolerance: float = FIXTURE_PX) -> list[str]:
    """Points (with the words before them) present in every memory of every chain of a task."""
    memories = [m for chain in chains for m in chain]
    if len(memories) < 2:
        return []
    found = []
    for match in re.finditer(r"([A-Za-z][A-Za-z ]{0,30}?)\s*" + POINT, memories[0]):
        a, b = point_of(match.group(2), match.group(3))
        if all(any(math.hypot(a - y, b - x) <= tolerance for y, x in points(m)) for m in memories[1:]):
            found.append(f"{match.group(1).strip()} {point_text((a, b))}")
    return found


def overall_table(scores: dict | None) -> str | None:
    """The overall row of a build's audit (``manifest["labels_audit"]``) as a table; None without one."""
    return table({"overall": scores["overall"]}) if scores else None


def table(scores: dict[str, dict]) -> str:
    """The audit as a Markdown table: one row per task and the overall row."""
    rate = rate_cell
    header = "| task | count (simple) | count (grounded) | recent (grounded) | coordinates | rules (grounded) | target recall | fixtures | points/memory | repeats |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for task, s in scores.items():
        action, spatial = s["action"], s["spatial"]
        entries = spatial["entries_per_memory"]
        lines.append(
            f"| {task} | {rate(action['simple']['count'])} | {rate(action['grounded']['count'])} | {rate(action['grounded']['recent'])} "
            f"| {rate(s['grounded_coordinates'])} | {rate(action['grounded']['rules'])} | {rate(spatial['target_recall'])} "
            f"| {'-' if spatial['fixtures'] is None else len(spatial['fixtures'])} | {'-' if entries['n'] == 0 else format(entries['mean'], '.1f')} | {rate(spatial['repeats_previous'])} |"
        )
    return "\n".join(lines)
