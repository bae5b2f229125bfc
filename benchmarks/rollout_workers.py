"""Episodes over processes: ``evaluate/rollout.py --workers N`` (or ``--ray local``) against ``--workers 1``, same run.

    /path/to/robomme-venv/bin/python benchmarks/rollout_workers.py                      # RoboMME, oracle low level, ceiling
    /path/to/robomme-venv/bin/python benchmarks/rollout_workers.py --tasks BinFill --episodes 0,1,4,5 --ray
    ~/.cache/robomme-mem/sim-venv/bin/python benchmarks/rollout_workers.py --suite maniskill   # stock ManiSkill, scripted pi0.5 stand-in

Each configuration runs the same episodes from scratch into its own results file, as a user runs
it (the command line, process start and simulator builds included); the first, ``--workers 1``,
is the baseline of the ratios. Per episode it prints the wall time, the simulator's build time and
the peak memory of the process that ran it, and checks that every configuration reached the same
outcomes. Use a quiet machine: the ratio is only as good as the cores are free.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robomme_mem.prompts import INITIAL_MEMORY, policy_target  # noqa: E402

PICK = policy_target("pick up the cube", INITIAL_MEMORY, "The cube is on the table.")
MOVE = policy_target("move the cube to the goal", "I picked up the cube.", "The cube is in the gripper.")


def run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("robomme", "maniskill"), default="robomme")
    parser.add_argument("--tasks", default="BinFill")
    parser.add_argument("--episodes", default="0,1", help="the same for every configuration")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also time --ray local with --workers CPUs")
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common = [
            sys.executable,
            str(ROOT / "evaluate" / "rollout.py"),
            "--suite",
            args.suite,
            "--tasks",
            args.tasks,
            "--episodes",
            args.episodes,
            "-q",
        ]
        server = None
        if args.suite == "robomme":
            common += ["--low-level", "oracle", "--backend", "ceiling"]
        else:
            replay = tmp / "answers.jsonl"
            replay.write_text("".join(json.dumps(a) + "\n" for a in [PICK] * 3 + [MOVE]))
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "robomme_mem.servers.lowlevel_server",
                    "--policy",
                    "pickcube",
                    "--chunk",
                    "8",
                    "--port",
                    "0",
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            port = server.stdout.readline().split()[1]
            common += [
                "--backend",
                "replay",
                "--replay",
                str(replay),
                "--ll-port",
                port,
                "--variant",
                "dual_simple",
                "--max-steps",
                "96",
            ]
        configs = [("--workers 1", ["--workers", "1"]), (f"--workers {args.workers}", ["--workers", str(args.workers)])]
        if args.ray:
            configs.append((f"--ray local ({args.workers} CPUs)", ["--ray", "local", "--workers", str(args.workers)]))
        rows = []
        try:
            for name, extra in configs:
                results = tmp / f"{len(rows)}.jsonl"
                wall = run([*common, *extra, "--results", str(results)], env)
                rows.append((name, wall, records(results)))
        finally:
            if server:
                server.terminate()
    outcomes = [sorted((r["task"], r["episode"], r["status"], r["steps"]) for r in rs) for _, _, rs in rows]
    n = len(rows[0][2])
    print(f"{args.suite}: {args.tasks} episodes {args.episodes} ({n} episodes), {os.cpu_count()} cores")
    print(
        "| run | wall s | speed-up vs --workers 1 | s/episode (mean) | simulator build s (mean) | peak RSS MB (max) |"
    )
    print("|---|---|---|---|---|---|")
    for name, wall, rs in rows:
        per = statistics.fmean(r["seconds"] for r in rs)
        build = statistics.fmean(r.get("make_seconds", 0.0) for r in rs)
        peak = max(r.get("peak_rss_mb", 0.0) for r in rs)
        print(f"| {name} | {wall:.1f} | {rows[0][1] / wall:.2f}x | {per:.1f} | {build:.1f} | {peak:.0f} |")
    print("same outcomes in every run:", all(o == outcomes[0] for o in outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
