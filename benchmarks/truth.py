"""Scene truth against RoboMME's own replay, the same episodes in one run.

    ~/.cache/robomme-mem/robomme-venv/bin/python benchmarks/truth.py \\
        --reference-cmd "$ROBOMME_REPLAY {src}"        # RoboMME's scripts/dataset_replay.py over the folder {src}

Runs where RoboMME's benchmark is installed (its own environment; see evaluate/README.md). For
each real episode in ``--real`` (default: ``$ROBOMME_MEM_REAL_DATA`` or ../shared's), one at a
time, each as a fresh process so both pay their imports and their env's construction:

- **RoboMME's replay** (``--reference-cmd``, a shell command with ``{src}``, a folder holding only
  that episode's file): RoboMME's ``scripts/dataset_replay.py``, which steps the recorded joint
  actions rendering both cameras (RGB, depth, segmentation) at every step and writes a video;
- **ours**: ``robomme-mem truth`` on the same file, rendering the front camera at call frames only.

Prints wall seconds per episode and the ratio; goal: ours at least 5x faster.

``--together`` times a whole run instead, as a dataset is replayed: each side replays every
episode of ``--real`` in one process (RoboMME's script with ``{src}`` the folder itself and its
``replay_number`` covering every episode of a file; ours with ``--source`` the folder), so
imports and the first render are paid once, and prints seconds per episode of both.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("ROBOMME_MEM_REAL_DATA") or ROOT.parent / "shared" / "data" / "robomme-real")


def timed(command: list[str] | str, cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, shell=isinstance(command, str), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"{command if isinstance(command, str) else shlex.join(command)} failed ({done.returncode}): {done.stderr[-1500:]}"
        )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL, help="folder of recorded RoboMME files")
    parser.add_argument(
        "--reference-cmd",
        default=os.environ.get("ROBOMME_REPLAY"),
        metavar="CMD",
        help="RoboMME's replay as a shell command with {src}",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="one process per side over the whole folder (a dataset's run), not one per episode",
    )
    args = parser.parse_args(argv)
    files = sorted(args.real.glob("record_dataset_*.h5"))
    if not files:
        raise SystemExit(f"no record_dataset_*.h5 in {args.real}")
    if args.together:
        return together(args.real, files, args.reference_cmd)
    rows = []
    with tempfile.TemporaryDirectory(prefix="robomme-mem-truth-bench-") as work:
        work = Path(work)
        for path in files:
            src = work / path.stem
            src.mkdir()
            (src / path.name).symlink_to(path.resolve())
            ours = timed(
                [
                    sys.executable,
                    "-m",
                    "robomme_mem",
                    "truth",
                    "--source",
                    str(src),
                    "--out",
                    str(work / f"{path.stem}.jsonl"),
                    "-q",
                ],
                work,
            )
            ref = timed(args.reference_cmd.format(src=shlex.quote(str(src))), src) if args.reference_cmd else None
            rows.append((path.stem.removeprefix("record_dataset_"), ref, ours))
            print(
                f"{rows[-1][0]:<16} RoboMME's replay {'-' if ref is None else f'{ref:6.1f} s'}   ours {ours:6.1f} s"
                + (f"   {ref / ours:4.1f}x" if ref else ""),
                flush=True,
            )
    if all(r is not None for _, r, _ in rows):
        ref_total, ours_total = sum(r for _, r, _ in rows), sum(o for _, _, o in rows)
        print(
            f"{'all':<16} RoboMME's replay {ref_total:6.1f} s   ours {ours_total:6.1f} s   {ref_total / ours_total:4.1f}x   (goal >= 5x)"
        )
    return 0


def together(folder: Path, files: list[Path], reference_cmd: str | None) -> int:
    """Both sides over every episode of ``folder``, one process each."""
    import h5py

    episodes = 0
    for path in files:
        with h5py.File(path, "r") as h5:
            episodes += sum(1 for k in h5 if k.startswith("episode_"))
    with tempfile.TemporaryDirectory(prefix="robomme-mem-truth-bench-") as work:
        work = Path(work)
        ours = timed(
            [
                sys.executable,
                "-m",
                "robomme_mem",
                "truth",
                "--source",
                str(folder),
                "--out",
                str(work / "truth.jsonl"),
                "-q",
            ],
            work,
        )
        ref = timed(reference_cmd.format(src=shlex.quote(str(folder.resolve()))), work) if reference_cmd else None
    line = f"{episodes} episodes in one process each: ours {ours:6.1f} s ({ours / episodes:4.1f} s an episode)"
    if ref is not None:
        line += (
            f"   RoboMME's replay {ref:6.1f} s ({ref / episodes:4.1f} s an episode)   {ref / ours:4.1f}x   (goal >= 5x)"
        )
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
