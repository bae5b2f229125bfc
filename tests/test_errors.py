"""Bad input: one clear line naming file, episode, step and field; nothing left behind."""

import shutil

import h5py
import numpy as np
import pytest

from robomme_mem.cli import main

GOOD = dict(goals=["pick up the cube"], simple=["pick up the cube"] * 40 + ["All tasks completed"] * 2)


@pytest.fixture
def good(scripted_file):
    return scripted_file("BinFill", **GOOD)


def run_build(capsys, source, out):
    code = main(["build", "--source", str(source), "--out", str(out), "--quiet", "--workers", "1"])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_nothing_left(out):
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


def mutate(path, fn):
    with h5py.File(path, "a") as h5:
        fn(h5["episode_0"])


CASES = {
    "missing field": (
        lambda ep: ep.__delitem__("timestep_3/info/simple_subgoal"),
        ["episode_0", "timestep_3", "info/simple_subgoal", "missing field"],
    ),
    "missing setup group": (lambda ep: ep.__delitem__("setup"), ["episode_0", "setup/task_goal", "missing"]),
    "missing front image": (
        lambda ep: ep.__delitem__("timestep_0/obs/front_rgb"),
        ["episode_0", "timestep_0", "obs/front_rgb", "missing"],
    ),
    "image of wrong dtype": (
        lambda ep: (
            ep.__delitem__("timestep_0/obs/front_rgb"),
            ep.create_dataset("timestep_0/obs/front_rgb", data=np.zeros((256, 256, 3), np.float32)),
        ),
        ["timestep_0", "obs/front_rgb", "uint8 HxWx3", "float32"],
    ),
    "image of wrong shape": (
        lambda ep: (
            ep.__delitem__("timestep_20/obs/front_rgb"),
            ep.create_dataset("timestep_20/obs/front_rgb", data=np.zeros((256, 256), np.uint8)),
        ),
        ["timestep_20", "obs/front_rgb", "(256, 256)"],
    ),
    "empty episode": (
        lambda ep: [ep.__delitem__(k) for k in list(ep) if k.startswith("timestep_")],
        ["episode_0", "episode is empty"],
    ),
    "gap in timesteps": (
        lambda ep: ep.__delitem__("timestep_7"),
        ["episode_0", "not contiguous", "timestep_7 is missing"],
    ),
    "timesteps not from zero": (
        lambda ep: ep.__delitem__("timestep_0"),
        ["episode_0", "must start at timestep_0"],
    ),
    "undecodable subgoal": (
        lambda ep: (
            ep.__delitem__("timestep_5/info/simple_subgoal"),
            ep.create_dataset(
                "timestep_5/info/simple_subgoal", data=b"pick \xff\xfe cube", dtype=h5py.string_dtype("ascii")
            ),
        ),
        ["episode_0", "timestep_5", "info/simple_subgoal", "not valid UTF-8"],
    ),
    "flag of wrong type": (
        lambda ep: (
            ep.__delitem__("timestep_0/info/is_video_demo"),
            ep.create_dataset("timestep_0/info/is_video_demo", data=np.zeros(3, np.float32)),
        ),
        ["timestep_0", "info/is_video_demo", "boolean"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_field_gives_one_line_and_leaves_nothing(case, good, tmp_path, capsys):
    change, words = CASES[case]
    mutate(good, change)
    out = tmp_path / "out"
    code, err = run_build(capsys, good, out)
    assert code == 1
    assert "\n" not in err
    assert str(good) in err
    for word in words:
        assert word in err
    assert_nothing_left(out)


def test_missing_file(tmp_path, capsys):
    code, err = run_build(capsys, tmp_path / "record_dataset_BinFill.h5", tmp_path / "out")
    assert code == 1 and "record_dataset_BinFill.h5: file not found" in err


def test_not_hdf5(tmp_path, capsys):
    path = tmp_path / "record_dataset_BinFill.h5"
    path.write_text("this is not HDF5")
    code, err = run_build(capsys, path, tmp_path / "out")
    assert code == 1 and "not a readable HDF5 file" in err and str(path) in err
    assert_nothing_left(tmp_path / "out")


def test_truncated_file(good, tmp_path, capsys):
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    code, err = run_build(capsys, good, tmp_path / "out")
    assert code == 1 and str(good) in err
    assert "truncated" in err or "cannot read" in err
    assert_nothing_left(tmp_path / "out")


def test_unknown_task_name(good, tmp_path, capsys):
    renamed = good.with_name("record_dataset_Juggle.h5")
    shutil.move(good, renamed)
    code, err = run_build(capsys, renamed, tmp_path / "out")
    assert code == 1 and "cannot tell the task" in err and "BinFill" in err


def test_duplicate_episode_across_files(scripted_file, tmp_path, capsys):
    a = scripted_file("BinFill", folder=tmp_path / "a", **GOOD)
    b = scripted_file("BinFill", folder=tmp_path / "b", **GOOD)
    code, err = run_build(capsys, f"{a}", tmp_path / "out")
    assert code == 0
    code = main(["build", "--source", str(a), str(b), "--out", str(tmp_path / "out2"), "-q", "--workers", "1"])
    assert code == 1 and "episode numbers must be unique" in capsys.readouterr().err


def test_failed_rebuild_keeps_the_earlier_build(good, scripted_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_build(capsys, good, out)[0] == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    mutate(good, lambda ep: ep.__delitem__("timestep_3/info/simple_subgoal"))
    code, err = run_build(capsys, good, out)
    assert code == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_build(good, tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, err = run_build(capsys, good, out)
    assert code == 1 and "not a robomme-mem build" in err
    assert (out / "notes.txt").read_text() == "keep me"


def test_errors_survive_worker_processes(good, tmp_path, capsys):
    mutate(good, lambda ep: ep.__delitem__("timestep_3/info/simple_subgoal"))
    out = tmp_path / "out"
    code = main(["build", "--source", str(good), str(good.parent), "--out", str(out), "-q", "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "timestep_3 info/simple_subgoal: missing field" in err
    assert_nothing_left(out)


def test_inspect_checks_every_frame_not_only_call_frames(good, capsys):
    mutate(
        good,
        lambda ep: (
            ep.__delitem__("timestep_7/obs/front_rgb"),
            ep.create_dataset("timestep_7/obs/front_rgb", data=np.zeros((4, 4, 3), np.int64)),
        ),
    )
    assert main(["inspect", str(good)]) == 1
    assert (
        "episode_0 timestep_7 obs/front_rgb: expected a uint8 HxWx3 image, got int64 (4, 4, 3)"
        in capsys.readouterr().err
    )
