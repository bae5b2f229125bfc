"""The scene truth on a real simulator without RoboMME: a stock ManiSkill episode recorded in
RoboMME's HDF5 layout (:mod:`tests.helpers.stock_truth`), with the cube's true pose kept aside,
is replayed by ``record_truth`` and must find that pose again; the truth captured while it was
recorded must equal the replay's; a recording whose actions were pushed off must be refused,
saying why."""

from __future__ import annotations

import json
import subprocess

import pytest

from robomme_mem.dataset.truth.truth_file import read_truth
from tests.helpers.sim import ENV, ROOT, SIM_PYTHON

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, simulator):
    out = tmp_path_factory.mktemp("stock-truth")
    done = subprocess.run(
        [SIM_PYTHON, str(ROOT / "tests" / "helpers" / "stock_truth.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_replay_finds_the_pose_and_grasp_kept_aside_at_every_step(replayed):
    out, said = replayed
    assert said["recorded"]["success"] and said["runs"]["faithful"] == {"kept": 1, "refused": []}
    (episode,) = read_truth(out / "truth.jsonl")["episodes"]
    kept = json.loads((out / "poses.json").read_text())["steps"]
    assert [r["step"] for r in episode["steps"]] == [p["step"] for p in kept]
    worst = max(
        abs(a - b) for row, pose in zip(episode["steps"], kept) for a, b in zip(row["position"]["cube"], pose["cube"])
    )
    assert worst < 1e-4  # metres: the positions are the recording's, to the truth's rounding
    assert [("cube" in row["held"]) for row in episode["steps"]] == [pose["grasped"] for pose in kept]
    assert sum(pose["grasped"] for pose in kept) > 20  # it was carried, so the comparison says something
    assert (
        max(call["image_diff"]["mean"] for call in episode["calls"]) < 0.05
    )  # row k is the scene after action k, as the recorder keeps it
    assert episode["status"] == episode["recorded_status"] == "success"
    from robomme_mem.dataset.source import SourceFile

    with SourceFile(next(out.glob("record_dataset_*.h5"))) as source:  # written by `robomme-mem record`'s writer
        assert source.episode(0).recording["recorder"] == "tests/helpers/stock_truth.py"
    first = episode["calls"][0]["visible"]["cube"]
    assert first["pixels"] > 50 and first["centre"] is not None  # the cube as the front camera saw it
    assert episode["steps"][0]["pixel"]["cube"] is not None


def test_a_replay_whose_actions_were_pushed_off_is_refused_and_says_why(replayed):
    out, said = replayed
    (problems,) = said["runs"]["perturbed"]["refused"]
    assert any(
        "ended 'ongoing', the recording 'success'" in p or "differs from the recorded one" in p for p in problems
    )
    document = read_truth(out / "perturbed" / "truth.jsonl")
    assert document["episodes"] == [] and [r["episode"] for r in document["refused"]] == [1]


@pytest.mark.parametrize("where", ["processes", "ray"])
def test_two_processes_or_a_ray_cluster_write_the_same_truth_into_one_file(replayed, where):
    out, said = replayed
    assert said["runs"][where]["kept"] == 1 and len(said["runs"][where]["refused"]) == 1
    (alone,) = read_truth(out / "truth.jsonl")["episodes"]
    (spread,) = read_truth(out / where / "truth.jsonl")["episodes"]
    assert {k: v for k, v in spread.items() if k != "seconds"} == {k: v for k, v in alone.items() if k != "seconds"}


def test_the_truth_captured_while_recording_is_the_replays(replayed):
    from robomme_mem.dataset.truth.agree import disagreements

    out, said = replayed
    assert said["recorded"]["captured"] == {"kept": ["PickXtimes:0"], "refused": []}
    captured = read_truth(out / "captured.jsonl")
    (mine,) = captured["episodes"]
    (theirs,) = read_truth(out / "truth.jsonl")["episodes"]
    assert (
        mine["key"] == theirs["key"]
    )  # the same file, checksum, episode and simulator: build and audit find it the same way
    assert disagreements(mine, theirs) == []
    assert [e["kind"] for e in mine["events"]] == [e["kind"] for e in theirs["events"]] and mine["calls"]
    assert captured["header"]["captured"].startswith("while recording")


def test_truths_that_differ_are_told_apart_field_by_field(replayed):
    from robomme_mem.dataset.truth.agree import disagreements

    out, _ = replayed
    (truth,) = read_truth(out / "truth.jsonl")["episodes"]
    moved = json.loads(json.dumps(truth))
    moved["steps"][5]["position"]["cube"][0] += 0.01
    moved["steps"][7]["held"] = ["cube"]
    moved["calls"][0]["visible"]["cube"]["pixels"] += 40  # past an edge pixel or two
    moved["events"] = moved["events"][1:]
    found = disagreements(moved, truth)
    assert any(f.startswith("steps: position differs at 1 of") and "(first at step 5)" in f for f in found)
    assert any(f.startswith("steps: held differs at 1 of") and "(first at step 7)" in f for f in found)
    assert any(f.startswith(f"calls: step {truth['calls'][0]['step']}: visible pixels") for f in found)
    assert any(f.startswith("events:") for f in found)
