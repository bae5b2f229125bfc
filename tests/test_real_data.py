"""Real RoboMME demonstrations (../shared/data/robomme-real): inspect and build work on every file,
and the baseline rows are exactly those of the reference procedure, field by field."""

import json

import numpy as np
import pytest
from PIL import Image

from robomme_mem.cli import main
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.source import SourceFile, find_source_files
from tests.helpers.reference import run_reference

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def built(real_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    out = build([real_dir], tmp / "ours", BuildOptions(), progress=False)
    simple, grounded = run_reference(real_dir, tmp / "reference")
    return out.out, simple, grounded


def test_inspect_every_file(real_dir, capsys):
    assert main(["inspect", str(real_dir)]) == 0
    out = capsys.readouterr().out
    for path in find_source_files([real_dir]):
        with SourceFile(path) as src:
            assert f"{path.name}: task {src.task}" in out
            for ep in map(src.episode, src.episode_indices):
                assert f"episode_{ep.index}: {ep.num_steps} steps, execution from step {ep.execution_start}" in out


def test_reader_sees_what_the_recorder_wrote(real_dir):
    with SourceFile(real_dir / "record_dataset_VideoUnmask.h5") as src:
        (ep,) = map(src.episode, src.episode_indices)
        assert (ep.index, ep.num_steps, ep.execution_start, ep.seed, ep.difficulty) == (8, 165, 66, 6800, "easy")
        assert ep.goal == "watch the video carefully, then pick up the container hiding the red cube"
        assert ep.simple_subgoal(0) == "static" and ep.simple_subgoal(164) == "All tasks completed"
        assert ep.grounded_subgoal(66) == "pick up the container at <100, 145> that hides the red cube"
        assert ep.front_image(66).shape == (256, 256, 3)
        assert (
            sum(map(ep.is_video_demo, range(ep.num_steps))) == 66 and ep.is_video_demo(65) and not ep.is_video_demo(66)
        )


def _by_episode(lines, key):
    groups = {}
    for row in map(json.loads, lines):
        name = row["images"][0].rsplit("/", 1)[1]
        task, ep, _ = name.split("_")
        groups.setdefault((task, ep), []).append(row)
    return groups


@pytest.mark.parametrize("config,ref_index", [("baseline_simple", 1), ("baseline_grounded", 2)])
def test_rows_equal_the_reference_procedure(built, config, ref_index):
    out, *ref = built
    ours = _by_episode((out / f"swift/{config}/train.jsonl").read_text().splitlines(), config)
    theirs = _by_episode(ref[ref_index - 1].read_text().splitlines(), config)
    assert ours.keys() == theirs.keys()
    total = 0
    for key in ours:
        assert len(ours[key]) == len(theirs[key]), key
        for a, b in zip(ours[key], theirs[key]):
            assert a["messages"] == b["messages"]
            assert [p.rsplit("/", 1)[1] for p in a["images"]] == [p.rsplit("/", 1)[1] for p in b["images"]]
            assert [p.rsplit("/", 1)[1] for p in a.get("videos", [])] == [
                p.rsplit("/", 1)[1] for p in b.get("videos", [])
            ]
            if "objects" in b:
                clean_a = np.array(a["objects"]["bbox"]).reshape(-1, 2)
                clean_b = np.array(b["objects"]["bbox"]).reshape(-1, 2)
                assert clean_a.shape == clean_b.shape and np.abs(clean_a - clean_b).max(initial=0) <= 3
            total += 1
    assert total == sum(1 for _ in (out / f"swift/{config}/train.jsonl").open())


def test_frames_are_the_recorded_pixels(built, real_dir):
    out, simple, _ = built
    row = json.loads((out / "swift/baseline_simple/train.jsonl").read_text().splitlines()[0])
    ours = np.asarray(Image.open(out / row["images"][0]))
    theirs = np.asarray(Image.open(simple.parent / "images" / row["images"][0].rsplit("/", 1)[1]))
    assert np.array_equal(ours, theirs)


def _zero_inside_frame(path, step: int) -> None:
    """Zero 64 bytes in the middle of one frame's compressed chunk, in place (the file's structure stays valid)."""
    import h5py

    with h5py.File(path, "r") as h5:
        (name,) = [k for k in h5 if k.startswith("episode_")]
        info = h5[f"{name}/timestep_{step}/obs/front_rgb"].id.get_chunk_info(0)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + info.size // 2)
        f.write(bytes(64))


@pytest.fixture
def damaged(real_dir, tmp_path):
    """A copy of the real VideoUnmask episode (steps 0-65 video demo, call frames 66, 82, ...)."""
    import shutil

    copy = tmp_path / "src" / "record_dataset_VideoUnmask.h5"
    copy.parent.mkdir()
    shutil.copy(real_dir / copy.name, copy)
    return copy


def test_inspect_decodes_the_frames_a_build_reads(damaged, tmp_path, capsys):
    _zero_inside_frame(damaged, 82)  # a call frame
    assert main(["inspect", "-q", str(damaged)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{damaged}: episode_8 timestep_82 obs/front_rgb: cannot read image data" in err
    assert (
        main(["build", "--source", str(damaged), "--out", str(tmp_path / "out"), "-q", "--workers", "1"]) == 1
    )  # what inspect foresaw


def test_inspect_all_frames_reaches_frames_no_build_reads(damaged, capsys):
    _zero_inside_frame(damaged, 90)  # between call frames 82 and 98
    assert main(["inspect", "-q", str(damaged)]) == 0
    assert "ok: 1 file(s)" in capsys.readouterr().out
    assert main(["inspect", "-q", "--all-frames", str(damaged)]) == 1
    assert "episode_8 timestep_90 obs/front_rgb: cannot read image data" in capsys.readouterr().err


def test_a_build_of_real_files_says_so_with_their_checksums(built):
    out = built[0]
    manifest = json.loads((out / "manifest.json").read_text())
    card = (out / "README.md").read_text()
    assert manifest["origin"] == "recorded" and not any(s["synthetic"] for s in manifest["sources"])
    assert "synthetic" not in card and "Rows are built from 4 [RoboMME]" in card
    assert all(
        f"| {s['file']} | {s['task']} | recorded | 1 | {s['bytes']} | `{s['read_xxh3_128']}` |" in card
        for s in manifest["sources"]
    )
    header = card.split("---")[1]
    assert (
        "license: other\nlicense_name: robomme\nlicense_link: https://github.com/RoboMME/robomme_benchmark\n" in header
    )
