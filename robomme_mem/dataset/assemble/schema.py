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

from ...configs import BASELINE_CONFIGS, TRACES


def Value(dtype: str) -> dict:  # noqa: N802  (named as the datasets feature it serialises)
    return {"dtype": dtype, "_type": "Value"}


def List(feature) -> dict:  # noqa: N802
    return {"feature": feature, "_type": "List"}


def Image() -> dict:  # noqa: N802
    return {"_type": "Image"}


def Features(fields: dict) -> dict:  # noqa: N802
    return fields


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


def serialised_features(config: str) -> dict:
    """A config's features in ``datasets``' serialised form."""
    if config == TRACES:
        return TRACE_FEATURES
    if config in BASELINE_CONFIGS:
        return BASELINE_FEATURES
    return MEMORY_FEATURES


def features_for(config: str):
    """A config's ``datasets.Features`` (imports ``datasets``)."""
    from datasets import Features as DatasetsFeatures

    return DatasetsFeatures.from_dict(serialised_features(config))


_ARROW = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_()}
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
