"""What a RoboMME episode is in LeRobot v3.0: the frame features and the language rows.

One table that both directions use: the LeRobot source reads these keys, ``export lerobot``
writes them, and the reference converter that drives LeRobot's own writer imports this module
(numpy only) so that both writers describe the same frames.

The keys follow ``lerobot/robomme`` on the Hub (``image``, ``state``, ``actions``,
``simple_subgoal``, ``grounded_subgoal``); what RoboMME's HDF5 holds and that copy does not
(the video-demonstration flag, RoboMME's task name and episode number, the seed) travels in
``is_video_demo``, ``robomme_task``, ``robomme_episode`` and ``seed``. A copy without them can
still be read (see :mod:`.lerobot` for what is derived, and how).

Memories go in LeRobot 0.6's ``language_persistent`` column (rows of ``role, content, style,
timestamp, camera, tool_calls``, the episode's whole slice on each of its frames):

==================  ====================  ===================================================
style               at                    content
==================  ====================  ===================================================
``subtask``         each boundary         the simple subgoal (LeRobot's core style)
``memory``          each boundary         the simple-style action memory (core style)
``subtask_grounded`` each boundary        the grounded subgoal (project style)
``memory_grounded`` each boundary         the grounded-style action memory (project style)
``spatial_memory``  each call frame       the spatial memory (project style)
==================  ====================  ===================================================

Every row has ``role="assistant"`` and a timestamp equal to its frame's (``frame / fps`` as
float32, the value LeRobot stores in the frame's own ``timestamp``). Project styles are declared
in ``meta/info.json`` under ``robomme_mem.language_styles``; :func:`register_styles` adds them to
LeRobot's registry (``lerobot.datasets.language``) so its resolvers accept them.
"""

from __future__ import annotations

import numpy as np

DEFAULT_FPS = 10
"""RoboMME's control rate as ``lerobot/robomme`` records it (HDF5 files carry none)."""
ROBOT_TYPE = "panda"

IMAGE = "image"
STATE = "state"
ACTIONS = "actions"
SIMPLE = "simple_subgoal"
GROUNDED = "grounded_subgoal"
VIDEO_DEMO = "is_video_demo"
TASK = "robomme_task"
EPISODE = "robomme_episode"
SEED = "seed"

IMAGE_KEYS = (IMAGE, "observation.images.image", "observation.images.front")
"""Where a LeRobot copy may keep the front camera, in the order they are looked for."""
VIDEO_DEMO_KEYS = (VIDEO_DEMO, "is_demo")

FRONT_RGB = "obs/front_rgb"
MOTION_FIELDS = ("obs/joint_state", "obs/gripper_state", "action/joint_action")
"""The HDF5 fields ``state`` and ``actions`` come from (recordings have them; the embedded sample does not)."""
STATE_NAMES = [*(f"joint_{i}" for i in range(1, 8)), "gripper"]
ACTION_NAMES = [*(f"joint_{i}" for i in range(1, 8)), "gripper"]

ROLE = "assistant"
SUBTASK, MEMORY = "subtask", "memory"
SUBTASK_GROUNDED, MEMORY_GROUNDED, SPATIAL_MEMORY = "subtask_grounded", "memory_grounded", "spatial_memory"
PROJECT_STYLES = {
    SUBTASK_GROUNDED: "the grounded subgoal at each subgoal boundary",
    MEMORY_GROUNDED: "the grounded-style action memory at each subgoal boundary",
    SPATIAL_MEMORY: "the spatial memory at each high-level call frame",
}
STYLE_OF = {
    ("subtask", "simple"): SUBTASK,
    ("subtask", "grounded"): SUBTASK_GROUNDED,
    ("memory", "simple"): MEMORY,
    ("memory", "grounded"): MEMORY_GROUNDED,
}


def state_of(joint_state, gripper_state) -> np.ndarray:
    """``state``: the 7 joint positions and the first finger's opening, float32."""
    return np.concatenate(
        [
            np.asarray(joint_state, dtype=np.float32).reshape(-1)[:7],
            np.asarray(gripper_state, dtype=np.float32).reshape(-1)[:1],
        ]
    )


def frame_features(image_shape: tuple[int, int, int], motion: bool) -> dict[str, dict]:
    """LeRobot ``features`` (as ``LeRobotDataset.create`` takes them) of a RoboMME episode."""
    out: dict[str, dict] = {
        IMAGE: {"dtype": "video", "shape": tuple(image_shape), "names": ["height", "width", "channel"]},
    }
    if motion:
        out[STATE] = {"dtype": "float32", "shape": (8,), "names": list(STATE_NAMES)}
        out[ACTIONS] = {"dtype": "float32", "shape": (8,), "names": list(ACTION_NAMES)}
    out.update(
        {
            SIMPLE: {"dtype": "string", "shape": (1,), "names": None},
            GROUNDED: {"dtype": "string", "shape": (1,), "names": None},
            VIDEO_DEMO: {"dtype": "bool", "shape": (1,), "names": None},
            TASK: {"dtype": "string", "shape": (1,), "names": None},
            EPISODE: {"dtype": "int64", "shape": (1,), "names": None},
            SEED: {"dtype": "int64", "shape": (1,), "names": None},
        }
    )
    return out


def timestamp_of(frame: int, fps: int) -> float:
    """A frame's timestamp exactly as LeRobot stores it: ``frame / fps`` rounded to float32."""
    return float(np.float32(frame / fps))


def language_rows(trace: dict, fps: int) -> list[dict]:
    """The ``language_persistent`` slice of one episode, from its ``traces`` row, sorted as LeRobot's
    writer sorts (timestamp, style, role). A memory the label set lacks writes no row."""
    rows = []

    def add(style: str, frame: int, content: str | None) -> None:
        if content is not None:
            rows.append(
                {
                    "role": ROLE,
                    "content": content,
                    "style": style,
                    "timestamp": timestamp_of(frame, fps),
                    "camera": None,
                    "tool_calls": None,
                }
            )

    for b in trace["boundaries"]:
        for style in ("simple", "grounded"):
            add(STYLE_OF[("subtask", style)], b["step"], b[f"subgoal_{style}"])
            add(STYLE_OF[("memory", style)], b["step"], b[f"memory_{style}"])
    for call in trace["calls"]:
        add(SPATIAL_MEMORY, call["step"], call["spatial"])
    rows.sort(key=lambda r: (r["timestamp"], r["style"], r["role"]))
    return rows


def register_styles() -> None:
    """Declare the project styles to LeRobot (call in the environment that reads an export)."""
    from lerobot.datasets import language

    language.EXTENDED_STYLES.update(PROJECT_STYLES)
    language.PERSISTENT_STYLES.update(PROJECT_STYLES)
    language.STYLE_REGISTRY.update(PROJECT_STYLES)
