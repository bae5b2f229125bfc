"""The simulator's environment for tests: ManiSkill pins numpy 1.x, so it has a Python of its own
(``$ROBOMME_MEM_SIM_PYTHON``, made by ``.ci/run``), run in subprocesses with this checkout's package."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIM_PYTHON = os.environ.get("ROBOMME_MEM_SIM_PYTHON")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, whatever the environment has installed
PROBE = "import gymnasium as gym, mani_skill.envs; env = gym.make('PickCube-v1', obs_mode='rgb', sim_backend='cpu'); env.reset(seed=0); env.close()"


def check_simulator() -> None:
    """Skip without the environment, or where it has no Vulkan device (fail under CI=true, where
    ``.ci/run`` installs one); fail on anything else."""
    if not SIM_PYTHON:
        pytest.skip("set ROBOMME_MEM_SIM_PYTHON to an environment with robomme-mem[sim] (.ci/run makes one)")
    done = subprocess.run([SIM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=300, env=ENV)
    if done.returncode != 0:
        if "vulkan" in done.stderr.lower() or "render device" in done.stderr.lower():
            why = f"no Vulkan device for SAPIEN (install Mesa's lavapipe, mesa-vulkan-drivers>=25): {done.stderr.strip().splitlines()[-1]}"
            if os.environ.get("CI") == "true":  # .ci/run installs it: a CI run without it must not pass quietly
                pytest.fail(why)
            pytest.skip(why)
        pytest.fail(f"ManiSkill does not start:\n{done.stderr[-3000:]}")
