"""One evaluation episode, rebuilt from plain data in whatever process runs it.

A :class:`RunSpec` says everything a worker needs (suite, low level, high level, caps), so it
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
class RunSpec:
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
"""Per process: the spec it was built for, its suite and its shared backend."""


def _state(spec: RunSpec) -> dict:
    if _STATE.get("spec") != spec:
        close_state()
        from .suites import make_suite

        state = {"spec": spec, "suite": make_suite(spec.suite, spec.max_steps, spec.low_level)}
        if spec.policy == "model" and spec.backend != "replay":
            from .policy import make_backend

            state["backend"] = make_backend(spec.backend, model=spec.model, base_url=spec.base_url, adapter=spec.adapter)
        _STATE.update(state)
    return _STATE


def close_state() -> None:
    """Close this process's simulator (before another spec, and at the end of a serial run)."""
    suite = _STATE.get("suite")
    _STATE.clear()
    if suite is not None:
        suite.close()


def high_level(spec: RunSpec, state: dict):
    """The spec's high level: a built-in one, or the policy over the process's shared backend."""
    from .highlevel import CeilingPolicy, FirstSubgoalPolicy
    from .policy import HighLevelPolicy, make_backend

    simple = "grounded" not in spec.variant
    if spec.policy == "ceiling":
        return CeilingPolicy(simple=simple)
    if spec.policy == "first-subgoal":
        return FirstSubgoalPolicy(simple=simple)
    backend = state.get("backend") or make_backend("replay", targets=list(spec.replay or ()), repeat_last=True)
    return HighLevelPolicy(spec.variant, backend, with_history=spec.history)


def episode_seed(spec: RunSpec, task: str, episode: int) -> int:
    """The seed of an episode's random picks: the same wherever and in whatever order it runs."""
    return zlib.crc32(f"{spec.seed}:{task}:{episode}".encode())


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux; None elsewhere): flat across episodes unless something leaks."""
    try:
        return round(int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def run_one(spec: RunSpec, task: str, episode: int) -> dict:
    """Run one episode; its result record."""
    state = _state(spec)
    made = time.perf_counter()
    env = state["suite"].make(task, episode)
    made = time.perf_counter() - made
    try:
        policy = high_level(spec, state)
        extra = {"low_level": spec.low_level}
        if spec.low_level == "oracle":
            from .oracle import run_oracle_episode

            seed = episode_seed(spec, task, episode)
            # the built-in high levels speak the env's own words: where its grounded subgoal carries no point, they are resolved as a simple one
            by_text = spec.policy != "model" or "grounded" not in spec.variant
            outcome = run_oracle_episode(env, policy, by_text=by_text, seed=seed,
                                         max_steps=spec.max_steps, max_calls=spec.max_calls)
            extra.update(misses=outcome.misses, seed=seed)
        else:
            from .loop import run_episode
            from .lowlevel import OpenPILowLevel

            # a connection per episode, opened once the simulator is built: an idle one can miss the server's keep-alive pings
            low_level = OpenPILowLevel(spec.ll_host, spec.ll_port, protocol=spec.ll_protocol)
            try:
                outcome = run_episode(env, policy, low_level, spec.every, spec.max_steps)
            finally:
                low_level.close()
    finally:
        env.close()
    extra["make_seconds"] = round(made, 3)
    extra["peak_rss_mb"] = peak_rss_mb()
    extra["rss_mb_after"] = rss_mb()
    extra["pid"] = os.getpid()
    return episode_record(spec.method, task, episode, env.goal, outcome, {**spec.provenance, **extra})
