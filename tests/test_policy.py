"""The rollout-time policy: lenient parsing, and prompts equal to the training rows'."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import numpy as np
import pytest

from robomme_mem.closed_loop import policy
from robomme_mem.closed_loop.policy import HighLevelPolicy, ReplayBackend, parse_answer
from robomme_mem.configs import HISTORY_CONFIGS, MEMORY_CONFIGS
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.prompts import VIDEO_PLACEHOLDER

PREV = {"previous_subgoal": "old subgoal", "previous_memory": "old memory", "previous_spatial": "old spatial"}
CASES = [
    # (text, dual, subgoal, memory, spatial, fallbacks)
    ("pick up the cube\n<mem>I did X.</mem>", False, "pick up the cube", "I did X.", None, ()),
    (
        "pick up the cube at <63, 136>\n<mem>I placed it at <63, 136> once.",
        False,
        "pick up the cube at <63, 136>",
        "I placed it at <63, 136> once.",
        None,
        (policy.UNCLOSED_MEMORY,),
    ),
    ("just a subgoal", False, "just a subgoal", "old memory", None, (policy.NO_MEMORY,)),
    ("", True, "old subgoal", "old memory", "old spatial", (policy.EMPTY,)),
    ("   \n\n ", False, "old subgoal", "old memory", None, (policy.EMPTY,)),
    ("a\n<mem>m</mem>\n<spatial_mem>s</spatial_mem>", True, "a", "m", "s", ()),
    (
        "a\n<mem>m</mem>\n<spatial_mem>red cube <1, 2> left",
        True,
        "a",
        "m",
        "red cube <1, 2> left",
        (policy.UNCLOSED_SPATIAL,),
    ),
    ("a\n<mem>m <3, 4><spatial_mem>s</spatial_mem>", True, "a", "m <3, 4>", "s", (policy.UNCLOSED_MEMORY,)),
    ("a\n<mem>m</mem>", True, "a", "m", "old spatial", (policy.NO_SPATIAL,)),
    ("\n\npick up\n\n<mem>m</mem>\n\nthanks!", False, "pick up", "m", None, (policy.EXTRA_TEXT,)),
    ("<mem>m</mem>", False, "old subgoal", "m", None, (policy.NO_SUBGOAL,)),
]


@pytest.mark.parametrize(("text", "dual", "subgoal", "memory", "spatial", "fallbacks"), CASES)
def test_malformed_outputs_parse_with_counted_fallbacks(text, dual, subgoal, memory, spatial, fallbacks):
    parsed = parse_answer(text, dual=dual, **PREV)
    assert (parsed.subgoal, parsed.memory, parsed.spatial, parsed.fallbacks) == (subgoal, memory, spatial, fallbacks)


def test_the_parser_never_raises():
    pieces = [
        "<mem>",
        "</mem>",
        "<spatial_mem>",
        "</spatial_mem>",
        "<",
        ">",
        "\n",
        " ",
        "a",
        "<63, 136>",
        "é",
        "</",
        "mem",
        "",
    ]
    rng = random.Random(0)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for dual in (False, True):
            parsed = parse_answer(text, dual=dual, **PREV)
            assert isinstance(parsed.subgoal, str) and isinstance(parsed.memory, str)
            assert (parsed.spatial is not None) == dual
    assert parse_answer(None, dual=False).fallbacks == (policy.EMPTY,)


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    return build(
        [sample_dir],
        tmp_path_factory.mktemp("policy") / "robomme-mem",
        BuildOptions(configs=(*MEMORY_CONFIGS, *HISTORY_CONFIGS)),
        progress=False,
    )


def test_the_runtime_prompts_are_the_training_prompts(built):
    """Replaying a split's targets, the policy builds each row's prompt from its own state."""
    for config in (*MEMORY_CONFIGS, *HISTORY_CONFIGS):
        episodes = defaultdict(list)
        for line in (built.out / "swift" / config / "train.jsonl").read_text().splitlines():
            row = json.loads(line)
            goal = (
                row["messages"][1]["content"]
                .split("\n", 1)[0]
                .removeprefix(VIDEO_PLACEHOLDER)
                .removeprefix("The task goal is: ")
            )
            episodes[goal + row["images"][0].rsplit("_step", 1)[0]].append(row)
        for rows in episodes.values():
            variant = config.removesuffix("_history")
            runtime = HighLevelPolicy(
                variant,
                ReplayBackend([r["messages"][2]["content"] for r in rows]),
                with_history=config.endswith("_history"),
            )
            first = rows[0]["messages"][1]["content"].split("\n", 1)[0]
            demonstration = (
                [np.zeros((16, 16, 3), np.uint8)] * 3 if rows[0].get("videos") else None
            )  # a video task's first call sees its video
            runtime.reset(first.removeprefix(VIDEO_PLACEHOLDER).removeprefix("The task goal is: "), video=demonstration)
            for row in rows:
                assert runtime.messages() == row["messages"][:2], config
                runtime.step(None)
            assert runtime.fallbacks == {} and runtime.calls == len(rows)


def test_unknown_variants_are_refused():
    with pytest.raises(ValueError, match="unknown variant"):
        HighLevelPolicy("triple", ReplayBackend([]))


def test_a_video_tasks_first_call_sends_the_demonstration_as_mp4_then_never_again():
    seen = []

    def backend(messages, image, max_new_tokens, video=None):
        seen.append((messages[1]["content"], video))
        return "pick up the container that hides the red cube\n<mem>The video showed that the red cube is under the right container.</mem>"

    runtime = HighLevelPolicy("simple", backend)
    runtime.reset(
        "watch the video carefully, then pick up the container hiding the red cube",
        video=[np.full((16, 16, 3), 90, np.uint8)] * 4,
    )
    runtime.step(None)
    runtime.step(None)
    (first, video), (second, none) = seen
    assert first.startswith(VIDEO_PLACEHOLDER) and video[4:8] == b"ftyp"  # an mp4, from the builder's own encoder
    assert (
        not second.startswith(VIDEO_PLACEHOLDER) and none is None and "red cube is under the right container" in second
    )


def test_the_openai_form_puts_the_video_where_its_placeholder_stands():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "<video>The task goal is: g\n<image>What next?"},
    ]
    (_, user) = policy._with_image(messages, np.zeros((4, 4, 3), np.uint8), b"mp4")
    kinds = [part["type"] for part in user["content"]]
    assert (
        kinds == ["video_url", "text", "image_url", "text"]
        and user["content"][0]["video_url"]["url"] == "data:video/mp4;base64,bXA0"
    )
