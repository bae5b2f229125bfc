"""What the robot did, read off per-step rows: no simulator, rows written out as a replay writes them."""

from robomme_mem.dataset.truth.actions import robot_actions

KINDS = {
    "cube_blue_0": {"kind": "cube", "colour": "blue"},
    "cube_blue_1": {"kind": "cube", "colour": "blue"},
    "board_with_hole": {"kind": "bin", "colour": None},
    "button_cap": {"kind": "button", "colour": None},
}
PARKED = [10.0, 10.0, 10.0]


def row(step, held=(), gripper=False, task=0, blue0=(0.1, 0.0, 0.02), blue1=(0.1, 0.2, 0.02), demo=False, under=None):
    position = {
        "cube_blue_0": list(blue0),
        "cube_blue_1": list(blue1),
        "board_with_hole": [0.3, 0.0, 0.0],
        "button_cap": [0.0, -0.2, 0.05],
    }
    pixel = {
        n: ([int(p[0] * 100) + 50, int(p[1] * 100) + 100] if max(map(abs, p)) < 2 else None)
        for n, p in position.items()
    }
    out = {
        "step": step,
        "task_index": task,
        "position": position,
        "pixel": pixel,
        "held": list(held),
        "gripper_closed": gripper,
        "under": under or {},
        "tcp_pixel": [60, 110],
    }
    if demo:
        out["demo"] = True
    return out


def binfill_rows():
    """Two different blue cubes binned, each once, after one grasp that closed on nothing."""
    return [
        row(0),
        row(1, gripper=True),  # closes on nothing: RoboMME's injected failure
        row(2),
        row(3, gripper=True, held=["cube_blue_0"]),
        row(4, gripper=True, held=["cube_blue_0"], blue0=(0.3, 0.0, 0.2)),
        row(5, blue0=(0.3, 0.0, 0.1)),
        row(6, blue0=PARKED, task=1),  # RoboMME takes a binned cube away
        row(7, task=2, blue0=PARKED, gripper=True, held=["cube_blue_1"]),
        row(8, task=2, blue0=PARKED, blue1=(0.3, 0.0, 0.1)),
        row(9, task=3, blue0=PARKED, blue1=PARKED),
    ]


def test_two_cubes_binned_are_two_objects_each_picked_from_its_own_place():
    events = robot_actions(binfill_rows(), KINDS)
    picks = [(e["object"], e["point"]) for e in events if e["kind"] == "pick"]
    assert picks == [("cube_blue_0", [60, 100]), ("cube_blue_1", [60, 120])]
    places = [(e["object"], e["onto"]) for e in events if e["kind"] == "place"]
    assert places == [("cube_blue_0", "bin"), ("cube_blue_1", "bin")]


def test_a_grasp_that_closed_on_nothing_is_a_failed_attempt_not_a_pick():
    events = robot_actions(binfill_rows(), KINDS)
    failed = [e for e in events if e["kind"] == "failed_grasp"]
    assert [(e["step"], e["point"], e["object"]) for e in failed] == [
        (1, [60, 110], "cube_blue_0")
    ]  # the cube it aimed at: the one then picked
    assert [e["step"] for e in events if e["kind"] == "pick"] == [3, 7]


def test_a_closed_gripper_with_no_pick_after_it_is_no_failed_grasp():
    rows = [row(0), row(1, gripper=True), row(2)]  # pressing a button closes the gripper too
    assert robot_actions(rows, KINDS) == []


def test_presses_are_the_envs_own_completions_on_a_button():
    rows = binfill_rows()
    done = [{"step": 9, "kind": "subgoal_done", "subgoal": "press the button", "targets": ["button_cap"]}]
    press = [e for e in robot_actions(rows, KINDS, done) if e["kind"] == "press"]
    assert press == [{"step": 9, "kind": "press", "object": "button_cap", "point": [50, 80]}]


def test_a_cube_let_go_over_a_target_is_placed_onto_it():
    kinds = {"cube_red": {"kind": "cube", "colour": "red"}, "target": {"kind": "target", "colour": None}}
    base = {"task_index": 0, "gripper_closed": False, "under": {}}

    def at(step, cube, held):
        return {
            **base,
            "step": step,
            "position": {"cube_red": list(cube), "target": [0.2, 0.1, 0.0]},
            "pixel": {"cube_red": [1, 2], "target": [30, 40]},
            "held": held,
        }

    rows = [
        at(0, (0.0, 0.0, 0.02), []),
        at(1, (0.0, 0.0, 0.05), ["cube_red"]),
        at(2, (0.19, 0.11, 0.02), []),
        at(3, (0.19, 0.11, 0.02), []),
    ]
    placed = [e for e in robot_actions(rows, kinds) if e["kind"] == "place"]
    assert placed == [{"step": 2, "kind": "place", "object": "cube_red", "onto": "target", "point": [30, 40]}]


def test_demonstration_events_are_marked_and_come_first():
    demo = [
        row(0, demo=True),
        row(1, demo=True, under={"cube_blue_0": "bin_0"}),
        row(2, demo=True, gripper=True, held=["cube_blue_1"]),
    ]
    events = robot_actions(demo, {**KINDS, "bin_0": {"kind": "container", "colour": None}})
    assert [(e["kind"], e["object"], e.get("demo")) for e in events] == [
        ("cover", "cube_blue_0", True),
        ("pick", "cube_blue_1", True),
    ]


# -- the truth labeller's action memory, from these events ---------------------------------------

from robomme_mem.dataset.labels.labellers.truth_action import action_memory  # noqa: E402
from robomme_mem.dataset.truth.actions import robot_actions as _actions  # noqa: E402
from robomme_mem.prompts import EMPTY_ACTION_MEMORY  # noqa: E402


def binfill_truth():
    rows = binfill_rows()
    done = [{"step": 9, "kind": "subgoal_done", "subgoal": "press the button", "targets": ["button_cap"]}]
    return {
        "task": "BinFill",
        "episode": 8,
        "execution_start": 0,
        "objects": KINDS,
        "steps": rows,
        "events": [*done, *_actions(rows, KINDS, done)],
    }


def test_truth_memory_counts_two_binned_cubes_as_two_and_names_each_where_it_was_taken():
    truth = binfill_truth()
    assert action_memory(truth, 9, "simple") == "I put two blue cubes into the bin and pressed the button."
    assert action_memory(truth, 9, "grounded") == (
        "I put the blue cube <60, 100> and the blue cube <60, 120> into the bin <80, 100> and pressed the button <50, 80>."
    )


def test_truth_memory_says_nothing_before_it_happened_and_never_the_failed_grasp():
    truth = binfill_truth()
    assert action_memory(truth, 2, "simple") == EMPTY_ACTION_MEMORY  # only the grasp that closed on nothing so far
    assert action_memory(truth, 4, "simple") == "I picked up the blue cube."  # in the gripper, not yet binned
    assert action_memory(truth, 6, "grounded") == "I put the blue cube <60, 100> into the bin <80, 100>."


def video_truth():
    """VideoUnmask: the demonstration covers the red cube with the right container, the blue with the left."""
    kinds = {
        "cube_red": {"kind": "cube", "colour": "red"},
        "cube_blue": {"kind": "cube", "colour": "blue"},
        "bin_0": {"kind": "container", "colour": None},
        "bin_1": {"kind": "container", "colour": None},
    }
    pixel = {"cube_red": None, "cube_blue": None, "bin_0": [100, 60], "bin_1": [100, 145]}
    first = {"step": 66, "held": [], "pixel": pixel, "under": {"cube_red": "bin_1", "cube_blue": "bin_0"}}
    demo = [
        {"step": 0, "kind": "cover", "object": "cube_red", "container": "bin_1", "demo": True},
        {"step": 3, "kind": "subgoal_done", "subgoal": "static", "targets": [], "demo": True},
    ]
    return {
        "task": "VideoUnmask",
        "episode": 8,
        "execution_start": 66,
        "objects": kinds,
        "steps": [first],
        "events": demo,
    }


def test_a_video_tasks_memory_carries_what_the_demonstration_showed_from_the_first_call():
    truth = video_truth()
    assert action_memory(truth, 66, "grounded") == (
        "The video showed that the blue cube is under the container <100, 60> and the red cube is under the container <100, 145>."
    )
    assert (
        action_memory(truth, 66, "simple")
        == "The video showed that the blue cube is under the left container and the red cube is under the right container."
    )


def test_a_demonstrated_way_is_said_in_the_envs_own_words_with_repeats_counted():
    truth = {
        "task": "PatternLock",
        "episode": 0,
        "execution_start": 30,
        "objects": {},
        "steps": [{"step": 30, "pixel": {}, "under": {}}],
        "events": [
            {"step": s, "kind": "subgoal_done", "subgoal": name, "targets": [], "demo": True}
            for s, name in enumerate(["NO RECORD", "move left", "move left", "move down", "NO RECORD"])
        ],
    }
    assert action_memory(truth, 30, "simple") == "In the video the robot moved left twice, then moved down."


# -- the audit of any action memory against what happened ----------------------------------------

from robomme_mem.dataset.audit.actions_against_truth import ActionAudit, claims, score_memory  # noqa: E402


def audited(memory, truth, step):
    scores = ActionAudit()
    score_memory(memory, truth, step, scores, "here")
    return scores.to_dict()


def test_a_memory_that_merges_two_cubes_into_one_is_false_and_incomplete():
    merged = audited(
        "I picked up the blue cube <60, 120> twice and put it into the bin <80, 100> twice.", binfill_truth(), 9
    )
    assert merged["true"]["rate"] == 0.0 and merged["complete"]["rate"] == 0.0
    assert "'I picked up the blue cube <60, 120> twice'" in merged["false_claims"][0]


def test_the_truth_labellers_memories_are_true_and_complete_in_both_styles():
    truth = binfill_truth()
    for step in (2, 4, 6, 9):
        for style in ("simple", "grounded"):
            scores = audited(action_memory(truth, step, style), truth, step)
            assert scores["true"]["rate"] in (None, 1.0) and scores["complete"]["rate"] in (None, 1.0), (
                step,
                style,
                scores,
            )


def test_stating_the_future_is_a_leak_and_counting_the_failed_grasp_is_an_error():
    truth = binfill_truth()
    leak = audited("I put two blue cubes into the bin.", truth, 6)
    assert leak["true"]["rate"] == 0.0 and leak["leaked"]["rate"] == 1.0
    failed = audited("I picked up the blue cube twice.", truth, 4)
    assert failed["failed_attempt_counted"]["rate"] == 1.0 and failed["true"]["rate"] == 0.0


def test_claims_read_counts_objects_and_points_and_skip_what_the_video_showed():
    said = claims(
        "The video showed that the red cube is under the container <100, 145>. I put two blue cubes into the bin <80, 100>, "
        "placed the red cube <3, 4> onto the target twice and pressed the button."
    )
    assert [(c.action, c.colour, c.point, c.count, c.distinct) for c in said] == [
        ("bin", "blue", None, 2, True),
        ("target", "red", (3, 4), 2, False),
        ("press", None, None, 1, False),
    ]


def test_moving_over_the_button_is_no_press_and_a_press_named_for_the_target_is_the_buttons():
    done = [
        {
            "step": 3,
            "kind": "subgoal_done",
            "subgoal": "move to the top of the button to prepare",
            "targets": ["button_cap"],
        },
        {
            "step": 9,
            "kind": "subgoal_done",
            "subgoal": "press the button to stop the cube on the target",
            "targets": ["target"],
        },
    ]
    presses = [(e["step"], e["object"]) for e in robot_actions(binfill_rows(), KINDS, done) if e["kind"] == "press"]
    assert presses == [(9, "button_cap")]


def test_an_object_named_only_to_single_out_another_is_no_claim():
    said = claims(
        "I pressed the first button once and picked up the container <93, 163> that hides the blue cube once."
    )
    assert [(c.action, c.kind, c.point) for c in said] == [("press", "button", None), ("pick", "container", (93, 163))]


def test_a_drop_over_a_marker_no_camera_shows_is_a_drop_on_the_table():
    kinds = {
        "cube_blue": {"kind": "cube", "colour": "blue"},
        "target_0": {"kind": "target", "colour": None},
        "goal_site": {"kind": "target", "colour": None},
    }
    truth = {
        "task": "VideoPlaceOrder",
        "episode": 0,
        "execution_start": 9,
        "objects": kinds,
        "steps": [
            {"step": 9, "pixel": {"cube_blue": [80, 120], "target_0": [100, 160], "goal_site": [93, 128]}, "under": {}}
        ],
        "calls": [
            {
                "step": 9,
                "visible": {"cube_blue": {"pixels": 200}, "target_0": {"pixels": 300}, "goal_site": {"pixels": 0}},
            }
        ],
        "events": [
            {"step": 1, "kind": "place", "object": "cube_blue", "onto": "target_0", "point": [100, 160], "demo": True},
            {"step": 5, "kind": "place", "object": "cube_blue", "onto": "goal_site", "point": [93, 128], "demo": True},
        ],
    }
    assert action_memory(truth, 9, "simple") == "In the video the robot placed the blue cube onto the target."


def test_a_list_of_objects_before_one_destination_is_one_claim_each():
    said = claims(
        "I put the green cube <110, 184>, the green cube <84, 163> and the green cube <54, 121> into the bin <125, 96>."
    )
    assert [(c.action, c.point) for c in said] == [("bin", (110, 184)), ("bin", (84, 163)), ("bin", (54, 121))]


def test_a_grasp_that_held_something_is_no_failed_attempt_even_when_the_subgoal_picks_again():
    rows = [
        row(0),
        row(1, gripper=True, held=["cube_blue_0"]),
        row(2),
        row(3, gripper=True, held=["cube_blue_0"]),
        row(4),
    ]
    events = robot_actions(rows, KINDS)
    assert [e["kind"] for e in events if e["kind"] in ("pick", "failed_grasp")] == ["pick", "pick"]
