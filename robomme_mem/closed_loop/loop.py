"""The closed loop: a high-level policy with memory over a low-level action server.

Every ``every`` low-level steps (16, as in RoboMME's evaluation) the high-level policy
(:class:`robomme_mem.closed_loop.policy.HighLevelPolicy`) looks at the front camera and answers a subgoal
and its memories; the memories go back into its next prompt, the subgoal goes to the
low-level policy, whose action chunk is executed. An episode ends when the environment says
so (success, failure, timeout, error) or after ``max_steps``.

Nothing here imports a simulator or ``openpi-client``: an :class:`Episode` is anything with
``reset``/``step``/``close`` (:mod:`robomme_mem.closed_loop.suites` adapts RoboMME and stock
ManiSkill), a :class:`LowLevel` anything with ``reset``/``actions``
(:class:`robomme_mem.closed_loop.lowlevel.OpenPILowLevel` speaks to a pi0.5 server).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .policy import HighLevelPolicy

CALL_EVERY = 16
"""Low-level steps between high-level calls (RoboMME's ``obs_horizon``)."""
MAX_STEPS = 1300
"""RoboMME's step limit in its MME-VLA experiments."""


@dataclass(frozen=True)
class Observation:
    front: np.ndarray
    """H x W x 3 uint8: what the high-level policy sees."""
    wrist: np.ndarray | None
    state: np.ndarray
    """The low-level policy's proprioception (RoboMME: 7 joint angles + gripper)."""


class Episode(Protocol):
    """One evaluation episode of a simulator."""

    goal: str

    def reset(self) -> list[Observation]:
        """Start the episode; every observation so far (a video demo's frames, then the current one)."""

    def step(self, action: np.ndarray) -> tuple[Observation | None, bool, str]:
        """(observation, done, status); status is ``success``, ``fail``, ``timeout``, ``error`` or ``ongoing``."""

    def close(self) -> None: ...


class LowLevel(Protocol):
    def reset(self) -> None: ...

    def actions(self, goal: str, subgoal: str, new: Sequence[Observation], exec_start: int) -> np.ndarray:
        """An action chunk for the last of ``new`` (the observations since the previous chunk)."""


@dataclass
class EpisodeOutcome:
    status: str
    steps: int
    calls: int
    seconds: float
    step_seconds: float
    """Time inside the simulator's ``step``, summed."""
    fallbacks: dict[str, int]
    trace: list[dict] = field(default_factory=list)
    """Per high-level call: step, subgoal, memory, spatial memory, parser fallbacks."""
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.status == "success"


def run_episode(
    episode: Episode, policy: HighLevelPolicy, low_level: LowLevel, every: int = CALL_EVERY, max_steps: int = MAX_STEPS
) -> EpisodeOutcome:
    """Roll one episode out; exceptions from the simulator end it with status ``error``."""
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    start = time.perf_counter()
    prelude = episode.reset()
    policy.reset(
        episode.goal, video=[o.front for o in prelude[:-1]] or None
    )  # a video task's demonstration, then the first frame
    low_level.reset()
    new = list(prelude)  # observations the low-level policy has not seen yet
    exec_start = len(prelude) - 1
    obs = prelude[-1]
    plan: list[np.ndarray] = []  # the rest of the current chunk; it never outlives a call window
    steps, status, trace, step_seconds, error = 0, "ongoing", [], 0.0, None
    while True:
        if steps % every == 0:
            parsed = policy.step(obs.front)
            trace.append(
                {
                    "step": steps,
                    "subgoal": parsed.subgoal,
                    "memory": parsed.memory,
                    "spatial": parsed.spatial,
                    "fallbacks": list(parsed.fallbacks),
                }
            )
        if not plan:
            chunk = np.asarray(low_level.actions(episode.goal, policy.subgoal, new, exec_start))
            plan = list(chunk.reshape(-1, chunk.shape[-1])[: every - steps % every])
            new, exec_start = [], 0
            if not plan:
                raise RuntimeError("the low-level policy returned an empty action chunk")
        t = time.perf_counter()
        try:
            obs_next, done, status = episode.step(plan.pop(0))
        except Exception as exc:  # the simulator's own failures (IK, planner) end the episode
            status, done, error = "error", True, f"{type(exc).__name__}: {exc}"
            obs_next = None
        step_seconds += time.perf_counter() - t
        steps += 1
        if done:
            break
        if steps >= max_steps:
            status = "timeout"
            break
        obs = obs_next
        new.append(obs)
    fallbacks = Counter(f for call in trace for f in call["fallbacks"])
    return EpisodeOutcome(
        status, steps, len(trace), time.perf_counter() - start, step_seconds, dict(fallbacks), trace, error
    )
