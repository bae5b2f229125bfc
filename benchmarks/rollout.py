"""Time per rollout step of the closed-loop harness on the CPU, against the bare simulator.

    ~/.cache/robomme-mem/sim-venv/bin/python benchmarks/rollout.py            # stock ManiSkill PickCube-v1
    /path/to/robomme-venv/bin/python benchmarks/rollout.py --suite robomme   # RoboMME's BinFill (RoboMME installed)

Runs in the ``[sim]`` environment (``.ci/run`` makes one). Measured in one run, same episodes:

1. **baseline**: the simulator stepped with the scripted low-level policy called in-process
   (no high-level policy, no websocket): the floor any harness pays;
2. **harness, replay**: the serial executor over ``run_episode`` with the replay backend, the
   scripted policy behind ``openpi-client`` and a websocket on loopback, results appended;
3. **harness, openai**: the same with the high-level policy asked over HTTP through the real
   ``openai`` client (PNG frame in a data URL) from a local server whose answer depends only
   on the memory in the prompt, so the episode succeeds only if memories are fed back.

Prints seconds per low-level step and per high-level call, and each harness's ratio to the
baseline. The low level is scripted and the high level answers at once, so the figures are
the harness's own cost; a real pi0.5 server and VLM add their inference time on top.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robomme_mem.closed_loop.executors import run_serial  # noqa: E402
from robomme_mem.closed_loop.loop import run_episode  # noqa: E402
from robomme_mem.closed_loop.lowlevel import OpenPILowLevel  # noqa: E402
from robomme_mem.closed_loop.policy import HighLevelPolicy, OpenAIBackend, ReplayBackend  # noqa: E402
from robomme_mem.closed_loop.results import episode_record  # noqa: E402
from robomme_mem.closed_loop.suites import ManiSkillSuite, RoboMMESuite  # noqa: E402
from robomme_mem.servers import lowlevel_server  # noqa: E402
from robomme_mem.servers.lowlevel_server import PICK_CALLS, counting_answer  # noqa: E402
from robomme_mem.servers.openai_server import FakeOpenAI  # noqa: E402


def replay_answers() -> list[str]:
    return [counting_answer([{"content": f"call {k}" if k else ""}]) for k in range(PICK_CALLS + 1)]


def baseline(
    suite, task: str, episodes: list[int], every: int, max_steps: int, policy_name: str, chunk: int
) -> tuple[float, int, int]:
    """Seconds, steps and successes of the bare loop: the same actions as the harness's, chunk for chunk."""
    act = lowlevel_server.POLICIES[policy_name]
    seconds, steps, wins = 0.0, 0, 0
    for index in episodes:
        episode = suite.make(task, index)
        start = time.perf_counter()
        obs, plan, t, done = episode.reset()[-1], [], 0, False
        while not done and t < max_steps:
            if t % every == 0:
                subgoal, plan = (lowlevel_server.PICK if t < PICK_CALLS * every else lowlevel_server.MOVE), []
            if not plan:
                plan = list(
                    act({"observation/state": obs.state, "simple_subgoal": subgoal}, chunk)[: every - t % every]
                )
            obs, done, status = episode.step(plan.pop(0))
            t += 1
        steps += t
        wins += status == "success"
        seconds += time.perf_counter() - start
        episode.close()
    return seconds, steps, wins


def harness(suite, task, episodes, every, max_steps, port, make_backend, results: Path) -> tuple[float, int, int, int]:
    low_level = OpenPILowLevel("127.0.0.1", port)

    def run(task: str, index: int) -> dict:
        episode = suite.make(task, index)
        try:
            outcome = run_episode(episode, HighLevelPolicy("simple", make_backend()), low_level, every, max_steps)
        finally:
            episode.close()
        return episode_record("bench", task, index, episode.goal, outcome)

    records = run_serial(run, [(task, e) for e in episodes], results, progress=False)
    return (
        sum(r["seconds"] for r in records),
        sum(r["steps"] for r in records),
        sum(r["calls"] for r in records),
        sum(r["success"] for r in records),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("maniskill", "robomme"), default="maniskill")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--every", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--chunk", type=int, default=8, help="actions per low-level reply")
    args = parser.parse_args(argv)

    if args.suite == "maniskill":
        suite, task, policy_name = ManiSkillSuite(args.max_steps), "PickCube-v1", "pickcube"
    else:
        suite, task, policy_name = RoboMMESuite(args.max_steps), "BinFill", "hold"
    episodes = list(range(args.episodes))
    suite.make(
        task, 0
    ).close()  # build the environment before timing (RoboMME builds one per episode, which stays in its figures)

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robomme_mem.servers.lowlevel_server",
            "--policy",
            policy_name,
            "--chunk",
            str(args.chunk),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    rows = []
    try:
        port = int(server.stdout.readline().split()[1])
        b_s, b_steps, b_wins = baseline(suite, task, episodes, args.every, args.max_steps, policy_name, args.chunk)
        rows.append(("baseline: simulator + scripted policy in-process", b_s, b_steps, None, b_wins))
        with tempfile.TemporaryDirectory() as tmp:
            answers = replay_answers()
            r = harness(
                suite,
                task,
                episodes,
                args.every,
                args.max_steps,
                port,
                lambda: ReplayBackend(answers, repeat_last=True),
                Path(tmp) / "replay.jsonl",
            )
            rows.append(("harness, replay backend, openpi-client", r[0], r[1], r[2], r[3]))
            with FakeOpenAI(answer=counting_answer) as fake:
                backend = OpenAIBackend("bench", fake.base_url)
                o = harness(
                    suite, task, episodes, args.every, args.max_steps, port, lambda: backend, Path(tmp) / "openai.jsonl"
                )
            rows.append(("harness, openai backend over HTTP, openpi-client", o[0], o[1], o[2], o[3]))
    finally:
        server.terminate()
        server.wait(timeout=10)
        suite.close()

    base = rows[0][1] / rows[0][2]
    print(f"{task}, {len(episodes)} episodes, high-level call every {args.every} steps, low-level chunk {args.chunk}\n")
    print("| run | steps | successes | s/step | s/HL call | ratio to baseline |")
    print("|---|---|---|---|---|---|")
    for name, seconds, steps, calls, wins in rows:
        per_step = seconds / steps
        per_call = f"{seconds / calls:.3f}" if calls else "-"
        print(f"| {name} | {steps} | {wins}/{len(episodes)} | {per_step:.4f} | {per_call} | {per_step / base:.2f} |")
    print(
        json.dumps(
            {"task": task, "rows": [dict(zip(("run", "seconds", "steps", "calls", "successes"), r)) for r in rows]}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
