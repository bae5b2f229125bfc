"""The ``scene`` config: ``build --truth FILE`` writes one row per call frame with every object of
the episode's scene truth, loads with ``datasets``, and says in its card what every feature is."""

from __future__ import annotations

import json

import pytest

from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.checksum import file_checksum
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import find_source_files
from robomme_mem.dataset.truth.truth_file import TruthWriter

OBJECTS = {"cube_red_0": {"kind": "cube", "colour": "red"}, "bin_0": {"kind": "container", "colour": None}}


def truth_of(planned, *, checksum: str, call_frames=None) -> dict:
    """A truth record of a planned episode: the red cube covered by the container from step 16 on."""
    steps = range(planned.timeline.num_steps)
    frames = planned.timeline.call_frames if call_frames is None else call_frames
    rows = [
        {
            "step": s,
            "position": {"cube_red_0": [0.1, 0.0, 0.02], "bin_0": [0.1, 0.0, 0.05]},
            "pixel": {"cube_red_0": [120, 100], "bin_0": [118, 100]},
            "held": [],
            "under": {"cube_red_0": "bin_0"} if s >= 16 else {},
            "parked": [],
            "highlighted": [],
        }
        for s in steps
    ]
    calls = [
        {
            "step": s,
            "image_sha256": "-",
            "image_diff": {"mean": 0.5, "max": 40},
            "visible": {
                "cube_red_0": {"pixels": 0 if s >= 16 else 150, "centre": None if s >= 16 else [121, 101]},
                "bin_0": {"pixels": 400, "centre": [117, 100]},
            },
        }
        for s in frames
    ]
    return {
        "kind": "episode",
        "key": {
            "file": planned.file.name,
            "xxh3_128": checksum,
            "episode": planned.episode,
            "simulator": {"mani-skill": "3.0.1"},
        },
        "task": planned.task,
        "episode": planned.episode,
        "execution_start": planned.timeline.execution_start,
        "objects": OBJECTS,
        "steps": rows,
        "calls": calls,
        "events": [{"step": 16, "kind": "subgoal_done", "subgoal": "press the button", "targets": ["button_cap"]}],
    }


@pytest.fixture
def unmask(sample_dir):
    files = [p for p in find_source_files([sample_dir]) if p.name == "record_dataset_ButtonUnmask.h5"]
    return files, plan_source(files, max_episodes=2)


def write_truth(path, records):
    writer = TruthWriter(
        path, {"simulator": {"mani-skill": "3.0.1"}, "thresholds": {"max_mean_diff": 6.0, "max_point_px": 4.0}}
    )
    for record in records:
        writer.append(record)
    return path


def test_a_build_with_a_truth_writes_the_scene_config_loadable_with_datasets(unmask, tmp_path):
    from datasets import load_dataset

    files, (first, second) = unmask
    checksum = file_checksum(files[0])[0]
    truth = write_truth(
        tmp_path / "truth.jsonl", [truth_of(first, checksum=checksum)]
    )  # the second episode was never replayed
    result = build(
        files,
        tmp_path / "out",
        BuildOptions(configs=("simple",), max_episodes=2, truth=str(truth), workers=1),
        progress=False,
    )
    assert result.rows == {
        "simple": len(first.timeline.call_frames) + len(second.timeline.call_frames),
        "scene": len(first.timeline.call_frames),
    }
    assert result.manifest["scene"]["episodes_without_truth"] == [second.name]
    assert result.manifest["options"]["truth"]["file"] == "truth.jsonl"
    rows = load_dataset(str(tmp_path / "out"), "scene")["train"]
    row = rows[len([s for s in first.timeline.call_frames if s < 16])]  # the first call frame from step 16 on
    assert row["frame"] >= 16 and row["image"].size == (256, 256)
    cube = next(o for o in row["objects"] if o["name"] == "cube_red_0")
    assert cube == {
        "name": "cube_red_0",
        "kind": "cube",
        "colour": "red",
        "point": [120, 100],
        "mask_point": None,
        "visible_pixels": 0,
        "position": pytest.approx([0.1, 0.0, 0.02]),
        "in_scene": True,
        "hidden_by": "bin_0",
        "held": False,
        "inside": None,
        "highlighted": False,
    }
    first_row = rows[0]
    assert next(o for o in first_row["objects"] if o["name"] == "cube_red_0")["mask_point"] == [121, 101]
    assert [e["kind"] for r in rows for e in r["events"]] == [
        "subgoal_done"
    ]  # each event once, at the first call frame after it
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Scene truth" in card and "| `objects.hidden_by` | The container covering" in card and second.name in card


def test_a_truth_of_other_call_frames_is_refused_naming_the_episode(unmask, tmp_path):
    files, (first, _) = unmask
    shifted = [s + 1 for s in first.timeline.call_frames[1:]]
    truth = write_truth(
        tmp_path / "truth.jsonl", [truth_of(first, checksum=file_checksum(files[0])[0], call_frames=shifted)]
    )
    with pytest.raises(ValueError, match=rf"{first.name}: the truth has no call frame at step\(s\) \[0"):
        build(
            files,
            tmp_path / "out",
            BuildOptions(configs=("simple",), max_episodes=1, truth=str(truth), workers=1),
            progress=False,
        )
    assert not (tmp_path / "out").exists()


def test_a_truth_of_another_file_gives_no_scene_and_says_so(unmask, tmp_path):
    files, (first, _) = unmask
    truth = write_truth(tmp_path / "truth.jsonl", [truth_of(first, checksum="not-this-file")])
    with pytest.raises(
        ValueError, match="nothing to write for scene: the truth file holds none of the 1 episodes built .*checksum"
    ):
        build(
            files,
            tmp_path / "out",
            BuildOptions(configs=("simple",), max_episodes=1, truth=str(truth), workers=1),
            progress=False,
        )


def test_the_scene_config_cannot_be_asked_for_without_a_truth():
    with pytest.raises(ValueError, match="pass --truth FILE"):
        BuildOptions(configs=("scene",))


def test_every_scene_feature_has_its_sentence():
    from robomme_mem.dataset.assemble.schema import SCENE_DOCS, SCENE_FEATURES

    named = [
        *SCENE_FEATURES,
        *(f"objects.{k}" for k in SCENE_FEATURES["objects"]["feature"]),
        *(f"events.{k}" for k in SCENE_FEATURES["events"]["feature"]),
    ]
    assert sorted(named) == sorted(SCENE_DOCS)
    assert all(text.endswith(".") and len(text) > 10 for text in SCENE_DOCS.values())
    json.dumps(SCENE_DOCS)


def test_a_labelled_build_with_a_truth_audits_its_spatial_memories_against_it(unmask, tmp_path):
    files, (first, _) = unmask
    truth = write_truth(tmp_path / "truth.jsonl", [truth_of(first, checksum=file_checksum(files[0])[0])])
    result = build(
        files,
        tmp_path / "out",
        BuildOptions(configs=("dual_grounded",), max_episodes=1, truth=str(truth), workers=1),
        progress=False,
    )
    against = result.manifest["labels_audit_truth"]
    overall = against["scores"]["overall"]
    assert overall["precision"]["n"] > 0 and overall["recall_seen"]["n"] > 0 and against["without_truth"] == []
    card = (tmp_path / "out" / "README.md").read_text()
    assert (
        "against the scene truth (`robomme-mem audit --truth`" in card
        and "| overall |" in card.split("against the scene truth")[1]
    )
