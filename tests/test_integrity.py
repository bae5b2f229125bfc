"""Label set imports that cannot lie: keys are recomputed, edits and conflicts are refused, and a
refused import writes nothing."""

import json
from pathlib import Path

import pytest

from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import Answer, LabelCache
from robomme_mem.dataset.labels.store.transfer import export_set, import_set
from robomme_mem.dataset.source import find_source_files


@pytest.fixture
def exported(sample_dir, tmp_path) -> tuple[Path, list[dict]]:
    files = find_source_files([sample_dir / "record_dataset_BinFill.h5"])
    with LabelCache(tmp_path / "a.sqlite") as store:
        label_source(files, RulesLabeller(), store=store, name="rules-set", max_episodes=1, progress=False)
        path = tmp_path / "set.jsonl"
        export_set(store, "rules-set", path)
    lines = path.read_text().splitlines()
    return path, [json.loads(line) for line in lines]


def rewrite(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_clean_import_reports_every_row_and_resolves(exported, tmp_path):
    path, lines = exported
    with LabelCache(tmp_path / "b.sqlite") as store:
        name, rows = import_set(store, path)
        assert (name, rows) == ("rules-set", len(lines) - 1)
        assert all(store.get(line["key"]).text == line["text"] for line in lines[1:])
        assert import_set(store, path, name="again") == ("again", rows)  # the same answers again: fine


def test_a_row_filed_under_another_requests_key_is_refused(exported, tmp_path):
    path, lines = exported
    lines[3]["key"] = lines[4]["key"]  # answer of one request, served for another
    rewrite(path, lines)
    with LabelCache(tmp_path / "b.sqlite") as store:
        with pytest.raises(ValueError, match=r"row 4 \(BinFill episode 0.*is not the key of its request"):
            import_set(store, path)
        assert len(store) == 0 and store.set_names() == []


def test_an_answer_edited_by_hand_gets_a_new_set_id(exported, tmp_path):
    path, lines = exported
    original = lines[0]["label_set"]["id"]
    lines[2]["text"] = "I pressed the button nine times."
    rewrite(path, lines)
    with LabelCache(tmp_path / "b.sqlite") as store:
        import_set(store, path)
        meta = store.set_meta("rules-set")
        assert meta["id"] != original and meta["edited_from"] == original
        assert store.get(lines[2]["key"]).text == "I pressed the button nine times."


def test_an_import_that_contradicts_the_store_is_refused_and_the_store_is_unchanged(exported, tmp_path):
    path, lines = exported
    key = lines[1]["key"]
    with LabelCache(tmp_path / "b.sqlite") as store:
        store.put(key, Answer(status="ok", text="An earlier answer."))
        with pytest.raises(ValueError, match=rf"already holds a different answer for request {key[:16]}"):
            import_set(store, path)
        assert store.get(key).text == "An earlier answer." and len(store) == 1 and store.set_names() == []


def test_a_stored_failure_gives_way_to_an_imported_answer(exported, tmp_path):
    path, lines = exported
    key = lines[1]["key"]
    with LabelCache(tmp_path / "b.sqlite") as store:
        store.put(key, Answer(status="failed", error="timeout"))
        import_set(store, path)
        assert store.get(key).text == lines[1]["text"]
