"""The ``truth`` labeller: spatial and action memory written from the scene truth.

An action request carries its place (``Task/episode/seed@step``, :attr:`.requests.LabelRequest.at`):
its memory is what the replay saw happen there (:mod:`.truth_action`), not what the subgoal
text says.

A spatial request carries the call frame's image; the truth keys each call frame by the same
image digest, so the labeller finds the episode and frame it is shown without being told. The
memory holds only what the camera has seen by that frame: an object never yet visible is not
mentioned, a visible one is named at its mask centre, and one seen before but not now is held
by the gripper, hidden under the container that covers it (at the container's place), in the
bin, or last seen where the camera last saw it (a cube whose container the arm hides now: under the
container where the camera last saw it); a highlighted cube's white area (PickHighlight)
is named while shown and remembered once gone; StopCube's passes over the target and the
containers' swaps are counted. In a video task, the cubes the containers cover
when execution starts count as seen: the demonstration video showed them (its frames are not
rendered by the truth, so this is the one thing taken from the task's design, not a camera). It follows the other labellers' format and word
limit, so any labeller can be compared with it.
"""

from __future__ import annotations

from pathlib import Path

from ....prompts import SPATIAL_WORD_LIMIT
from ....subgoals import (
    BIN,
    held_by_gripper,
    hidden_at,
    in_the_bin,
    last_seen_at,
    scene_parts,
    seen_at,
    times_words,
    white_area_under,
)
from ...checksum import file_checksum
from ...truth.actions import records_actions
from ...truth.seen import seen_by, visible_now
from ...truth.truth_file import read_truth
from ..engine.defaults import TRUTH
from ..engine.requests import LabelParams, LabelRequest, parse_location
from ..store.cache import Answer
from .rules import NOTHING_SEEN
from .truth_action import action_memory as truth_action_memory
from .truth_action import display_name

MODEL = TRUTH
VERSION = "2"
SILENT_KINDS = {"fixture"}
"""Kinds a memory never names (a button's base: the button is its cap)."""


def spatial_memory(episode: dict, call_index: int) -> str:
    """The spatial memory of one call frame of a truth episode (pure: the truth and an index)."""
    objects = episode["objects"]
    rows = {r["step"]: r for r in episode["steps"]}
    now = episode["calls"][call_index]
    row = rows[now["step"]]
    seen = seen_by(episode, call_index, rows)
    lit = seen.lit
    visible = [n for n in now["visible"] if visible_now(now, n) and objects[n]["kind"] not in SILENT_KINDS]
    held, under, parked = set(row["held"]), row.get("under", {}), set(row.get("parked", []))
    has_bin = any(info["kind"] == BIN for info in objects.values())
    shown = [
        seen_at(display_name(objects[n]), now["visible"][n]["centre"], n in held)
        for n in sorted(visible, key=lambda n: now["visible"][n]["centre"][1])
    ]
    highlighted = set(row.get("highlighted", []))
    shown += [
        seen_at(white_area_under(display_name(objects[n])), lit[n])
        for n in sorted(lit)
        if n in highlighted and n in visible
    ]
    gone = [
        last_seen_at(white_area_under(display_name(objects[n])), lit[n]) for n in sorted(lit) if n not in highlighted
    ]
    known = {n for n in [*seen.last, *seen.shown_before] if objects[n]["kind"] not in SILENT_KINDS}
    for name in sorted(known - set(visible)):
        label = display_name(objects[name])
        if name in held:
            gone.append(held_by_gripper(label))
        elif name in under and under[name] in now["visible"] and now["visible"][under[name]]["centre"]:
            gone.append(hidden_at(label, now["visible"][under[name]]["centre"]))
        elif name in under and seen.last.get(
            under[name]
        ):  # the arm hides the container too: where the camera last saw it
            gone.append(hidden_at(label, seen.last[under[name]], last_seen=True))
        elif name in parked and has_bin:
            gone.append(in_the_bin(label))
        elif name in parked:
            continue  # out of the scene: nothing the camera can say where
        elif seen.last.get(name):
            gone.append(last_seen_at(label, seen.last[name]))
    counted = _counted(episode.get("events", []), objects, now["step"])
    if not shown and not gone and not counted:
        return NOTHING_SEEN
    parts = scene_parts(shown, gone) + counted
    words = " ".join(parts).split()
    return " ".join(words if len(words) < SPATIAL_WORD_LIMIT else words[: SPATIAL_WORD_LIMIT - 1])


def _counted(events: list[dict], objects: dict, step: int) -> list[str]:
    """What the camera saw happen that a place cannot say: StopCube's passes over the target and
    containers swapping places, counted up to ``step``."""
    out = []
    passes: dict[str, int] = {}
    for event in events:
        if event["kind"] == "pass" and event["step"] <= step:
            passes[event["object"]] = passes.get(event["object"], 0) + 1
    for cube, n in sorted(passes.items()):
        out.append(f"The {display_name(objects[cube])} has passed over the target {times_words(n)}.")
    swapped = sum(1 for e in events if e["kind"] == "swap" and e["step"] <= step)
    if swapped:
        out.append(f"Containers swapped places {times_words(swapped)}.")
    return out


class TruthLabeller:
    """Answers spatial requests from a truth file (``robomme-mem truth``), action requests as ``rules`` does."""

    name = MODEL
    located = True
    """Action requests carry their place: the memory is what happened there."""

    def __init__(self, truth: str | Path) -> None:
        self.path = Path(truth)
        document = read_truth(self.path)
        self.frames: dict[str, tuple[dict, int]] = {}
        self.episodes: dict[tuple[str, int], dict] = {}
        for episode in document["episodes"]:
            self.episodes[(episode["task"], episode["episode"])] = episode
            for index, call in enumerate(episode["calls"]):
                if call.get("image_sha256"):
                    self.frames[call["image_sha256"]] = (episode, index)
        if not self.frames:
            raise ValueError(
                f"{self.path}: no call frame of any episode carries its image digest; record the truth again with this version"
            )
        self.params = LabelParams(
            model=f"{MODEL}-v{VERSION}@{file_checksum(self.path)[0][:12]}", temperature=None, spatial_max_tokens=None
        )

    def describe(self) -> dict:
        return {"labeller": self.name, "params": self.params.to_dict(), "truth": self.path.name}

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        return self.answer_now(request)

    def answer_now(self, request: LabelRequest) -> Answer:
        if request.kind == "action":
            text, status, error = self._action(request)
        else:
            found = self.frames.get(request.image_sha256)
            if found is None:
                text, status, error = (
                    None,
                    "failed",
                    f"the truth file {self.path.name} has no call frame with this image (replay this episode, with this build spec)",
                )
            else:
                text, status, error = spatial_memory(*found), "ok", None
        return Answer(
            status=status,
            text=text,
            error=error,
            finish_reason="stop" if text else None,
            model_reported=self.params.model,
            template_id=request.template_id,
            template_version=request.template_version,
        )

    def _action(self, request: LabelRequest) -> tuple[str | None, str, str | None]:
        if request.at is None:
            return (
                None,
                "failed",
                "the truth labeller answers an action request from its place; this request carries none",
            )
        task, index, seed, step = parse_location(request.at)
        episode = self.episodes.get((task, index))
        if episode is None or None not in (seed, episode.get("seed")) and seed != episode.get("seed"):
            return (
                None,
                "failed",
                f"the truth file {self.path.name} has no {task} episode {index} (seed {seed}): replay it first",
            )
        if not records_actions(episode):
            return (
                None,
                "failed",
                (
                    f"the truth file {self.path.name}: {task} episode {index} was recorded before the truth recorded picks, "
                    "placements and presses; replay it again with `robomme-mem truth --out NEW_FILE`"
                ),
            )
        return truth_action_memory(episode, step, request.style), "ok", None

    async def aclose(self) -> None:
        return None
