"""``robomme-mem record`` without a simulator: which episodes, with which seeds and failures, and how they land on disk."""

from __future__ import annotations

import os
import shutil

import h5py
import pytest

from robomme_mem.dataset.record.jobs import episode_numbers, failure_for, plan_jobs
from robomme_mem.dataset.record.run import read_back
from robomme_mem.dataset.record.staged import (
    PROVENANCE_ATTR,
    merge_staged,
    provenance_of,
    recorded_episodes,
    same_kept_data,
    stage_episode,
    staged_file,
    task_file,
)
from robomme_mem.dataset.sample.generator import write_task_file
from robomme_mem.dataset.source import SourceFile

METADATA = {
    0: {"seed": 4000, "difficulty": "easy"},
    1: {"seed": 4100, "difficulty": "easy"},
    2: {"seed": 4203, "difficulty": "medium"},
}
"""BinFill's train metadata begins so (episode 2's seed was retried three times by RoboMME)."""


def test_episodes_are_numbers_and_ranges():
    assert episode_numbers("0-3,10,2") == [0, 1, 2, 3, 10]
    with pytest.raises(ValueError, match="runs backwards"):
        episode_numbers("5-1")
    with pytest.raises(ValueError, match="expected numbers and ranges"):
        episode_numbers("first")


def test_failures_follow_robommes_rule_unless_told_otherwise():
    assert [failure_for("auto", k) for k in range(8)] == ["z", "z", "z", "xy", "xy", "xy", None, None]
    assert failure_for("none", 0) is None and failure_for("mixed", 50) == "mixed" and failure_for("xy", 99) == "xy"


def test_listed_episodes_use_the_metadata_and_new_ones_its_pattern():
    listed, new = plan_jobs("BinFill", "train", [2, 102], METADATA, "auto")
    assert (listed.seeds, listed.difficulty, listed.failure, listed.listed) == ((4203,), "medium", "z", True)
    assert (
        new.seeds[:3] == (14200, 14201, 14202)
        and len(new.seeds) == 30
        and new.difficulty == "medium"
        and not new.listed
    )
    with pytest.raises(ValueError, match="--split 'dev'"):
        plan_jobs("BinFill", "dev", [0], METADATA, "auto")


@pytest.fixture
def raw(tmp_path):
    """A file as RoboMME's recorder leaves it: ``<Task>_ep<N>_seed<S>.h5`` holding ``episode_<N>``."""

    def make(task: str, episode: int):
        folder = tmp_path / "raw" / f"{task}_{episode}"
        path = write_task_file(folder, task, [episode])
        return path.rename(folder / f"{task}_ep{episode}_seed{episode * 100}.h5")

    return make


def test_a_staged_episode_holds_what_was_recorded_and_says_how(raw, tmp_path):
    recorded = raw("PickXtimes", 4)
    staged = stage_episode(
        recorded,
        staged_file(tmp_path / "out", "PickXtimes", 4),
        4,
        {"seed": 400, "injected_failure": {"mode": "xy"}},
        trim=True,
    )
    assert same_kept_data(recorded, staged, 4) > 100
    with h5py.File(staged, "r") as h5:
        assert provenance_of(h5["episode_4"]) == {"seed": 400, "injected_failure": {"mode": "xy"}}
        assert h5["episode_4/timestep_0/obs/front_rgb"].compression == "gzip"
    assert read_back(staged, 4)["completed"] is True
    assert recorded_episodes(tmp_path / "out", "PickXtimes") == {4}


def test_merging_keeps_what_the_file_held_and_a_cut_stage_is_not_done(raw, tmp_path):
    out = tmp_path / "out"
    for episode in (0, 1):
        stage_episode(raw("BinFill", episode), staged_file(out, "BinFill", episode), episode, {"episode": episode})
    assert merge_staged(out, ["BinFill"]) == {"record_dataset_BinFill.h5": 2}
    assert not (out / ".staged").exists()
    stage_episode(raw("BinFill", 5), staged_file(out, "BinFill", 5), 5, {"episode": 5})
    cut = staged_file(out, "BinFill", 6)
    cut.parent.mkdir(parents=True)
    shutil.copy(staged_file(out, "BinFill", 5), cut.with_name(cut.name + ".part"))  # a worker killed while writing
    assert recorded_episodes(out, "BinFill") == {0, 1, 5}
    merge_staged(out, ["BinFill"])
    with SourceFile(task_file(out, "BinFill")) as source:
        assert source.episode_indices == [0, 1, 5]
    with h5py.File(task_file(out, "BinFill"), "r") as h5:
        assert all(PROVENANCE_ATTR in h5[f"episode_{k}"].attrs for k in (0, 1, 5))


def test_at_scale_episodes_go_to_shards_that_a_build_reads_as_task_files(raw, tmp_path):
    from robomme_mem.cli import main
    from robomme_mem.dataset.record.staged import task_files

    out = tmp_path / "out"
    for episode in (0, 1, 2, 5):
        stage_episode(raw("BinFill", episode), staged_file(out, "BinFill", episode), episode, {"episode": episode})
    assert merge_staged(out, ["BinFill"], shard_episodes=2) == {
        "record_dataset_BinFill.shard-00000.h5": 2,
        "record_dataset_BinFill.shard-00001.h5": 1,
        "record_dataset_BinFill.shard-00002.h5": 1,
    }
    shard = task_file(out, "BinFill", 3, shard_episodes=2)
    before = shard.stat().st_mtime_ns
    stage_episode(raw("BinFill", 4), staged_file(out, "BinFill", 4), 4, {"episode": 4})
    assert merge_staged(out, ["BinFill"], shard_episodes=2) == {
        "record_dataset_BinFill.shard-00002.h5": 2
    }  # only the shard it adds to
    assert shard.stat().st_mtime_ns == before and recorded_episodes(out, "BinFill") == {0, 1, 2, 4, 5}
    assert [p.name for p in task_files(out, "BinFill")][0] == "record_dataset_BinFill.shard-00000.h5"
    build = tmp_path / "build"
    assert main(["build", "--source", str(out), "--configs", "simple", "--out", str(build), "-q"]) == 0
    import json

    assert json.loads((build / "manifest.json").read_text())["totals"]["episodes"] == 5


def test_the_command_pins_the_numerics_before_numpy_loads():
    """``record`` sets the BLAS kernel and thread counts in its own process: nothing the command line imports loads numpy first."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import sys, robomme_mem.cli; print('numpy' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "False", done.stderr


def test_pinning_keeps_what_the_user_set():
    from robomme_mem.dataset.record.jobs import pin_numerics

    environ = {"OMP_NUM_THREADS": "4"}
    pin_numerics(environ)
    assert environ["OMP_NUM_THREADS"] == "4" and environ["OPENBLAS_NUM_THREADS"] == "1"


FAILURE = {"mode": "xy", "subgoal_index": 2, "subgoal": "pick up the red cube for the second time", "executed": True}


def test_a_build_counts_the_injected_failures_and_traces_name_them(raw, tmp_path):
    import json

    from robomme_mem.cli import main

    out = tmp_path / "recorded"
    stage_episode(raw("PickXtimes", 3), staged_file(out, "PickXtimes", 3), 3, {"injected_failure": FAILURE})
    stage_episode(raw("PickXtimes", 7), staged_file(out, "PickXtimes", 7), 7, {"injected_failure": None})
    merge_staged(out, ["PickXtimes"])
    with SourceFile(task_file(out, "PickXtimes")) as source:
        assert source.episode(3).injected_failure == FAILURE and source.episode(7).injected_failure is None
    from robomme_mem.dataset.sample.generated_truth import write_sample_truth
    from robomme_mem.dataset.spec import load_spec

    truth = write_sample_truth(
        [task_file(out, "PickXtimes")], tmp_path / "truth.jsonl", load_spec()
    )  # the generator's own truth of these episodes
    build = tmp_path / "build"
    assert (
        main(
            [
                "build",
                "--source",
                str(out),
                "--configs",
                "simple",
                "traces",
                "--truth",
                str(truth),
                "--out",
                str(build),
                "-q",
            ]
        )
        == 0
    )
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["totals"]["injected_failures"] == 1 and manifest["sources"][0]["injected_failures"] == 1
    assert "1 of them hold a failed grasp injected while recording" in (build / "README.md").read_text()
    import pyarrow.parquet as pq

    traces = {
        r["episode"]: r["injected_failure"]
        for r in pq.read_table(next((build / "traces").glob("*.parquet"))).to_pylist()
    }
    assert json.loads(traces[3]) == FAILURE and traces[7] is None
    scene = pq.read_table(
        next((build / "data" / "scene").glob("train-*.parquet")), columns=["episode", "injected_failure"]
    ).to_pylist()
    assert {r["episode"]: r["injected_failure"] and json.loads(r["injected_failure"]) for r in scene} == {
        3: FAILURE,
        7: None,
    }


def test_a_damaged_record_is_named_by_its_field(tmp_path):
    from robomme_mem.errors import SourceError

    path = write_task_file(tmp_path / "damaged", "BinFill", [0])
    with h5py.File(path, "a") as h5:
        h5["episode_0"].attrs[PROVENANCE_ATTR] = "{not json"
    with SourceFile(path) as source, pytest.raises(SourceError, match="@robomme_mem_record"):
        source.episode(0).injected_failure


def test_captured_truths_are_keyed_by_the_merged_file_as_a_replay_would_key_them(raw, tmp_path):
    import json

    from robomme_mem.dataset.checksum import file_checksum
    from robomme_mem.dataset.record.captured import save_capture, write_captured_truth
    from robomme_mem.dataset.sample.generated_truth import write_sample_truth
    from robomme_mem.dataset.spec import load_spec
    from robomme_mem.dataset.truth.truth_file import offsets_by_source, read_truth

    out = tmp_path / "recorded"
    for episode in (3, 7):
        stage_episode(
            raw("PickXtimes", episode), staged_file(out, "PickXtimes", episode), episode, {"injected_failure": None}
        )
    merge_staged(out, ["PickXtimes"])
    made = {
        r["episode"]: r
        for r in read_truth(write_sample_truth([task_file(out, "PickXtimes")], tmp_path / "drawn.jsonl", load_spec()))[
            "episodes"
        ]
    }
    captured = {
        k: v for k, v in made[3].items() if k not in ("kind", "key")
    }  # what a capture of episode 3 would have saved
    save_capture(out, "PickXtimes", 3, captured)
    simulator = {"robomme": "0.1.0", "mani-skill": "3.0.1"}
    first = write_captured_truth(out, ["PickXtimes"], out / "truth.jsonl", simulator)
    assert (first.kept, first.uncaptured, first.refused, first.added) == (["PickXtimes:3"], ["PickXtimes:7"], [], 1)
    (record,) = read_truth(out / "truth.jsonl")["episodes"]
    path = task_file(out, "PickXtimes")
    assert record["key"] == {
        "file": path.name,
        "xxh3_128": file_checksum(path)[0],
        "episode": 3,
        "simulator": simulator,
    }
    assert list(offsets_by_source([path], out / "truth.jsonl")) == [(str(path), 3)]  # how build and audit find it
    assert write_captured_truth(out, ["PickXtimes"], out / "truth.jsonl", simulator).added == 0  # a rerun adds nothing

    stage_episode(raw("PickXtimes", 9), staged_file(out, "PickXtimes", 9), 9, {"injected_failure": None})
    off = json.loads(json.dumps(captured))
    off["episode"] = 9
    off["grounded"] = [
        {
            "step": 0,
            "subgoal": "pick up the cube <1, 1>",
            "point": [1, 1],
            "target": "cube",
            "truth": [40, 40],
            "distance": 55.2,
        }
    ]
    save_capture(out, "PickXtimes", 9, off)
    merge_staged(out, ["PickXtimes"])  # the file changed: so did its checksum
    again = write_captured_truth(out, ["PickXtimes"], out / "truth.jsonl", simulator)
    assert (
        again.kept == ["PickXtimes:3"]
        and [r["episode"] for r in again.refused] == [9]
        and "55.2 px" in again.refused[0]["problems"][0]
    )
    assert list(offsets_by_source([path], out / "truth.jsonl")) == [
        (str(path), 3)
    ]  # the record of the new file, not the old one's


ROBOMME_PYTHON = os.environ.get("ROBOMME_MEM_ROBOMME_PYTHON")


@pytest.mark.slow
@pytest.mark.skipif(
    not ROBOMME_PYTHON,
    reason="RoboMME is not on PyPI: set ROBOMME_MEM_ROBOMME_PYTHON to an environment with RoboMME's benchmark and robomme-mem[sim] (evaluate/README.md)",
)
def test_robommes_recorder_makes_an_episode_whose_captured_truth_is_its_replays(tmp_path):
    """VideoUnmask's train episode 0: a video demonstration, then a failed grasp (z) before the real one."""
    import json
    import subprocess

    from robomme_mem.dataset.truth.agree import disagreements
    from robomme_mem.dataset.truth.truth_file import read_truth

    out = tmp_path / "recorded"
    run = [ROBOMME_PYTHON, "-m", "robomme_mem"]
    done = subprocess.run(
        [
            *run,
            "record",
            "--tasks",
            "VideoUnmask",
            "--episodes",
            "0",
            "--out",
            str(out),
            "--truth",
            str(out / "captured.jsonl"),
            "--trim",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "captured truth of 1 episodes" in done.stdout
    (line,) = [json.loads(x) for x in (out / "record-manifest.jsonl").read_text().splitlines()[1:]]
    assert line["injected_failure"]["executed"] and line["injected_failure"]["mode"] == "z"
    replayed = subprocess.run(
        [*run, "truth", "--source", str(out), "--out", str(tmp_path / "replayed.jsonl"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    (mine,) = read_truth(out / "captured.jsonl")["episodes"]
    (theirs,) = read_truth(tmp_path / "replayed.jsonl")["episodes"]
    assert mine["key"] == theirs["key"] and disagreements(mine, theirs) == []
    assert [e["kind"] for e in mine["events"]].count("failed_grasp") == 1  # the injected failure, found by the truth
    assert mine["demonstration"] and any(
        e["kind"] == "cover" and e.get("demo") for e in mine["events"]
    )  # what the video showed


def test_a_spec_can_hold_the_failed_grasps_out_as_their_own_split(raw, tmp_path):
    import datasets

    from robomme_mem.cli import main
    from robomme_mem.dataset.spec import spec_path

    out = tmp_path / "recorded"
    for episode, failure in ((3, FAILURE), (7, None), (8, None)):
        stage_episode(
            raw("PickXtimes", episode), staged_file(out, "PickXtimes", episode), episode, {"injected_failure": failure}
        )
    merge_staged(out, ["PickXtimes"])
    spec = tmp_path / "held-out.toml"
    text = spec_path().read_text().replace('name = "robomme-mem"', 'name = "robomme-mem-failures-apart"')
    spec.write_text(text.replace("[splits]\n", "[splits]\nhold_out_failures = true\n"))
    kept, apart = tmp_path / "kept", tmp_path / "apart"
    assert main(["build", "--source", str(out), "--configs", "simple", "traces", "--out", str(kept), "-q"]) == 0
    assert (
        main(
            [
                "build",
                "--source",
                str(out),
                "--configs",
                "simple",
                "traces",
                "--spec",
                str(spec),
                "--out",
                str(apart),
                "-q",
            ]
        )
        == 0
    )
    assert not list(kept.rglob("failures*"))  # by default: no such split, and no empty files for it
    loaded = datasets.load_dataset(str(apart), "simple")
    assert set(loaded) == {"train", "failures"} and set(loaded["failures"]["episode"]) == {
        3
    }  # validation: none of 3 episodes
    assert 3 not in set(loaded["train"]["episode"])
    assert (apart / "swift" / "simple" / "failures.jsonl").is_file()
    card = (apart / "README.md").read_text()
    assert "| train rows | validation rows | failures rows |" in card and "held out as the `failures` split" in card
    assert "failures rows" not in (kept / "README.md").read_text()
