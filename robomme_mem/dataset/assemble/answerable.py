"""Whether a row can be answered from its input: the target singled out by the past is held there.

A target depends on the past when what singles it out was shown earlier and is gone from the
frame: "the container that hides the red cube" (ButtonUnmask, ButtonUnmaskSwap and the video
Unmask tasks), "the highlighted cube" (PickHighlight), in a video task "the correct cube" or
"the correct target" (VideoRepick, VideoPlaceButton, VideoPlaceOrder), and every subgoal of the
tasks that imitate a demonstrated way (:data:`WAY_TASKS`). Such a row is answerable when its
input holds that fact together with the target's place:

- the video itself in the input (``videos``), or
- an input memory (the action memory, and the spatial memory in the dual configs) with a
  sentence that names the fact ("red cube" beside "under"/"hidden"/"hides"; "white area" or
  "highlighted"; for a video task, what "the video" showed) and the place: in grounded style a
  point within :data:`PLACE_PX` of the target's grounded point, in simple style a word for a
  place (left, right, middle, "from the left") or any point. A demonstrated way in simple style
  (PatternLock's "move left", MoveCube's "hook the cube to the target with the peg") needs the
  video's sentence to hold the subgoal's own words.

Pure functions of the rows' inputs; the build prints the share per config and task and writes
it into its card, the audit lists the rows that are not answerable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from ...configs import BASELINE_CONFIGS, ROW_CONFIGS
from ...subgoals import QUIET_SUBGOALS, first_point, is_complete_marker, normalise, points_in_order, strip_grounding
from ...tasks import VIDEO_DEMO_TASKS
from ..audit.demonstrations import Rate, rate_cell
from ..labels.engine.memories import EpisodeMemories
from ..plan import PlannedEpisode
from .memory import memory_calls

PLACE_PX = 10.0
"""Pixels between a memory's point and the target's grounded point."""
WAY_TASKS = frozenset({"MoveCube", "InsertPeg", "PatternLock", "RouteStick"})
"""Video tasks that repeat the demonstrated way: every subgoal of theirs is what the video showed."""
_CHOSEN_BY_VIDEO = re.compile(r"\b(correct|same|previously)\b", re.IGNORECASE)
_FILLER = frozenset("the a an up to of on onto into with by at from and then for time it its".split())
_HIDES = re.compile(r"\bhides? the (\w+) cube\b|\bhiding the (\w+) cube\b", re.IGNORECASE)
_PLACE_WORDS = re.compile(r"\b(left|right|middle|from the left)\b|<\s*-?\d", re.IGNORECASE)


def singled_out(task: str, subgoal: str) -> str | None:
    """What singles a subgoal's target out of the past (``"hides:red"``, ``"highlighted"``,
    ``"video"``), or ``None`` when the frame alone can answer it."""
    if is_complete_marker(subgoal) or normalise(subgoal) in QUIET_SUBGOALS:
        return None
    hides = _HIDES.search(subgoal)
    if hides:
        return f"hides:{(hides.group(1) or hides.group(2)).lower()}"
    if "highlighted" in subgoal.lower():
        return "highlighted"
    if task in WAY_TASKS or task in VIDEO_DEMO_TASKS and _CHOSEN_BY_VIDEO.search(subgoal):
        return "video"
    return None


def _holds_words(sentence: str, subgoal: str) -> bool:
    """Whether a sentence holds a subgoal's own words (each by its first four letters: "hooked" for "hook")."""
    said = {w[:4] for w in re.findall(r"[a-z]+", sentence.lower())}
    wanted = {w[:4] for w in re.findall(r"[a-z]+", strip_grounding(subgoal).lower()) if w not in _FILLER}
    return bool(wanted) and wanted <= said


def _states_fact(sentence: str, fact: str) -> bool:
    s = sentence.lower()
    if fact.startswith("hides:"):
        return (
            f"{fact.split(':')[1]} cube" in s and re.search(r"\b(under|hidden|hides|hiding|covered)\b", s) is not None
        )
    if fact == "highlighted":
        return "white area" in s or "highlighted" in s
    return "video" in s


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;])\s+", text or "") if s.strip()]


def answerable(
    task: str, subgoal: str, grounded_subgoal: str, inputs: Iterable[str], has_video: bool = False
) -> bool | None:
    """Whether a row is answerable from its input (``None``: its target does not depend on the past)."""
    fact = singled_out(task, subgoal)
    if fact is None:
        return None
    if has_video:
        return True
    target = first_point(grounded_subgoal)
    grounded = target is not None and first_point(subgoal) is not None
    for text in inputs:
        for sentence in _sentences(text):
            if not _states_fact(sentence, fact):
                continue
            if fact == "video" and task in WAY_TASKS and not grounded and _holds_words(sentence, subgoal):
                return True
            if target is None and fact == "video":
                return True
            if grounded:
                if any(math.dist(p, target) <= PLACE_PX for p in points_in_order(sentence)):
                    return True
            elif _PLACE_WORDS.search(sentence):
                return True
    return False


def answerable_report(
    episodes: Iterable[tuple[PlannedEpisode, EpisodeMemories]],
    configs: Sequence[str],
    video_tasks_see_video: bool = True,
) -> dict:
    """Per config and task, the share of rows whose past-dependent target their input singles out
    (Wilson 95% intervals), and the first rows that are not answerable (JSON-ready).

    Memory configs: the action memory in (and the spatial memory in, for ``dual_*``; the history
    line for ``*_history``), and the video on a video task's first call. Baselines: the history
    line, and the video on every row of a video task (RoboMME's rows carry it)."""
    rates: dict[str, dict[str, Rate]] = {}
    missing: list[str] = []
    for planned, memories in episodes:
        video = "video" if planned.timeline.execution_start > 0 and video_tasks_see_video else None
        calls = memory_calls(planned.timeline, memories, [""] * len(planned.timeline.call_frames), video)
        for config in configs:
            if config not in ROW_CONFIGS:
                continue
            baseline = config in BASELINE_CONFIGS
            style = "grounded" if "grounded" in config else "simple"
            dual = config.startswith("dual")
            if dual and memories.spatial is None:
                continue
            for call in calls:
                history = list(call.history[style])
                if baseline:
                    inputs, seen = history, video is not None
                else:
                    inputs = [
                        call.memory_in[style],
                        *([call.spatial_in or ""] if dual else []),
                        *(history if config.endswith("_history") else []),
                    ]
                    seen = call.video is not None
                verdict = answerable(
                    planned.task, call.subgoal[style], call.subgoal["grounded"], inputs, has_video=seen
                )
                if verdict is None:
                    continue
                for key in (planned.task, "overall"):
                    rates.setdefault(config, {}).setdefault(key, Rate()).add(verdict)
                if not verdict and len(missing) < 50:
                    missing.append(f"{config}: {planned.name} step {call.step}: {call.subgoal[style]!r}")
    return {
        "by_config": {
            c: {t: r.to_dict() for t, r in sorted(tasks.items(), key=lambda kv: (kv[0] == "overall", kv[0]))}
            for c, tasks in rates.items()
        },
        "not_answerable": missing,
    }


def answerable_table(report: dict, overall_only: bool = False) -> str:
    """The report as a Markdown table: a row per task, a column per config."""
    configs = list(report["by_config"])
    tasks = sorted({t for c in configs for t in report["by_config"][c]}, key=lambda t: (t == "overall", t))
    if overall_only:
        tasks = [t for t in tasks if t == "overall"]
    header = "| task | " + " | ".join(configs) + " |"
    lines = [header, "|" + "---|" * (len(configs) + 1)]
    for task in tasks:
        cells = []
        for config in configs:
            cells.append(rate_cell(report["by_config"][config].get(task)))
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
