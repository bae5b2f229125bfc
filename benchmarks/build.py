"""Build speed, memory and Hub deduplication, against a floor and RoboMME's own builder, in one run.

    python benchmarks/build.py --reference-cmd "$ROBOMME_BUILDER"     # 96 real episodes (24 copies of ../shared's)
    python benchmarks/build.py --copies 3                              # quicker, no reference

Source: the real RoboMME episodes in ``../shared/data/robomme-real`` (``--real``), each copied
``--copies`` times into one temporary source (HDF5 group copies: the same gzip-9 frames,
the same subgoal strings; the episode numbers change), or ``--source DIR`` as it is.

Measured in one run on one machine, each run starting with no dirty pages (``sync``), so a
run does not pay for the previous one's writeback:

- **floor**: in this process, read every frame a build must write and encode it: the call
  frames to PNG (the package's reader and encoder, the fastest we know) and the video demos
  to mp4. ``floor (call frames only)`` leaves the videos out.
- **RoboMME's builder** (``--reference-cmd``, a shell command with ``{src}`` and ``{out}``):
  RoboMME's own QwenVL subgoal builder, installed in its own environment outside this project.
- **ours**: ``robomme-mem build`` as a fresh process (start-up included), for the 2 baseline
  configs the reference makes and for every config of the default spec (rules labels).

Wall time, CPU-seconds of the whole process tree, peak memory (process tree PSS, sampled),
``robomme-mem --help``, and the share of unique bytes in ``data/`` under content-defined
chunking (FastCDC, 64 KiB average, as the Hub's storage chunks files; needs ``pyfastcdc``).
Targets: 2 configs >= 8x RoboMME's builder; CPU <= 1.5x the floor's; all configs <= 1.5x the
2 configs; peak memory within 10% from 10 to 96 episodes; --help < 0.3 s; unique <= 15%.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py

from robomme_mem.configs import BASELINE_CONFIGS
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import SourceFile, find_source_files
from robomme_mem.dataset.write.media import write_mp4
from robomme_mem.png import PNG_COMPRESS_LEVEL, encode_png

REAL = Path(
    os.environ.get("ROBOMME_MEM_REAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data" / "robomme-real"
)


def replicate(real: Path, out: Path, copies: int) -> Path:
    """Each real file's episodes copied ``copies`` times, renumbered 0.., into ``out``."""
    out.mkdir(parents=True)
    for path in find_source_files([real]):
        with h5py.File(path, "r") as src, h5py.File(out / path.name, "w") as dst:
            names = sorted((n for n in src if n.startswith("episode_")), key=lambda n: int(n.split("_")[1]))
            number = 0
            for _ in range(copies):
                for name in names:
                    src.copy(src[name], dst, name=f"episode_{number}")
                    number += 1
    return out


def floor(source: Path, out: Path, videos: bool) -> tuple[float, float]:
    """(wall, CPU) seconds to read and encode what a build must write, in this process."""
    planned = plan_source(find_source_files([source]))
    out.mkdir(parents=True)
    _settle()
    wall, cpu = time.perf_counter(), time.process_time()
    for p in planned:
        with SourceFile(p.file) as src:
            ep = src.episode(p.episode)
            for step in p.timeline.call_frames:
                (out / f"{p.task}_{p.episode}_{step}.png").write_bytes(
                    encode_png(ep.front_image(step), PNG_COMPRESS_LEVEL)
                )
            if videos and p.timeline.execution_start:
                write_mp4(
                    out / f"{p.task}_{p.episode}.mp4", (ep.front_image(k) for k in range(p.timeline.execution_start))
                )
    return time.perf_counter() - wall, time.process_time() - cpu


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _settle() -> None:
    """No dirty pages left by the previous run (its writeback would slow this one down)."""
    os.sync()


def run(cmd: list[str] | str, shell: bool = False, memory: bool = False) -> tuple[float, float, float]:
    """(wall s, CPU s of the process tree, peak tree PSS MB) of a command.

    Memory is sampled only when asked (``memory``): reading every process's page tables every
    10 ms costs CPU that a timed run on 2 cores would pay for.
    """
    _settle()
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_pss_kb(proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    if memory:
        sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    if memory:
        sampler.join()
    if proc.returncode:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {err.decode()[-2000:]}")
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, peak / 1024


def tree_pss_kb(pid: int) -> int:
    """Memory of a process and all its descendants (Linux ``Pss``: shared pages counted once in all)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _pss_kb(p)
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


def command() -> list[str]:
    """``robomme-mem`` run by this Python directly (an installed script may sit behind a shim)."""
    return [sys.executable, "-m", "robomme_mem"]


def ours(source: Path, out: Path, *extra: str) -> list[str]:
    return [*command(), "build", "--source", str(source), "--out", str(out), "-q", *extra]


def unique_share(folder: Path, avg: int = 64 * 1024) -> tuple[float, int] | None:
    """(unique / total bytes, total) of ``folder``'s files under content-defined chunking."""
    try:
        from pyfastcdc import FastCDC
    except ImportError:
        return None
    cdc = FastCDC(avg_size=avg)
    seen: set[bytes] = set()
    total = unique = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for chunk in cdc.cut_buf(data):
            piece = data[chunk.offset : chunk.offset + chunk.length]
            digest = hashlib.blake2b(piece, digest_size=16).digest()
            total += chunk.length
            if digest not in seen:
                seen.add(digest)
                unique += chunk.length
    return (unique / total if total else 0.0), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", type=Path, default=REAL, help="folder of real RoboMME files to replicate (default: ../shared's)"
    )
    parser.add_argument(
        "--copies", type=int, default=24, help="copies of each real episode (default 24: 96 episodes from 4)"
    )
    parser.add_argument("--source", type=Path, help="use this source as it is instead of replicating")
    parser.add_argument(
        "--reference-cmd",
        default=os.environ.get("ROBOMME_BUILDER"),
        metavar="CMD",
        help="RoboMME's builder as a shell command with {src} and {out} (default: $ROBOMME_BUILDER)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each of our builds, alternating; the best counts"
    )
    parser.add_argument("--small", type=int, default=10, help="episodes of the small build of the memory check")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="robomme-mem-bench-", dir=args.work))
    try:
        if args.source:
            source = args.source
        else:
            if not args.real.is_dir():
                raise SystemExit(f"no real RoboMME files at {args.real}: pass --real DIR or --source DIR")
            t = time.perf_counter()
            source = replicate(args.real, work / "src", args.copies)
            print(f"replicated {args.real} x{args.copies} in {time.perf_counter() - t:.1f} s")
        planned = plan_source(find_source_files([source]))
        frames = sum(len(p.timeline.call_frames) for p in planned)
        videos = sum(p.timeline.execution_start for p in planned)
        size = sum(f.stat().st_size for f in find_source_files([source]))
        print(
            f"source: {len(planned)} episodes, {sum(p.timeline.num_steps for p in planned)} steps, {frames} call frames, "
            f"{videos} video-demo frames, {size / 1e9:.2f} GB; {os.cpu_count()} cores"
        )

        # Untimed warm-up, then every timed run's output is removed before the next: on a VM the
        # first write to never-used guest memory costs several times a reused page, and no
        # run should pay for being first.
        run(ours(source, work / "warm"))
        share = unique_share(work / "warm" / "data")
        clear(work / "warm")
        distinct = None
        if not args.source:  # copies of one episode share their frames: measure on distinct episodes too
            run(ours(args.real, work / "distinct"))
            distinct = unique_share(work / "distinct" / "data")
            clear(work / "distinct")
        f_wall, f_cpu = floor(source, work / "floor", videos=True)
        clear(work / "floor")
        c_wall, c_cpu = floor(source, work / "floor-calls", videos=False)
        clear(work / "floor-calls")
        two, every = [], []
        for _ in range(args.repeat):
            two.append(run(ours(source, work / "two", "--configs", *BASELINE_CONFIGS)))
            clear(work / "two")
            every.append(run(ours(source, work / "all")))
            clear(work / "all")
        best_two, best_all = min(two), min(every)
        reference = None
        if args.reference_cmd:
            reference = run(
                args.reference_cmd.format(src=shlex.quote(str(source)), out=shlex.quote(str(work / "reference"))),
                shell=True,
            )
            ref_rows = sum(1 for _ in open(work / "reference" / "qwenvl" / "simple_subgoal_train.jsonl"))
            clear(work / "reference")
            if ref_rows != frames:
                print(f"warning: RoboMME's builder wrote {ref_rows} rows, we plan {frames} call frames")

        print()
        print(f"{'':44}{'wall s':>8}{'CPU s':>8}")
        print(f"{'floor (call frames + video demos, 1 proc)':44}{f_wall:8.2f}{f_cpu:8.2f}")
        print(f"{'floor (call frames only, 1 proc)':44}{c_wall:8.2f}{c_cpu:8.2f}")
        if reference:
            print(f"{'RoboMME builder (its own environment)':44}{reference[0]:8.2f}{reference[1]:8.2f}")
        print(f"{'ours, 2 baseline configs':44}{best_two[0]:8.2f}{best_two[1]:8.2f}")
        print(f"{'ours, every config (rules labels)':44}{best_all[0]:8.2f}{best_all[1]:8.2f}")
        print()
        if reference:
            print(f"RoboMME's builder / ours (2 configs), wall = {reference[0] / best_two[0]:.2f}   (target >= 8)")
        print(
            f"ours (2 configs) CPU / floor CPU          = {best_two[1] / f_cpu:.2f}   (target <= 1.5; {best_two[1] / c_cpu:.2f} against the call-frames-only floor)"
        )
        print(f"every config / 2 configs, wall           = {best_all[0] / best_two[0]:.2f}   (target <= 1.5)")

        per_file = max(1, args.small // len(find_source_files([source])))
        small = run(ours(source, work / "small", "--max-episodes", str(per_file)), memory=True)[2]
        clear(work / "small")
        large = run(ours(source, work / "large"), memory=True)[2]
        clear(work / "large")
        print(
            f"peak memory (process tree PSS), every config: {per_file * len(find_source_files([source]))} episodes {small:.0f} MB, "
            f"{len(planned)} episodes {large:.0f} MB, ratio {large / small:.3f}   (target 0.90 .. 1.10)"
        )

        helps = [run([*command(), "--help"])[0] for _ in range(5)]
        print(f"robomme-mem --help: {min(helps):.3f} s (best of 5)   (target < 0.3)")

        if share is None:
            print("deduplication: install pyfastcdc to measure it")
        else:
            print(
                f"data/ under content-defined chunking: {share[1] / 1e9:.2f} GB, unique {share[0]:.1%}   (target <= 15%)"
            )
            if distinct is not None:
                print(
                    f"  of a build of the {len(find_source_files([args.real]))} distinct real files alone: {distinct[1] / 1e6:.0f} MB, "
                    f"unique {distinct[0]:.1%} (each frame once in 10 row configs: ~10% is the least)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
