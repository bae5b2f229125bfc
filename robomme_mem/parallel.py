"""Running independent work in parallel: the one home for worker processes and job runners.

Two shapes of work, both here:

- **Ordered, CPU-bound stages** (a build's episodes, the sample's generation):
  :func:`workers` and :func:`bounded_imap` give results back in order with back-pressure, so
  the output is byte-identical whatever the number of workers and the parent never holds more
  than a window of finished episodes. Forked on Linux: callers create their pool before any
  thread starts (progress bars) and while no HDF5 file is open, which makes forking safe.
- **Simulator jobs that finish in any order** (the closed loop's rollouts,
  :mod:`robomme_mem.closed_loop.executors`; the scene truth's replays and ``record``):
  :func:`run_jobs` keeps each result as it finishes. Only the calling process handles results
  (``keep`` appends them to one file), so a killed run resumes with what is missing and
  nothing is recorded twice:

  - ``workers=1``: in this process, in order;
  - ``workers=N``: ``N`` spawned processes (a simulator does not survive a fork), in finishing order;
  - ``ray_address``: one Ray task per job (``local`` starts a local cluster), each holding one CPU.

  A job that raises does not stop the others: their results are kept, and :class:`RunError`
  names the failures at the end.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from .errors import first_line
from .threads import THREAD_VARS, threads_per_worker


@dataclass
class EpisodesRun:
    """What a run of episode jobs into one output did (a truth file, a folder of recordings): a
    line of each episode it kept and of each it refused, with why, and how many the output
    already held, so were not run again."""

    out: Path
    kept: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0


class RunError(RuntimeError):
    """Jobs that could not run at all (not episodes that failed: those are results)."""


def _raise_failed(failed: list[tuple[str, BaseException]], total: int, unit: str) -> None:
    if failed:
        name, exc = failed[0]
        raise RunError(
            f"{len(failed)} of {total} {unit}s could not run (the others' results are kept); "
            f"first: {name}: {type(exc).__name__}: {first_line(exc, 300)}"
        ) from exc


def ignore_interrupts() -> None:
    """A worker's initializer: Ctrl-C goes to the whole process group, and only the parent answers
    it (once, in one line); the parent then ends its workers (a pool's exit terminates them)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_init(path: list[str]) -> None:
    ignore_interrupts()
    for entry in reversed(path):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _call(fn: Callable, job):
    return fn(job)


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


def run_jobs(
    fn: Callable,
    jobs: Sequence,
    keep: Callable[[object], None],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    name: Callable[[object], str] = str,
    desc: str = "jobs",
    unit: str = "episode",
    progress: bool = True,
) -> int:
    """``fn(job)`` for every job (``fn`` picklable: a module-level function or a partial of one),
    ``keep(result)`` here as each finishes; the number kept."""
    if not jobs:
        return 0
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:

        def kept(job, result) -> None:
            keep(result)
            bar.set_postfix_str(name(job))
            bar.update()

        if ray_address:
            failed = _on_ray(fn, jobs, kept, ray_address, workers, name)
        elif workers > 1:
            failed = _in_processes(fn, jobs, kept, min(workers, len(jobs)), name)
        else:
            failed = []
            for job in jobs:
                bar.set_postfix_str(name(job))
                kept(job, fn(job))  # in this process an exception is the caller's, at once
    _raise_failed(failed, len(jobs), unit)
    return len(jobs) - len(failed)


def _in_processes(fn, jobs, kept, workers: int, name) -> list:
    import multiprocessing as mp

    failed = []
    with (
        threads_per_worker(workers),
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(list(sys.path),),
        ) as pool,
    ):
        running = {pool.submit(fn, job): job for job in jobs}
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001  (the others' results are kept; reported at the end)
                        failed.append((name(job), exc))
                    else:
                        kept(job, result)
        except BaseException:
            for future in running:
                future.cancel()
            for process in list(
                getattr(pool, "_processes", {}).values()
            ):  # they ignore Ctrl-C: end them, do not wait for their episodes
                process.terminate()
            raise
    return failed


def _on_ray(fn, jobs, kept, address: str, workers: int, name) -> list:
    import ray

    env_vars = {
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        **{k: "1" for k in THREAD_VARS},
    }  # a task holds one CPU
    init = {
        "address": address,
        "runtime_env": {"env_vars": env_vars},
        "log_to_driver": False,
        "include_dashboard": False,
    }
    if address == "local":
        init["num_cpus"] = workers if workers > 1 else os.cpu_count()
    ray.init(**init)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        waiting = {remote.remote(fn, job): job for job in jobs}
        failed = []
        while waiting:
            done, _ = ray.wait(list(waiting), num_returns=1)
            job = waiting.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001  (the others' results are kept; reported at the end)
                failed.append((name(job), getattr(exc, "cause", None) or exc))
            else:
                kept(job, result)
        return failed
    finally:
        ray.shutdown()


# -- ordered workers: a build's episodes, in order, with back-pressure ------------------------


def worker_context() -> mp.context.BaseContext:
    """``fork`` on Linux (instant start, works from any ``__main__``, even stdin); ``spawn`` elsewhere.

    Callers create their pool before starting any thread (progress bars) and while no
    HDF5 file is open, which is what makes forking safe.
    """
    return mp.get_context("fork" if sys.platform == "linux" else "spawn")


def worker_count(requested: int | None, jobs: int) -> int:
    """``requested`` workers (default: one per core), never more than there are jobs."""
    return max(1, min(requested or os.cpu_count() or 1, jobs))


class _InProcess:
    """The pool interface, run in this process (one worker: no fork, easy to profile)."""

    def apply_async(self, fn, args):
        return _Done(fn(*args))


@dataclass
class _Done:
    value: object

    def get(self):
        return self.value


@contextmanager
def workers(requested: int | None, jobs: int):
    """(pool, number of workers): a process pool, or this process alone with one worker."""
    count = worker_count(requested, jobs)
    if count == 1:
        yield _InProcess(), 1
        return
    gc.freeze()  # forked workers share the parent's objects; a collection in them must not copy every page
    try:
        with worker_context().Pool(count, initializer=ignore_interrupts) as pool:
            yield pool, count
    finally:
        gc.unfreeze()


def bounded_imap(pool, fn: Callable, items: Sequence, window: int, progress: bool, desc: str = "episodes") -> Iterator:
    """Results of ``fn`` over ``items`` in order, with back-pressure and a progress bar.

    The first results are asked for at once, so the workers start while the caller is still
    setting up. At most ``window`` results wait for the parent: when writing is slower than
    the workers, their results (frames and rows of whole episodes) must not pile up.
    """
    pending = deque(pool.apply_async(fn, (item,)) for item in items[:window])
    return _drain(pool, fn, items[window:], pending, progress, len(items), desc)


def _drain(pool, fn, rest: Sequence, pending: deque, progress: bool, total: int, desc: str) -> Iterator:
    with tqdm(total=total, desc=desc, unit="ep", disable=not progress, leave=False) as bar:
        for item in rest:
            yield pending.popleft().get()
            bar.update()
            pending.append(pool.apply_async(fn, (item,)))
        while pending:
            yield pending.popleft().get()
            bar.update()
