"""RoboMME's oracle planner as the low level: one motion-planning solve per subgoal, no pi0.5, no GPU.

The high level is called at reset and after each oracle step, on the last front frame. An
answer that maps to no command, lacks a point, runs no simulator step, or waits ("remain
static") after StopCube's last checkpoint is a miss; ``max_repeats`` misses in a row end the
episode with their own status, and caps on simulator steps and calls bound the rest. The
simulator side is :class:`robomme_mem.closed_loop.suites.RoboMMEOracleEpisode`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .commands import Candidate, Command, Miss, Option, command_for
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
STATIC = "remain static"
"""StopCube's wait: runs until the next checkpoint, and nothing once the last has passed."""


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
class OracleOutcome(EpisodeOutcome):
    misses: dict[str, int] = field(default_factory=dict)
    """Per episode: unmapped subgoals, missing points, steps that ran nothing, static stalls."""


def run_oracle_episode(
    episode: OracleEpisode,
    policy,
    *,
    by_text: bool,
    seed: int = 0,
    max_steps: int = MAX_STEPS,
    max_calls: int = MAX_CALLS,
    max_repeats: int = MAX_REPEATS,
) -> OracleOutcome:
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
        call = {
            "step": steps,
            "subgoal": parsed.subgoal,
            "memory": parsed.memory,
            "spatial": parsed.spatial,
            "fallbacks": list(parsed.fallbacks),
        }
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
    return OracleOutcome(
        status, steps, len(trace), time.perf_counter() - start, sim_seconds, dict(fallbacks), trace, error, dict(misses)
    )


def _missed(kind: str, misses: Counter, streak: Counter, max_repeats: int) -> bool:
    """Count a miss; True when it has happened ``max_repeats`` times in a row."""
    misses[kind] += 1
    for other in list(streak):
        if other != kind:
            del streak[other]
    streak[kind] += 1
    return streak[kind] >= max_repeats
