"""Closed-loop evaluation: the memory policy drives pi0.5 in RoboMME; results append to a file.

    # RoboMME (installed in this environment, see evaluate/README.md), a pi0.5 server on :8000
    python evaluate/rollout.py --variant dual_grounded --backend openai --base-url http://localhost:8001/v1 \\
        --model robomme-lora --ll-port 8000 --results runs/results.jsonl

    # the same loop on a stock ManiSkill task, scripted answers and a scripted low-level server
    python evaluate/rollout.py --suite maniskill --tasks PickCube-v1 --episodes 2 --variant simple \\
        --backend replay --replay answers.jsonl --ll-port 8000 --max-steps 160 --results runs/pick.jsonl

The high-level policy (``robomme_mem.policy``: prompts shared with the builder, memory fed
back, lenient parser) is called every ``--every`` low-level steps on the front camera; its
subgoal goes to the low-level policy server through ``openpi-client``
(:class:`robomme_mem.rollout.OpenPILowLevel`). Serve RoboMME's simple-subgoal pi0.5 checkpoint
for ``simple``/``dual_simple`` and the grounded-subgoal one for ``grounded``/``dual_grounded``.
One JSON line per episode goes to ``--results`` as soon as it ends (``method``, ``task``,
``episode``, ``success``, status, steps, calls, timings, parser fallbacks, the memory trace and
what produced it); a rerun skips the episodes already there, so an interrupted run resumes.

RoboMME is not on PyPI and its simulator is imported only here, when ``--suite robomme`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robomme_mem import __version__
from robomme_mem.policy import BACKENDS, HighLevelPolicy, make_backend
from robomme_mem.prompts import PROMPT_SET_VERSION, VARIANTS
from robomme_mem.results import by_method_task, read_results, success_rates
from robomme_mem.rollout import CALL_EVERY, MAX_STEPS, Job, Observation, OpenPILowLevel, evaluate
from robomme_mem.tasks import EVALUATED_TASKS

ROBOMME_EPISODES = 30
"""Evaluation episodes per task in the report (RoboMME's test split, episodes 0..29)."""


def _numpy(x) -> np.ndarray:
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


# -- RoboMME -----------------------------------------------------------------------------------


class RoboMMESuite:
    """RoboMME's evaluation episodes (``BenchmarkEnvBuilder``, test split, joint-angle actions)."""

    def __init__(self, max_steps: int, dataset: str = "test") -> None:
        try:
            import robomme.robomme_env  # noqa: F401  (registers the environments)
            from robomme.env_record_wrapper import BenchmarkEnvBuilder
        except ImportError as exc:
            raise SystemExit(f"RoboMME is not installed in this environment ({exc}); see evaluate/README.md") from None
        self._builder_cls, self.max_steps, self.dataset = BenchmarkEnvBuilder, max_steps, dataset
        self._builders: dict = {}

    def builder(self, task: str):
        if task not in self._builders:
            self._builders[task] = self._builder_cls(env_id=task, dataset=self.dataset, action_space="joint_angle", gui_render=False, max_steps=self.max_steps)
        return self._builders[task]

    def episodes(self, task: str) -> int:
        return self.builder(task).get_episode_num()

    def make(self, task: str, episode: int) -> RoboMMEEpisode:
        return RoboMMEEpisode(self.builder(task).make_env_for_episode(episode))

    def close(self) -> None:
        self._builders.clear()


@dataclass
class RoboMMEEpisode:
    env: object
    goal: str = ""

    @staticmethod
    def _state(joints, gripper) -> np.ndarray:
        return np.concatenate([_numpy(joints), _numpy(gripper)[:1]]).astype(np.float32)

    def reset(self) -> list[Observation]:
        obs, info = self.env.reset()
        goal = info["task_goal"]
        self.goal = goal[0] if isinstance(goal, (list, tuple)) else str(goal)
        return [
            Observation(_numpy(f).astype(np.uint8), _numpy(w).astype(np.uint8), self._state(j, g))
            for f, w, j, g in zip(obs["front_rgb_list"], obs["wrist_rgb_list"], obs["joint_state_list"], obs["gripper_state_list"])
        ]

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        status = (info or {}).get("status", "ongoing")
        if status == "error":
            raise RuntimeError(info.get("error_message", "RoboMME reported an error"))
        last = Observation(
            _numpy(obs["front_rgb_list"][-1]).astype(np.uint8),
            _numpy(obs["wrist_rgb_list"][-1]).astype(np.uint8),
            self._state(obs["joint_state_list"][-1], obs["gripper_state_list"][-1]),
        )
        return last, bool(terminated) or bool(truncated), status

    def close(self) -> None:
        self.env.close()


# -- stock ManiSkill (CI: the same loop without RoboMME) ----------------------------------------

MANISKILL_GOALS = {"PickCube-v1": "pick up the red cube and move it to the goal"}
"""Stock tasks the adapter knows how to describe and give a state for."""


class ManiSkillSuite:
    """Stock ManiSkill tasks on the CPU (``sim_backend="cpu"``), one env per task reused across seeds.

    The state handed to the low-level policy is privileged (tcp, cube and goal positions,
    grasped): it is for a scripted stand-in, not a learned policy. Episode ``i`` is seed ``i``.
    """

    def __init__(self, max_steps: int) -> None:
        import gymnasium as gym
        import mani_skill.envs  # noqa: F401  (registers the environments)

        self._gym, self.max_steps, self._envs = gym, max_steps, {}

    def make(self, task: str, episode: int) -> ManiSkillEpisode:
        if task not in MANISKILL_GOALS:
            raise SystemExit(f"unsupported ManiSkill task {task!r}; one of {', '.join(MANISKILL_GOALS)}")
        if task not in self._envs:
            self._envs[task] = self._gym.make(task, obs_mode="rgb", control_mode="pd_ee_delta_pos", sim_backend="cpu",
                                              render_mode=None, max_episode_steps=self.max_steps + 1)
        return ManiSkillEpisode(self._envs[task], episode, MANISKILL_GOALS[task])

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


@dataclass
class ManiSkillEpisode:
    env: object
    seed: int
    goal: str

    def _obs(self, obs) -> Observation:
        u = self.env.unwrapped
        front = _numpy(obs["sensor_data"]["base_camera"]["rgb"][0]).astype(np.uint8)
        grasped = float(_numpy(u.agent.is_grasping(u.cube))[0])
        state = np.concatenate([_numpy(u.agent.tcp.pose.p[0]), _numpy(u.cube.pose.p[0]), _numpy(u.goal_site.pose.p[0]), [grasped]])
        return Observation(front, None, state.astype(np.float32))

    def reset(self) -> list[Observation]:
        obs, _ = self.env.reset(seed=self.seed, options={"reconfigure": True})
        return [self._obs(obs)]

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        success, terminated, truncated = (bool(_numpy(flag).reshape(-1)[0]) for flag in (info["success"], terminated, truncated))
        status = "success" if success else "timeout" if truncated else "fail" if terminated else "ongoing"
        return self._obs(obs), status != "ongoing", status

    def close(self) -> None:
        """The env is reused by the next episode; the suite closes it."""


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
    lines = ["| method | task | episodes | success | s/step (loop) | s/step (sim) | HL calls | fallbacks |", "|---|---|---|---|---|---|---|---|"]
    rates = success_rates(records)
    grouped = by_method_task(records)
    for method, task in sorted((m, t) for m, tasks in grouped.items() for t in tasks):
        rs = grouped[method][task]
        steps = sum(r.get("steps", 0) for r in rs) or 1
        loop = sum(r.get("seconds", 0.0) for r in rs) / steps
        sim = statistics.fmean(r.get("sim_seconds_per_step", 0.0) for r in rs)
        fallbacks = sum(sum(r.get("fallbacks", {}).values()) for r in rs)
        lines.append(f"| {method} | {task} | {len(rs)} | {100 * rates[method][task]:.1f}% | {loop:.3f} | {sim:.3f} | {sum(r.get('calls', 0) for r in rs)} | {fallbacks} |")
    for method, r in sorted(rates.items()):
        lines.append(f"| {method} | average | | {100 * r['average']:.1f}% | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("robomme", "maniskill"), default="robomme")
    parser.add_argument("--tasks", help=f"comma-separated (default: the report's 7: {','.join(EVALUATED_TASKS)})")
    parser.add_argument("--episodes", default=str(ROBOMME_EPISODES), help="N (0..N-1), A-B, or a comma list")
    parser.add_argument("--variant", choices=VARIANTS, default="dual_grounded")
    parser.add_argument("--history", action="store_true", help="the *_history ablation: earlier subgoals in the prompt")
    parser.add_argument("--method", help="name in the results file (default: the config name)")
    parser.add_argument("--backend", choices=BACKENDS, default="openai")
    parser.add_argument("--model", help="served model name (openai) or base model (swift)")
    parser.add_argument("--adapter", help="LoRA adapter (swift)")
    parser.add_argument("--base-url", help="OpenAI-compatible server (openai)")
    parser.add_argument("--replay", type=Path, help="completions for the replay backend (JSONL), replayed in every episode, the last repeated")
    parser.add_argument("--ll-host", default="127.0.0.1")
    parser.add_argument("--ll-port", type=int, default=8000)
    parser.add_argument("--ll-protocol", choices=("mme-vla", "openpi"), default="mme-vla",
                        help="mme-vla: RoboMME's server (reset and history messages); openpi: observations only")
    parser.add_argument("--every", type=int, default=CALL_EVERY, help="low-level steps between high-level calls")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS)
    parser.add_argument("--results", type=Path, default=Path("runs/rollout/results.jsonl"))
    parser.add_argument("--retry-errors", action="store_true", help="run again episodes whose result is an error")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    config = args.variant + ("_history" if args.history else "")
    method = args.method or config
    tasks = args.tasks.split(",") if args.tasks else list(EVALUATED_TASKS if args.suite == "robomme" else MANISKILL_GOALS)
    if args.backend == "replay" and not args.replay:
        parser.error("--backend replay needs --replay FILE")
    targets = read_replay(args.replay) if args.replay else None
    try:
        shared = None if args.backend == "replay" else make_backend(args.backend, model=args.model, base_url=args.base_url, adapter=args.adapter)
    except ValueError as exc:
        parser.error(str(exc))

    def make_policy() -> HighLevelPolicy:
        backend = shared or make_backend("replay", targets=targets, repeat_last=True)
        return HighLevelPolicy(args.variant, backend, with_history=args.history)

    try:
        low_level = OpenPILowLevel(args.ll_host, args.ll_port, protocol=args.ll_protocol)
    except ConnectionError as exc:
        raise SystemExit(f"error: {exc}") from None
    suite = RoboMMESuite(args.max_steps) if args.suite == "robomme" else ManiSkillSuite(args.max_steps)
    provenance = {
        "config": config,
        "run": {
            "robomme_mem": __version__,
            "prompt_set": PROMPT_SET_VERSION,
            "suite": args.suite,
            "backend": args.backend,
            "model": args.model,
            "adapter": args.adapter,
            "replay": os.fspath(args.replay) if args.replay else None,
            "every": args.every,
            "max_steps": args.max_steps,
            "low_level": {"host": args.ll_host, "port": args.ll_port, "protocol": args.ll_protocol, "metadata": _jsonable(low_level.metadata)},
        },
    }
    episodes = episode_list(args.episodes)
    if isinstance(suite, RoboMMESuite):
        for task in tasks:
            if max(episodes) >= (available := suite.episodes(task)):
                raise SystemExit(f"error: RoboMME's {suite.dataset} split has {available} episodes of {task}; asked for episode {max(episodes)}")
    job = Job(method, tasks, episodes, args.results, args.every, args.max_steps, args.retry_errors)
    try:
        evaluate(job, suite.make, make_policy, low_level, provenance, progress=not args.quiet)
    finally:
        suite.close()
    records = [r for r in read_results(args.results) if r["method"] == method and r["task"] in tasks]
    print(summary(records))
    print(f"results: {args.results}  (report: python evaluate/report.py {args.results} --out report/)")
    return 0


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    sys.exit(main())
