"""A scripted stand-in for the pi0.5 policy server, speaking openpi's websocket protocol.

The rollout harness talks to it through the real ``openpi-client`` exactly as it talks to
RoboMME's MME-VLA server: metadata on connect, then ``reset``, ``add_buffer`` and observation
messages, msgpack-numpy framed. Only the policy is scripted:

- ``hold``: every action is the current state (a joint-angle action space holds the arm still);
  for timing the loop on RoboMME without a GPU;
- ``pickcube``: for stock ManiSkill ``PickCube-v1`` with ``pd_ee_delta_pos`` control and the
  state ``[tcp xyz, cube xyz, goal xyz, grasped]`` (``evaluate/rollout.py``'s adapter). It
  obeys the subgoal it is sent: ``pick up the cube`` reaches, grasps and lifts; ``move the
  cube to the goal`` carries a grasped cube to the goal; anything else holds still. Whether an
  episode succeeds therefore depends on the high-level policy's subgoals.

Every message is logged as a JSON line (``--log``), so tests can check what reached the server.
Needs the ``[sim]`` extra (``openpi-client``, ``websockets``). Run it::

    python -m robomme_mem.servers.lowlevel_server --policy pickcube --port 0 --log requests.jsonl

It prints ``WS_PORT <port>`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import numpy as np

from ..prompts import policy_target

PICK, MOVE = "pick up the cube", "move the cube to the goal"
"""The two subgoals ``pickcube`` understands."""
PICK_CALLS = 3
"""High-level calls that say "pick" before :func:`counting_answer` says "move"."""
_CALL = re.compile(r"call (\d+)")
LIFT_Z = 0.12
"""Height a picked cube is lifted to (metres above the table)."""


def counting_answer(messages: list[dict]) -> str:
    """A high level for ``pickcube`` that keeps count in its memory alone: ``call k`` -> pick for k <= 3, then move.

    Served by ``robomme_mem.servers.openai_server.FakeOpenAI``, it is an OpenAI-compatible high level
    whose episodes succeed only if its memory comes back in the next prompt.
    """
    user = messages[-1]["content"]
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user if p.get("type") == "text")
    found = _CALL.search(text)
    k = int(found.group(1)) + 1 if found else 1
    return policy_target(PICK if k <= PICK_CALLS else MOVE, f"I have been asked call {k}.")


def hold(obs: dict, chunk: int) -> np.ndarray:
    state = np.asarray(obs["observation/state"], dtype=np.float32)
    return np.repeat(state[None], chunk, axis=0)


def pickcube(obs: dict, chunk: int) -> np.ndarray:
    """A proportional end-effector controller toward the phase the subgoal asks for.

    The chunk is planned open loop from one state, with a crude model of the arm (each step
    moves the tool about ``STEP_GAIN`` x the commanded delta), so longer chunks do not overshoot.
    """
    state = np.asarray(obs["observation/state"], dtype=np.float32)
    tcp, cube, goal, grasped = state[0:3].copy(), state[3:6].copy(), state[6:9], bool(state[9] > 0.5)
    subgoal = str(obs.get("simple_subgoal", "")).strip().lower()
    actions = []
    for _ in range(chunk):
        action = _pickcube_step(tcp, cube, goal, grasped, subgoal)
        tcp += STEP_GAIN * 0.1 * action[:3]
        if grasped:
            cube += STEP_GAIN * 0.1 * action[:3]
        actions.append(action)
    return np.stack(actions)


STEP_GAIN = 0.3


def _pickcube_step(tcp: np.ndarray, cube: np.ndarray, goal: np.ndarray, grasped: bool, subgoal: str) -> np.ndarray:
    gripper, target = 1.0, None
    if subgoal == PICK:
        if grasped:
            target, gripper = np.array([*tcp[:2], LIFT_Z], dtype=np.float32), -1.0
        elif np.linalg.norm(tcp[:2] - cube[:2]) > 0.008:
            above = cube + np.array([0, 0, 0.06], dtype=np.float32)
            target = above if tcp[2] > cube[2] + 0.03 else np.array([*cube[:2], tcp[2] + 0.01], dtype=np.float32)
        elif tcp[2] - cube[2] > 0.006:
            target = cube
        else:
            gripper = -1.0
    elif subgoal == MOVE and grasped:
        target, gripper = goal, -1.0
    elif grasped:
        gripper = -1.0
    action = np.zeros(4, dtype=np.float32)
    if target is not None:
        action[:3] = np.clip((target - tcp) / 0.1 * 2.0, -1.0, 1.0)
    action[3] = gripper
    return action


POLICIES = {"hold": hold, "pickcube": pickcube}


def _loggable(value):
    if isinstance(value, np.ndarray):
        return {"shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


async def serve(policy: str, port: int, chunk: int, log: Path | None, host: str = "127.0.0.1") -> None:
    import websockets.asyncio.server as ws_server
    from openpi_client import msgpack_numpy

    act = POLICIES[policy]
    log_fh = open(log, "a", encoding="utf-8") if log else None

    async def handler(ws) -> None:
        packer = msgpack_numpy.Packer()
        await ws.send(packer.pack({"policy": policy, "chunk": chunk, "server": "robomme_mem.servers.lowlevel_server"}))
        async for message in ws:
            obs = msgpack_numpy.unpackb(message)
            if obs.get("reset"):
                reply, kind = {"reset_finished": True}, "reset"
            elif obs.get("add_buffer"):
                reply, kind = {"add_buffer_finished": True}, "add_buffer"
            else:
                reply, kind = {"actions": act(obs, chunk)}, "infer"
            if log_fh:
                log_fh.write(json.dumps({"kind": kind, **{k: _loggable(v) for k, v in obs.items()}}) + "\n")
                log_fh.flush()
            await ws.send(packer.pack(reply))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ws_server.serve(handler, host, port, compression=None, max_size=None) as server:
        print(f"WS_PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
    if log_fh:
        log_fh.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted openpi-protocol policy server for tests.")
    parser.add_argument("--policy", choices=sorted(POLICIES), default="hold")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=10, help="actions per reply")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.policy, args.port, args.chunk, args.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
