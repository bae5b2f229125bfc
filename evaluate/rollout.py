"""Closed-loop evaluation of the memory policy in RoboMME; results append to a file.

    # RoboMME (installed in this environment, see evaluate/README.md), a pi0.5 server on :8000
    python evaluate/rollout.py --variant dual_grounded --backend openai --base-url http://localhost:8001/v1 \\
        --model robomme-lora --ll-port 8000 --results runs/results.jsonl

    # RoboMME's motion planner as the low level (CPU only): the privileged ceiling, then a model, 2 processes
    python evaluate/rollout.py --low-level oracle --backend ceiling --episodes 5 --workers 2 --results runs/oracle.jsonl
    python evaluate/rollout.py --low-level oracle --backend openai --base-url http://localhost:8001/v1 --model robomme-lora \\
        --episodes 5 --workers 2 --results runs/oracle.jsonl          # or --ray HOST:6379 (the [cluster] extra)

    # the same loop on a stock ManiSkill task, scripted answers and a scripted low-level server
    python evaluate/rollout.py --suite maniskill --tasks PickCube-v1 --episodes 2 --variant simple \\
        --backend replay --replay answers.jsonl --ll-port 8000 --max-steps 160 --results runs/pick.jsonl

With ``--low-level pi05`` the high-level policy (``robomme_mem.closed_loop.policy``: prompts shared with the
builder, memory fed back, lenient parser) is called every ``--every`` low-level steps on the
front camera; its subgoal goes to the low-level policy server through ``openpi-client``
(:class:`robomme_mem.closed_loop.lowlevel.OpenPILowLevel`). Serve RoboMME's simple-subgoal pi0.5 checkpoint
for ``simple``/``dual_simple`` and the grounded-subgoal one for ``grounded``/``dual_grounded``.
With ``--low-level oracle`` it is called once per subgoal and RoboMME's planner executes it
(:mod:`robomme_mem.closed_loop.oracle`). Episodes run here, in ``--workers`` processes or on a Ray cluster
(:mod:`robomme_mem.closed_loop.executors`); one JSON line per episode goes to ``--results`` as soon as it ends
(``method``, ``task``, ``episode``, ``success``, status, steps, calls, timings, memory, parser
fallbacks, the memory trace and what produced it); a rerun skips the episodes already there, so
an interrupted run resumes. Bad input is one line and exit 2, before any simulator starts.

RoboMME is not on PyPI and its simulator is imported only when ``--suite robomme`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

from robomme_mem import __version__
from robomme_mem.closed_loop.executors import RunError, ray_problem, run
from robomme_mem.closed_loop.loop import CALL_EVERY, MAX_STEPS
from robomme_mem.closed_loop.lowlevel import OpenPILowLevel
from robomme_mem.closed_loop.one_episode import POLICIES, Rollout
from robomme_mem.closed_loop.oracle import MAX_CALLS
from robomme_mem.closed_loop.policy import BACKENDS, backend_problem, endpoint_problem
from robomme_mem.closed_loop.results import by_method_task, low_level_of, pending, read_results, success_rates
from robomme_mem.closed_loop.suites import MANISKILL_GOALS, robomme_episode_count, robomme_problem
from robomme_mem.prompts import PROMPT_SET_VERSION, VARIANTS
from robomme_mem.tasks import ALL_TASKS, EVALUATED_TASKS

BUILT_IN = tuple(p for p in POLICIES if p != "model")

ROBOMME_EPISODES = 30
"""Evaluation episodes per task in the report (RoboMME's test split, episodes 0..29)."""


# -- command line ------------------------------------------------------------------------------


def read_replay(path: Path) -> list[str]:
    """Completions, one JSON line each: a string or ``{"completion": ...}``."""
    answers = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                item = json.loads(line)
                answers.append(item["completion"] if isinstance(item, dict) else str(item))
            except (ValueError, KeyError) as exc:
                raise SystemExit(f"{path}:{number}: not a completion line ({exc})") from None
    if not answers:
        raise SystemExit(f"{path}: no completions")
    return answers


def episode_list(text: str) -> list[int]:
    """``30`` -> 0..29; ``3-7`` -> 3..7; ``0,4,9`` -> those."""
    if "," in text:
        return [int(x) for x in text.split(",")]
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return list(range(int(text)))


def summary(records: list[dict]) -> str:
    """A Markdown table per method and task; oracle runs show time and memory per episode and their misses."""
    oracle = any(low_level_of(r) == "oracle" for r in records)
    if oracle:
        lines = [
            "| method | task | episodes | success | s/episode | peak MB | HL calls | sim steps | misses |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines = [
            "| method | task | episodes | success | s/step (loop) | s/step (sim) | HL calls | fallbacks |",
            "|---|---|---|---|---|---|---|---|",
        ]
    rates = success_rates(records)
    grouped = by_method_task(records)
    for method, task in sorted((m, t) for m, tasks in grouped.items() for t in tasks):
        rs = grouped[method][task]
        steps = sum(r.get("steps", 0) for r in rs)
        calls = sum(r.get("calls", 0) for r in rs)
        head = f"| {method} | {task} | {len(rs)} | {100 * rates[method][task]:.1f}% |"
        if oracle:
            seconds = statistics.fmean(r.get("seconds", 0.0) + r.get("make_seconds", 0.0) for r in rs)
            peak = max(r.get("peak_rss_mb", 0.0) for r in rs)
            misses = sum((Counter(r.get("misses", {})) for r in rs), Counter())
            said = ", ".join(f"{k} {v}" for k, v in sorted(misses.items())) or "0"
            lines.append(f"{head} {seconds:.1f} | {peak:.0f} | {calls} | {steps} | {said} |")
        else:
            loop = sum(r.get("seconds", 0.0) for r in rs) / (steps or 1)
            sim = statistics.fmean(r.get("sim_seconds_per_step", 0.0) for r in rs)
            fallbacks = sum(sum(r.get("fallbacks", {}).values()) for r in rs)
            lines.append(f"{head} {loop:.3f} | {sim:.3f} | {calls} | {fallbacks} |")
    blank = " |" * (len(lines[1].split("|")) - 6)
    for method, r in sorted(rates.items()):
        lines.append(f"| {method} | average | | {100 * r['average']:.1f}% |{blank}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite",
        choices=("robomme", "maniskill"),
        default="robomme",
        help="robomme: RoboMME's tasks (needs RoboMME installed); maniskill: stock ManiSkill tasks, a check of the harness (default: %(default)s)",
    )
    parser.add_argument(
        "--low-level",
        choices=("pi05", "oracle"),
        default="pi05",
        help="pi05: a policy server (--ll-port); oracle: RoboMME's motion planner, one subgoal per step (CPU only)",
    )
    parser.add_argument("--tasks", help=f"comma-separated (default: the report's 7: {','.join(EVALUATED_TASKS)})")
    parser.add_argument("--episodes", default=str(ROBOMME_EPISODES), help="N (0..N-1), A-B, or a comma list")
    parser.add_argument("--variant", choices=VARIANTS, default="dual_grounded")
    parser.add_argument("--history", action="store_true", help="the *_history ablation: earlier subgoals in the prompt")
    parser.add_argument(
        "--method", help="name in the results file (default: the config name, or the built-in policy's)"
    )
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, *BUILT_IN),
        default="openai",
        help="the high level: a model backend, or (oracle only) 'ceiling', which issues the env's own next "
        "subgoal, or 'first-subgoal', which repeats the first one forever; with a simple --variant "
        "both speak simple subgoals (no point), resolved from the words",
    )
    parser.add_argument("--model", help="served model name (openai) or base model (swift)")
    parser.add_argument("--adapter", help="LoRA adapter (swift)")
    parser.add_argument("--base-url", help="OpenAI-compatible server (openai)")
    parser.add_argument(
        "--replay",
        type=Path,
        help="completions for the replay backend (JSONL), replayed in every episode, the last repeated",
    )
    parser.add_argument(
        "--ll-host",
        default="127.0.0.1",
        help="host of the pi0.5 policy server (openpi-client websocket; default: %(default)s)",
    )
    parser.add_argument(
        "--ll-port", type=int, default=8000, help="port of the pi0.5 policy server (default: %(default)s)"
    )
    parser.add_argument(
        "--ll-protocol",
        choices=("mme-vla", "openpi"),
        default="mme-vla",
        help="mme-vla: RoboMME's server (reset and history messages); openpi: observations only",
    )
    parser.add_argument("--every", type=int, default=CALL_EVERY, help="low-level steps between high-level calls (pi05)")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS, help="simulator steps per episode at most")
    parser.add_argument(
        "--max-calls", type=int, default=MAX_CALLS, help="high-level calls per episode at most (oracle)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the oracle's random picks where a simple subgoal leaves a choice"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="episodes in N local processes (one simulator each, ~1.3 GB for RoboMME)"
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="one Ray task per episode on this cluster (host:port, ray://host:port, auto; "
        "'local' starts one here); needs robomme-mem[cluster]",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("runs/rollout/results.jsonl"),
        help="results JSONL, one line per finished episode; a rerun resumes it (default: %(default)s)",
    )
    parser.add_argument("--retry-errors", action="store_true", help="run again episodes whose result is an error")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    # everything below is checked before any simulator starts: each problem is one line and exit 2
    oracle = args.low_level == "oracle"
    if args.backend in BUILT_IN and not oracle:
        parser.error(f"--backend {args.backend} reads the env's own subgoals: it needs --low-level oracle")
    if args.backend == "replay" and not args.replay:
        parser.error("--backend replay needs --replay FILE")
    if args.backend in ("openai", "swift") and (
        problem := backend_problem(args.backend, model=args.model, base_url=args.base_url)
    ):
        parser.error(problem)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    known = ALL_TASKS if args.suite == "robomme" else tuple(MANISKILL_GOALS)
    tasks = (
        args.tasks.split(",") if args.tasks else list(EVALUATED_TASKS if args.suite == "robomme" else MANISKILL_GOALS)
    )
    if unknown := [t for t in tasks if t not in known]:
        parser.error(f"unknown {args.suite} task {unknown[0]!r}; one of {', '.join(known)}")
    try:
        episodes = episode_list(args.episodes)
    except ValueError:
        parser.error(f"--episodes {args.episodes!r}: give N, A-B or a comma list")
    if args.suite == "robomme" and (problem := robomme_problem()):
        parser.exit(2, f"error: {problem}\n")
    if args.suite == "robomme":
        for task, count in robomme_episode_count(tasks).items():
            if max(episodes) >= count:
                parser.exit(
                    2,
                    f"error: RoboMME's test split has {count} episodes of {task}; asked for episode {max(episodes)}\n",
                )
    if args.backend == "openai" and (problem := endpoint_problem(args.base_url)):
        parser.exit(2, f"error: {problem}\n")
    if args.ray and (problem := ray_problem(args.ray)):
        parser.exit(2, f"error: {problem}\n")
    metadata = None
    if not oracle:
        try:
            probe = OpenPILowLevel(args.ll_host, args.ll_port, protocol=args.ll_protocol)
            metadata = probe.metadata
            probe.close()
        except ConnectionError as exc:
            parser.exit(2, f"error: {exc}\n")

    config = args.variant + ("_history" if args.history else "")
    policy = args.backend if args.backend in BUILT_IN else "model"
    if policy != "model":  # the built-in high levels speak grounded subgoals, or simple ones for a simple --variant
        method = args.method or policy + ("" if "grounded" in args.variant else "-simple")
    else:
        method = args.method or config + ("+oracle" if oracle else "")
    if clash := {low_level_of(r) for r in read_results(args.results) if r["method"] == method} - {args.low_level}:
        parser.exit(
            2,
            f"error: {args.results} holds {method!r} run with the {clash.pop()} low level; name this run with --method\n",
        )
    low_level = (
        {"kind": "oracle", "source": "RoboMME multi_choice (OraclePlannerDemonstrationWrapper)"}
        if oracle
        else {
            "kind": "pi05",
            "host": args.ll_host,
            "port": args.ll_port,
            "protocol": args.ll_protocol,
            "metadata": _jsonable(metadata),
        }
    )
    provenance = {
        "config": config if policy == "model" else None,
        "run": {
            "robomme_mem": __version__,
            "prompt_set": PROMPT_SET_VERSION,
            "suite": args.suite,
            "policy": policy,
            "backend": None if policy != "model" else args.backend,
            "model": args.model,
            "adapter": args.adapter,
            "replay": os.fspath(args.replay) if args.replay else None,
            "calls": "after every oracle step (once per subgoal)" if oracle else f"every {args.every} steps",
            "every": None if oracle else args.every,
            "max_steps": args.max_steps,
            "max_calls": args.max_calls if oracle else None,
            "seed": args.seed,
            "low_level": low_level,
            "workers": args.workers,
            "ray": args.ray,
        },
    }
    rollout = Rollout(
        method=method,
        suite=args.suite,
        low_level=args.low_level,
        variant=args.variant,
        history=args.history,
        policy=policy,
        backend=args.backend,
        model=args.model,
        base_url=args.base_url,
        adapter=args.adapter,
        replay=tuple(read_replay(args.replay)) if args.backend == "replay" else None,
        ll_host=args.ll_host,
        ll_port=args.ll_port,
        ll_protocol=args.ll_protocol,
        every=args.every,
        max_steps=args.max_steps,
        max_calls=args.max_calls,
        seed=args.seed,
        provenance=provenance,
    )
    todo = pending(args.results, method, [(t, e) for t in tasks for e in episodes], args.retry_errors)
    try:
        run(rollout, todo, args.results, workers=args.workers, ray_address=args.ray, progress=not args.quiet)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    records = [r for r in read_results(args.results) if r["method"] == method and r["task"] in tasks]
    print(summary(records))
    print(f"results: {args.results}  (report: python evaluate/report.py {args.results} --out report/)")
    return 0


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    sys.exit(main())
