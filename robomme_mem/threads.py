"""Thread pools shared out among simulator processes (the closed loop's workers, the truth's replays)."""

from __future__ import annotations

import os
from contextlib import contextmanager

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
