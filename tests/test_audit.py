"""``robomme-mem audit``: its metrics on hand-made label sets with known answers, then on real and
synthetic sources from the command line."""

import json

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.audit import audit, history_count, mentions, stated_count
from robomme_mem.dataset.labels.engine.requests import LabelParams
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import Answer

PICK, PLACE = "pick up the red cube", "place it on the target"
SUBGOALS = (
    [PICK] * 20
    + [PLACE] * 20
    + [f"{PICK} for the second time"] * 20
    + [f"{PLACE} for the second time"] * 20
    + ["press the button"] * 20
)
POINTS = {PICK: "<50, 60>", PLACE: "<120, 130>", "press the button": "<200, 40>"}


def grounded_of(simple: str) -> str:
    base = simple.replace(" for the second time", "")
    return simple.replace(base, f"{base} at {POINTS[base]}")


class HandLabeller:
    """Answers every request with ``answer(request)``: a label set whose mistakes we chose."""

    name = "hand"

    def __init__(self, answer) -> None:
        self.answer = answer
        self.params = LabelParams(model="hand", temperature=None, spatial_max_tokens=None)

    async def ask(self, request, key) -> Answer:
        return Answer(status="ok", text=self.answer(request))

    async def aclose(self) -> None:
        return None


@pytest.fixture
def episode(scripted_file):
    goals = ["pick up the red cube and place it on the target twice, then press the button"]
    scripted_file(
        "PickXtimes", episode=1, goals=goals, simple=SUBGOALS, grounded=[grounded_of(s) for s in SUBGOALS], seed=1
    )
    return scripted_file("PickXtimes", goals=goals, simple=SUBGOALS, grounded=[grounded_of(s) for s in SUBGOALS])


def scores_of(path, answer) -> dict:
    run = label_source([path], HandLabeller(answer), store=None, name="hand", progress=False)
    return audit(run.episodes)["PickXtimes"]


def honest_action(request) -> str:
    history = request.history
    if not history:
        return "I have not completed any subtask yet."
    picks = sum(h.startswith("pick") for h in history)
    places = sum(h.startswith("place") for h in history)
    times = {1: "once", 2: "twice"}
    text = f"I picked up the red cube {times[picks]}"
    if places:
        text += f" and placed it on the target {times[places]}"
    if request.style == "grounded":
        text += " at <120, 130>" if places else " at <50, 60>"
    return text + "."


def test_the_counting_helpers_read_what_memories_say():
    assert stated_count("I placed the cube on the target twice and pressed the button once.") == 2
    assert stated_count("I put two cubes into the bin.") == 2 and stated_count("I picked it for the third time.") == 3
    assert stated_count("I pressed the button.") == 1
    assert history_count([PICK, PLACE, f"{PICK} for the second time"]) == 2
    # BinFill: an ordinal names another cube, and "it" is the cube just picked: one of each
    assert (
        history_count(
            [
                "pick up the first blue cube at <86, 136>",
                "put it into the bin",
                "pick up the second blue cube at <86, 88>",
                "put it into the bin",
            ]
        )
        == 1
    )
    assert mentions("I pressed the button at <200, 40>.", "press the button at <200, 40>")
    assert not mentions("I picked up the red cube.", "place it on the target at <120, 130>")


def test_an_honest_label_set_scores_one(episode):
    def answer(request):
        return (
            honest_action(request)
            if request.kind == "action"
            else "Red cube <50, 60>, target <120, 130>, button <200, 40>."
        )

    scores = scores_of(episode, answer)
    for style in ("simple", "grounded"):
        assert scores["action"][style]["count"]["rate"] == 1.0 and scores["action"][style]["recent"]["rate"] == 1.0
    assert scores["grounded_coordinates"]["rate"] == 1.0
    assert scores["spatial"]["target_recall"] == {
        "rate": 1.0,
        "low": pytest.approx(0.68, abs=0.01),
        "high": 1.0,
        "n": 8,
    }


def test_three_times_after_two_picks_is_a_wrong_count_and_an_invented_point_is_caught(episode):
    def answer(request):
        if request.kind == "spatial":
            return "Nothing to report."
        if len(request.history) == 3:  # pick, place, pick again: two picks done
            return "I picked up the red cube three times at <9, 9>."
        return honest_action(request)

    scores = scores_of(episode, answer)
    count = scores["action"]["simple"]["count"]
    assert (count["rate"], count["n"]) == (
        0.75,
        8,
    )  # 4 boundaries with a history in each of 2 episodes, one says three in each
    assert scores["grounded_coordinates"]["rate"] == 0.75  # <9, 9> is in no subgoal
    assert scores["spatial"]["target_recall"]["rate"] == 0.0 and scores["recall_misses"]


def test_a_fixture_in_every_frame_of_every_episode_is_found(episode):
    asked = 0

    def answer(request):
        nonlocal asked
        if request.kind == "action":
            return honest_action(request)
        asked += 1  # a moving object, and the table where it always was (its centre jittering)
        return f"Wooden table <{136 + asked % 3}, 130>. Red cube <{60 + asked * 25 % 150}, {70 + asked}>."

    scores = scores_of(episode, answer)
    assert scores["spatial"]["fixtures"] == ["Wooden table <137, 130>"]  # as the first memory reports it
    assert scores["spatial"]["entries_per_memory"]["mean"] == 2.0


def test_audit_from_the_command_line_on_real_frames(real_dir, tmp_path, capsys):
    out = tmp_path / "audit.json"
    assert main(["audit", "--source", str(real_dir), "--json", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "| overall |" in text and "target recall" in text
    scores = json.loads(out.read_text())["scores"]
    assert set(scores) == {"BinFill", "ButtonUnmask", "PickHighlight", "VideoUnmask", "overall"}
    # the rules spatial labeller on real renders: the table and the scene's fixtures are never objects,
    # and the memory a segment starts with holds its target (the floor: 80%)
    assert scores["overall"]["spatial"]["fixtures_every_task"] == [] and "fixtures reported" not in text
    assert scores["overall"]["spatial"]["fixtures"] is None  # one episode per task: no task can tell a fixture
    recall = scores["overall"]["spatial"]["target_recall"]
    assert recall["n"] == 6 and recall["rate"] >= 0.8


def test_audit_of_a_stored_label_set(sample_dir, tmp_path, capsys):
    store = tmp_path / "labels.sqlite"
    source = str(sample_dir / "record_dataset_BinFill.h5")
    assert main(["label", "--source", source, "--store", str(store), "--name", "r", "-q"]) == 0
    assert main(["audit", "--source", source, "--labels", "r", "--store", str(store), "-q"]) == 0
    assert "| BinFill |" in capsys.readouterr().out


def test_a_build_records_the_audit_of_its_labels(sample_dir, tmp_path):
    from robomme_mem.dataset.build import BuildOptions, build

    result = build(
        [sample_dir],
        tmp_path / "out",
        BuildOptions(configs=("dual_grounded", "baseline_simple"), tasks=("BinFill", "PickXtimes")),
        progress=False,
    )
    scores = result.manifest["labels_audit"]
    assert set(scores) == {"BinFill", "PickXtimes", "overall"}
    assert (
        scores["overall"]["action"]["simple"]["count"]["n"] > 0
        and scores["overall"]["spatial"]["target_recall"]["n"] > 0
    )
    card = (result.out / "README.md").read_text()
    assert "scored against the demonstrations" in card and "| overall |" in card
    plain = build(
        [sample_dir], tmp_path / "plain", BuildOptions(configs=("baseline_simple",), tasks=("BinFill",)), progress=False
    )
    assert plain.manifest["labels_audit"] is None and "no label audit" in (plain.out / "README.md").read_text()


def test_the_overall_fixtures_add_up_over_the_tasks(sample_dir, capsys):
    from robomme_mem.dataset.audit import audit, table
    from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
    from robomme_mem.dataset.labels.labelling import label_source
    from robomme_mem.dataset.source import find_source_files

    episodes = label_source(
        find_source_files([sample_dir]), RulesLabeller(), store=None, name="rules", progress=False
    ).episodes
    scores = audit(episodes)
    per_task = [t for t in scores if t != "overall"]
    assert (
        len(scores["overall"]["spatial"]["fixtures"])
        == sum(len(scores[t]["spatial"]["fixtures"] or []) for t in per_task)
        > 0
    )
    assert scores["overall"]["spatial"]["fixtures_every_task"] == []
    assert f"| {len(scores['overall']['spatial']['fixtures'])} |" in table(scores).splitlines()[-1]
