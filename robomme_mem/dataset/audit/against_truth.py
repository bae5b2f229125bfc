"""Any label set's spatial memories scored against the scene truth, at every call frame.

The demonstrations alone can only check what a subgoal proves (target recall); the truth
(``robomme-mem truth``) says what is really in each frame, so a memory's inventions count too:

- **precision**: each entry with a point (:mod:`.entries`) matches a true object of its kind
  (and colour, where both have one) within :data:`MATCH_PX` of one of that object's places: its
  mask centre or projected centre now, where the camera last saw it, or the container covering
  it. An entry on the arm, the table or nothing, or of a kind the task lacks, is false;
- **recall of what matters**: every task object the camera has seen by that frame (a held one
  named held, a binned one named in the bin, any other named at one of its places);
- **hidden**: the same question asked only of the objects not visible now (under a container,
  or out of view), at every call frame: the permanence question of the Unmask tasks;
- **stale or doubled**: entries naming an object another entry already named, or "last seen" /
  hidden at a place other than where that object is visible now;
- **events**: where the truth counts passes (StopCube) or swaps (ButtonUnmaskSwap), whether the
  memory states the count so far.

Rates come with Wilson 95% intervals, per task and overall.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...subgoals import OBJECT_KINDS
from ..labels.engine.episodes import EpisodeLabels
from ..labels.labellers.truth_labeller import SILENT_KINDS
from ..truth.seen import seen_by, visible_now
from ..truth.truth_file import offsets_by_source, read_record
from .actions_against_truth import ActionScores, actions_table
from .demonstrations import Rate, rate_cell, stated_count
from .entries import Entry, entries

MATCH_PX = 10.0
"""Pixels between an entry's point and a place of the object it names."""
NAMED_KINDS = set(OBJECT_KINDS)
"""The kinds recall asks for (a button's base and unknown kinds are not asked for)."""
EVENT_WORDS = {
    "pass": re.compile(r"[^.;]*\bpass(?:ed|es)?\b[^.;]*", re.IGNORECASE),
    "swap": re.compile(r"[^.;]*\bswap(?:ped|s)?\b[^.;]*", re.IGNORECASE),
}


@dataclass
class Thing:
    """One true object at one call frame, as the audit needs it."""

    name: str
    kind: str
    colour: str | None
    places: list[tuple[int, int]]
    visible_at: tuple[int, int] | None
    seen: bool
    sightings: list[tuple[int, int]] = field(default_factory=list)
    """Every place the camera saw it at, up to now (a stale entry names one of them)."""
    held: bool = False
    binned: bool = False
    hidden: bool = False
    """Seen before, not visible now, not held and still in the scene (covered or out of view)."""


def things_at(episode: dict, index: int) -> list[Thing]:
    """The true objects at call ``index`` of a truth episode, with every place an entry may name."""
    objects = episode["objects"]
    rows = {r["step"]: r for r in episode["steps"]}
    now = episode["calls"][index]
    row = rows[now["step"]]
    seen = seen_by(episode, index, rows)
    parked, held, under = set(row.get("parked", [])), set(row.get("held", [])), row.get("under", {})
    has_bin = any(info["kind"] == "bin" for info in objects.values())

    def centre(name: str) -> tuple[int, int] | None:
        v = now["visible"].get(name, {})
        if v.get("pixels", 0) > 0 and v.get("centre"):
            return tuple(v["centre"])
        p = row["pixel"].get(name)
        return tuple(p) if p else None

    out = []
    for name, info in sorted(objects.items()):
        if info["kind"] in SILENT_KINDS:
            continue
        visible = visible_now(now, name)
        places = [
            p
            for p in (centre(name), tuple(row["pixel"][name]) if row["pixel"].get(name) else None, seen.last.get(name))
            if p
        ]
        if name in under and centre(under[name]):
            places.append(centre(under[name]))
        known = seen.known(name)
        out.append(
            Thing(
                name,
                info["kind"],
                info.get("colour"),
                places,
                tuple(now["visible"][name]["centre"]) if visible else None,
                known,
                held=name in held,
                binned=name in parked and has_bin and known,
                hidden=known and not visible and name not in held and (name not in parked or name in under),
                sightings=seen.every.get(name, []),
            )
        )
    for name, place in sorted(seen.lit.items()):  # PickHighlight's white areas: where each was seen while shown
        out.append(
            Thing(
                f"white area of {name}",
                "white area",
                None,
                [place],
                place if name in row.get("highlighted", []) else None,
                True,
            )
        )
    return out


def _compatible(entry: Entry, thing: Thing) -> bool:
    return entry.kind == thing.kind and (entry.colour is None or thing.colour is None or entry.colour == thing.colour)


def _near(point: tuple[int, int], places: list[tuple[int, int]]) -> float:
    return min((math.dist(point, p) for p in places), default=math.inf)


def entry_is_true(entry: Entry, things: list[Thing]) -> bool:
    """Whether the truth has an object of the entry's kind (and colour) within :data:`MATCH_PX` of its point."""
    return entry.point is not None and any(
        _compatible(entry, t) and _near(entry.point, t.places) <= MATCH_PX for t in things
    )


@dataclass
class TruthAudit:
    precision: Rate = field(default_factory=Rate)
    recall: Rate = field(default_factory=Rate)
    hidden: Rate = field(default_factory=Rate)
    stale: Rate = field(default_factory=Rate)
    events: Rate = field(default_factory=Rate)
    false_entries: list[str] = field(default_factory=list)
    """Where precision failed: "episode 3 step 120: 'button <56, 130>'" (the first few)."""
    missed: list[str] = field(default_factory=list)
    """Where recall failed: "episode 3 step 120: red cube (hidden) not named"."""

    def to_dict(self) -> dict:
        return {
            "precision": self.precision.to_dict(),
            "recall_seen": self.recall.to_dict(),
            "hidden": self.hidden.to_dict(),
            "stale_or_doubled": self.stale.to_dict(),
            "events": self.events.to_dict(),
            "false_entries": self.false_entries[:5],
            "missed": self.missed[:5],
        }


def score_frame(memory: str, things: list[Thing], scores: TruthAudit, where: str) -> None:
    """One call frame's memory against its true objects."""
    claimed = entries(memory)
    matched: dict[str, Entry] = {}
    for entry in claimed:
        if entry.point is None:
            continue
        compatible = [t for t in things if _compatible(entry, t)]
        ok = entry_is_true(entry, things)
        scores.precision.add(ok)
        if not ok:
            scores.false_entries.append(f"{where}: {entry.text!r}")
        # whose entry it is: the object at that place now, else the one the camera saw there before
        owner = min(
            compatible, key=lambda t: _near(entry.point, t.places if ok else t.places + t.sightings), default=None
        )
        if owner is None or _near(entry.point, owner.places + owner.sightings) > MATCH_PX:
            scores.stale.add(False)  # an invention, counted by precision
            continue
        stale = (
            entry.status in ("last_seen", "hidden")
            and owner.visible_at is not None
            and math.dist(entry.point, owner.visible_at) > MATCH_PX
        )
        scores.stale.add(owner.name in matched or stale)
        matched.setdefault(owner.name, entry)
    for thing in things:
        if (
            not thing.seen
            or thing.kind not in NAMED_KINDS
            or (not thing.places and not thing.held and not thing.binned)
        ):
            continue
        if thing.held:
            named = any(
                _compatible(e, thing) and (e.status == "held" or (e.point and _near(e.point, thing.places) <= MATCH_PX))
                for e in claimed
            )
        elif thing.binned:
            named = any(_compatible(e, thing) and e.status == "in_bin" for e in claimed)
        else:
            named = any(
                _compatible(e, thing) and e.point is not None and _near(e.point, thing.places) <= MATCH_PX
                for e in claimed
            )
        scores.recall.add(named)
        if thing.hidden:
            scores.hidden.add(named)
        if not named:
            scores.missed.append(f"{where}: {thing.name}{' (hidden)' if thing.hidden else ''} not named")


def score_events(memory: str, episode: dict, step: int, scores: TruthAudit) -> None:
    """Whether a memory states the truth's count so far of each kind of counted event."""
    for kind, pattern in EVENT_WORDS.items():
        happened = sum(1 for e in episode.get("events", []) if e["kind"] == kind and e["step"] <= step)
        if not happened:
            continue
        stated = [stated_count(m.group(0)) for m in pattern.finditer(memory)]
        scores.events.add(bool(stated) and max(stated) == happened)


@dataclass
class TruthEpisode:
    """A labelled episode beside its truth: each call frame's memory and true objects."""

    labels: EpisodeLabels
    record: dict | None
    """Its truth record (``None``: the truth file has none)."""
    frames: list[tuple[int, str, list[Thing]]] = field(default_factory=list)
    """(step, spatial memory, true objects) of every call frame the truth holds."""
    missing: list[int] = field(default_factory=list)
    """Call frames the truth does not hold (recorded with another spec)."""


def _has_spatial(labels: EpisodeLabels) -> bool:
    return labels.complete and bool(labels.spatial)


def with_truth(
    episodes: Iterable[EpisodeLabels],
    truth: str | Path,
    offsets: dict[tuple[str, int], int] | None = None,
    with_actions: bool = False,
) -> Iterator[TruthEpisode]:
    """Each complete episode with spatial memories, beside its truth, one record read at a time
    (``offsets``: from :func:`~robomme_mem.dataset.truth.truth_file.offsets_by_source`, computed here
    when not given; ``with_actions``: episodes with action memories too, whose ``frames`` stay
    empty where they have no spatial chain)."""
    episodes = [e for e in episodes if _has_spatial(e) or with_actions and e.action]
    if offsets is None:
        offsets = offsets_by_source(dict.fromkeys(str(e.work.file) for e in episodes), truth)
    for labels in episodes:
        work = labels.work
        at = offsets.get((str(work.file), work.episode))
        if at is None:
            yield TruthEpisode(labels, None)
            continue
        record = read_record(truth, at)
        by_step = {c["step"]: i for i, c in enumerate(record["calls"])}
        found = TruthEpisode(labels, record)
        for memory, step in zip(labels.spatial_memories() if _has_spatial(labels) else (), work.timeline.call_frames):
            if step in by_step:
                found.frames.append((step, memory, things_at(record, by_step[step])))
            else:
                found.missing.append(step)
        yield found


def audit_against_truth(
    episodes: Iterable[EpisodeLabels], truth: str | Path, offsets: dict[tuple[str, int], int] | None = None
) -> dict:
    """Scores per task and ``overall`` (JSON-ready), plus the episodes the truth lacks; under
    ``actions``, the action memories against what happened (:mod:`.actions_against_truth`)."""
    by_task: dict[str, TruthAudit] = {}
    overall = TruthAudit()
    without: list[str] = []
    actions = ActionScores()
    for found in with_truth(episodes, truth, offsets, with_actions=True):  # each record read once, for both audits
        work = found.labels.work
        if found.labels.action:
            actions.add(found.labels, found.record)
        if not _has_spatial(found.labels):
            continue
        if found.record is None:
            without.append(work.name)
            continue
        without += [f"{work.name} step {step}" for step in found.missing]
        task = by_task.setdefault(work.task, TruthAudit())
        for step, memory, things in found.frames:
            for scores in (task, overall):
                score_frame(memory, things, scores, f"{work.name} step {step}")
                score_events(memory, found.record, step, scores)
    out = {t: by_task[t].to_dict() for t in sorted(by_task)}
    out["overall"] = overall.to_dict()
    return {"scores": out, "without_truth": without, "truth": Path(truth).name, "actions": actions.to_dict(truth)}


def truth_table(result: dict) -> str:
    """The truth audit as a Markdown table: one row per task and the overall row."""
    rate = rate_cell
    header = "| task | precision | recall (seen) | hidden | stale or doubled | events stated |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for task, s in result["scores"].items():
        lines.append(
            f"| {task} | {rate(s['precision'])} | {rate(s['recall_seen'])} | {rate(s['hidden'])} | {rate(s['stale_or_doubled'])} | {rate(s['events'])} |"
        )
    return "\n".join(lines)


def overall_truth_table(result: dict | None) -> str | None:
    """The overall rows of a build's truth audit (``manifest["labels_audit_truth"]``) as tables, the
    spatial one and the action one; None without one."""
    if not result:
        return None
    spatial = truth_table({"scores": {"overall": result["scores"]["overall"]}})
    if not result.get("actions"):
        return spatial
    return (
        spatial
        + "\n\nAction memories against what happened:\n\n"
        + actions_table({"scores": {"overall": result["actions"]["scores"].get("overall", {})}})
    )
