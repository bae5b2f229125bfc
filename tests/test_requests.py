"""Labelling requests: what is keyed, what is sent."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from robomme_mem.dataset.labels.engine.requests import LabelParams, action_request, spatial_request
from robomme_mem.prompts import (
    LABEL_ACTION_SYSTEM_GROUNDED,
    NO_HISTORY_YET,
    NO_PRIOR_SPATIAL,
)

FRAME = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


def test_action_request_renders_the_spec_prompt_and_keys_on_what_changes_the_answer():
    request = action_request("stack the cubes", ("pick up the red cube at <1, 2>",), "grounded")
    assert request.system == LABEL_ACTION_SYSTEM_GROUNDED.render()
    assert "The history of completed subtasks: 1. pick up the red cube at <1, 2>" in request.user
    assert action_request("stack the cubes", (), "simple").history_text == NO_HISTORY_YET
    base = LabelParams(model="m")
    assert request.key(base) == action_request("stack the cubes", ("pick up the red cube at <1, 2>",), "grounded").key(
        base
    )
    assert request.key(base) != request.key(LabelParams(model="m", temperature=0.5))
    assert request.key(base) != request.key(LabelParams(model="other"))
    # the spatial budget and the image size do not touch action keys
    assert request.key(base) == request.key(LabelParams(model="m", spatial_max_tokens=100, image_size=128))


def test_spatial_request_keys_on_pixels_and_sends_a_png_data_url():
    first = spatial_request("goal", None, FRAME)
    assert NO_PRIOR_SPATIAL in first.user
    params = LabelParams(model="m")
    other = FRAME.copy()
    other[0, 0, 0] ^= 1
    assert first.key(params) != spatial_request("goal", None, other).key(params)
    assert first.key(params) != spatial_request("goal", "a red cube at <3, 4>", FRAME).key(params)
    url = first.wire_messages()[1]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(decoded, FRAME)
    # canonical messages reference the image instead of inlining it
    assert first.canonical_messages()[1]["content"][1] == {"type": "image", "index": 0}


def test_downscaled_frames_are_what_is_sent_and_keyed():
    small = spatial_request("goal", None, FRAME, image_size=128)
    assert small.image.shape == (128, 128, 3)
    params = LabelParams(model="m", image_size=128)
    assert small.key(params) != spatial_request("goal", None, FRAME).key(LabelParams(model="m"))
    assert spatial_request("goal", None, FRAME, image_size=512).image is FRAME  # never upscaled


def test_sampling_parameters_sent_are_only_those_set():
    assert LabelParams(model="m").for_kind("spatial") == {"temperature": 1.0, "max_completion_tokens": 600}
    assert LabelParams(model="m").for_kind("action") == {"temperature": 1.0}
    params = LabelParams(model="m", temperature=None, reasoning_effort="low", action_max_tokens=300)
    assert params.for_kind("action") == {"reasoning_effort": "low", "max_completion_tokens": 300}
