"""A label set's name is bound to what it holds: another source, labeller or selection never
overwrites it silently (``--replace`` does, and says what it replaced)."""

from __future__ import annotations

import argparse

import pytest

from robomme_mem.cli import _parser, main
from robomme_mem.dataset.labels.engine.session import Stats
from robomme_mem.dataset.labels.labellers.accounting import report
from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.labels.store.sets import sources_checksum

PICK, PLACE = "pick up the red cube", "place it on the target"
SUBGOALS = [PICK] * 20 + [PLACE] * 20 + ["press the button"] * 20


@pytest.fixture(autouse=True)
def no_user_store(tmp_path, monkeypatch):
    """Every command here names its --store; should one not, it still stays out of the user's store."""
    monkeypatch.setenv("ROBOMME_MEM_LABELS", str(tmp_path / "default.sqlite"))


@pytest.fixture
def other_source(scripted_file):
    """A PickXtimes file of the sample's name, with other episodes: "another source" as a user meets it."""
    return scripted_file(
        "PickXtimes", goals=["pick up the red cube and place it on the target, then press the button"], simple=SUBGOALS
    )


def snapshot(store_path, name):
    with LabelCache(store_path) as store:
        return store.set_meta(name), store.set_entries(name)


def test_another_source_under_a_taken_name_is_refused_and_replace_replaces_it_and_says_so(
    sample_dir, other_source, tmp_path, capsys
):
    store = str(tmp_path / "s.sqlite")
    sample = str(sample_dir / "record_dataset_PickXtimes.h5")
    assert main(["label", "--source", sample, "--store", store, "--name", "paid", "-q"]) == 0
    before = snapshot(store, "paid")
    capsys.readouterr()

    assert main(["label", "--source", str(other_source), "--store", store, "--name", "paid", "-q"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert (
        err.count("\n") == 0 and err.startswith("robomme-mem: error: ") and captured.out == ""
    )  # refused before labelling anything
    assert "label set 'paid' holds rules (rules-v4) answers for 1 synthetic file (record_dataset_PickXtimes.h5)" in err
    assert f"{before[0]['sources'][0]['episodes']} episodes in the set, 1 in this run" in err
    assert "--name paid-2" in err and "--replace" in err
    assert snapshot(store, "paid") == before  # the first set is untouched

    assert main(["label", "--source", str(other_source), "--store", store, "--name", "paid", "--replace", "-q"]) == 0
    out = capsys.readouterr().out
    replaced = [line for line in out.splitlines() if line.startswith("replaced ")]
    assert replaced == [
        f"replaced label set 'paid': rules (rules-v4) answers for 1 synthetic file (record_dataset_PickXtimes.h5), "
        f"{before[0]['sources'][0]['episodes']} episodes, checksum {sources_checksum(before[0]['sources'])}, "
        f"{before[0]['counts']['requests']} requests, id {before[0]['id'][:12]}"
    ]
    after = snapshot(store, "paid")
    assert after[0]["id"] != before[0]["id"] and after[0]["sources"][0]["episodes"] == 1


def test_the_same_selection_resumes_and_another_selection_of_the_same_files_is_refused(sample_dir, tmp_path, capsys):
    store = str(tmp_path / "s.sqlite")
    base = ["label", "--source", str(sample_dir), "--store", store, "--name", "mine", "-q", "--tasks"]
    common = [*base, "BinFill", "StopCube"]
    assert main([*common, "--max-episodes", "2"]) == 0
    before = snapshot(store, "mine")
    assert main([*common, "--max-episodes", "2"]) == 0  # the same run again: resumed from the store, nothing replaced
    out = capsys.readouterr().out
    assert "requests: 0 computed offline" in out and "replaced" not in out
    assert snapshot(store, "mine") == before

    assert main([*common, "--max-episodes", "1"]) == 1  # narrower
    err = capsys.readouterr().err
    assert (
        "sources (record_dataset_BinFill.h5: 2 episodes in the set, 1 in this run; record_dataset_StopCube.h5: 2 episodes in the set, 1 in this run)"
        in err
    )
    assert main([*base, "StopCube", "--max-episodes", "2"]) == 1  # a subset of the files
    assert "1 file only in the set (record_dataset_BinFill.h5)" in capsys.readouterr().err
    assert main([*common, "PickXtimes", "--max-episodes", "2"]) == 1  # wider
    assert "1 file only in this run (record_dataset_PickXtimes.h5)" in capsys.readouterr().err
    assert main([*common, "--max-episodes", "2", "--no-spatial"]) == 1
    assert "spatial memories (in the set, not in this run)" in capsys.readouterr().err
    assert snapshot(store, "mine") == before

    assert main([*common, "--max-episodes", "2", "--replace"]) == 0  # the same set, replaced on purpose
    assert (
        "replaced label set 'mine': rules (rules-v4) answers for 2 synthetic files (record_dataset_BinFill.h5, record_dataset_StopCube.h5), 4 episodes"
        in capsys.readouterr().out
    )
    assert snapshot(store, "mine") == before


def test_the_library_refuses_as_the_command_does_and_reports_what_it_replaced(sample_dir, tmp_path):
    files = [sample_dir / "record_dataset_StopCube.h5"]
    with LabelCache(tmp_path / "s.sqlite") as store:
        first = label_source(files, RulesLabeller(), store=store, name="r", max_episodes=2, progress=False)
        assert first.replaced is None
        with pytest.raises(
            ValueError,
            match=r"label set 'r' holds .* they differ in sources \(record_dataset_StopCube.h5: 2 episodes in the set, 3 in this run\)",
        ):
            label_source(files, RulesLabeller(), store=store, name="r", progress=False)
        assert store.set_meta("r") == first.meta
        second = label_source(files, RulesLabeller(), store=store, name="r", replace=True, progress=False)
        assert second.replaced == first.meta and store.set_meta("r") == second.meta


def test_an_import_over_a_set_of_other_answers_is_refused_unless_replace(sample_dir, other_source, tmp_path, capsys):
    store, elsewhere = str(tmp_path / "s.sqlite"), str(tmp_path / "other.sqlite")
    assert (
        main(
            [
                "label",
                "--source",
                str(sample_dir / "record_dataset_PickXtimes.h5"),
                "--store",
                store,
                "--name",
                "paid",
                "-q",
            ]
        )
        == 0
    )
    assert main(["label", "--source", str(other_source), "--store", elsewhere, "--name", "paid", "-q"]) == 0
    assert main(["labels", "export", "paid", str(tmp_path / "theirs.jsonl"), "--store", elsewhere]) == 0
    assert main(["labels", "export", "paid", str(tmp_path / "ours.jsonl"), "--store", store]) == 0
    before = snapshot(store, "paid")
    capsys.readouterr()
    assert main(["labels", "import", str(tmp_path / "ours.jsonl"), "--store", store]) == 0  # the same set again: fine
    assert "replaced" not in capsys.readouterr().out
    assert main(["labels", "import", str(tmp_path / "theirs.jsonl"), "--store", store]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a label set 'paid' with other answers" in err
    assert "--name paid-2" in err and "--replace" in err and "nothing imported" in err
    assert snapshot(store, "paid") == before
    assert main(["labels", "import", str(tmp_path / "theirs.jsonl"), "--store", store, "--replace"]) == 0
    out = capsys.readouterr().out
    assert (
        "replaced label set 'paid': rules (rules-v4) answers for 1 synthetic file (record_dataset_PickXtimes.h5)" in out
    )
    assert f"id {before[0]['id'][:12]}" in out and snapshot(store, "paid")[0]["id"] != before[0]["id"]


def test_an_offline_labeller_reports_what_it_computed_not_what_it_sent():
    text = report(Stats(sent=81, asks=81, cached=3), None, offline=True)
    assert "requests: 81 computed offline, 3 served from cache" in text
    assert "sent" not in text and "tokens" not in text and "completions" not in text
    assert "cost: none (an offline labeller" in text
    online = report(Stats(sent=81, asks=82), None)
    assert "requests: 81 sent" in online and "completions asked: 82" in online


def test_every_argument_of_the_labels_actions_has_help():
    labels = next(
        a
        for a in _parser()._subparsers._group_actions[0].choices["labels"]._actions
        if isinstance(a, argparse._SubParsersAction)
    )
    assert set(labels.choices) >= {"list", "export", "import"}
    for action, parser in labels.choices.items():
        for argument in parser._actions:
            assert argument.help and argument.help != argparse.SUPPRESS, f"labels {action}: {argument.dest} has no help"
    assert "--replace" in labels.choices["import"].format_help()
