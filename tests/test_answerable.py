"""Whether a row's input holds what its target depends on: the fact that singles it out, with its place."""

from robomme_mem.dataset.assemble.answerable import answerable, singled_out

HIDES = "pick up the container that hides the red cube"
HIDES_AT = "pick up the container at <100, 145> that hides the red cube"


def test_what_singles_a_target_out_of_the_past():
    assert singled_out("ButtonUnmask", HIDES) == "hides:red"
    assert singled_out("PickHighlight", "pick up the first highlighted cube, which is red") == "highlighted"
    assert (
        singled_out("PatternLock", "move left") == "video"
        and singled_out("VideoRepick", "pick up the correct cube for the first time") == "video"
    )
    assert (
        singled_out("VideoUnmask", "static") is None and singled_out("BinFill", "pick up the first blue cube") is None
    )
    assert singled_out("VideoRepick", "press the button to finish") is None  # the frame shows the one button


def test_a_memory_with_the_fact_and_the_place_answers_it_and_one_without_the_place_does_not():
    assert answerable(
        "ButtonUnmask", HIDES_AT, HIDES_AT, ["Not in view: red cube hidden under the container at <101, 144>."]
    )
    assert not answerable(
        "ButtonUnmask", HIDES_AT, HIDES_AT, ["Not in view: red cube hidden under the container at <60, 60>."]
    )
    assert not answerable("ButtonUnmask", HIDES_AT, HIDES_AT, ["Visible: container <100, 145>. I pressed the button."])
    assert (
        answerable(
            "ButtonUnmask", HIDES, HIDES_AT, ["The video showed that the red cube is under the right container."]
        )
        is True
    )


def test_the_video_in_the_input_answers_any_video_target():
    assert answerable("VideoUnmask", HIDES_AT, HIDES_AT, ["No actions had been completed yet."], has_video=True)
    assert not answerable("VideoUnmask", HIDES_AT, HIDES_AT, ["No actions had been completed yet."])
    assert answerable("PatternLock", "move left", "move left", ["In the video the robot moved left, then moved down."])
    hook = "hook the cube to the target with the peg"
    assert answerable(
        "MoveCube",
        hook,
        hook + " at <80, 90>",
        ["In the video the robot picked up the peg, then hooked the cube to the target with the peg."],
    )
    assert not answerable(
        "MoveCube", hook, hook + " at <80, 90>", ["In the video the robot picked up the peg, then pushed the cube."]
    )
