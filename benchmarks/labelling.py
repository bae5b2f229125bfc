"""Labelling speed against its bounds, with the real ``openai`` client and a local server.

    python benchmarks/labelling.py                   # 4 episodes per task, L = 200 and 50 ms, C = 16
    python benchmarks/labelling.py --episodes 2      # quicker

The server (:mod:`robomme_mem.servers.openai_server`) runs in its own process and answers
after an injected latency L. Measured in one run on one machine:

1. **Schedule**: labelling wall time / critical-path bound, where the bound is the longest
   spatial chain x L, or all requests x L / C if that is larger (no schedule can beat
   either). Target: <= 1.2.
2. **Client overhead** at L = 0: distinct requests answered per second of wall time, and
   per second of the client's CPU time (the rate one core could sustain: on this 2-core
   machine the server's process takes part of the time), everything included (frame reads,
   PNG data URLs, keys, cache writes, the SDK, the label set). Target: >= 1000. Given for
   all requests and for the action memories alone (text only, no frames).
3. **Deduplication**: distinct requests / (boundaries + call frames), and the requests a
   second run sends (target: 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI, DefaultAioHttpClient

from robomme_mem.dataset.labels.engine.requests import LabelParams, action_request
from robomme_mem.dataset.labels.labellers.openai_chat import OpenAILabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.sample.generator import SYNTHETIC_TASKS, write_source
from robomme_mem.dataset.source import find_source_files


class Server:
    """The fake OpenAI server in a subprocess (so its CPU is not the client's)."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "robomme_mem.servers.openai_server", "--port", "0", "--latency", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().split()
        if not line or line[0] != "BASE_URL":
            raise RuntimeError(f"the server did not start: {line}")
        self.base_url = line[1]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait()


def label(files, works, base_url: str, store: Path, concurrency: int, spatial: bool = True):
    labeller = OpenAILabeller(LabelParams(model="fake-labeller"), base_url=base_url, timeout_s=30, max_retries=2)
    with LabelCache(store) as cache:
        start, cpu = time.perf_counter(), time.process_time()
        run = label_source(
            files, labeller, store=cache, name="bench", spatial=spatial, concurrency=concurrency, progress=False
        )
        run.cpu_s = time.process_time() - cpu
        return run, time.perf_counter() - start


def sdk_floor(base_url: str, works, concurrency: int) -> tuple[float, float]:
    """(requests/s wall, requests per CPU-second) of ``AsyncOpenAI.post`` alone over the action requests."""
    bodies = []
    seen = set()
    for work in works:
        for style in ("simple", "grounded"):
            for boundary in work.boundaries[style]:
                request = action_request(work.goal, boundary.history, style)
                if request.user + request.system not in seen:
                    seen.add(request.user + request.system)
                    bodies.append({"model": "fake-labeller", "messages": request.wire_messages(), "temperature": 1.0})

    async def go() -> tuple[float, float]:
        client = AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=2, http_client=DefaultAioHttpClient())
        slots = asyncio.Semaphore(concurrency)

        async def one(body: dict) -> None:
            async with slots:
                json.loads(await client.post("/chat/completions", cast_to=str, body=body))

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(b) for b in bodies))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        await client.close()
        return len(bodies) / wall, len(bodies) / cpu

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4, help="episodes per task (x 8 tasks)")
    parser.add_argument(
        "--latency",
        type=float,
        nargs="+",
        default=[0.2, 0.05],
        help="injected server latencies L in seconds (default 0.2 and a 0.05 stress case)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight C")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="robomme-mem-bench-") as tmp:
        tmp = Path(tmp)
        write_source(tmp / "src", SYNTHETIC_TASKS, episodes=args.episodes, seed=7)
        files = find_source_files([tmp / "src"])
        works = plan_source(files)
        boundaries = sum(len(w.boundaries[s]) for w in works for s in ("simple", "grounded"))
        frames = sum(len(w.timeline.call_frames) for w in works)
        longest = max(len(w.timeline.call_frames) for w in works)
        print(
            f"source: {len(works)} episodes, {boundaries} boundaries (2 styles), {frames} call frames, longest chain {longest}"
        )

        for latency in args.latency:
            with Server(latency) as server:
                run, wall = label(files, works, server.base_url, tmp / f"a{latency}.sqlite", args.concurrency)
                assert not run.problems, run.problems[:3]
                bound = max(longest * latency, run.stats.sent * latency / args.concurrency)
                print(
                    f"1. schedule (L = {latency * 1000:.0f} ms, C = {args.concurrency}): {run.stats.sent} requests in {wall:.2f} s; "
                    f"critical-path bound {bound:.2f} s; ratio {wall / bound:.2f} (target <= 1.2)"
                )
        with Server(0.0) as server:
            dedup = run.stats.sent / (boundaries + frames)
            again, wall_again = label(files, works, server.base_url, tmp / f"a{latency}.sqlite", args.concurrency)
            print(
                f"3. dedup: {run.stats.sent} distinct requests / {boundaries + frames} boundaries and frames = {dedup:.3f}; "
                f"{run.stats.deduplicated} deduplicated in the run; second run sent {again.stats.sent} "
                f"({again.stats.cached} from cache, {wall_again:.2f} s) (target 0)"
            )

        with Server(0.0) as server:
            label(files, works[:2], server.base_url, tmp / "warm.sqlite", args.concurrency)  # connections, imports
            rates = {}
            for label_kind, spatial in (("all requests", True), ("action memories alone", False)):
                best_wall = best_cpu = 0.0
                for attempt in range(3):
                    run, wall = label(
                        files, works, server.base_url, tmp / f"z{spatial}{attempt}.sqlite", 32, spatial=spatial
                    )
                    best_wall = max(best_wall, run.stats.sent / wall)
                    best_cpu = max(best_cpu, run.stats.sent / run.cpu_s)
                rates[label_kind] = (best_wall, best_cpu)
            floor = max(sdk_floor(server.base_url, works, 32) for _ in range(3))
            print("2. client overhead (L = 0, C = 32, best of 3; target >= 1000 requests/s):")
            print(
                f"   floor: the bare SDK posting the same action requests, nothing else: {floor[0]:.0f} requests/s wall, "
                f"{floor[1]:.0f} per client CPU-second"
            )
            for label_kind, (wall_rate, cpu_rate) in rates.items():
                print(
                    f"   {label_kind}: {wall_rate:.0f} requests/s wall; {cpu_rate:.0f} per client CPU-second"
                    + (f" ({cpu_rate / floor[1]:.2f} x the floor)" if "action" in label_kind else "")
                )


if __name__ == "__main__":
    main()
