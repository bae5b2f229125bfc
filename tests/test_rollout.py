"""The closed loop (``robomme_mem.closed_loop.loop``) and its results file, on a tiny pure-Python world.

The simulator and the pi0.5 server are replaced here by a 1-D world and a scripted low-level
policy object, to pin down the loop's contract: when the high-level policy is called, what
reaches the low-level policy, how memories flow back, how episodes end, and how a results
file resumes. The same loop against a real simulator and the real ``openpi-client`` is in
``tests/test_rollout_sim.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from robomme_mem.closed_loop.executors import run_serial
from robomme_mem.closed_loop.loop import Observation, run_episode
from robomme_mem.closed_loop.policy import HighLevelPolicy, ReplayBackend
from robomme_mem.closed_loop.results import append_result, episode_record, pending, read_results, success_rates
from robomme_mem.jsonl import repair
from robomme_mem.prompts import INITIAL_MEMORY


class LineWorld:
    """Walk from 0 to ``goal_x`` on a line; actions are steps of -1, 0 or +1."""

    def __init__(self, goal_x: int = 40, fail_at: int | None = None) -> None:
        self.goal_x, self.fail_at, self.goal = goal_x, fail_at, "walk to the flag"
        self.closed = False

    def _obs(self) -> Observation:
        return Observation(np.full((4, 4, 3), self.x, np.uint8), None, np.array([self.x], np.float32))

    def reset(self) -> list[Observation]:
        self.x, self.t = 0, 0
        return [self._obs()]

    def step(self, action):
        self.t += 1
        if self.fail_at is not None and self.t == self.fail_at:
            raise RuntimeError("IK failed")
        self.x += int(action[0])
        done = self.x >= self.goal_x
        return self._obs(), done, "success" if done else "ongoing"

    def close(self) -> None:
        self.closed = True


class Walker:
    """Scripted low level: walks forward only while told to ``walk``; records what it was sent."""

    def __init__(self, chunk: int = 16) -> None:
        self.chunk, self.calls, self.resets = chunk, [], 0

    def reset(self) -> None:
        self.resets += 1

    def actions(self, goal, subgoal, new, exec_start):
        self.calls.append({"subgoal": subgoal, "new": len(new), "state": float(new[-1].state[0])})
        return np.full((self.chunk, 1), 1 if subgoal == "walk" else 0)


class Recording(ReplayBackend):
    """A replay backend that keeps the prompts it was asked."""

    def __init__(self, targets, **kw) -> None:
        super().__init__(targets, **kw)
        self.prompts: list[str] = []

    def __call__(self, messages, image, max_new_tokens):
        self.prompts.append(messages[1]["content"])
        return super().__call__(messages, image, max_new_tokens)


def answers(*subgoals: str) -> list[str]:
    return [f"{s}\n<mem>I was told {s} {i} times.</mem>" for i, s in enumerate(subgoals, start=1)]


def test_the_high_level_policy_is_called_every_n_steps_and_its_memory_is_fed_back():
    backend = Recording(answers("wait", "walk", "walk", "walk"), repeat_last=True)
    walker = Walker()
    outcome = run_episode(LineWorld(goal_x=40), HighLevelPolicy("simple", backend), walker, every=16, max_steps=200)

    assert outcome.success and outcome.status == "success"
    assert outcome.steps == 16 + 40  # one window waiting, then 40 steps walking
    assert [t["step"] for t in outcome.trace] == [0, 16, 32, 48]
    assert [c["subgoal"] for c in walker.calls] == ["wait", "walk", "walk", "walk"]
    # the first prompt starts from the builder's initial memory, each later one carries the last answer's
    assert INITIAL_MEMORY in backend.prompts[0]
    for previous, prompt in zip(outcome.trace, backend.prompts[1:]):
        assert previous["memory"] in prompt
    assert walker.resets == 1


def test_short_chunks_ask_the_low_level_again_without_a_new_high_level_call():
    walker = Walker(chunk=6)
    outcome = run_episode(
        LineWorld(goal_x=32),
        HighLevelPolicy("simple", ReplayBackend(answers("walk"), repeat_last=True)),
        walker,
        every=16,
    )
    assert outcome.calls == 2  # steps 0 and 16
    assert len(walker.calls) == 6  # 6 + 6 + 4 per 16-step window
    assert [c["new"] for c in walker.calls] == [1, 6, 6, 4, 6, 6]  # observations since the previous chunk


def test_an_episode_ends_at_max_steps_or_on_a_simulator_error():
    policy = HighLevelPolicy("simple", ReplayBackend(answers("wait"), repeat_last=True))
    timeout = run_episode(LineWorld(), policy, Walker(), every=16, max_steps=50)
    assert (timeout.status, timeout.steps, timeout.success) == ("timeout", 50, False)

    error = run_episode(
        LineWorld(fail_at=20),
        HighLevelPolicy("simple", ReplayBackend(answers("walk"), repeat_last=True)),
        Walker(),
        every=16,
    )
    assert (error.status, error.steps, error.error) == ("error", 20, "RuntimeError: IK failed")


def test_parser_fallbacks_are_counted_per_episode():
    backend = ReplayBackend(["walk", "walk\n<mem>half", "walk\n<mem>ok</mem>"], repeat_last=True)
    outcome = run_episode(LineWorld(goal_x=40), HighLevelPolicy("simple", backend), Walker(), every=16)
    assert outcome.success
    assert outcome.fallbacks == {"no <mem>: kept the previous memory": 1, "<mem> not closed": 1}
    assert [t["memory"] for t in outcome.trace] == [INITIAL_MEMORY, "half", "ok"]


def todo(tmp_path, episodes=(0, 1, 2), retry_errors=False) -> list[tuple[str, int]]:
    return pending(tmp_path / "results.jsonl", "walker", [("LineWorld", e) for e in episodes], retry_errors)


def run_job(tmp_path, episodes=(0, 1, 2), worlds: dict | None = None, retry_errors=False):
    made = []

    def run(task, index):
        made.append(index)
        world = (worlds or {}).get(index, LineWorld(goal_x=20))
        policy = HighLevelPolicy("simple", ReplayBackend(answers("walk"), repeat_last=True))
        outcome = run_episode(world, policy, Walker(), every=16, max_steps=100)
        return episode_record("walker", task, index, world.goal, outcome, {"run": {"note": "test"}})

    records = run_serial(run, todo(tmp_path, episodes, retry_errors), tmp_path / "results.jsonl", progress=False)
    return made, records


def test_results_are_appended_per_episode_and_a_rerun_resumes(tmp_path):
    made, records = run_job(tmp_path, episodes=(0, 1))
    assert made == [0, 1] and [r["success"] for r in records] == [True, True]
    line = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert {"method", "task", "episode", "success", "status", "steps", "calls", "trace", "run"} <= set(line)

    made, records = run_job(tmp_path, episodes=(0, 1, 2))
    assert made == [2]  # only the episode the file does not hold yet
    assert [r["episode"] for r in read_results(tmp_path / "results.jsonl")] == [0, 1, 2]
    assert success_rates(read_results(tmp_path / "results.jsonl")) == {"walker": {"LineWorld": 1.0, "average": 1.0}}


def test_errors_are_kept_and_run_again_only_when_asked(tmp_path):
    made, _ = run_job(tmp_path, worlds={1: LineWorld(goal_x=20, fail_at=3)})
    assert made == [0, 1, 2]
    assert todo(tmp_path) == []
    assert todo(tmp_path, retry_errors=True) == [("LineWorld", 1)]
    made, _ = run_job(tmp_path, retry_errors=True)
    assert made == [1]
    results = read_results(tmp_path / "results.jsonl")
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4  # the error line stays, the rerun wins
    assert [(r["episode"], r["status"]) for r in results] == [(0, "success"), (1, "success"), (2, "success")]


def test_a_line_cut_short_by_a_crash_is_dropped_before_the_next_append(tmp_path):
    path = tmp_path / "results.jsonl"
    append_result(path, {"method": "m", "task": "T", "episode": 0, "success": True})
    with open(path, "a") as fh:
        fh.write('{"method": "m", "task": "T", "epi')  # killed mid-write
    assert [r["episode"] for r in read_results(path)] == [0]
    assert repair(path) == len('{"method": "m", "task": "T", "epi')
    append_result(path, {"method": "m", "task": "T", "episode": 1, "success": False})
    assert [(r["episode"], r["success"]) for r in read_results(path)] == [(0, True), (1, False)]


def test_a_hand_written_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"method": "m", "task": "T", "episode": 0, "success": true}')
    assert len(read_results(path)) == 1
    assert repair(path) == 0
    append_result(path, {"method": "m", "task": "T", "episode": 1, "success": True})
    assert len(read_results(path)) == 2


def test_a_bad_line_in_the_middle_names_the_file_and_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"method": "m", "task": "T", "episode": 0, "success": true}\nnot json\n')
    with pytest.raises(ValueError, match=r"results.jsonl:2: not a result line"):
        read_results(path)
