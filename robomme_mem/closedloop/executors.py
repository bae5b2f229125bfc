"""Episodes spread over local processes or a Ray cluster, results streamed into one file.

A :class:`RunSpec` says everything a worker needs to rebuild the run (suite, low level,
high-level backend, caps); it is plain data, so it travels to a spawned process or a Ray task.
Each worker process keeps one suite (one simulator, about 1.3 GB for RoboMME) across its
episodes, and opens a low-level connection per episode. Whatever runs the episodes, only the parent appends to the results
file, one line per finished episode (:mod:`robomme_mem.closedloop.results`), so a killed run resumes with
the missing episodes, nothing is recorded twice, and the summary is the one a single process
gives.

- :func:`run_serial`: in this process (``--workers 1``);
- :func:`run_local`: ``N`` spawned processes (``--workers N``);
- :func:`run_ray`: one Ray task per episode (``--ray ADDRESS``; ``local`` starts a local cluster).
  The high level is reached over its OpenAI-compatible URL from wherever the task runs.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from .results import append_result, repair

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


def _policy(spec: RunSpec, state: dict):
    from .oracle import CeilingPolicy, FirstSubgoalPolicy
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
    from .loop import episode_record, run_episode

    state = _state(spec)
    made = time.perf_counter()
    env = state["suite"].make(task, episode)
    made = time.perf_counter() - made
    try:
        policy = _policy(spec, state)
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
            from .loop import OpenPILowLevel

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


# -- the three ways to run a list of episodes -------------------------------------------------


def _bar(todo: Sequence, desc: str, progress: bool) -> tqdm:
    return tqdm(total=len(todo), desc=desc, unit="episode", disable=not progress)


def run_serial(spec: RunSpec, todo: Sequence[tuple[str, int]], results: Path, progress: bool = True) -> list[dict]:
    """In this process, in order."""
    written = []
    with _bar(todo, spec.method, progress) as bar:
        try:
            for task, episode in todo:
                bar.set_postfix_str(f"{task}:{episode}")
                written.append(_keep(results, run_one(spec, task, episode)))
                bar.update()
        finally:
            close_state()
    return written


def _keep(results: Path, record: dict) -> dict:
    append_result(results, record)
    return record


def _worker_init(path: list[str]) -> None:
    for entry in reversed(path):
        if entry not in sys.path:
            sys.path.insert(0, entry)


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS")
"""Thread pools a worker's libraries size from the environment: OpenMP (torch), MKL, OpenBLAS (numpy),
and Mesa's llvmpipe/lavapipe, which renders RoboMME's cameras on the CPU."""


@contextmanager
def threads_per_worker(workers: int):
    """Children spawned inside get ``cores // workers`` threads per pool, unless the user set their own.

    Left alone, each simulator process sizes every pool to all the cores, and N of them oversubscribe
    the machine (measured: 2 workers on 2 cores ran each episode 1.3x slower than one alone).
    """
    share = str(max(1, (os.cpu_count() or 1) // workers))
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: share for k in THREAD_VARS if saved[k] is None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def run_local(spec: RunSpec, todo: Sequence[tuple[str, int]], results: Path, workers: int, progress: bool = True) -> list[dict]:
    """In ``workers`` spawned processes (a simulator does not survive a fork); results in finishing order."""
    import multiprocessing as mp

    written = []
    with _bar(todo, spec.method, progress) as bar, threads_per_worker(workers), ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(list(sys.path),)
    ) as pool:
        running = {pool.submit(run_one, spec, task, episode): (task, episode) for task, episode in todo}
        failed = []
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task, episode = running.pop(future)
                    try:
                        written.append(_keep(results, future.result()))
                    except Exception as exc:  # noqa: BLE001  (the others' results are kept; reported below)
                        failed.append((task, episode, exc))
                    bar.set_postfix_str(f"{task}:{episode}")
                    bar.update()
        except BaseException:
            for future in running:
                future.cancel()
            raise
    _raise_failed(failed, len(todo))
    return written


class FleetError(RuntimeError):
    """Episodes that could not run at all (not episodes that failed: those are results)."""


def _raise_failed(failed: list, total: int) -> None:
    if failed:
        task, episode, exc = failed[0]
        from ..errors import first_line

        raise FleetError(f"{len(failed)} of {total} episodes could not run (the others' results are kept); "
                         f"first: {task}:{episode}: {type(exc).__name__}: {first_line(exc, 300)}") from exc


def ray_problem(address: str, timeout_s: float = 5.0) -> str | None:
    """Why a Ray address cannot be used (None: it answers), checked with one TCP connect."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed: pip install 'robomme-mem[cluster]'"
    if address in ("local", "auto"):
        return None
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if not parsed.hostname or not parsed.port:
        return f"Ray address {address!r} is not host:port (or ray://host:port, auto, local)"
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s).close()
    except OSError as exc:
        return f"no Ray cluster answers at {address} ({exc.strerror or exc})"
    return None


def run_ray(spec: RunSpec, todo: Sequence[tuple[str, int]], results: Path, address: str, cpus: int | None = None,
            progress: bool = True) -> list[dict]:
    """One Ray task per episode; each Ray worker keeps its simulator across the episodes it is given."""
    import ray

    env_vars = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **{k: "1" for k in THREAD_VARS}}  # a task holds one CPU
    init = {"address": address, "runtime_env": {"env_vars": env_vars}, "log_to_driver": False, "include_dashboard": False}
    if address == "local":
        init["num_cpus"] = cpus or os.cpu_count()
    ray.init(**init)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
        waiting = {remote.remote(spec, task, episode): (task, episode) for task, episode in todo}
        written, failed = [], []
        with _bar(todo, spec.method, progress) as bar:
            while waiting:
                done, _ = ray.wait(list(waiting), num_returns=1)
                task, episode = waiting.pop(done[0])
                try:
                    written.append(_keep(results, ray.get(done[0])))
                except Exception as exc:  # noqa: BLE001  (the others' results are kept; reported below)
                    failed.append((task, episode, getattr(exc, "cause", None) or exc))
                bar.set_postfix_str(f"{task}:{episode}")
                bar.update()
        _raise_failed(failed, len(todo))
        return written
    finally:
        ray.shutdown()


def run(spec: RunSpec, todo: Sequence[tuple[str, int]], results: Path, workers: int = 1, ray_address: str | None = None,
        progress: bool = True) -> list[dict]:
    """Run ``todo``, appending each result to ``results`` as it comes."""
    results.parent.mkdir(parents=True, exist_ok=True)
    repair(results)
    if not todo:
        return []
    if ray_address:
        return run_ray(spec, todo, results, ray_address, cpus=workers if workers > 1 else None, progress=progress)
    if workers > 1:
        return run_local(spec, todo, results, min(workers, len(todo)), progress)
    return run_serial(spec, todo, results, progress)
