"""Worker processes for the CPU-bound stages (a build's episodes, the sample's generation).

Results come back in order with back-pressure, so the output is byte-identical whatever the
number of workers and the parent never holds more than a window of finished episodes.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..executors import ignore_interrupts


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
