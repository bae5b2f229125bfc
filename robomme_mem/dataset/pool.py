"""Worker processes for the CPU-bound stages (frame encoding, sample generation)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys


def worker_context() -> mp.context.BaseContext:
    """``fork`` on Linux (instant start, works from any ``__main__``, even stdin); ``spawn`` elsewhere.

    Callers create their pool before starting any thread (progress bars) and while no
    HDF5 file is open, which is what makes forking safe.
    """
    return mp.get_context("fork" if sys.platform == "linux" else "spawn")


def worker_count(requested: int | None, jobs: int) -> int:
    """``requested`` workers (default: one per core), never more than there are jobs."""
    return max(1, min(requested or os.cpu_count() or 1, jobs))
