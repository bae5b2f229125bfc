"""The grammar both ways: what a writer of robomme_mem.subgoals (or a prompts tag) writes, its reader reads back."""

from robomme_mem.dataset.audit.demonstrations import stated_count
from robomme_mem.dataset.audit.entries import KINDS, entries
from robomme_mem.dataset.labels.labellers.image_objects import HUES
from robomme_mem.dataset.sample.generator import COLOURS as PALETTE
from robomme_mem.prompts import MEMORY_TAG, SPATIAL_TAG, policy_target
from robomme_mem.subgoals import (
    AGAIN_RE,
    COLOURS,
    OBJECT_KINDS,
    again_words,
    counts,
    first_point,
    held_by_gripper,
    hidden_at,
    in_the_bin,
    last_seen_at,
    object_name,
    point_text,
    scene_parts,
    seen_at,
    status_of,
    times_words,
    white_area_under,
)


def test_a_point():
    assert point_text((86, 136)) == "<86, 136>"
    assert first_point(f"pick up the cube at {point_text((86, 136))}") == (86, 136)


def test_each_status_phrase():
    red = object_name("cube", "red")
    assert red == "red cube"
    assert status_of(seen_at(red, (80, 120))) == "visible"
    assert status_of(seen_at(red, (80, 120), held=True)) == "held"
    assert status_of(held_by_gripper(red)) == "held"
    assert status_of(hidden_at(red, (78, 121))) == "hidden"
    assert status_of(hidden_at(red, (78, 121), last_seen=True)) == "hidden"
    assert status_of(last_seen_at(red, (80, 120))) == "last_seen"
    assert status_of(in_the_bin(red)) == "in_bin"
    memory = " ".join(
        scene_parts(
            [seen_at(red, (80, 120), held=True)],
            [hidden_at(object_name("cube", "blue"), (78, 121)), last_seen_at(white_area_under(red), (80, 120))],
        )
    )
    assert memory == (
        "Visible: red cube <80, 120> (held). Not in view: blue cube hidden under the container at <78, 121>; "
        "white area under the red cube last seen at <80, 120>."
    )
    assert [(e.kind, e.colour, e.point, e.status) for e in entries(memory)] == [
        ("cube", "red", (80, 120), "held"),
        ("cube", "blue", (78, 121), "hidden"),
        ("white area", None, (80, 120), "last_seen"),
    ]


def test_each_tag_block():
    assert MEMORY_TAG.wrap("I picked up the cube.") == "<mem>I picked up the cube.</mem>"
    answer = policy_target("pick up the cube", "I pressed the button.", "The cube is on the table.")
    assert (
        MEMORY_TAG.inside(answer) == "I pressed the button."
        and SPATIAL_TAG.inside(answer) == "The cube is on the table."
    )
    assert SPATIAL_TAG.inside("no block here") is None


def test_counts_and_ordinals():
    assert [times_words(n) for n in (1, 2, 3)] == ["once", "twice", "3 times"]
    assert counts(
        f"I pressed the button {times_words(1)}, the cube {times_words(2)} and the bin {times_words(3)}."
    ) == [1, 2, 3]
    assert again_words(3) == "for the third time" and AGAIN_RE.search(f"pick up the cube {again_words(3)}")
    assert stated_count(f"I picked up the cube {again_words(3)}.") == 3 and counts(again_words(3)) == []
    assert stated_count("I put two cubes into the bin <12, 40>.") == 2 and counts("two <12, 40>") == [2]


def test_one_list_of_colours_and_kinds():
    assert set(HUES) | {"purple", "pink"} <= set(COLOURS)  # the detector's colours (its tinted cubes besides the hues)
    assert set(PALETTE) <= set(COLOURS)  # the synthetic sample's palette
    assert set(KINDS.values()) == {*OBJECT_KINDS, "other"}  # the audit reads every kind the labellers write
