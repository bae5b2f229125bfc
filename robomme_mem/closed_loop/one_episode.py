"""One evaluation episode, rebuilt from plain data in whatever process runs it.

A :class:`Rollout` says everything a worker needs (suite, low level, high level, caps), so it
travels to a spawned process or a Ray task. Each process keeps one suite (one simulator, about
1.3 GB for RoboMME) across its episodes and opens a low-level connection per episode.
"""

from __future__ import annotations

import os
import resource
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .results import episode_record

POLICIES = ("model", "ceiling", "first-subgoal")
"""``model``: a backend serving the trained high level; the other two are built in (oracle only)."""


@dataclass(frozen=True)
class Rollout:
    """One evaluation run, as data."""

    method: str
    suite: str = "robomme"
    low_level: str = "pi05"
    """``pi05`` (a policy server over ``openpi-client``) or ``oracle`` (RoboMME's planner)."""
    variant: str = "dual_grounded"
    history: bool = False
    policy: str = "model"
    backend: str = "replay"
    model: str | None = None
    base_url: str | None = None
    adapter: str | None = None
    replay: tuple[str, ...] | None = None
    ll_host: str = "127.0.0.1"
    ll_port: int = 8000
    ll_protocol: str = "mme-vla"
    every: int = 16
    max_steps: int = 1300
    max_calls: int = 64
    seed: int = 0
    provenance: dict = field(default_factory=dict, compare=False)


# -- one episode, in whatever process runs it -------------------------------------------------

_STATE: dict = {}
"""Per process: the rollout it was built for, its suite and its shared backend."""


def _state(rollout: Rollout) -> dict:
    if _STATE.get("rollout") != rollout:
        close_state()
        from .suites import make_suite

        state = {"rollout": rollout, "suite": make_suite(rollout.suite, rollout.max_steps, rollout.low_level)}
        if rollout.policy == "model" and rollout.backend != "replay":
            from .policy import make_backend

            state["backend"] = make_backend(
                rollout.backend, model=rollout.model, base_url=rollout.base_url, adapter=rollout.adapter
            )
        _STATE.update(state)
    return _STATE


def close_state() -> None:
    """Close this process's simulator (before another rollout, and at the end of a serial run)."""
    suite = _STATE.get("suite")
    _STATE.clear()
    if suite is not None:
        suite.close()


def high_level(rollout: Rollout, state: dict):
    """The rollout's high level: a built-in one, or the policy over the process's shared backend."""
    from .highlevel import CeilingPolicy, FirstSubgoalPolicy
    from .policy import HighLevelPolicy, make_backend

    simple = "grounded" not in rollout.variant
    if rollout.policy == "ceiling":
        return CeilingPolicy(simple=simple)
    if rollout.policy == "first-subgoal":
        return FirstSubgoalPolicy(simple=simple)
    backend = state.get("backend") or make_backend("replay", targets=list(rollout.replay or ()), repeat_last=True)
    return HighLevelPolicy(rollout.variant, backend, with_history=rollout.history)


def episode_seed(rollout: Rollout, task: str, episode: int) -> int:
    """The seed of an episode's random picks: the same wherever and in whatever order it runs."""
    return zlib.crc32(f"{rollout.seed}:{task}:{episode}".encode())


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux; None elsewhere): flat across episodes unless something leaks."""
    try:
        return round(int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def run_one(rollout: Rollout, task: str, episode: int) -> dict:
    """Run one episode; its result record."""
    state = _state(rollout)
    made = time.perf_counter()
    env = state["suite"].make(task, episode)
    made = time.perf_counter() - made
    try:
        policy = high_level(rollout, state)
        extra = {"low_level": rollout.low_level}
        if rollout.low_level == "oracle":
            from .oracle import run_oracle_episode

            seed = episode_seed(rollout, task, episode)
            # the built-in high levels speak the env's own words: where its grounded subgoal carries no point, they are resolved as a simple one
            by_text = rollout.policy != "model" or "grounded" not in rollout.variant
            outcome = run_oracle_episode(
                env, policy, by_text=by_text, seed=seed, max_steps=rollout.max_steps, max_calls=rollout.max_calls
            )
            extra.update(misses=outcome.misses, seed=seed)
        else:
            from .loop import run_episode
            from .lowlevel import OpenPILowLevel

            # a connection per episode, opened once the simulator is built: an idle one can miss the server's keep-alive pings
            low_level = OpenPILowLevel(rollout.ll_host, rollout.ll_port, protocol=rollout.ll_protocol)
            try:
                outcome = run_episode(env, policy, low_level, rollout.every, rollout.max_steps)
            finally:
                low_level.close()
    finally:
        env.close()
    extra["make_seconds"] = round(made, 3)
    extra["peak_rss_mb"] = peak_rss_mb()
    extra["rss_mb_after"] = rss_mb()
    extra["pid"] = os.getpid()
    return episode_record(rollout.method, task, episode, env.goal, outcome, {**rollout.provenance, **extra})
