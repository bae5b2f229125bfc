"""The embedded sample's own scene truth: written by the generator that draws it, read as a replay's is."""

from __future__ import annotations

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.checksum import file_checksum
from robomme_mem.dataset.sample.embedded import TRUTH_FILE
from robomme_mem.dataset.sample.generated_truth import episode_truth
from robomme_mem.dataset.source import SourceFile
from robomme_mem.dataset.truth.truth_file import read_truth


def test_the_sample_holds_a_truth_for_every_episode_keyed_by_its_file(sample_dir):
    truth = read_truth(sample_dir / TRUTH_FILE)
    held = {(r["key"]["xxh3_128"], r["key"]["episode"]) for r in truth["episodes"]}
    for path in sorted(sample_dir.glob("record_dataset_*.h5")):
        with SourceFile(path) as source:
            assert {(file_checksum(path)[0], e) for e in source.episode_indices} <= held, path.name
    assert not truth["refused"]


def test_what_the_truth_sees_is_what_the_frame_shows(sample_dir):
    """Each grounded subgoal's point is its target's drawn centre (a square's mean pixel is half a pixel off)."""
    truth = read_truth(sample_dir / TRUTH_FILE)
    checked = [g for r in truth["episodes"] for g in r["grounded"] if g["distance"] is not None]
    assert len(checked) > 50
    assert max(g["distance"] for g in checked) < 2.5


def test_a_cube_carried_to_the_bin_is_picked_then_placed_into_it():
    record = episode_truth("BinFill", 1, call_frames=[0], boundaries=[0])
    actions = [(e["kind"], e["object"], e.get("onto")) for e in record["events"] if e["kind"] in ("pick", "place")]
    assert actions == [("pick", "blue1", None), ("place", "blue1", "bin")]
    held = [row["held"] for row in record["steps"]]
    assert ["blue1"] in held and held[-1] == []


def test_the_video_shows_the_containers_covering_the_cubes():
    record = episode_truth("VideoUnmask", 0, call_frames=[], boundaries=[])
    covers = [e for e in record["events"] if e["kind"] == "cover"]
    assert len(covers) == 3 and all(e.get("demo") for e in covers)
    assert record["execution_start"] == len(record["demonstration"]) > 0


def test_pictures_need_a_truth_and_say_so_before_any_work(tmp_path, capsys):
    assert main(["audit", "--pictures", str(tmp_path / "pics")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--truth sample" in err
    assert not (tmp_path / "pics").exists()


def test_the_sample_truth_goes_with_the_sample_only(tmp_path, capsys):
    assert main(["audit", "--source", str(tmp_path), "--truth", "sample"]) == 1
    assert "--truth sample is the embedded sample's truth" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["BinFill"])
def test_the_audit_draws_the_sample_against_its_truth(sample_cache, tmp_path, monkeypatch, capsys, task):
    monkeypatch.setenv("ROBOMME_MEM_CACHE", str(sample_cache))
    pics = tmp_path / "pics"
    assert (
        main(["audit", "--truth", "sample", "--pictures", str(pics), "--tasks", task, "--max-episodes", "1", "-q"]) == 0
    )
    out = capsys.readouterr().out
    assert "against the scene truth (truth.jsonl" in out and "action memories against what happened" in out
    assert (pics / "index.html").is_file() and (pics / f"{task}_ep0.png").is_file()
