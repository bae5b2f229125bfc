"""Build speed and memory against a floor and the reference procedure, measured side by side.

    python benchmarks/build.py              # 56-episode and 10-episode generated sources
    python benchmarks/build.py --episodes 3 # per task (x 8 tasks); quicker

Measured in one run on one machine:

- floor: in this process, only read the selected call frames (h5py) and PNG-encode them to
  files at the builder's compression level; the least any builder must do;
- reference: RoboMME's reference procedure, straightforward and single-process
  (:mod:`robomme_mem.reference`: every step read through h5py's high-level API);
- ours: ``robomme_mem.build.build`` with its default worker pool (one per core), for the
  same two baseline configs the reference makes, and for every config of the default spec
  (rules labels, history ablations, traces, Parquet shards with embedded frames).

The generated frames are stored raw, as RoboMME's recorder stores them, and carry
sensor-like noise, so each costs what a real render costs to PNG-encode (flat synthetic
frames encode ~5x faster and would make the per-step subgoal reads look dominant).

Peak memory is that of the whole process tree of a fresh ``robomme-mem build`` (parent and
workers summed as proportional set size, so pages shared after fork count once; sampled
from /proc every 10 ms), on a small and a large source: it must not grow with
the number of episodes. Targets: ours <= 1.5x the floor's time, >= 5x faster than the
reference, and peak RSS within 10% between the two sources.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py

from robomme_mem.build import BuildOptions, build
from robomme_mem.configs import ALL_CONFIGS, BASELINE_CONFIGS
from robomme_mem.layout import PNG_COMPRESS_LEVEL
from robomme_mem.reference import run_reference
from robomme_mem.segment import plan_episode
from robomme_mem.source import SourceFile, find_source_files
from robomme_mem.synthetic import SYNTHETIC_TASKS, write_source
from robomme_mem.write.media import write_png


def call_frames(source: Path) -> list[tuple[Path, int, tuple[int, ...]]]:
    plans = []
    for path in find_source_files([source]):
        with SourceFile(path) as src:
            for ep in src.episodes():
                plan = plan_episode(ep.simple_subgoals, ep.execution_start, ep.task)
                plans.append((path, ep.index, plan.call_frames))
    return plans


def floor(plans, out: Path) -> float:
    out.mkdir(parents=True)
    start = time.perf_counter()
    for path, index, frames in plans:
        with h5py.File(path, "r") as h5:
            ep = h5[f"episode_{index}"]
            for step in frames:
                write_png(out / f"{path.stem}_{index}_{step}.png", ep[f"timestep_{step}/obs/front_rgb"][()], PNG_COMPRESS_LEVEL)
    return time.perf_counter() - start


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def tree_pss_kb(pid: int) -> int:
    """Memory of a process and all its descendants (Linux ``Pss``: shared pages counted once in all)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(fields["PPid"]), []).append(p)
        rss[p] = _pss_kb(p)
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(source: Path, out: Path, *selection: str) -> float:
    """Peak tree memory of ``robomme-mem build`` as a fresh process."""
    cmd = [sys.executable, "-m", "robomme_mem", "build", "--source", str(source), "--out", str(out), "-q", *selection]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_pss_kb(proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    stop.set()
    sampler.join()
    if code:
        raise SystemExit(f"build failed with exit code {code}")
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=7, help="episodes per task in the large source (8 tasks)")
    parser.add_argument("--small-per-task", type=int, default=2, help="episodes per task in the small build of the memory check (5 tasks)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the floor and of our build; the best counts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="robomme-mem-bench-"))
    try:
        t = time.perf_counter()
        large = work / "large"
        style = dict(compression=None, texture=True)  # raw frames, as RoboMME's recorder stores them; real-render encode cost
        write_source(large, SYNTHETIC_TASKS, episodes=args.episodes, seed=1, **style)
        print(f"generated sources in {time.perf_counter() - t:.1f} s")

        plans = call_frames(large)
        rows = sum(len(f) for _, _, f in plans)
        episodes = len(plans)
        steps = sum(f[-1] + 1 for _, _, f in plans)
        print(f"large source: {episodes} episodes, {steps} steps, {rows} call frames (rows per config); {os.cpu_count()} cores")

        # best of `--repeat` for the fast measurements (a shared 2-core machine is noisy); the
        # reference, ~10x slower, once
        t_floor = min(floor(plans, work / f"floor{i}") for i in range(args.repeat))
        baseline = BuildOptions(configs=BASELINE_CONFIGS)
        t_ours = min(timed(lambda i=i: build([large], work / f"ours{i}", baseline, progress=False)) for i in range(args.repeat))
        t_all = min(timed(lambda i=i: build([large], work / f"all{i}", BuildOptions(), progress=False)) for i in range(args.repeat))
        t_ref = timed(run_reference, large, work / "reference")
        print()
        print(f"{'':34}{'seconds':>9}{'rows/s':>9}{'vs ours':>9}")
        for name, secs in (
            ("floor (read + PNG, 1 proc)", t_floor),
            ("reference procedure", t_ref),
            ("ours (the 2 baseline configs)", t_ours),
            (f"ours (all {len(ALL_CONFIGS)} configs, rules labels)", t_all),
        ):
            print(f"{name:34}{secs:9.2f}{rows / secs:9.0f}{secs / t_ours:9.2f}")
        print()
        print(f"ours / floor      = {t_ours / t_floor:.2f}   (target <= 1.5)")
        print(f"reference / ours  = {t_ref / t_ours:.2f}   (target >= 5)")
        print(f"all configs / the 2 baseline configs = {t_all / t_ours:.2f}   (labels, 9 more configs, Parquet shards with embedded frames)")

        # the small source: 2 episodes of 5 tasks (one a video task, whose mp4 encoder is the
        # largest allocation), taken from the same files
        small_tasks = ["BinFill", "PickXtimes", "StopCube", "ButtonUnmask", "VideoUnmask"]
        small_eps = len(small_tasks) * args.small_per_task
        rss_small = peak_rss_mb(large, work / "rss_small", "--tasks", *small_tasks, "--max-episodes", str(args.small_per_task))
        rss_large = peak_rss_mb(large, work / "rss_large")
        print()
        print(f"peak memory of a default build, all configs (process tree PSS): {small_eps} episodes {rss_small:.0f} MB, {episodes} episodes {rss_large:.0f} MB")
        print(f"large / small     = {rss_large / rss_small:.3f}   (target within 10%: 0.90 .. 1.10)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
