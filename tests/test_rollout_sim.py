"""``evaluate/rollout.py`` end to end on a real simulator: stock ManiSkill ``PickCube-v1`` on the CPU.

The loop is the one RoboMME runs, with two stand-ins for what cannot exist here: the
high-level policy answers from a replay file, and the pi0.5 server is
``robomme_mem.servers.lowlevel_server`` (a scripted policy that obeys the subgoals it is
sent), reached through the real ``openpi-client`` over a websocket on loopback. SAPIEN
renders the camera with Mesa's lavapipe (Vulkan on the CPU).

ManiSkill pins numpy 1.x, so all of this runs in a separate environment whose Python is
``$ROBOMME_MEM_SIM_PYTHON`` (``.ci/run`` makes it). The tests skip without it, and skip when
that environment has no Vulkan device; any other failure of the simulator fails them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robomme_mem.closed_loop.results import read_results
from robomme_mem.servers.lowlevel_server import counting_answer
from robomme_mem.servers.openai_server import FakeOpenAI
from tests.helpers.sim import ENV, ROOT, SIM_PYTHON

pytestmark = pytest.mark.slow
PICK = "pick up the cube\n<mem>No actions had been completed yet.</mem>\n<spatial_mem>The cube is on the table.</spatial_mem>"
MOVE = "move the cube to the goal\n<mem>I picked up the cube.</mem>\n<spatial_mem>The cube is in the gripper.</spatial_mem>"


@pytest.fixture(scope="module")
def server(tmp_path_factory, simulator):
    """The scripted policy server in its own process; (port, request log)."""
    folder = tmp_path_factory.mktemp("lowlevel")
    log, errors = folder / "requests.jsonl", folder / "server.err"
    with open(errors, "w") as err:
        proc = subprocess.Popen(
            [
                SIM_PYTHON,
                "-m",
                "robomme_mem.servers.lowlevel_server",
                "--policy",
                "pickcube",
                "--chunk",
                "8",
                "--port",
                "0",
                "--log",
                str(log),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=ENV,
        )
    line = proc.stdout.readline()
    if not line.startswith("WS_PORT"):
        proc.kill()
        pytest.fail(f"low-level server did not start: {line}{errors.read_text()[-2000:]}")
    yield int(line.split()[1]), log
    proc.terminate()
    proc.wait(timeout=10)


def requests(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def rollout(tmp_path: Path, port: int, answers: list[str], results: Path, *args: str) -> subprocess.CompletedProcess:
    replay = tmp_path / f"answers-{len(list(tmp_path.iterdir()))}.jsonl"
    replay.write_text("".join(json.dumps(a) + "\n" for a in answers))
    cmd = [
        SIM_PYTHON,
        str(ROOT / "evaluate" / "rollout.py"),
        "--suite",
        "maniskill",
        "--tasks",
        "PickCube-v1",
        "--backend",
        "replay",
        "--replay",
        str(replay),
        "--ll-port",
        str(port),
        "--results",
        str(results),
        "--max-steps",
        "96",
        "-q",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_subgoals_decide_the_episode(tmp_path, server):
    port, log = server
    before = len(requests(log))
    results = tmp_path / "results.jsonl"
    done = rollout(
        tmp_path, port, [PICK] * 3 + [MOVE], results, "--episodes", "2", "--variant", "dual_simple", "--method", "right"
    )
    rollout(tmp_path, port, [PICK], results, "--episodes", "2", "--variant", "dual_simple", "--method", "never-moves")

    by = {(r["method"], r["episode"]): r for r in read_results(results)}
    assert [by["right", e]["status"] for e in (0, 1)] == ["success", "success"]
    assert [by["never-moves", e]["status"] for e in (0, 1)] == ["timeout", "timeout"]
    assert "| right | PickCube-v1 | 2 | 100.0% |" in done.stdout

    # what reached the low-level server, in order: a reset per episode, then the subgoal of each call window
    sent = requests(log)[before:]
    assert sum(r["kind"] == "reset" for r in sent) == 4
    infers = [r for r in sent if r["kind"] == "infer"]
    assert infers[0]["prompt"] == "pick up the red cube and move it to the goal"
    assert infers[0]["observation/image"]["shape"] == [128, 128, 3]
    right = by["right", 0]
    assert [t["subgoal"] for t in right["trace"]] == ["pick up the cube"] * 3 + ["move the cube to the goal"]
    assert [t["spatial"] for t in right["trace"]][-1] == "The cube is in the gripper."
    assert {r["simple_subgoal"] for r in infers} == {"pick up the cube", "move the cube to the goal"}
    assert right["run"]["low_level"]["metadata"]["policy"] == "pickcube"
    assert right["sim_seconds_per_step"] > 0 and right["steps"] <= 96


def test_an_interrupted_evaluation_resumes_where_it_stopped(tmp_path, server):
    port, log = server
    results = tmp_path / "results.jsonl"
    rollout(tmp_path, port, [PICK] * 3 + [MOVE], results, "--episodes", "1", "--variant", "simple")
    with open(results, "a") as fh:
        fh.write('{"method": "simple", "task": "PickCube-v1", "episo')  # a write cut short by a kill
    before = len(requests(log))
    rollout(tmp_path, port, [PICK] * 3 + [MOVE], results, "--episodes", "2", "--variant", "simple")
    assert [r["episode"] for r in read_results(results)] == [0, 1]
    assert sum(r["kind"] == "reset" for r in requests(log)[before:]) == 1  # only episode 1 ran
    assert results.read_text().endswith("\n") and len(results.read_text().splitlines()) == 2


def test_no_low_level_server_is_a_clear_error_before_anything_runs(tmp_path, simulator):
    results = tmp_path / "results.jsonl"
    cmd = [
        SIM_PYTHON,
        str(ROOT / "evaluate" / "rollout.py"),
        "--suite",
        "maniskill",
        "--backend",
        "replay",
        "--replay",
        str(tmp_path / "a.jsonl"),
        "--ll-port",
        "1",
        "--results",
        str(results),
    ]
    (tmp_path / "a.jsonl").write_text(json.dumps(PICK) + "\n")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode != 0
    assert "no low-level policy server at ws://127.0.0.1:1" in done.stderr and "Traceback" not in done.stderr
    assert not results.exists()


ROBOMME_PYTHON = os.environ.get("ROBOMME_MEM_ROBOMME_PYTHON")


@pytest.mark.skipif(
    not ROBOMME_PYTHON,
    reason="RoboMME is not on PyPI: set ROBOMME_MEM_ROBOMME_PYTHON to an environment with RoboMME's benchmark and robomme-mem[sim] (evaluate/README.md)",
)
def test_the_harness_drives_real_robomme(tmp_path):
    """RoboMME's own evaluation episodes: a plain task and a video-demo task, the arm held still."""
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [
            ROBOMME_PYTHON,
            "-m",
            "robomme_mem.servers.lowlevel_server",
            "--policy",
            "hold",
            "--chunk",
            "16",
            "--port",
            "0",
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        port = int(proc.stdout.readline().split()[1])
        replay = tmp_path / "answers.jsonl"
        replay.write_text(
            json.dumps(
                "pick up the red cube <106, 110>\n<mem>No actions had been completed yet.</mem>\n<spatial_mem>No observations yet.</spatial_mem>"
            )
            + "\n"
        )
        results = tmp_path / "results.jsonl"
        cmd = [
            ROBOMME_PYTHON,
            str(ROOT / "evaluate" / "rollout.py"),
            "--suite",
            "robomme",
            "--tasks",
            "BinFill,VideoUnmask",
            "--episodes",
            "1",
            "--variant",
            "dual_grounded",
            "--backend",
            "replay",
            "--replay",
            str(replay),
            "--ll-port",
            str(port),
            "--max-steps",
            "32",
            "--results",
            str(results),
            "-q",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    records = {r["task"]: r for r in read_results(results)}
    assert {t: (r["status"], r["steps"], r["calls"]) for t, r in records.items()} == {
        "BinFill": ("timeout", 32, 2),
        "VideoUnmask": ("timeout", 32, 2),
    }
    sent = requests(log)
    buffers = [r for r in sent if r["kind"] == "add_buffer"]
    infers = [r for r in sent if r["kind"] == "infer"]
    assert infers[0]["observation/image"]["shape"] == [256, 256, 3] and infers[0]["observation/state"]["shape"] == [8]
    assert infers[0]["prompt"].startswith("put")  # BinFill's goal, from RoboMME's info
    # the video task starts with its demonstration: the first history buffer holds it, and says where execution starts
    video_first = buffers[2]
    assert (
        video_first["images"]["shape"][0] > 1 and video_first["exec_start_idx"] == video_first["images"]["shape"][0] - 1
    )


def test_episodes_spread_over_processes_or_a_ray_cluster_give_what_one_process_gives(tmp_path, server):
    """``--workers 2`` and ``--ray local`` (a local cluster with 2 CPUs): same results, one file, resumable.

    The Ray run's high level is a model behind an OpenAI-compatible server on loopback that counts
    in its memory alone, so its episodes match the replayed ones only if memories flow back.
    """
    port, log = server
    answers, args = [PICK] * 3 + [MOVE], ("--episodes", "3", "--variant", "dual_simple")
    one = tmp_path / "one.jsonl"
    single = rollout(tmp_path, port, answers, one, *args)

    two = tmp_path / "two.jsonl"  # a killed run: episode 0 done, episode 1 cut short
    two.write_text(one.read_text().splitlines()[0] + '\n{"method": "dual_simple", "task": "PickCube-v1", "epi')
    before = len(requests(log))
    pooled = rollout(tmp_path, port, answers, two, *args, "--workers", "2")
    assert sum(r["kind"] == "reset" for r in requests(log)[before:]) == 2  # only the missing episodes ran
    ray = tmp_path / "ray.jsonl"  # the high level behind an OpenAI-compatible URL, reached from the Ray workers
    with FakeOpenAI(answer=counting_answer) as hl:
        clustered = rollout(
            tmp_path,
            port,
            answers,
            ray,
            *args,
            "--ray",
            "local",
            "--workers",
            "2",
            "--backend",
            "openai",
            "--base-url",
            hl.base_url,
            "--model",
            "pickcube-counter",
        )
        assert (
            sum(r.path.endswith("/chat/completions") for r in hl.log) >= 3 * 4
        )  # every call of every episode went over HTTP

    def outcome(r):
        return r["episode"], r["status"], r["steps"], r["calls"], [t["subgoal"] for t in r["trace"]]

    expected = sorted(map(outcome, read_results(one)))
    assert [o[1] for o in expected][:2] == ["success"] * 2
    assert sorted(map(outcome, read_results(two))) == expected == sorted(map(outcome, read_results(ray)))
    assert len(two.read_text().splitlines()) == len(ray.read_text().splitlines()) == 3  # nothing recorded twice
    assert {r["run"]["workers"] for r in read_results(two)[1:]} == {2} and {
        r["run"]["ray"] for r in read_results(ray)
    } == {"local"}
    assert {r["pid"] for r in read_results(ray)}.isdisjoint({r["pid"] for r in read_results(one)})

    def row(done):  # the summary's success column, timings aside
        return [
            line.split("|")[1:5]
            for line in done.stdout.splitlines()
            if line.startswith("| dual_simple | PickCube-v1 |")
        ]

    assert row(single) == row(pooled) == row(clustered) and len(row(single)) == 1


def test_a_ray_address_that_does_not_answer_is_one_line_before_any_simulator(tmp_path, simulator):
    (tmp_path / "a.jsonl").write_text(json.dumps(PICK) + "\n")
    cmd = [
        SIM_PYTHON,
        str(ROOT / "evaluate" / "rollout.py"),
        "--suite",
        "maniskill",
        "--backend",
        "replay",
        "--replay",
        str(tmp_path / "a.jsonl"),
        "--ray",
        "127.0.0.1:1",
        "--results",
        str(tmp_path / "r.jsonl"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "no Ray cluster answers at 127.0.0.1:1" in done.stderr and not (tmp_path / "r.jsonl").exists()
    check = "from robomme_mem.closed_loop.executors import ray_problem as p; print(p('local'), '|', p('nowhere'))"
    said = subprocess.run([SIM_PYTHON, "-c", check], capture_output=True, text=True, timeout=120, env=ENV).stdout
    assert said.startswith("None |") and "'nowhere' is not host:port" in said


@pytest.mark.skipif(
    not ROBOMME_PYTHON,
    reason="RoboMME is not on PyPI: set ROBOMME_MEM_ROBOMME_PYTHON to an environment with RoboMME's benchmark and robomme-mem[sim] (evaluate/README.md)",
)
def test_the_oracle_low_level_runs_real_robomme(tmp_path):
    """RoboMME's planner as the low level on BinFill's first test episode: the ceiling, a memoryless and a simple high level."""
    results = tmp_path / "results.jsonl"
    base = [
        ROBOMME_PYTHON,
        str(ROOT / "evaluate" / "rollout.py"),
        "--low-level",
        "oracle",
        "--tasks",
        "BinFill",
        "--results",
        str(results),
        "-q",
    ]
    replay = tmp_path / "simple.jsonl"
    replay.write_text(
        "".join(json.dumps(s) + "\n" for s in ("pick up the red cube", "put it into the bin", "press the button"))
    )
    for args in (
        ["--backend", "ceiling"],
        ["--backend", "first-subgoal"],
        ["--backend", "replay", "--replay", str(replay), "--variant", "simple"],
    ):
        done = subprocess.run([*base, "--episodes", "1", *args], capture_output=True, text=True, timeout=900, env=ENV)
        assert done.returncode == 0, done.stderr[-3000:]
    by = {r["method"]: r for r in read_results(results)}
    ceiling = by["ceiling"]
    assert (ceiling["status"], ceiling["calls"], ceiling["low_level"]) == ("success", 3, "oracle")
    assert [c["command"]["choice"] for c in ceiling["trace"]] == ["a", "b", "c"] and ceiling["trace"][0]["command"][
        "source"
    ] == "said"
    assert 0 < ceiling["steps"] <= 1300 and ceiling["peak_rss_mb"] > 100
    memoryless = by[
        "first-subgoal"
    ]  # picks red cube after red cube, never bins one: a failure, whether RoboMME says fail or timeout
    assert memoryless["status"] in ("fail", "timeout") and memoryless["calls"] >= 2
    assert {c["command"]["choice"] for c in memoryless["trace"]} == {"a"} and memoryless["steps"] <= 1300 + 200
    simple = by["simple+oracle"]  # a model-backed run is named for its config and low level
    assert simple["status"] == "success" and simple["trace"][0]["command"]["source"] == "text"
    assert simple["trace"][0]["command"]["target"].startswith("cube_red")

    too_many = subprocess.run(
        [*base, "--backend", "ceiling", "--episodes", "51"], capture_output=True, text=True, timeout=300, env=ENV
    )
    assert (
        too_many.returncode == 2
        and "RoboMME's test split has 50 episodes of BinFill; asked for episode 50" in too_many.stderr
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
