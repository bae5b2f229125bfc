"""What the process pool gives each worker, without a simulator (the pool itself runs in tests/test_rollout_sim.py)."""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

from robomme_mem.closed_loop.one_episode import Rollout, episode_seed
from robomme_mem.threads import threads_per_worker


def test_spawned_workers_get_their_share_of_the_cores_unless_the_user_chose(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    with threads_per_worker(2), ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        seen = {
            name: pool.submit(os.getenv, name).result()
            for name in ("OMP_NUM_THREADS", "LP_NUM_THREADS", "MKL_NUM_THREADS")
        }
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert seen == {"OMP_NUM_THREADS": share, "LP_NUM_THREADS": share, "MKL_NUM_THREADS": "7"}
    assert (
        "OMP_NUM_THREADS" not in os.environ and os.environ["MKL_NUM_THREADS"] == "7"
    )  # this process is left as it was


def test_an_episodes_random_picks_do_not_depend_on_where_or_when_it_runs():
    rollout = Rollout(method="m")
    assert episode_seed(rollout, "ButtonUnmask", 3) == episode_seed(
        Rollout(method="other", provenance={"x": 1}), "ButtonUnmask", 3
    )
    assert episode_seed(rollout, "ButtonUnmask", 3) != episode_seed(rollout, "ButtonUnmask", 4)
    assert episode_seed(rollout, "ButtonUnmask", 3) != episode_seed(Rollout(method="m", seed=1), "ButtonUnmask", 3)
