"""Scene truth: pixels of world points and masks by RoboMME's rules, the fidelity verdict, the truth
file, and (where RoboMME is installed) a real episode replayed in its simulator."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.source import SourceFile
from robomme_mem.dataset.truth.fidelity import Thresholds, problems
from robomme_mem.dataset.truth.geometry import image_difference, mask_centres, project
from robomme_mem.dataset.truth.truth_file import TruthWriter, key_of, read_truth

ROBOMME_PYTHON = os.environ.get("ROBOMME_MEM_ROBOMME_PYTHON")

# RoboMME's front camera: 256 x 256, focal length 128 px, principal point in the middle.
K = np.array([[128.0, 0, 128], [0, 128.0, 128], [0, 0, 1]])


def test_a_point_ahead_of_the_camera_lands_where_the_pinhole_puts_it():
    looking_down_z = np.hstack([np.eye(3), np.zeros((3, 1))])
    assert project([[0, 0, 1], [0.5, -0.25, 1], [0, 0, -1]], looking_down_z, K) == [(128, 128), (96, 192), None]


def test_a_mask_centre_is_the_integer_mean_of_its_rows_and_columns_as_robomme_computes_it():
    seg = np.zeros((8, 8), np.int32)
    seg[1:3, 2:5] = 7  # rows 1-2, cols 2-4: mean row 1.5, mean column 3
    seg[6, 6] = 9
    found = mask_centres(seg, {"cube": [7], "button": [9, 10], "bin": [11]})
    assert found == {
        "cube": {"pixels": 6, "centre": (1, 3)},
        "button": {"pixels": 1, "centre": (6, 6)},
        "bin": {"pixels": 0, "centre": None},
    }


def test_image_difference_is_mean_and_max_and_refuses_other_shapes():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    assert image_difference(a, b) == (255 / 48, 255)
    with pytest.raises(ValueError, match="differ in shape"):
        image_difference(a, np.zeros((4, 5, 3), np.uint8))


def truth(mean=1.0, distance=0.0, status="success"):
    return {
        "status": status,
        "recorded_status": "success",
        "calls": [
            {"step": 0, "image_diff": {"mean": 0.0, "max": 0}},
            {"step": 48, "image_diff": {"mean": mean, "max": 90}},
        ],
        "grounded": [
            {
                "step": 48,
                "subgoal": "pick up the cube at <86, 136>",
                "point": [86, 136],
                "target": "cube_red_1",
                "truth": [86, 136 + distance] if distance is not None else None,
                "distance": distance,
            }
        ],
    }


def test_a_faithful_replay_has_no_problems_and_each_kind_of_drift_is_named():
    assert problems(truth()) == []
    (frame,) = problems(truth(mean=9.5))
    assert "step 48" in frame and "9.50/255" in frame and "threshold 6.0" in frame
    (point,) = problems(truth(distance=7.0))
    assert "points at (86, 136)" in point and "7.0 px" in point
    (hidden,) = problems(truth(distance=None))
    assert "cube_red_1" in hidden and "not visible" in hidden
    (ending,) = problems(truth(status="fail"))
    assert "'fail'" in ending
    assert problems(truth(mean=9.5), Thresholds(max_mean_diff=10.0)) == []


def record(episode, kind="episode", **extra):
    return {
        "kind": kind,
        "key": {
            "file": "record_dataset_BinFill.h5",
            "xxh3_128": "ab",
            "episode": episode,
            "simulator": {"mani-skill": "3.0.1"},
        },
        "task": "BinFill",
        "episode": episode,
        **extra,
    }


def test_the_truth_file_is_appended_per_episode_and_read_back_by_key(tmp_path):
    path = tmp_path / "t" / "truth.jsonl"
    writer = TruthWriter(path, {"simulator": {"mani-skill": "3.0.1"}})
    writer.append(record(8))
    writer.append(record(9, kind="refused", problems=["drifted"]))
    writer.append(record(8, status="success"))  # the same key again: the last record wins
    read = read_truth(path)
    assert read["header"]["format"] == "robomme-mem-truth/2"
    assert [(e["episode"], e.get("status")) for e in read["episodes"]] == [(8, "success")]
    assert [r["problems"] for r in read["refused"]] == [["drifted"]]
    assert not list(path.parent.glob(".*partial"))


def test_a_rerun_knows_what_the_file_holds_and_a_line_cut_by_a_kill_is_dropped(tmp_path):
    path = tmp_path / "truth.jsonl"
    TruthWriter(path, {}).append(record(8))
    with open(path, "a") as fh:
        fh.write('{"kind": "episode", "key": {"file"')  # killed mid-write
    assert [e["episode"] for e in read_truth(path)["episodes"]] == [8]
    again = TruthWriter(path, {})
    assert again.done == {key_of(record(8))}
    again.append(record(9))
    assert [e["episode"] for e in read_truth(path)["episodes"]] == [8, 9]
    assert path.read_text().count("\n") == 3  # header, 8, 9: the cut line is gone


def test_a_whole_last_record_without_its_newline_is_kept_not_dropped(tmp_path):
    path = tmp_path / "truth.jsonl"
    TruthWriter(path, {}).append(record(8))
    path.write_text(path.read_text().rstrip("\n"))  # edited by hand: whole JSON, no newline
    again = TruthWriter(path, {})
    assert again.done == {key_of(record(8))}
    again.append(record(9))
    assert [e["episode"] for e in read_truth(path)["episodes"]] == [8, 9]  # 8 is counted done, so it must stay


def test_a_foreign_or_damaged_file_is_named_with_its_line(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}) + "\n")
    with pytest.raises(ValueError, match=r"other.json: format 'something-else'"):
        read_truth(other)
    damaged = tmp_path / "damaged.jsonl"
    TruthWriter(damaged, {}).append(record(8))
    damaged.write_text(damaged.read_text().replace('"kind"', "kind", 1) + json.dumps(record(9)) + "\n")
    with pytest.raises(ValueError, match=r"damaged.jsonl:2: not a truth record"):
        read_truth(damaged)


def test_without_the_simulator_the_command_says_what_is_missing_in_one_line(tmp_path, capsys):
    pytest.importorskip("h5py")
    try:
        import mani_skill  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ManiSkill is installed here")
    assert main(["truth", "--source", str(tmp_path), "--out", str(tmp_path / "truth.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0
        and "mani_skill and robomme are not installed" in err
        and "install with: pip install 'robomme-mem[sim]'" in err
    )
    assert not (tmp_path / "truth.jsonl").exists()


@pytest.mark.real_data
def test_the_recorded_camera_and_actions_are_read_and_checked(real_dir):
    with SourceFile(real_dir / "record_dataset_PickHighlight.h5") as src:
        (index,) = src.episode_indices
        ep = src.episode(index)
        assert ep.front_camera_intrinsic.tolist() == K.tolist()
        assert ep.front_camera_extrinsic(0).shape == (3, 4) and ep.joint_action(0).shape == (8,)
        assert ep.is_completed(ep.num_steps - 1) and not ep.is_completed(0)


def test_a_synthetic_source_is_refused_before_anything_is_replayed(sample_dir, tmp_path):
    from robomme_mem.dataset.source import find_source_files
    from robomme_mem.dataset.truth.replay_source import record_truth

    with pytest.raises(ValueError, match="synthetic episodes .* have no scene to replay"):
        record_truth(find_source_files([sample_dir])[:1], tmp_path / "truth.jsonl", progress=False)
    assert not (tmp_path / "truth.jsonl").exists()


@pytest.mark.real_data
@pytest.mark.skipif(
    not ROBOMME_PYTHON,
    reason="RoboMME is not on PyPI: set ROBOMME_MEM_ROBOMME_PYTHON to an environment with RoboMME's benchmark and robomme-mem[sim] (evaluate/README.md)",
)
def test_a_real_episode_replays_to_the_truth_robomme_grounded_it_with(real_dir, tmp_path):
    out = tmp_path / "truth.jsonl"
    done = subprocess.run(
        [
            ROBOMME_PYTHON,
            "-m",
            "robomme_mem",
            "truth",
            "--source",
            str(real_dir / "record_dataset_PickHighlight.h5"),
            "--out",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (episode,) = read_truth(out)["episodes"]
    assert episode["status"] == episode["recorded_status"] == "success"
    assert (
        max(c["image_diff"]["mean"] for c in episode["calls"]) < 0.05
    )  # row k is the scene after action k, as the recorder keeps it
    assert [g["distance"] for g in episode["grounded"]] == [0.0, 0.0]  # RoboMME's own points, found again
    assert [(e["subgoal"], e["targets"]) for e in episode["events"] if e["kind"] == "subgoal_done"] == [
        ("press the button", ["button_cap"]),
        ("pick up the highlighted cube, which is red", ["cube_red_1"]),
    ]
    assert episode["steps"][-1]["held"] == ["cube_red_1"]
    lights = [(e["kind"], e["object"], e["step"]) for e in episode["events"] if e["kind"].startswith("highlight")]
    assert lights == [
        ("highlight_shown", "cube_red_1", 10),
        ("highlight_gone", "cube_red_1", 101),
    ]  # timestep_k is the scene after env step k + 1
    first = episode["calls"][0]["visible"]
    assert first["button_cap"]["centre"] == [65, 113] and first["cube_red_1"]["centre"] == [106, 89]
    assert Path(out).stat().st_size < 1_000_000


@pytest.mark.real_data
@pytest.mark.skipif(
    not ROBOMME_PYTHON,
    reason="RoboMME is not on PyPI: set ROBOMME_MEM_ROBOMME_PYTHON to an environment with RoboMME's benchmark and robomme-mem[sim] (evaluate/README.md)",
)
def test_cubes_under_containers_and_cubes_gone_into_the_bin_are_in_the_truth(real_dir, tmp_path):
    out = tmp_path / "truth.jsonl"
    files = [str(real_dir / f"record_dataset_{t}.h5") for t in ("ButtonUnmask", "BinFill")]
    done = subprocess.run(
        [ROBOMME_PYTHON, "-m", "robomme_mem", "truth", "--source", *files, "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    by_task = {e["task"]: e for e in read_truth(out)["episodes"]}
    unmask = by_task["ButtonUnmask"]
    assert unmask["objects"]["bin_0"] == {"kind": "container", "colour": None} and unmask["objects"][
        "target_cube_red"
    ] == {"kind": "cube", "colour": "red"}
    pressed = next(e["step"] for e in unmask["events"] if e.get("subgoal") == "press the button")
    after_press = next(r for r in unmask["steps"] if r["step"] == pressed)
    assert (
        set(after_press["under"].values()) <= {f"bin_{i}" for i in range(5)} and len(after_press["under"]) == 3
    )  # every cube hidden
    assert unmask["steps"][-1]["held"] == [after_press["under"]["target_cube_red"]]  # the goal's container, lifted
    binfill = by_task["BinFill"]
    binned = [e for e in binfill["events"] if e["kind"] == "left_scene"]
    puts = [e["step"] for e in binfill["events"] if e.get("subgoal") == "put it into the bin"]
    assert len(binned) == len(puts) == 2 and all(abs(b["step"] - p) <= 5 for b, p in zip(binned, puts))
    again = subprocess.run(
        [ROBOMME_PYTHON, "-m", "robomme_mem", "truth", "--source", *files, "--out", str(out), "--workers", "2", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "2 already in the file" in again.stdout  # nothing replayed twice


# -- the truth labeller -----------------------------------------------------------------------

OBJECTS = {
    "cube_red_0": {"kind": "cube", "colour": "red"},
    "bin_0": {"kind": "container", "colour": None},
    "button_cap": {"kind": "button", "colour": None},
    "button_base": {"kind": "fixture", "colour": None},
    "cube_blue_1": {"kind": "cube", "colour": "blue"},
}


def call(step, **visible):
    return {
        "step": step,
        "image_sha256": f"frame{step}",
        "visible": {n: {"pixels": px, "centre": c} for n, (px, c) in visible.items()},
    }


def scene():
    """A red cube seen, covered by a container, then uncovered and carried; a blue cube never seen."""
    rows = [
        {"step": 0, "held": [], "under": {}, "parked": []},
        {"step": 16, "held": [], "under": {"cube_red_0": "bin_0"}, "parked": []},
        {"step": 32, "held": ["cube_red_0"], "under": {}, "parked": []},
    ]
    calls = [
        call(
            0,
            cube_red_0=(200, [80, 120]),
            button_cap=(90, [60, 100]),
            button_base=(150, [66, 100]),
            bin_0=(300, [40, 200]),
            cube_blue_1=(0, None),
        ),
        call(16, cube_red_0=(0, None), bin_0=(310, [78, 121]), button_cap=(90, [60, 100]), cube_blue_1=(5, [20, 20])),
        call(32, cube_red_0=(12, [70, 140]), bin_0=(310, [78, 121]), button_cap=(90, [60, 100])),
    ]
    return {
        "task": "ButtonUnmask",
        "episode": 0,
        "execution_start": 0,
        "objects": OBJECTS,
        "steps": rows,
        "calls": calls,
    }


def test_the_truth_memory_names_what_the_camera_saw_where_the_truth_has_it():
    from robomme_mem.dataset.labels.labellers.truth_labeller import spatial_memory

    first, covered, carried = (spatial_memory(scene(), i) for i in range(3))
    assert (
        first == "Visible: button <60, 100>, red cube <80, 120>, container <40, 200>."
    )  # no base, no blue cube (never seen)
    assert (
        covered
        == "Visible: button <60, 100>, container <78, 121>. Not in view: red cube hidden under the container at <78, 121>."
    )
    assert (
        carried == "Visible: button <60, 100>, container <78, 121>. Not in view: red cube held by the gripper."
    )  # 12 px: a sliver, not a sighting


def test_a_highlight_is_named_while_shown_and_remembered_once_gone():
    from robomme_mem.dataset.labels.labellers.truth_labeller import spatial_memory

    episode = scene()
    episode["steps"][0]["highlighted"] = ["cube_red_0"]
    assert spatial_memory(episode, 0).endswith("container <40, 200>, white area under the red cube <80, 120>.")
    assert "Not in view: white area under the red cube last seen at <80, 120>; red cube hidden" in spatial_memory(
        episode, 1
    )


def test_a_truth_label_set_is_made_from_a_truth_file_by_image_digest(sample_dir, tmp_path):
    from robomme_mem.dataset.checksum import image_sha256
    from robomme_mem.dataset.labels.labellers.truth_labeller import TruthLabeller
    from robomme_mem.dataset.labels.labelling import label_source
    from robomme_mem.dataset.labels.store.cache import LabelCache
    from robomme_mem.dataset.plan import plan_source
    from robomme_mem.dataset.source import find_source_files

    files = [p for p in find_source_files([sample_dir]) if p.name == "record_dataset_ButtonUnmask.h5"]
    (planned,) = plan_source(files, max_episodes=1)
    with SourceFile(planned.file) as src:
        ep = src.episode(planned.episode)
        calls = [
            {
                "step": s,
                "image_sha256": image_sha256(ep.front_image(s)),
                "visible": {"cube_red_0": {"pixels": 100, "centre": [s % 200, 50]}},
            }
            for s in planned.timeline.call_frames
        ]
    truth = {
        "kind": "episode",
        "key": {"episode": planned.episode},
        "task": planned.task,
        "episode": planned.episode,
        "execution_start": 0,
        "demonstration": [],
        "objects": {"cube_red_0": OBJECTS["cube_red_0"]},
        "calls": calls,
        "steps": [{"step": s, "held": [], "under": {}, "parked": []} for s in planned.timeline.call_frames],
    }
    path = tmp_path / "truth.jsonl"
    TruthWriter(path, {}).append(truth)
    with LabelCache(tmp_path / "labels.sqlite") as store:
        run = label_source(files, TruthLabeller(path), store=store, name="truth", max_episodes=1, progress=False)
    assert run.meta is not None and not run.problems
    (episode,) = run.episodes
    assert episode.spatial_memories() == [f"Visible: red cube <{s % 200}, 50>." for s in planned.timeline.call_frames]
    assert run.meta["labeller"] == "truth" and run.meta["params"]["model"].startswith("truth-v2@")


# -- events read off the positions ------------------------------------------------------------


def rows_of(tracks: dict[str, list[tuple[float, float]]]) -> list[dict]:
    steps = len(next(iter(tracks.values())))
    return [{"step": s, "position": {n: [*t[s], 0.02] for n, t in tracks.items()}} for s in range(steps)]


def test_a_cube_running_over_the_target_makes_one_pass_each_time_it_comes_over_it():
    from robomme_mem.dataset.truth.events import passes

    # StopCube's cube runs along a line through the target and back, then stops on it
    line = [(0.0, -0.3 + 0.01 * i) for i in range(61)] + [(0.0, 0.3 - 0.01 * i) for i in range(1, 31)]
    kinds = {"cube": {"kind": "cube", "colour": None}, "target": {"kind": "target", "colour": None}}
    found = passes(rows_of({"cube": line, "target": [(0.0, 0.0)] * len(line)}), kinds)
    assert [(e["count"], e["step"]) for e in found] == [
        (1, 27),
        (2, 87),
    ]  # in at 3 cm on the way out, again on the way back (and stays)
    assert (
        passes(rows_of({"cube": [(0.2, y) for _, y in line], "target": [(0.0, 0.0)] * len(line)}), kinds) == []
    )  # 20 cm aside: never over it


def test_two_containers_trading_places_are_a_swap_and_a_lift_put_back_is_not():
    from robomme_mem.dataset.truth.events import swaps

    def glide(a, b, n=20):
        return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]

    still = 5
    left, right, middle = (0.0, -0.1), (0.0, 0.1), (0.1, 0.0)
    a = [left] * still + glide(left, right) + [right] * still
    b = [right] * still + glide(right, left) + [left] * still
    c = (
        [middle] * still + [(middle[0], middle[1] + 0.003 * (i % 2)) for i in range(21)] + [middle] * still
    )  # jiggles, ends where it was
    kinds = {n: {"kind": "container", "colour": None} for n in ("bin_0", "bin_1", "bin_2")}
    (swap,) = swaps(rows_of({"bin_0": a, "bin_1": b, "bin_2": c}), kinds)
    assert swap == {"step": still + 20, "kind": "swap", "objects": ["bin_0", "bin_1"]}
    carried = [left] * still + glide(left, (0.3, 0.3)) + [(0.3, 0.3)] * still  # lifted out and away: no place is traded
    assert swaps(rows_of({"bin_0": carried, "bin_1": [right] * len(a), "bin_2": c}), kinds) == []


def test_back_to_back_swaps_are_two_even_when_one_container_never_rests_between_them():
    from robomme_mem.dataset.truth.events import swaps

    def glide(a, b, n=20):
        return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(1, n + 1)]

    p0, p1, p2 = (0.0, -0.15), (0.0, 0.0), (0.0, 0.15)
    # as in ButtonUnmaskSwap: bin_0 trades with bin_2 (steps 1-20), then at once with bin_1 (21-40)
    bin_0 = [p0] + glide(p0, p2) + glide(p2, p1)
    bin_1 = [p1] + [p1] * 20 + glide(p1, p2)
    bin_2 = [p2] + glide(p2, p0) + [p0] * 20
    kinds = {n: {"kind": "container", "colour": None} for n in ("bin_0", "bin_1", "bin_2")}
    found = swaps(rows_of({"bin_0": bin_0, "bin_1": bin_1, "bin_2": bin_2}), kinds)
    assert [(e["step"], e["objects"]) for e in found] == [
        (20, ["bin_0", "bin_2"]),
        (39, ["bin_0", "bin_1"]),
    ]  # 39: within 1 cm of the places


def test_passes_and_swaps_are_counted_in_the_truth_memory():
    from robomme_mem.dataset.labels.labellers.truth_labeller import spatial_memory

    episode = scene()
    episode["events"] = [
        {"step": 4, "kind": "pass", "object": "cube_red_0"},
        {"step": 20, "kind": "pass", "object": "cube_red_0"},
        {"step": 30, "kind": "swap", "objects": ["bin_0", "bin_1"]},
    ]
    assert "passed" not in spatial_memory(episode, 0)  # step 0: nothing has happened yet
    assert spatial_memory(episode, 1).endswith("The red cube has passed over the target once.")
    assert spatial_memory(episode, 2).endswith(
        "The red cube has passed over the target twice. Containers swapped places once."
    )


def test_objects_that_share_a_name_are_told_apart_by_their_articulation():
    from types import SimpleNamespace as Obj

    from robomme_mem.dataset.truth.witness import kind_of, task_objects

    left, right = Obj(name="button_left"), Obj(name="button_right")
    env = Obj(
        segmentation_id_map={
            1: Obj(name="panda_link0"),
            18: Obj(name="button_cap", articulation=left),
            19: Obj(name="button_base", articulation=left),
            20: Obj(name="button_cap", articulation=right),
            21: Obj(name="bin_0"),
            22: Obj(name="target_cube_red"),
        }
    )
    assert task_objects(env) == {
        "button_left.button_cap": [18],
        "button_base": [19],
        "button_right.button_cap": [20],
        "bin_0": [21],
        "target_cube_red": [22],
    }
    assert kind_of("button_left.button_cap") == {"kind": "button", "colour": None}
    assert kind_of("target_cube_red") == {"kind": "cube", "colour": "red"}
    assert (
        kind_of("temp_target_1") == kind_of("target") == kind_of("goal_site") == {"kind": "target", "colour": None}
    )  # SwingXtimes', MoveCube's
    assert kind_of("bin_1") == {"kind": "container", "colour": None} and kind_of("bin_1", "VideoRepick") == {
        "kind": "cube",
        "colour": None,
    }


def test_in_a_video_task_the_cubes_covered_when_execution_starts_count_as_seen():
    from robomme_mem.dataset.labels.labellers.truth_labeller import spatial_memory

    episode = scene()
    episode["execution_start"] = 10  # the demonstration video showed the blue cube before the container covered it
    episode["steps"][0]["under"] = {"cube_blue_1": "bin_0"}
    episode["calls"][0]["visible"]["cube_blue_1"] = {"pixels": 0, "centre": None}
    assert spatial_memory(episode, 0).endswith("Not in view: blue cube hidden under the container at <40, 200>.")
    assert "blue cube" not in spatial_memory(scene(), 0)  # without the video it was never seen


def _broken_env(planned, episode):
    raise RuntimeError(f"no simulator for {planned.task} here")


def test_an_episode_whose_replay_raises_is_refused_with_its_reason_and_the_run_goes_on(real_dir, tmp_path):
    from robomme_mem.dataset.truth.replay_source import record_truth

    files = sorted(real_dir.glob("record_dataset_*.h5"))[:2]
    run = record_truth(files, tmp_path / "truth.jsonl", open_env=_broken_env, progress=False)
    assert run.kept == [] and len(run.refused) == 2
    assert run.refused[0]["problems"] == [
        f"the replay failed: RuntimeError: no simulator for {run.refused[0]['task']} here"
    ]
    again = record_truth(files, tmp_path / "truth.jsonl", open_env=_broken_env, progress=False)
    assert again.skipped == 2  # kept as refused: a rerun does not replay them; --retry-refused does


def test_a_cube_whose_container_the_arm_hides_is_still_under_it_where_the_camera_last_saw_it():
    from robomme_mem.dataset.labels.labellers.truth_labeller import spatial_memory

    episode = scene()
    episode["steps"].append({"step": 48, "held": [], "under": {"cube_red_0": "bin_0"}, "parked": []})
    episode["calls"].append(
        call(48, cube_red_0=(0, None), bin_0=(0, None), button_cap=(90, [60, 100]))
    )  # the arm over both
    assert spatial_memory(episode, 3).endswith("red cube hidden under the container last seen at <78, 121>.")


def test_a_half_hidden_sighting_does_not_move_where_an_object_was_last_seen_unless_it_moved():
    from robomme_mem.dataset.truth.seen import seen_by

    episode = scene()
    episode["calls"][1]["visible"]["bin_0"] = {
        "pixels": 120,
        "centre": [70, 130],
    }  # the arm over most of it: its centre is off
    episode["calls"][2]["visible"]["bin_0"] = {"pixels": 0, "centre": None}
    assert seen_by(episode, 2).last["bin_0"] == (
        70,
        130,
    )  # far from <40, 200>: it moved, so the partial sighting counts
    episode["calls"][0]["visible"]["bin_0"] = {"pixels": 300, "centre": [78, 121]}
    assert seen_by(episode, 2).last["bin_0"] == (78, 121)  # 12 px off where it stood: the full sighting stands


def test_a_truth_recorded_before_it_held_what_the_robot_did_is_refused_not_read_as_nothing(tmp_path):
    from robomme_mem.dataset.labels.engine.requests import action_request, location
    from robomme_mem.dataset.labels.labellers.truth_labeller import TruthLabeller

    old = {
        "kind": "episode",
        "key": {"episode": 0},
        "task": "BinFill",
        "episode": 0,
        "seed": 7,
        "execution_start": 0,
        "objects": {},
        "steps": [],
        "events": [],
        "calls": [{"step": 0, "image_sha256": "x", "visible": {}}],
    }  # no "demonstration": an older truth
    path = tmp_path / "truth.jsonl"
    TruthWriter(path, {}).append(old)
    answer = TruthLabeller(path).answer_now(action_request("goal", (), "simple", location("BinFill", 0, 7, 40)))
    assert (
        answer.status == "failed"
        and "recorded before the truth recorded picks" in answer.error
        and "truth.jsonl" in answer.error
    )


def _truth_of(task_indices: list[int], done_at: list[int]) -> dict:
    """A small truth: one cube, a subgoal index per step, the env's completions at ``done_at``."""
    rows = [
        {
            "step": k,
            "task_index": t,
            "position": {"cube": [0.1, 0.0, 0.02]},
            "pixel": {"cube": [100, 120]},
            "held": [],
            "under": {},
            "parked": [],
            "gripper_closed": False,
            "tcp_pixel": [90, 110],
            "highlighted": [],
        }
        for k, t in enumerate(task_indices)
    ]
    events = [
        {"step": s, "kind": "subgoal_done", "subgoal": f"subgoal {i}", "targets": ["cube"]}
        for i, s in enumerate(done_at)
    ]
    events.append({"step": 2, "kind": "place", "object": "cube", "point": [100, 120]})
    return {
        "task": "PickXtimes",
        "episode": 0,
        "seed": 1,
        "difficulty": "easy",
        "execution_start": 0,
        "num_steps": len(rows),
        "objects": {"cube": {"kind": "cube", "colour": None}},
        "status": "success",
        "ended_at": 5,
        "recorded_status": "success",
        "steps": rows,
        "demonstration": [],
        "calls": [],
        "grounded": [],
        "events": events,
    }


def test_a_captured_completion_may_come_when_the_solver_is_done_but_never_past_the_next_one():
    from robomme_mem.dataset.truth.agree import disagreements

    replayed = _truth_of([0, 0, 1, 1, 1, 1], done_at=[2])  # the env's check passes at step 2
    captured = _truth_of([0, 0, 0, 0, 1, 1], done_at=[4])  # the recorder moves on when the solver has lifted the arm
    assert disagreements(captured, replayed) == []
    assert disagreements(_truth_of([0, 1, 1, 1, 1, 1], done_at=[1]), replayed) == []  # or a step before the check
    crossed = _truth_of([0, 0, 0, 0, 1, 2], done_at=[4, 5]), _truth_of([0, 0, 1, 1, 2, 2], done_at=[2, 3])
    assert "events: the subgoals completed differ, or a completion passes its neighbour's counterpart" in disagreements(
        *crossed
    )
    assert disagreements(_truth_of([0, 0, 0, 0, 0, 1], done_at=[4]), replayed) == [
        "steps: task_index differs at 1 of 6 steps (first at step 4)"
    ]
    moved = _truth_of([0, 0, 0, 0, 1, 1], done_at=[4])
    moved["steps"][3]["position"]["cube"][2] += 0.005  # 5 mm: not the same scene
    assert disagreements(moved, replayed) == ["steps: position differs at 1 of 6 steps (first at step 3)"]


def test_a_press_comes_with_its_completion_in_either_truth():
    from robomme_mem.dataset.truth.agree import disagreements

    def pressed(indices, at):
        truth = _truth_of(indices, done_at=[at])
        truth["events"][0]["subgoal"] = "press the button"
        truth["events"].append({"step": at, "kind": "press", "object": "cube", "point": [100, 120]})
        return truth

    assert disagreements(pressed([0, 0, 0, 0, 1, 1], 4), pressed([0, 0, 1, 1, 1, 1], 2)) == []
    late = pressed([0, 0, 0, 0, 1, 1], 4)
    late["events"][-1]["step"] = 5  # a press after its own completion: not what either truth writes
    assert disagreements(late, pressed([0, 0, 1, 1, 1, 1], 2)) == [
        "events: 2 against 2 in execution, or at other steps"
    ]


def test_a_truth_file_of_the_old_format_is_refused_saying_why(tmp_path):
    old = tmp_path / "truth.jsonl"
    old.write_text(json.dumps({"format": "robomme-mem-truth/1"}) + "\n")
    with pytest.raises(
        ValueError, match=r"older truth \(its rows lag one action behind the recorded frames\); write it again"
    ):
        read_truth(old)
