"""LeRobot v3.0 both ways, against LeRobot's own writer, in one run.

    ROBOMME_MEM_LEROBOT_PYTHON=~/.cache/robomme-mem/lerobot-venv/bin/python python benchmarks/lerobot.py [--real DIR]

On the real episodes (default: ``$ROBOMME_MEM_REAL_DATA`` or ../shared's), each side a fresh process:

- **export**: LeRobot's writer (``tests/helpers/lerobot_reference.py``: ``LeRobotDataset.create``,
  ``add_frame``, ``save_episode``, ``finalize``, its default AV1 encoder) against
  ``robomme-mem export lerobot --labels none`` (the same frames, features and encoder settings);
  goal: ours at least 2x faster. Then ours again with the rules memories.
- **build**: ``robomme-mem build`` from the HDF5 files and from LeRobot's copy of them, and the
  decode time per call frame of the LeRobot source;
- **parity**: rows, text fields that differ per config, PSNR of the images; sizes of both copies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = Path(os.environ.get("ROBOMME_MEM_REAL_DATA") or ROOT.parent / "shared" / "data" / "robomme-real")
ENV = {**os.environ, "SVT_LOG": "1", "HF_HUB_OFFLINE": "1"}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL)
    args = parser.parse_args()
    python = os.environ.get("ROBOMME_MEM_LEROBOT_PYTHON")
    if not python:
        raise SystemExit("set ROBOMME_MEM_LEROBOT_PYTHON to LeRobot's environment (.ci/run makes one)")
    cli = [sys.executable, "-m", "robomme_mem"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        theirs = timed(
            [
                python,
                str(ROOT / "tests/helpers/lerobot_reference.py"),
                "--source",
                str(args.real),
                "--out",
                str(tmp / "lerobot"),
            ]
        )
        ours = timed(
            [
                *cli,
                "export",
                "lerobot",
                "--source",
                str(args.real),
                "--out",
                str(tmp / "ours"),
                "--labels",
                "none",
                "-q",
            ]
        )
        ours_memories = timed(
            [*cli, "export", "lerobot", "--source", str(args.real), "--out", str(tmp / "ours-mem"), "-q"]
        )
        frames = json.loads((tmp / "lerobot" / "meta" / "info.json").read_text())["total_frames"]
        print(
            f"export of {frames} frames: LeRobot's writer {theirs:.1f} s, ours {ours:.1f} s: {theirs / ours:.1f}x (goal >= 2x); "
            f"ours with the rules memories {ours_memories:.1f} s"
        )
        print(
            f"sizes: HDF5 {size(args.real) / 1e6:.1f} MB, LeRobot's copy {size(tmp / 'lerobot') / 1e6:.1f} MB, ours {size(tmp / 'ours') / 1e6:.1f} MB"
        )

        h5 = timed([*cli, "build", "--source", str(args.real), "--out", str(tmp / "b-h5"), "-q", "--workers", "1"])
        lr = timed(
            [*cli, "build", "--source", str(tmp / "lerobot"), "--out", str(tmp / "b-lr"), "-q", "--workers", "1"]
        )
        print(
            f"build (every default config, one worker): from HDF5 {h5:.1f} s, from LeRobot's copy {lr:.1f} s ({lr / h5:.2f}x)"
        )

        from robomme_mem.dataset.plan import plan_episode
        from robomme_mem.dataset.source import find_source_files, open_source

        decoded, seconds = 0, 0.0
        for part in find_source_files([tmp / "lerobot"]):
            with open_source(part) as source:
                for number in source.episode_indices:
                    episode = source.episode(number)
                    calls = plan_episode(episode).timeline.call_frames
                    start = time.perf_counter()
                    for step in calls:
                        episode.front_image(step)
                    seconds += time.perf_counter() - start
                    decoded += len(calls)
        print(
            f"decode: {decoded} call frames in {seconds:.2f} s, {1000 * seconds / decoded:.1f} ms a call frame (seeking)"
        )

        sys.path.insert(0, str(ROOT / "tests"))
        from helpers.parity import compare_builds

        report = compare_builds(tmp / "b-h5", tmp / "b-lr")
        print(f"{'config':<24}{'rows':>10}{'text differ':>13}{'images':>8}{'PSNR mean':>11}{'PSNR min':>10}")
        for config, s in report["configs"].items():
            print(
                f"{config:<24}{s['rows'][0]:>5}/{s['rows'][1]:<4}{s['text_differ']:>13}{s['images']:>8}{s['psnr_mean']:>11.2f}{s['psnr_min']:>10.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
