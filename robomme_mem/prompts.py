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
from functools import cached_property

from .formats import PROMPT_SET_VERSION  # noqa: F401  (this module's prompt set as a whole; bumped with any template's version)


@dataclass(frozen=True)
class Tag:
    """A tagged block of a prompt or answer, ``<mem>...</mem>``: written and found by the same tag."""

    name: str

    @property
    def open(self) -> str:
        return f"<{self.name}>"

    @property
    def close(self) -> str:
        return f"</{self.name}>"

    def wrap(self, text: str) -> str:
        return f"{self.open}{text}{self.close}"

    def inside(self, text: str) -> str | None:
        """The text between the first opening and the first closing tag (None: no such block)."""
        start, end = text.find(self.open), text.find(self.close)
        return text[start + len(self.open) : end] if 0 <= start < end else None


MEMORY_TAG = Tag("mem")
"""The action memory's block in the policy's prompts and answers."""
SPATIAL_TAG = Tag("spatial_mem")
"""The spatial memory's block in the policy's prompts and answers, and the spatial labeller's prior memory."""


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with ``{named}`` fields, rendered with :meth:`render`."""

    id: str
    version: str
    text: str

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The ``{named}`` fields, parsed once (a build renders templates for every row)."""
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
GROUNDED_BOX_PLACEHOLDER = "<bbox>"


# -- the method's labelling prompts (spec/prompts.md, A.1) --------------------------------

LABEL_ACTION_SYSTEM_SIMPLE = PromptTemplate(
    "label.action.system.simple",
    "1",
    "You are generating compressed memory summaries for a robot manipulation policy. Given the history "
    "of completed subtasks, summarize all information from previous subtasks that is still relevant for "
    "future task execution.\n"
    "\n"
    "Rules:\n"
    '- Write in first person, past tense (e.g., "I placed a plate in the cabinet and picked up a bowl.")\n'
    "- Only describe what has already happened; do NOT describe upcoming steps or remaining work\n"
    '- Compress redundant information (e.g., "I placed three bowls in the cabinet" not "I put a light '
    'green bowl, a dark blue bowl, and a bright yellow bowl in the cabinet")\n'
    "- Remove information that is no longer relevant for future task execution\n"
    "- For spatial events (swaps, occlusions), preserve spatial facts only if they are still needed for "
    "future decisions\n"
    "- Do NOT include information about HOW actions were performed (no trajectories, grasp poses, motion "
    "descriptions)\n"
    "- Keep the summary under 50 words\n"
    "- Write entirely in English using only standard ASCII characters\n"
    "- Output ONLY the summary text, no preamble or explanation",
)
LABEL_ACTION_SYSTEM_GROUNDED = PromptTemplate(
    "label.action.system.grounded",
    "1",
    "You are generating compressed memory summaries for a robot manipulation policy that outputs grounded "
    '(pixel-pointed) subgoals like "pick up the red cube <120, 88>". Given the history of completed '
    "subtasks (which carry their pixel coordinates inline), summarize what has happened AND carry forward "
    "the pixel coordinates of every object that may still be referenced by future subtasks.\n"
    "\n"
    "Rules:\n"
    '- Write in first person, past tense (e.g., "I pressed the red button <140, 75> and picked up the '
    'blue cube <88, 210>.")\n'
    "- Only describe what has already happened; do NOT describe upcoming steps or remaining work\n"
    "- Remove information that is no longer relevant for future task execution\n"
    "- For spatial events (swaps, occlusions), preserve spatial facts only if they are still needed for "
    "future decisions\n"
    "- In your description, include coordinates of objects relevant to the completion of the task. NEVER "
    "invent or estimate coordinates that were not present in the history.\n"
    "- If an object was picked up / placed / removed, note its current location\n"
    '- Compress redundant action descriptions (e.g., "I placed three cubes in the bin" not enumerating '
    "each one)\n"
    "- Do NOT include information about HOW actions were performed (no trajectories, grasp poses, motion "
    "descriptions)\n"
    "- Keep the summary under 90 words\n"
    "- Write entirely in English using only standard ASCII characters\n"
    "- Output ONLY the summary text, no preamble or explanation",
)
LABEL_ACTION_USER = PromptTemplate(
    "label.action.user",
    "1",
    'Task goal: "{task_goal}"\n'
    "The history of completed subtasks: {history}\n"
    "Generate a compressed memory summary of the current state.",
)
LABEL_SPATIAL_SYSTEM = PromptTemplate(
    "label.spatial.system",
    "1",
    "You are generating compressed spatial memory for a robot manipulation policy. Given the task goal, "
    "prior memory (if any), and a scene image, produce an updated memory of only the important visual "
    "observations that have previously occurred.\n"
    "\n"
    "Rules:\n"
    "- IGNORE the robot arm, gripper, and any static background.\n"
    "- Only if relevant to the task goal, describe the history & current state of objects (cubes, targets, "
    "buttons, bins, pegs).\n"
    "- Do NOT take note of something that is clearly visible to the camera and does not need to be "
    "remembered (not relevant to task goal).\n"
    "- Note prior positions/states from previous memories only when it is relevant to the goal.\n"
    "- For numerical or counting problems, ensure that you keep track of counts. Information you currently "
    "have may not be visible in the future.\n"
    "- If an object becomes occluded, KEEP TRACK OF WHERE THE OBJECT IS and its relative position.\n"
    "- For tasks that rely on the previous state of the environment be sure to persist relevant past "
    "information about the scene even if the scene has changed over many states.\n"
    "- Do NOT describe actions, trajectories, the robot arm, or predict future steps.\n"
    "- Do NOT hallucinate positions; report only what is visible or established in prior memory.\n"
    "- Keep under 70 words.\n"
    "- ASCII English only.\n"
    "- Be concise.\n"
    "- Output ONLY the spatial memory, no preamble.",
)
LABEL_SPATIAL_USER = PromptTemplate(
    "label.spatial.user",
    "1",
    'Task goal: "{task_goal}"\n'
    "\n"
    f"Prior spatial memory: {SPATIAL_TAG.wrap('{prior_spatial}')}\n"
    "\n"
    "An image of the current scene is attached. Produce an updated spatial memory.",
)

LABEL_REASK = PromptTemplate(
    "label.reask",
    "1",
    "Your answer breaks these rules: {problems}. Write it again, following every rule. "
    "Output ONLY the memory text, no preamble.",
)
"""Sent after an answer that fails validation (ours, not the paper's: the paper does not say how it re-asked)."""

NO_HISTORY_YET = "(none yet)"
"""The action labeller's history before the first boundary (k = 0)."""
NO_PRIOR_SPATIAL = "(none yet --- this is the initial observation)"
"""The spatial labeller's prior memory on an episode's first call frame."""

ACTION_WORD_LIMITS = {"simple": 50, "grounded": 90}
SPATIAL_WORD_LIMIT = 70

# -- the method's policy prompts (spec/prompts.md, A.2) -----------------------------------

INITIAL_MEMORY = "No actions had been completed yet."
"""m_{-1}: the action memory of an episode's first call, in training rows and at rollout."""
INITIAL_SPATIAL = "No observations yet."
"""s_{-1}: the spatial memory of an episode's first call, in training rows and at rollout."""

EMPTY_ACTION_MEMORY = INITIAL_MEMORY
"""The one wording of an action memory that holds nothing: the first call's input, and every
labeller's answer for an empty history, so the policy learns one string for one state."""
EMPTY_SPATIAL_MEMORY = INITIAL_SPATIAL
"""The one wording of a spatial memory that holds nothing (no task object seen or remembered)."""

POLICY_SYSTEM = {
    "simple": PromptTemplate(
        "policy.system.simple",
        "1",
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence "
        "of language subgoals. You also maintain a compact memory summary of relevant past events between turns.",
    ),
    "grounded": PromptTemplate(
        "policy.system.grounded",
        "1",
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence "
        "of grounded language subgoals. You also maintain a compact memory summary of relevant past events "
        "between turns.",
    ),
    "dual_simple": PromptTemplate(
        "policy.system.dual_simple",
        "1",
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence "
        "of language subgoals. You also maintain TWO compact memories between turns: a textual action memory "
        f"of what has happened so far (wrapped in {MEMORY_TAG.wrap('...')} tags) and a spatial memory describing the "
        f"current scene layout (wrapped in {SPATIAL_TAG.wrap('...')} tags). Output the next subgoal, then "
        "both memories, in that order.",
    ),
    "dual_grounded": PromptTemplate(
        "policy.system.dual_grounded",
        "1",
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence "
        "of grounded language subgoals. You also maintain TWO compact memories between turns: a textual action "
        f"memory of what has happened so far (wrapped in {MEMORY_TAG.wrap('...')} tags) and a spatial memory describing "
        f"the current scene layout (wrapped in {SPATIAL_TAG.wrap('...')} tags). Output the next subgoal, "
        "then both memories, in that order.",
    ),
}
"""System prompt per variant. The history ablation (``*_history``) uses its variant's prompt."""

POLICY_GOAL_LINE = PromptTemplate("policy.user.goal", "1", "The task goal is: {task_goal}")
POLICY_HISTORY_LINE = {
    "simple": PromptTemplate(
        "policy.user.history.simple", "1", "The history of previous predicted language subgoals are: {history}"
    ),
    "grounded": PromptTemplate(
        "policy.user.history.grounded",
        "1",
        "The history of previous predicted grounded language subgoals are: {history}",
    ),
}
POLICY_INITIAL_TURN = PromptTemplate("policy.user.history.empty", "1", "This is the initial turn for prediction")
POLICY_MEMORY_LINE = PromptTemplate(
    "policy.user.memory",
    "1",
    f"The current action memory (a brief summary of relevant past events): {MEMORY_TAG.wrap('{memory}')}",
)
POLICY_SPATIAL_LINE = PromptTemplate(
    "policy.user.spatial",
    "1",
    f"The current spatial memory (a description of the current scene): {SPATIAL_TAG.wrap('{spatial}')}",
)
POLICY_QUESTION = {
    "simple": PromptTemplate(
        "policy.user.question.simple", "1", "<image>What's the next language subgoal based on current observation?"
    ),
    "grounded": PromptTemplate(
        "policy.user.question.grounded",
        "1",
        "<image>What's the next grounded language subgoal based on current observation?",
    ),
}
POLICY_TARGET = PromptTemplate("policy.assistant", "1", "{subgoal}\n" + MEMORY_TAG.wrap("{memory}"))
POLICY_TARGET_DUAL = PromptTemplate(
    "policy.assistant.dual", "1", POLICY_TARGET.text + "\n" + SPATIAL_TAG.wrap("{spatial}")
)

VARIANTS = ("simple", "grounded", "dual_simple", "dual_grounded")


def subgoal_style(variant: str) -> str:
    """``"simple"`` or ``"grounded"``: the kind of subgoal (and action memory) a variant uses."""
    return "grounded" if variant.endswith("grounded") else "simple"


def policy_user_prompt(
    variant: str,
    task_goal: str,
    memory: str,
    spatial: str | None = None,
    history: list[str] | None = None,
    *,
    video: bool = False,
) -> str:
    """The method's user prompt (A.2.2): memory-only when ``history`` is ``None``.

    Shared by the builder's rows and the policy runtime, so training and rollout prompts are
    the same string. ``spatial`` is required for dual variants and refused otherwise. ``video``:
    the call sees a video task's demonstration (its first call), marked ``<video>`` before the
    goal as in RoboMME's own rows.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    dual = variant.startswith("dual")
    if dual != (spatial is not None):
        raise ValueError(f"variant {variant} {'needs' if dual else 'takes no'} spatial memory")
    style = subgoal_style(variant)
    lines = [(VIDEO_PLACEHOLDER if video else "") + POLICY_GOAL_LINE.render(task_goal=task_goal)]
    if history is not None:
        lines.append(
            POLICY_HISTORY_LINE[style].render(history=format_history(history))
            if history
            else POLICY_INITIAL_TURN.render()
        )
    lines.append(POLICY_MEMORY_LINE.render(memory=memory))
    if dual:
        lines.append(POLICY_SPATIAL_LINE.render(spatial=spatial))
    lines.append(POLICY_QUESTION[style].render())
    return "\n".join(lines)


def policy_target(subgoal: str, memory: str, spatial: str | None = None) -> str:
    """The assistant target (A.2.3): subgoal line, ``<mem>``, and ``<spatial_mem>`` for dual variants."""
    if spatial is None:
        return POLICY_TARGET.render(subgoal=subgoal, memory=memory)
    return POLICY_TARGET_DUAL.render(subgoal=subgoal, memory=memory, spatial=spatial)


def format_history(subgoals: list[str]) -> str:
    """``1. a; 2. b``: the numbered history both RoboMME and the method use."""
    return "; ".join(f"{i + 1}. {s}" for i, s in enumerate(subgoals))


def _collect() -> tuple[PromptTemplate, ...]:
    found: list[PromptTemplate] = []
    for value in list(globals().values()):
        for item in value.values() if isinstance(value, dict) else [value]:
            if isinstance(item, PromptTemplate) and item not in found:
                found.append(item)
    return tuple(found)


ALL_TEMPLATES: tuple[PromptTemplate, ...] = _collect()
"""Every template of this module, in definition order."""


def template_hashes() -> dict[str, str]:
    """``id@version -> sha256`` for every template, recorded in each build's manifest."""
    return {f"{t.id}@{t.version}": t.sha256 for t in ALL_TEMPLATES}
