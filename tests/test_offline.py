"""``evaluate/offline.py``: teacher-forced scores of a policy on a split."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from robomme_mem.closed_loop.policy import ReplayBackend
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.subgoals import POINT_RE

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("robomme_evaluate_offline", ROOT / "evaluate" / "offline.py")
offline = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = offline  # evaluate/ is a folder of scripts, not a package (it would shadow HF's)
spec.loader.exec_module(offline)


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    return build(
        [sample_dir],
        tmp_path_factory.mktemp("offline") / "robomme-mem",
        BuildOptions(configs=("grounded", "dual_grounded", "baseline_grounded", "traces")),
        progress=False,
    )


def targets(built, config):
    return [
        json.loads(line)["messages"][2]["content"]
        for line in (built.out / "swift" / config / "train.jsonl").read_text().splitlines()
    ]


def test_replaying_the_targets_scores_perfectly(built, tmp_path, capsys):
    result, _ = offline.run(
        str(built.out), "dual_grounded", "train", ReplayBackend(targets(built, "dual_grounded")), progress=False
    )
    overall = result["overall"]["metrics"]
    for metric in (
        "subgoal_exact",
        "format_valid",
        "boundary_precision",
        "boundary_recall",
        "memory_update_agreement",
        "count_faithful",
    ):
        assert overall[metric]["mean"] == 1.0, metric
    assert overall["pixel_error"]["mean"] == 0.0 and overall["count_faithful"]["n"] > 0
    assert set(result) >= {"overall", "BinFill", "PickXtimes"} and result["overall"]["fallbacks"] == {}
    # and from the command line, with JSON and Markdown written, and called what it is
    assert (
        offline.main(
            [
                "--dataset",
                str(built.out),
                "--config",
                "grounded",
                "--backend",
                "replay",
                "-q",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["scores"]["overall"]["metrics"]["subgoal_exact"]["mean"] == 1.0 and report["self_check"] is True
    markdown = (tmp_path / "r.md").read_text()
    assert (
        "| overall |" in markdown
        and "SELF-CHECK, not a model's score" in markdown
        and "SELF-CHECK" in capsys.readouterr().out
    )


def test_the_backend_is_a_choice_the_user_makes(built, capsys):
    with pytest.raises(SystemExit):
        offline.main(["--dataset", str(built.out), "--config", "grounded", "-q"])
    assert "--backend" in capsys.readouterr().err


def test_a_corrupted_policy_scores_what_it_broke(built):
    answers = targets(built, "dual_grounded")
    broken = []
    for i, text in enumerate(answers):
        subgoal, rest = text.split("\n", 1)
        if i % 4 == 0:  # a wrong point, off by (3, 4): 5 pixels
            subgoal = POINT_RE.sub(lambda m: f"<{int(m.group(1)) + 3}, {int(m.group(2)) + 4}>", subgoal)
        if i % 5 == 0:  # memory not closed
            rest = rest.replace("</mem>", "", 1)
        if i % 7 == 0:  # says "twice" where it means otherwise
            rest = rest.replace("once", "twice")
        broken.append(subgoal + "\n" + rest)
    result, scored = offline.run(str(built.out), "dual_grounded", "train", ReplayBackend(broken), progress=False)
    m = result["overall"]["metrics"]
    n = len(answers)
    with_points = sum(1 for i, t in enumerate(answers) if i % 4 == 0 and POINT_RE.search(t.split("\n")[0]))
    assert m["subgoal_exact"]["mean"] == pytest.approx(1 - with_points / n)
    assert m["format_valid"]["mean"] == pytest.approx(1 - len(range(0, n, 5)) / n)
    assert 0 < m["pixel_error"]["mean"] < 5 and max(r["pixel_error"] or 0 for r in scored) == pytest.approx(5.0)
    assert m["count_faithful"]["mean"] < 1.0
    assert m["boundary_precision"]["mean"] < 1.0  # a moved point reads as a subgoal change
    low, high = m["subgoal_exact"]["ci95"]
    assert low <= m["subgoal_exact"]["mean"] <= high


def test_counts_read_words_and_digits_but_not_coordinates():
    assert offline.counts("I picked up the cube <12, 40> twice and placed it 3 times.") == [2, 3]
    assert offline.pixel_error("at <10, 10>", "at <13, 14>") == 5.0
    assert offline.pixel_error("no point", "at <1, 1>") == float("inf") and offline.pixel_error("x", "y") is None


def test_answers_without_their_memory_are_wrong_on_every_memory_metric(built):
    stripped = [re.sub(r"\n?<mem>.*?</mem>", "", t, flags=re.S) for t in targets(built, "dual_grounded")]
    result, scored = offline.run(str(built.out), "dual_grounded", "train", ReplayBackend(stripped), progress=False)
    overall = result["overall"]["metrics"]
    assert overall["format_valid"]["mean"] == 0.0 and overall["subgoal_exact"]["mean"] == 1.0
    assert overall["memory_update_agreement"]["mean"] == 0.0 and overall["count_faithful"]["mean"] == 0.0


def test_the_baselines_are_scored_on_their_subgoals(built):
    ds = offline.load_rows(str(built.out), "baseline_grounded", "train", None, None)
    result, _ = offline.score_split(
        ds, "baseline_grounded", ReplayBackend([offline.baseline_target(r) for r in ds]), progress=False
    )
    overall = result["overall"]["metrics"]
    assert (
        overall["subgoal_exact"]["mean"] == 1.0
        and overall["pixel_error"]["mean"] == 0.0
        and overall["pixel_error"]["n"] > 0
    )
    assert overall["memory_update_agreement"]["n"] == 0 and "<bbox>" not in offline.baseline_target(ds[0])
    assert (
        offline.main(["--dataset", str(built.out), "--config", "baseline_grounded", "--backend", "replay", "-q"]) == 0
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--split", "validation"], "has no split 'validation' (splits: train)"),
        (["--config", "traces"], "config 'traces' has no prompts to score"),
    ],
)
def test_what_cannot_be_scored_is_said_in_one_line(built, capsys, argv, message):
    assert offline.main(["--dataset", str(built.out), "--backend", "replay", "-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("offline.py: error: ")
        and message in err[-1]
        and not any("Traceback" in line for line in err)
    )


def test_help_shows_the_split_default(capsys):
    with pytest.raises(SystemExit):
        offline.main(["--help"])
    assert "(default: train)" in capsys.readouterr().out
