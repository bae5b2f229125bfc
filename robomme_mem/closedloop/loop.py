"""The closed loop: a high-level policy with memory over a low-level action server.

Every ``every`` low-level steps (16, as in RoboMME's evaluation) the high-level policy
(:class:`robomme_mem.closedloop.policy.HighLevelPolicy`) looks at the front camera and answers a subgoal
and its memories; the memories go back into its next prompt, the subgoal goes to the
low-level policy, whose action chunk is executed. An episode ends when the environment says
so (success, failure, timeout, error) or after ``max_steps``.

Nothing here imports a simulator or ``openpi-client``: an :class:`Episode` is anything with
``reset``/``step``/``close`` (``evaluate/rollout.py`` adapts RoboMME and stock ManiSkill
tasks), a :class:`LowLevel` anything with ``reset``/``actions``. :class:`OpenPILowLevel`
speaks to a pi0.5 policy server through ``openpi-client``, imported when it is first used.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from .policy import HighLevelPolicy
from .results import append_result, read_results, repair

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


class OpenPILowLevel:
    """A pi0.5 policy server (openpi's websocket protocol) through ``openpi-client``.

    ``protocol="mme-vla"`` (RoboMME's MME-VLA server, which serves its simple- and grounded-subgoal
    pi0.5 checkpoints) also sends the ``reset`` and ``add_buffer`` messages RoboMME's own
    evaluation sends; ``"openpi"`` sends observations only. The subgoal goes under both
    ``simple_subgoal`` and ``grounded_subgoal``, as RoboMME's evaluation sends it; the server's
    checkpoint decides which it reads.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, protocol: str = "mme-vla", api_key: str | None = None) -> None:
        if protocol not in ("mme-vla", "openpi"):
            raise ValueError(f"protocol must be 'mme-vla' or 'openpi', not {protocol!r}")
        try:
            from openpi_client.websocket_client_policy import WebsocketClientPolicy
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the low-level client needs openpi-client: pip install 'robomme-mem[sim]'") from exc
        self.protocol = protocol
        try:
            self._client = WebsocketClientPolicy(host, port, api_key=api_key)
        except OSError as exc:
            raise ConnectionError(f"no low-level policy server at ws://{host}:{port} ({exc}); start the pi0.5 server first (evaluate/README.md)") from None
        self.metadata = self._client.get_server_metadata()

    def close(self) -> None:
        """Close the websocket (``openpi-client`` keeps it in ``_ws`` and has no close of its own)."""
        ws = getattr(self._client, "_ws", None)
        if ws is not None:
            ws.close()

    def reset(self) -> None:
        if self.protocol == "mme-vla":
            reply = self._client.infer({"reset": True})
            if not reply.get("reset_finished"):
                raise RuntimeError(f"policy server did not confirm the reset: {reply}")

    def actions(self, goal: str, subgoal: str, new: Sequence[Observation], exec_start: int) -> np.ndarray:
        if self.protocol == "mme-vla":
            reply = self._client.infer(
                {
                    "add_buffer": True,
                    "images": np.stack([o.front for o in new]).astype(np.uint8)[:, None],
                    "state": np.stack([o.state for o in new]).astype(np.float32),
                    "exec_start_idx": exec_start,
                }
            )
            if not reply.get("add_buffer_finished"):
                raise RuntimeError(f"policy server did not confirm the history buffer: {reply}")
        current = new[-1]
        element = {
            "observation/image": current.front,
            "observation/state": np.asarray(current.state, dtype=np.float32),
            "prompt": goal,
            "simple_subgoal": subgoal,
            "grounded_subgoal": subgoal,
        }
        if current.wrist is not None:
            element["observation/wrist_image"] = current.wrist
        return np.asarray(self._client.infer(element)["actions"])


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


def run_episode(episode: Episode, policy: HighLevelPolicy, low_level: LowLevel, every: int = CALL_EVERY, max_steps: int = MAX_STEPS) -> EpisodeOutcome:
    """Roll one episode out; exceptions from the simulator end it with status ``error``."""
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    start = time.perf_counter()
    prelude = episode.reset()
    policy.reset(episode.goal)
    low_level.reset()
    new = list(prelude)  # observations the low-level policy has not seen yet
    exec_start = len(prelude) - 1
    obs = prelude[-1]
    plan: list[np.ndarray] = []  # the rest of the current chunk; it never outlives a call window
    steps, status, trace, step_seconds, error = 0, "ongoing", [], 0.0, None
    while True:
        if steps % every == 0:
            parsed = policy.step(obs.front)
            trace.append({"step": steps, "subgoal": parsed.subgoal, "memory": parsed.memory, "spatial": parsed.spatial, "fallbacks": list(parsed.fallbacks)})
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
    return EpisodeOutcome(status, steps, len(trace), time.perf_counter() - start, step_seconds, dict(fallbacks), trace, error)


@dataclass
class Job:
    """What to evaluate, and where the results go."""

    method: str
    tasks: Sequence[str]
    episodes: Sequence[int]
    results: Path
    every: int = CALL_EVERY
    max_steps: int = MAX_STEPS
    retry_errors: bool = False
    """Run again the episodes whose last result is an ``error``."""


def pending(job: Job) -> list[tuple[str, int]]:
    """(task, episode) pairs the results file does not hold yet, in order."""
    done = {(r["task"], int(r["episode"])): r for r in read_results(job.results) if r["method"] == job.method}
    return [(t, e) for t in job.tasks for e in job.episodes if (t, e) not in done or (job.retry_errors and done[(t, e)].get("status") == "error")]


def episode_record(method: str, task: str, index: int, goal: str, outcome: EpisodeOutcome, provenance: dict | None = None) -> dict:
    """One line of the results file."""
    return {
        "method": method,
        "task": task,
        "episode": index,
        "success": outcome.success,
        "goal": goal,
        "status": outcome.status,
        "steps": outcome.steps,
        "calls": outcome.calls,
        "seconds": round(outcome.seconds, 3),
        "sim_seconds_per_step": round(outcome.step_seconds / max(outcome.steps, 1), 5),
        "fallbacks": outcome.fallbacks,
        "error": outcome.error,
        "trace": outcome.trace,
        **(provenance or {}),
    }


def evaluate(
    job: Job,
    make_episode: Callable[[str, int], Episode],
    make_policy: Callable[[], HighLevelPolicy],
    low_level: LowLevel,
    provenance: dict | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run every pending episode, appending one result line each; the records written."""
    job.results.parent.mkdir(parents=True, exist_ok=True)
    repair(job.results)
    todo = pending(job)
    written = []
    bar = tqdm(todo, desc=job.method, unit="episode", disable=not progress)
    for task, index in bar:
        bar.set_postfix_str(f"{task}:{index}")
        episode = make_episode(task, index)
        try:
            policy = make_policy()
            outcome = run_episode(episode, policy, low_level, job.every, job.max_steps)
        finally:
            episode.close()
        record = episode_record(job.method, task, index, episode.goal, outcome, provenance)
        append_result(job.results, record)
        written.append(record)
    return written

