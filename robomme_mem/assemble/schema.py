"""The ``datasets`` features of every config: what ``load_dataset`` gives back.

Row configs carry ms-swift's ``messages`` and ``images`` (embedded PNGs, decoded to PIL
images by ``datasets``) and flat metadata to filter and study them by. ``traces`` holds one
row per episode with the whole memory chain.
"""

from __future__ import annotations

from datasets import Features, Image, List, Value

from ..configs import BASELINE_CONFIGS, TRACES

_MESSAGES = List({"role": Value("string"), "content": Value("string")})
_ROW = {
    "messages": _MESSAGES,
    "images": List(Image()),
    "task": Value("string"),
    "episode": Value("int32"),
    "frame": Value("int32"),
    "segment": Value("int32"),
    "is_boundary": Value("bool"),
    "subgoal": Value("string"),
}
MEMORY_FEATURES = Features(
    {
        **_ROW,
        "memory_in": Value("string"),
        "memory_out": Value("string"),
        "spatial_in": Value("string"),
        "spatial_out": Value("string"),
    }
)
"""Memory configs and their history ablations (spatial columns null outside ``dual_*``)."""
BASELINE_FEATURES = Features(
    {
        **_ROW,
        "videos": List(Value("string")),
        "objects": {"ref": List(Value("string")), "bbox": List(List(Value("int32")))},
    }
)
"""RoboMME's rows: ``videos`` names the demonstration mp4 under ``swift/images/`` (video tasks),
``objects.bbox`` the jittered points of ``baseline_grounded`` (empty in ``baseline_simple``)."""
TRACE_FEATURES = Features(
    {
        "task": Value("string"),
        "episode": Value("int32"),
        "seed": Value("int64"),
        "goal": Value("string"),
        "num_steps": Value("int32"),
        "execution_start": Value("int32"),
        "stride": Value("int32"),
        "boundaries": List(
            {
                "segment": Value("int32"),
                "step": Value("int32"),
                "subgoal_simple": Value("string"),
                "subgoal_grounded": Value("string"),
                "memory_simple": Value("string"),
                "memory_grounded": Value("string"),
                "request_simple": Value("string"),
                "request_grounded": Value("string"),
            }
        ),
        "calls": List(
            {
                "index": Value("int32"),
                "step": Value("int32"),
                "segment": Value("int32"),
                "is_boundary": Value("bool"),
                "spatial": Value("string"),
                "request": Value("string"),
            }
        ),
        "label_set": Value("string"),
        "label_set_id": Value("string"),
        "labeller": Value("string"),
        "model": Value("string"),
    }
)
"""One row per episode: boundaries with both styles' subgoals and action memories, the
spatial chain with call-frame steps, each answer's request key (sha256, also the Batch API
``custom_id``), and the label set it came from."""


def features_for(config: str) -> Features:
    if config == TRACES:
        return TRACE_FEATURES
    if config in BASELINE_CONFIGS:
        return BASELINE_FEATURES
    return MEMORY_FEATURES
