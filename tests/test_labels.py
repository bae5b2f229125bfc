"""Memory chains, answer validation and the offline ``rules`` labeller, on hand-made episodes."""

import numpy as np

from robomme_mem.dataset.assemble.fill import forward_fill, spatial_inputs
from robomme_mem.dataset.labels.engine.validate import check_action, check_spatial
from robomme_mem.dataset.labels.labellers.image_objects import detect_objects
from robomme_mem.dataset.labels.labellers.rules import NOTHING_YET, action_memory, spatial_memory
from robomme_mem.dataset.segment import boundaries, segment_episode
from robomme_mem.prompts import INITIAL_MEMORY, INITIAL_SPATIAL

SIMPLE = (
    ["pick up the cube"] * 40 + ["put it into the bin"] * 10 + ["press the button"] * 40 + ["All tasks completed"] * 3
)


def test_boundaries_carry_the_history_before_them():
    got = boundaries(
        [(0, "pick up the cube"), (40, "put it into the bin"), (50, "pick up the cube"), (70, "put it into the bin")]
    )
    assert [b.history for b in got] == [
        (),
        ("pick up the cube",),
        ("pick up the cube", "put it into the bin"),
        ("pick up the cube", "put it into the bin", "pick up the cube"),
    ]
    assert got[0].history_text == "(none yet)"
    assert got[2].history_text == "1. pick up the cube; 2. put it into the bin"


def test_consecutive_duplicates_and_complete_markers_are_folded():
    got = boundaries([(0, "remain static"), (100, "remain static"), (200, "press"), (230, "All tasks completed")])
    assert got[2].history == ("remain static",)
    assert got[3].subgoal == "press" and got[3].history == ("remain static", "press")


def test_forward_fill_changes_memory_only_at_boundaries():
    plan = segment_episode(SIMPLE, 0, "BinFill")
    assert plan.call_frames == (0, 20, 50, 71, 92)  # (50, 92): 42 // 16 = 2 -> 50, 71
    calls = forward_fill(plan, ["M0", "M1", "M2"])
    assert [(c.step, c.memory_in, c.memory_out, c.is_boundary) for c in calls] == [
        (0, INITIAL_MEMORY, "M0", True),
        (20, "M0", "M0", False),
        (50, "M0", "M2", True),  # segment 1 (10 steps) had no call: its memory is never a target
        (71, "M2", "M2", False),
        (92, "M2", "M2", False),
    ]


def test_spatial_inputs_chain_outputs():
    assert spatial_inputs(["S0", "S1", "S2"]) == [INITIAL_SPATIAL, "S0", "S1"]


def test_validation_rules():
    history = "1. pick up the cube at <10, 20>"
    assert check_action("I picked up the cube <10, 20>.", "grounded", history) == []
    assert check_action("I picked up the cube <11, 20>.", "grounded", history) == [
        "coordinates not in the history: <11, 20>"
    ]
    assert check_action("", "simple", "") == ["empty answer"]
    assert "non-ASCII" in check_action("I placed the cube \u2014 twice.", "simple", "")[0]
    assert check_action(" ".join(["word"] * 50), "simple", "") == ["50 words (limit: under 50)"]
    assert check_action("Here is the summary: I did it.", "simple", "") == ["starts with a preamble"]
    assert check_spatial(" ".join(["w"] * 69)) == []


def test_rules_action_memory_folds_the_same_object_again_into_a_count():
    history = [
        "pick up the red cube for the first time",
        "place the red cube onto the target",
        "pick up the red cube for the second time",
        "place the red cube onto the target",
    ]
    assert action_memory(history, "simple") == "I placed the red cube onto the target twice."


def test_the_empty_action_memory_has_one_wording_everywhere():
    assert action_memory([], "simple") == action_memory([], "grounded") == NOTHING_YET == INITIAL_MEMORY


def test_rules_keeps_two_cubes_apart_by_ordinal_and_by_point():
    history = [
        "pick up the first blue cube at <86, 136>",
        "put it into the bin at <123, 141>",
        "pick up the second blue cube at <86, 88>",
    ]
    memory = action_memory(history, "grounded")
    assert (
        memory
        == "I put the first blue cube <86, 136> into the bin <123, 141> once and picked up the second blue cube <86, 88> once."
    )
    assert check_action(memory, "grounded", "; ".join(history)) == []
    assert (
        action_memory([h.split(" at <")[0] for h in history], "simple")
        == "I put the first blue cube into the bin once and picked up the second blue cube once."
    )
    two_places = [
        "pick up the blue cube at <86, 136>",
        "pick up the blue cube at <86, 88>",
        "pick up the blue cube at <87, 89>",
    ]
    assert (
        action_memory(two_places, "grounded")
        == "I picked up the blue cube <86, 136> once and picked up the blue cube <86, 88> twice."
    )


def test_rules_keeps_two_buttons_apart():
    assert (
        action_memory(["press the first button", "press the second button"], "simple")
        == "I pressed the first button once and pressed the second button once."
    )


def test_rules_action_memory_stays_under_the_word_limit():
    history = [f"pick up the thing number {i} and carry it to the far corner of the table" for i in range(20)]
    memory = action_memory(history, "simple")
    assert check_action(memory, "simple", "") == []


TABLE = (177, 104, 67)  # RoboMME's wooden table: orange, saturation ~160/255


def scene(*objects):
    """A frame like RoboMME's: an orange table, and (colour, y, x, size) squares on it."""
    image = np.full((256, 256, 3), TABLE, np.uint8)
    for colour, y, x, size in objects:
        image[y - size // 2 : y + size // 2, x - size // 2 : x + size // 2] = colour
    return image


RED, BLUE, GREY, BLACK = (200, 30, 30), (30, 60, 200), (170, 170, 170), (10, 10, 10)


def test_the_detector_names_the_tasks_objects_and_never_the_table():
    found = detect_objects(
        scene(
            (RED, 100, 60, 12), (BLUE, 180, 200, 12), (GREY, 60, 128, 12), (GREY, 150, 120, 22), (BLACK, 120, 180, 24)
        )
    )
    assert [(o.name, o.y, o.x) for o in found] == [
        ("blue cube", 180, 200),
        ("red cube", 100, 60),
        ("button", 60, 128),
        ("container", 150, 120),
        ("bin", 120, 180),
    ]
    assert detect_objects(scene()) == []  # the table alone is nothing
    disc = scene()
    disc[84:97, 90:110] = (
        150,
        150,
        150,
    )  # a flat target disc, 20 wide and 13 tall from the front camera: grey rings...
    disc[88:93, 96:104] = (235, 235, 235)  # ...round a white centre
    assert [o.name for o in detect_objects(disc)] == ["target"]
    arm = scene((GREY, 6, 128, 12))  # what touches the border (the arm from the top, the wall) is left out
    assert detect_objects(arm) == []


def test_spatial_memory_remembers_what_disappears_and_what_hides_it():
    first = spatial_memory(None, scene((RED, 100, 60, 12), (BLUE, 180, 200, 12), (GREY, 60, 128, 12)))
    assert first == "Visible: blue cube <180, 200>, red cube <100, 60>, button <60, 128>."
    covered = spatial_memory(first, scene((BLUE, 180, 200, 12), (GREY, 60, 128, 12), (GREY, 102, 62, 22)))
    assert (
        covered
        == "Visible: blue cube <180, 200>, button <60, 128>, container <102, 62>. Not in view: red cube hidden under the container at <102, 62>."
    )
    carried = spatial_memory(covered, scene((GREY, 60, 128, 12), (GREY, 102, 62, 22)))
    assert (
        "blue cube last seen at <180, 200>" in carried and "red cube hidden under the container at <102, 62>" in carried
    )
    assert check_spatial(carried) == []


PURPLE, WHITE, PINK = (187, 90, 224), (231, 231, 231), (224, 99, 163)


def test_what_touches_the_arm_is_the_gripper_or_in_it():
    frame = scene((RED, 100, 60, 12))
    frame[0:40, 120:136] = GREY  # the arm, reaching in from the top
    frame[42:50, 110:120] = GREY  # a gripper finger 2 px below it, the size of a button's plate
    frame[42:52, 123:133] = RED  # and the cube it holds
    assert [(o.name, o.held) for o in detect_objects(frame)] == [
        ("red cube", False),
        ("red cube", True),
    ]  # and no button on the gripper
    assert spatial_memory(None, frame) == "Visible: red cube <100, 60>, red cube <46, 128> (held)."


def test_a_carried_cube_is_one_entry_not_a_trail_of_last_seen_copies():
    first = spatial_memory(None, scene((RED, 100, 60, 12), (GREY, 60, 128, 12)))
    moved = spatial_memory(first, scene((RED, 90, 100, 12), (GREY, 60, 128, 12)))
    assert (
        moved == "Visible: red cube <90, 100>, button <60, 128>."
    )  # one red cube known, one in view: nothing left behind
    again = spatial_memory(moved, scene((RED, 80, 140, 12), (GREY, 60, 128, 12)))
    assert "last seen" not in again
    gone = spatial_memory(again, scene((GREY, 60, 128, 12)))
    assert gone.endswith("Not in view: red cube last seen at <80, 140>.")  # where it was last, once
    two_known = "Visible: red cube <100, 60>. Not in view: red cube last seen at <80, 140>."
    one_seen = spatial_memory(two_known, scene((RED, 30, 200, 12)))
    assert (
        one_seen == "Visible: red cube <30, 200>. Not in view: red cube last seen at <100, 60>."
    )  # two known, one in view: the freshest kept


def test_a_ringed_disc_is_a_target_not_a_cube_or_a_white_area():
    purple = scene()
    for radius, colour in ((9, PURPLE), (7, WHITE), (5, PURPLE), (3, WHITE)):  # StopCube's purple-and-white rings
        purple[100 - radius : 100 + radius, 120 - radius : 120 + radius] = colour
    assert [o.name for o in detect_objects(purple)] == ["target"]
    red = scene()
    red[90:110, 110:130] = RED
    red[95:105, 115:125] = WHITE  # SwingXtimes' red ring round a white centre
    assert [(o.name, o.y, o.x) for o in detect_objects(red)] == [("target", 100, 120)]
    pink = scene((PINK, 111, 49, 12))  # StopCube's cube: no more saturated than the table, but pink
    assert [o.name for o in detect_objects(pink)] == ["pink cube"]


def test_rules_says_what_the_video_showed_from_the_demonstrations_subgoals():
    history = [
        "in the video: pick up the cube at <101, 179>",
        "in the video: drop the cube on the table",
        "pick up the correct cube at <100, 178> for the first time",
        "put it down",
    ]
    assert (
        action_memory(history, "grounded")
        == "In the video the robot dropped the cube <101, 179> on the table. I put the correct cube <100, 178> down once."
    )
    assert action_memory(history[:2], "simple") == "In the video the robot dropped the cube on the table."


def test_a_video_tasks_histories_open_with_its_demonstration(tmp_path):
    from robomme_mem.subgoals import demonstration_items

    assert demonstration_items(
        ["static", "Pick up the cube at <1, 2>", "pick up the cube at <1, 2>", "NO RECORD", "move left"]
    ) == ["in the video: pick up the cube at <1, 2>", "in the video: move left"]
    (first, second) = boundaries([(10, "pick up the correct cube"), (30, "put it down")], ["in the video: move left"])
    assert first.history == ("in the video: move left",) and second.history == (
        "in the video: move left",
        "pick up the correct cube",
    )


def test_rules_folds_a_repeat_on_the_same_object_wherever_it_was_picked():
    history = [
        "pick up the red cube at <89, 122> for the first time",
        "place the red cube onto the target at <79, 99>",
        "pick up the red cube at <76, 97> for the second time",
        "place the red cube onto the target at <79, 99>",
    ]
    assert action_memory(history, "grounded") == "I placed the red cube <89, 122> onto the target <79, 99> twice."


def test_every_verb_of_a_subgoal_goes_into_the_past():
    from robomme_mem.dataset.labels.labellers.rules import past_tense

    assert (
        past_tense("close the gripper and push the cube to the target")
        == "closed the gripper and pushed the cube to the target"
    )
    assert (
        past_tense("put the red cube and the blue cube into the bin")
        == "put the red cube and the blue cube into the bin"
    )
