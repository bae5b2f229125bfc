"""Prompt templates render exactly the reference builder's text, and refuse wrong fields."""

import pytest

from robomme_mem import prompts


def test_baseline_prompts_are_the_reference_strings():
    assert prompts.BASELINE_SYSTEM_SIMPLE.render() == (
        "You are a helpful assistant to help guide the robot to complete the task by predicting a sequence of language subgoals"
    )
    assert prompts.BASELINE_USER_GROUNDED.render(
        video="<video>", task_goal="g", history_line="This is the initial turn for prediction"
    ) == (
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


# -- the method's prompts against the wording of ../shared/spec/prompts.md ------------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "prompts.md"


def words(text: str) -> list[str]:
    """Wording without markdown: no backticks or bullets, curly apostrophes straightened, spaces folded."""
    text = text.replace("`", "").replace("\u2019", "'")
    text = re.sub(r"^\s*-\s+", "", text, flags=re.M)
    return text.split()


def spec_section(heading: str) -> str:
    if not SPEC.is_file():
        pytest.skip(f"prompt spec not found at {SPEC} (it lives in ../shared beside the checkout)")
    text = SPEC.read_text()
    start = text.index(heading) + len(heading)
    end = re.search(r"^#{2,6} ", text[start:], flags=re.M)
    return text[start : start + end.start()] if end else text[start:]


@pytest.mark.parametrize(
    "heading,template",
    [
        ("System prompt — Action Memory (simple)", prompts.LABEL_ACTION_SYSTEM_SIMPLE),
        ("System prompt — Action Memory (grounded)", prompts.LABEL_ACTION_SYSTEM_GROUNDED),
        ("System prompt — Spatial Memory (visual)", prompts.LABEL_SPATIAL_SYSTEM),
        ("System prompt — Variant (1) Simple", prompts.POLICY_SYSTEM["simple"]),
        ("System prompt — Variant (2) Grounded", prompts.POLICY_SYSTEM["grounded"]),
        ("System prompt — Variant (3) Dual, simple subgoals", prompts.POLICY_SYSTEM["dual_simple"]),
        ("System prompt — Variant (4) Dual, grounded layout", prompts.POLICY_SYSTEM["dual_grounded"]),
    ],
)
def test_system_prompts_have_the_spec_wording(heading, template):
    spec = spec_section(heading).split("The user prompt has the same structure")[0]  # prose after A.1.2's prompt
    assert words(template.render()) == words(spec)


def test_labelling_user_prompts_have_the_spec_wording():
    action = spec_section("User prompt — Action Memory (simple)")
    rendered = prompts.LABEL_ACTION_USER.render(task_goal="{task_goal}", history="{history}")
    # the spec interleaves a note '(or "(none yet)" if k = 0)' after the history line
    spec = re.sub(r'\(or "\(none yet\)" if\s+\$k = 0\$ \)', "", action.split("where {history}")[0])
    assert words(rendered) == words(spec)
    assert '"(none yet)"' in action and prompts.NO_HISTORY_YET == "(none yet)"
    spatial = spec_section("User prompt — Spatial Memory (visual)")
    rendered = prompts.LABEL_SPATIAL_USER.render(task_goal="{task_goal}", prior_spatial="{prior_spatial}")
    spec = spatial.split("The attached image")[0]
    spec = spec.replace('*(or "(none yet --- this is the initial observation)" for the first frame)*', "")
    assert words(rendered) == words(spec)
    assert (
        '"(none yet --- this is the initial observation)"' in spatial
        and prompts.NO_PRIOR_SPATIAL == "(none yet --- this is the initial observation)"
    )


@pytest.mark.parametrize(
    "heading,variant",
    [
        ("User prompt — Variant (1) Simple, with history", "simple"),
        ("User prompt — Variant (2) Grounded, with history", "grounded"),
        ("User prompt — Variant (3) Dual, simple subgoals", "dual_simple"),
        ("User prompt — Variant (4) Dual, grounded layout", "dual_grounded"),
    ],
)
def test_policy_user_prompts_have_the_spec_wording(heading, variant):
    spec = spec_section(heading).split("**Memory-only")[0]
    spec = re.sub(r"\(or \"This is the initial turn.*?\)|\(history items now carry.*?\)\s*$", "", spec, flags=re.M)
    spec = (
        spec.replace("{m.t-1}", "{memory}")
        .replace("{s.t-1}", "{spatial}")
        .replace("1. {l_1}; 2. {l_2}; ...", "{history}")
    )
    spatial = "{spatial}" if variant.startswith("dual") else None
    rendered = prompts.policy_user_prompt(variant, "{task_goal}", "{memory}", spatial, history=["{history}"])
    assert words(rendered.replace("1. {history}", "{history}")) == words(spec)


def test_memory_only_prompt_drops_the_history_line():
    with_history = prompts.policy_user_prompt("simple", "g", "m", history=[])
    memory_only = prompts.policy_user_prompt("simple", "g", "m")
    assert "This is the initial turn for prediction" in with_history
    assert memory_only == "\n".join(line for line in with_history.splitlines() if "initial turn" not in line)


def test_assistant_targets():
    assert prompts.policy_target("pick up the red cube <106, 110>", "I pressed the button.") == (
        "pick up the red cube <106, 110>\n<mem>I pressed the button.</mem>"
    )
    assert prompts.policy_target("a", "m", "s") == "a\n<mem>m</mem>\n<spatial_mem>s</spatial_mem>"


def test_initial_strings_are_the_papers():
    assert prompts.INITIAL_MEMORY == "No actions had been completed yet."
    assert prompts.INITIAL_SPATIAL == "No observations yet."
