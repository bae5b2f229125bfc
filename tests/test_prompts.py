"""Prompt templates render exactly the reference builder's text, and refuse wrong fields."""

import pytest

from robomme_mem import prompts


def test_baseline_prompts_are_the_reference_strings():
    assert prompts.BASELINE_SYSTEM_SIMPLE.render() == (
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence of language subgoals"
    )
    assert prompts.BASELINE_USER_GROUNDED.render(video="<video>", task_goal="g", history_line="This is the initial turn for prediction") == (
        "<video>The task goal is: g\nThis is the initial turn for prediction\n"
        "<image>What's the next grounded language subgoal based on current observation?"
    )
    assert prompts.BASELINE_HISTORY_SIMPLE.render(history=prompts.format_history(["a", "b"])) == (
        "The history of previous predicted language subgoals are: 1. a; 2. b"
    )


def test_render_checks_fields():
    with pytest.raises(KeyError, match="takes"):
        prompts.BASELINE_USER_SIMPLE.render(task_goal="g")


def test_every_template_has_a_distinct_id_and_hash():
    hashes = prompts.template_hashes()
    assert len(hashes) == len(prompts.ALL_TEMPLATES) == len(set(hashes.values()))
