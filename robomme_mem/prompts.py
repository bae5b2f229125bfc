"""The one home of every prompt string: named, versioned templates.

Builder, trainer and policy runtime import prompts from here; no other module writes a
prompt literal. A template's ``id`` and ``version`` travel into manifests and label sets,
and its ``sha256`` changes whenever a character of it does.

The ``baseline.*`` templates reproduce RoboMME's reference QwenVL subgoal builder
(``build_vlm_subgoal_dataset_qwenvl.py``) character for character, including its ASCII
apostrophe in "What's" and the missing final period of its system prompts.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with ``{named}`` fields, rendered with :meth:`render`."""

    id: str
    version: str
    text: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.text) if f)

    def render(self, **values: str) -> str:
        """Fill every field; a missing or unexpected field is an error, not a silent blank."""
        expected = set(self.fields)
        if set(values) != expected:
            raise KeyError(f"template {self.id} takes {sorted(expected)}, got {sorted(values)}")
        return self.text.format(**values)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.id}\n{self.version}\n{self.text}".encode()).hexdigest()


# -- RoboMME baseline (reference QwenVL subgoal builder) ----------------------------------

BASELINE_SYSTEM_SIMPLE = PromptTemplate(
    "baseline.system.simple",
    "1",
    "You are a helpful assistant to help guide the robot to complete the task "
    "by predicting a sequence of language subgoals",
)
BASELINE_SYSTEM_GROUNDED = PromptTemplate(
    "baseline.system.grounded",
    "1",
    "You are a helpful assistant to help guide the robot to complete the task "
    "by predicting a sequence of grounded language subgoals",
)
BASELINE_USER_SIMPLE = PromptTemplate(
    "baseline.user.simple",
    "1",
    "{video}The task goal is: {task_goal}\n{history_line}\n"
    "<image>What's the next language subgoal based on current observation?",
)
BASELINE_USER_GROUNDED = PromptTemplate(
    "baseline.user.grounded",
    "1",
    "{video}The task goal is: {task_goal}\n{history_line}\n"
    "<image>What's the next grounded language subgoal based on current observation?",
)
BASELINE_HISTORY_SIMPLE = PromptTemplate(
    "baseline.history.simple",
    "1",
    "The history of previous predicted language subgoals are: {history}",
)
BASELINE_HISTORY_GROUNDED = PromptTemplate(
    "baseline.history.grounded",
    "1",
    "The history of previous predicted grounded language subgoals are: {history}",
)
BASELINE_INITIAL_TURN = PromptTemplate(
    "baseline.history.empty",
    "1",
    "This is the initial turn for prediction",
)

VIDEO_PLACEHOLDER = "<video>"
IMAGE_PLACEHOLDER = "<image>"
GROUNDED_BOX_PLACEHOLDER = "<bbox>"


def format_history(subgoals: list[str]) -> str:
    """``1. a; 2. b``: the numbered history both RoboMME and the method use."""
    return "; ".join(f"{i + 1}. {s}" for i, s in enumerate(subgoals))


ALL_TEMPLATES: tuple[PromptTemplate, ...] = (
    BASELINE_SYSTEM_SIMPLE,
    BASELINE_SYSTEM_GROUNDED,
    BASELINE_USER_SIMPLE,
    BASELINE_USER_GROUNDED,
    BASELINE_HISTORY_SIMPLE,
    BASELINE_HISTORY_GROUNDED,
    BASELINE_INITIAL_TURN,
)


def template_hashes() -> dict[str, str]:
    """``id@version -> sha256`` for every template, recorded in each build's manifest."""
    return {f"{t.id}@{t.version}": t.sha256 for t in ALL_TEMPLATES}
