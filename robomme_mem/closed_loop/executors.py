"""Three ways to run a list of episodes, each streaming results into one file.

Whatever runs the episodes, only this process appends to the results file, one line per
finished episode (:mod:`robomme_mem.closed_loop.results`), so a killed run resumes with the
missing episodes, nothing is recorded twice, and the summary is the one a single process gives:

- :func:`run_serial`: in this process, any ``run(task, episode) -> record`` (``--workers 1``);
- :func:`run_local`: ``N`` spawned processes (``--workers N``);
- :func:`run_ray`: one Ray task per episode (``--ray ADDRESS``; ``local`` starts a local cluster),
  the high level reached over its OpenAI-compatible URL from wherever the task runs.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from ..errors import first_line
from ..threads import THREAD_VARS, threads_per_worker
from .one_episode import Rollout, close_state, run_one
from ..jsonl import repair
from .results import append_result


def _bar(todo: Sequence, desc: str, progress: bool) -> tqdm:
    return tqdm(total=len(todo), desc=desc, unit="episode", disable=not progress)


def run_serial(run: Callable[[str, int], dict], todo: Sequence[tuple[str, int]], results: Path, desc: str = "episodes",
               progress: bool = True) -> list[dict]:
    """``run`` each episode in this process, in order, appending its record as it finishes."""
    results.parent.mkdir(parents=True, exist_ok=True)
    repair(results)
    written = []
    with _bar(todo, desc, progress) as bar:
        for task, episode in todo:
            bar.set_postfix_str(f"{task}:{episode}")
            written.append(_keep(results, run(task, episode)))
            bar.update()
    return written


def _keep(results: Path, record: dict) -> dict:
    append_result(results, record)
    return record


def _worker_init(path: list[str]) -> None:
    for entry in reversed(path):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def run_local(rollout: Rollout, todo: Sequence[tuple[str, int]], results: Path, workers: int, progress: bool = True) -> list[dict]:
    """In ``workers`` spawned processes (a simulator does not survive a fork); results in finishing order."""
    import multiprocessing as mp

    written = []
    with _bar(todo, rollout.method, progress) as bar, threads_per_worker(workers), ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(list(sys.path),)
    ) as pool:
        running = {pool.submit(run_one, rollout, task, episode): (task, episode) for task, episode in todo}
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


class RunError(RuntimeError):
    """Episodes that could not run at all (not episodes that failed: those are results)."""


def _raise_failed(failed: list, total: int) -> None:
    if failed:
        task, episode, exc = failed[0]
        raise RunError(f"{len(failed)} of {total} episodes could not run (the others' results are kept); "
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


def run_ray(rollout: Rollout, todo: Sequence[tuple[str, int]], results: Path, address: str, cpus: int | None = None,
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
        waiting = {remote.remote(rollout, task, episode): (task, episode) for task, episode in todo}
        written, failed = [], []
        with _bar(todo, rollout.method, progress) as bar:
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


def run(rollout: Rollout, todo: Sequence[tuple[str, int]], results: Path, workers: int = 1, ray_address: str | None = None,
        progress: bool = True) -> list[dict]:
    """Run ``todo``, appending each result to ``results`` as it comes."""
    results.parent.mkdir(parents=True, exist_ok=True)
    repair(results)
    if not todo:
        return []
    if ray_address:
        return run_ray(rollout, todo, results, ray_address, cpus=workers if workers > 1 else None, progress=progress)
    if workers > 1:
        return run_local(rollout, todo, results, min(workers, len(todo)), progress)
    try:
        return run_serial(partial(run_one, rollout), todo, results, rollout.method, progress)
    finally:
        close_state()
