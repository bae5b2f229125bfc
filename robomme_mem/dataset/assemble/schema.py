"""The ``datasets`` features of every config: what ``load_dataset`` gives back.

Row configs carry ms-swift's ``messages`` and ``images`` (embedded PNGs, decoded to PIL
images by ``datasets``) and flat metadata to filter and study them by. ``traces`` holds one
row per episode with the whole memory chain.

Features are written in ``datasets``' own serialised form (what it keeps in a Parquet file's
``huggingface`` metadata), and :func:`arrow_schema` turns them into the Parquet schema with
pyarrow alone, so a build never imports ``datasets`` (and pandas) just to name its columns.
:func:`features_for` gives the ``datasets.Features``; the tests check that both agree with
``datasets``' own ``Features.arrow_schema`` for every config.
"""

from __future__ import annotations

import json

import pyarrow as pa

from ...configs import BASELINE_CONFIGS, SCENE, TRACES


def Value(dtype: str) -> dict:  # noqa: N802  (named as the datasets feature it serialises)
    return {"dtype": dtype, "_type": "Value"}


def List(feature) -> dict:  # noqa: N802
    return {"feature": feature, "_type": "List"}


def Image() -> dict:  # noqa: N802
    return {"_type": "Image"}


def Features(fields: dict) -> dict:  # noqa: N802
    return fields


_MESSAGES = List({"role": Value("string"), "content": Value("string")})
_CALL_FRAME = {
    "task": Value("string"),
    "episode": Value("int32"),
    "frame": Value("int32"),
    "segment": Value("int32"),
    "is_boundary": Value("bool"),
    "subgoal": Value("string"),
}
"""Where a row's call frame is: every per-call-frame config carries these."""
_ROW = {"messages": _MESSAGES, "images": List(Image()), **_CALL_FRAME}
MEMORY_FEATURES = Features(
    {
        **_ROW,
        "memory_in": Value("string"),
        "memory_out": Value("string"),
        "spatial_in": Value("string"),
        "spatial_out": Value("string"),
        "videos": List(Value("string")),
    }
)
"""Memory configs and their history ablations (spatial columns null outside ``dual_*``; ``videos``
names the demonstration mp4 on a video task's first call, empty elsewhere)."""
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
        "injected_failure": Value("string"),
    }
)
"""One row per episode: boundaries with both styles' subgoals and action memories, the
spatial chain with call-frame steps, each answer's request key (sha256, also the Batch API
``custom_id``), the label set it came from, and the failed grasp ``robomme-mem record`` injected
(JSON: mode, subgoal index and name; null for none, and for RoboMME's own files, which do not say)."""


SCENE_FEATURES = Features(
    {
        "image": Image(),
        **_CALL_FRAME,
        "grounded_subgoal": Value("string"),
        "objects": List(
            {
                "name": Value("string"),
                "kind": Value("string"),
                "colour": Value("string"),
                "point": List(Value("int32")),
                "mask_point": List(Value("int32")),
                "visible_pixels": Value("int32"),
                "position": List(Value("float32")),
                "in_scene": Value("bool"),
                "hidden_by": Value("string"),
                "held": Value("bool"),
                "inside": Value("string"),
                "highlighted": Value("bool"),
            }
        ),
        "events": List(
            {"step": Value("int32"), "kind": Value("string"), "object": Value("string"), "subgoal": Value("string")}
        ),
        "image_diff_mean": Value("float32"),
        "injected_failure": Value("string"),
    }
)
"""One row per call frame with the scene truth of its episode (``build --truth``), and the failed
grasp ``robomme-mem record`` injected into the episode (JSON, as the traces config has it; null for none)."""
SCENE_DOCS: dict[str, str] = {
    "image": "The recorded front-camera call frame (256x256 PNG), the image every other config embeds.",
    "task": "RoboMME task name.",
    "episode": "Episode index in the task's HDF5 file.",
    "frame": "Step of the call frame in the episode.",
    "segment": "Index of the subgoal segment the frame falls in.",
    "is_boundary": "Whether the frame is its segment's first step (where the subgoal changes).",
    "subgoal": "The demonstration's simple subgoal at this frame.",
    "grounded_subgoal": "The demonstration's grounded subgoal at this frame, with RoboMME's `<y, x>` points.",
    "objects": "Every task object of the scene at this frame, sorted by name (the robot, camera mount and room are left out).",
    "objects.name": "RoboMME's actor name (`cube_red_1`, `bin_0`, `button_cap`, `board_with_hole`).",
    "objects.kind": "What it is: cube, container (covers cubes), bin, button, target, or fixture (a button's base).",
    "objects.colour": "A cube's colour (null for other kinds).",
    "objects.point": "`<y, x>` pixel of the object's centre on the front image, projected from its world position with the recorded camera (null when out of the scene or behind the camera); given even when something hides it.",
    "objects.mask_point": "`<y, x>` mean pixel of the object's visible mask on the replayed front image (RoboMME's rule for grounded points); null when not visible.",
    "objects.visible_pixels": "How many pixels of the replayed front image show the object (0: hidden or out of view).",
    "objects.position": "World position `[x, y, z]` in metres (RoboMME keeps unused objects near (10, 10, 10)).",
    "objects.in_scene": "False while RoboMME keeps the object out of the scene (not yet brought in, or dropped into BinFill's bin).",
    "objects.hidden_by": "The container covering the object (a cube under a container), else null.",
    "objects.held": "Whether the gripper holds the object (ManiSkill's grasp test).",
    "objects.inside": "The bin the object was dropped into, else null.",
    "objects.highlighted": "Whether RoboMME shows the object's white highlight area now (PickHighlight).",
    "events": "What happened since the previous call frame (after it, up to and including this frame).",
    "events.step": "Step the event happened at.",
    "events.kind": "`subgoal_done` (the env's own subgoal completion: a press, a pick, a placement), `left_scene`, `entered_scene`, `highlight_shown`, `highlight_gone`, `pass` (StopCube: the cube crossed the target), or `swap` (two containers traded places).",
    "events.object": "The object the event concerns (a completed subgoal's targets, comma-separated).",
    "events.subgoal": "The env's name of the completed subgoal (null for other kinds).",
    "image_diff_mean": "Mean absolute difference (0-255) between the replay's picture of this frame and the recorded one: the replay's fidelity here.",
    "injected_failure": "The failed grasp `robomme-mem record` injected into this episode (JSON: mode, subgoal index and name), null for none and for RoboMME's own files.",
}
"""A sentence for every ``scene`` feature (the card's table): what a third party reads before reusing it."""


def serialised_features(config: str) -> dict:
    """A config's features in ``datasets``' serialised form."""
    if config == TRACES:
        return TRACE_FEATURES
    if config == SCENE:
        return SCENE_FEATURES
    if config in BASELINE_CONFIGS:
        return BASELINE_FEATURES
    return MEMORY_FEATURES


def features_for(config: str):
    """A config's ``datasets.Features`` (imports ``datasets``)."""
    from datasets import Features as DatasetsFeatures

    return DatasetsFeatures.from_dict(serialised_features(config))


_ARROW = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_(), "float32": pa.float32()}
_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _arrow_type(feature) -> pa.DataType:
    kind = feature.get("_type")
    if kind == "Value":
        return _ARROW[feature["dtype"]]
    if kind == "List":
        return pa.list_(_arrow_type(feature["feature"]))
    if kind == "Image":
        return _IMAGE
    return pa.struct([(name, _arrow_type(sub)) for name, sub in feature.items()])


def arrow_schema(config: str) -> pa.Schema:
    """The Parquet schema of a config, with the ``huggingface`` metadata ``datasets`` reads back."""
    features = serialised_features(config)
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema([(name, _arrow_type(feature)) for name, feature in features.items()], metadata=metadata)
