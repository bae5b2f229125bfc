"""``evaluate/rollout.py``: bad input is one line and exit 2, before any simulator or model starts.

These run in the project's own environment, which has neither RoboMME nor ManiSkill: a check
that came after the simulator started would fail here with an import error instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rollout(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(ROOT / "evaluate" / "rollout.py"),
        "--results",
        str(tmp_path / "results.jsonl"),
        "-q",
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, whatever the environment has installed
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def one_line_error(done: subprocess.CompletedProcess, tmp_path: Path, says: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and says in done.stderr, done.stderr
    assert not (tmp_path / "results.jsonl").exists()


def test_without_robomme_installed(tmp_path):
    done = rollout(tmp_path, "--low-level", "oracle", "--backend", "ceiling", "--tasks", "BinFill", "--episodes", "1")
    one_line_error(done, tmp_path, "error: RoboMME is not installed in this environment")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_task_or_bad_episode_list(tmp_path):
    one_line_error(
        rollout(tmp_path, "--low-level", "oracle", "--backend", "ceiling", "--tasks", "BinFil"),
        tmp_path,
        "unknown robomme task 'BinFil'",
    )
    one_line_error(
        rollout(tmp_path, "--low-level", "oracle", "--backend", "ceiling", "--episodes", "a-b"),
        tmp_path,
        "--episodes 'a-b'",
    )


def test_the_built_in_high_levels_need_the_oracle(tmp_path):
    one_line_error(
        rollout(tmp_path, "--backend", "ceiling"),
        tmp_path,
        "--backend ceiling reads the env's own subgoals: it needs --low-level oracle",
    )


def test_a_high_level_endpoint_that_does_not_answer(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    done = rollout(
        tmp_path,
        "--suite",
        "maniskill",
        "--backend",
        "openai",
        "--model",
        "m",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
    )
    one_line_error(
        done, tmp_path, f"error: high-level endpoint http://127.0.0.1:{port}/v1: cannot connect: connection refused"
    )
    assert time.monotonic() - start < 30


def test_every_option_says_what_it_is_for(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "evaluate" / "rollout.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = done.stdout.splitlines()
    for option in ("--suite", "--ll-host", "--ll-port", "--results"):
        (at,) = [i for i, line in enumerate(lines) if line.strip().startswith(option)]
        text = " ".join(lines[at : at + 2]).split(option, 1)[1]
        assert len(text.split()) > 3, option  # more than the metavar
