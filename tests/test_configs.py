"""The published configs as users load them: ``load_dataset`` from a build folder."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from datasets import load_dataset

from robomme_mem.configs import (
    ALL_CONFIGS,
    BASELINE_CONFIGS,
    HISTORY_CONFIGS,
    MEMORY_CONFIGS,
    TRACES,
)
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.labels.store.transfer import export_set, import_set
from robomme_mem.dataset.source import find_source_files
from robomme_mem.dataset.spec import load_spec, spec_path
from robomme_mem.prompts import INITIAL_MEMORY, INITIAL_SPATIAL

MEMORY_LINE = re.compile(r"<mem>(.*)</mem>")
SPATIAL_LINE = re.compile(r"<spatial_mem>(.*)</spatial_mem>")


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    """A fresh default build of the embedded sample (every config, rules labels)."""
    parent = tmp_path_factory.mktemp("build")
    result = build([sample_dir], parent / "robomme-mem", progress=False)
    return result


@pytest.fixture(scope="module")
def loaded(built, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf-cache")
    return {c: load_dataset(str(built.out), c, cache_dir=str(cache)) for c in ALL_CONFIGS}


def by_episode(rows):
    out = defaultdict(list)
    for row in rows:
        out[(row["task"], row["episode"])].append(row)
    return out


def test_every_config_loads_with_the_manifests_counts_and_images_decode(built, loaded, monkeypatch):
    manifest = built.manifest
    assert set(manifest["configs"]) == set(ALL_CONFIGS)
    for config, ds in loaded.items():
        expected = {split: n for split, n in manifest["configs"][config].items() if n}
        assert {split: ds[split].num_rows for split in ds} == expected, config
        first = ds["train"][0]
        if config == TRACES:
            assert first["calls"] and first["boundaries"]
            continue
        assert first["images"][0].size == (256, 256)
        assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    # load_dataset("robomme-mem", config) from the parent folder, as the build prints
    monkeypatch.chdir(built.out.parent)
    assert (
        load_dataset("robomme-mem", "dual_grounded", cache_dir=str(built.out.parent / "cache"))["train"].num_rows
        == manifest["configs"]["dual_grounded"]["train"]
    )


def test_action_memory_changes_only_at_boundaries_and_is_carried_forward(loaded):
    for config in (*MEMORY_CONFIGS, *HISTORY_CONFIGS):
        for rows in by_episode(loaded[config]["train"]).values():
            assert rows[0]["memory_in"] == INITIAL_MEMORY
            for previous, row in zip(rows, rows[1:]):
                assert row["memory_in"] == previous["memory_out"]  # the input is the last call's target
                if row["segment"] == previous["segment"]:
                    assert row["memory_out"] == previous["memory_out"]  # constant inside a segment
            for row in rows:  # and the strings are what the prompt and target carry
                user, target = row["messages"][1]["content"], row["messages"][2]["content"]
                assert MEMORY_LINE.search(user).group(1) == row["memory_in"]
                assert MEMORY_LINE.search(target).group(1) == row["memory_out"]
                assert target.split("\n")[0] == row["subgoal"]


def test_spatial_chain_feeds_each_call_the_previous_output(loaded):
    for config in ALL_CONFIGS:
        if config in BASELINE_CONFIGS or config == TRACES:
            continue
        dual = config.startswith("dual")
        for rows in by_episode(loaded[config]["train"]).values():
            if not dual:
                assert all(r["spatial_in"] is None and "<spatial_mem>" not in r["messages"][2]["content"] for r in rows)
                continue
            assert rows[0]["spatial_in"] == INITIAL_SPATIAL
            for previous, row in zip(rows, rows[1:]):
                assert row["spatial_in"] == previous["spatial_out"]
            for row in rows:
                assert SPATIAL_LINE.search(row["messages"][1]["content"]).group(1) == row["spatial_in"]
                assert SPATIAL_LINE.search(row["messages"][2]["content"]).group(1) == row["spatial_out"]


def test_memory_only_prompts_stay_flat_while_history_prompts_grow(scripted_file, tmp_path):
    # a long episode: 40 subgoals of 16 steps, each placing another cube at its own point
    simple = [f"place cube {i // 16} in the bin" for i in range(40 * 16)]
    grounded = [f"place cube {i // 16} in the bin at <{i // 16 + 10}, 99>" for i in range(40 * 16)]
    source = scripted_file("BinFill", goals=["put forty cubes into the bin"], simple=simple, grounded=grounded)
    configs = (*MEMORY_CONFIGS, *HISTORY_CONFIGS)
    result = build([source], tmp_path / "long", BuildOptions(configs=configs), progress=False)
    for variant in MEMORY_CONFIGS:
        flat, growing = (
            [
                len(json.loads(line)["messages"][1]["content"])
                for line in (result.out / "swift" / c / "train.jsonl").read_text().splitlines()
            ]
            for c in (variant, f"{variant}_history")
        )
        assert len(flat) == len(growing) >= 40
        assert all(b >= a for a, b in zip(growing, growing[1:]))  # the history line never shrinks
        assert growing[-1] - growing[1] > 1000  # and grows with every subgoal (~30 characters each)
        assert max(flat) - flat[1] < 0.5 * (growing[-1] - growing[1])  # memory-only: bounded by the word limits
        assert max(flat[20:]) <= max(flat[:21]) + 40  # the second half is no longer than the first


def test_traces_hold_the_whole_chain(built, loaded):
    traces = {(t["task"], t["episode"]): t for t in loaded[TRACES]["train"]}
    rows = by_episode(loaded["dual_grounded"]["train"])
    assert set(traces) == set(rows)
    for key, trace in traces.items():
        assert [c["step"] for c in trace["calls"]] == [r["frame"] for r in rows[key]]
        assert [c["spatial"] for c in trace["calls"]] == [r["spatial_out"] for r in rows[key]]
        assert trace["label_set"] == "rules" and trace["label_set_id"] == built.manifest["labels"]["id"]
        assert all(len(c["request"]) == 64 for c in trace["calls"])
        memories = {b["segment"]: b["memory_grounded"] for b in trace["boundaries"]}
        assert all(r["memory_out"] == memories[r["segment"]] for r in rows[key])


def test_jsonl_mirrors_the_parquet_rows(built, loaded):
    for config in (*MEMORY_CONFIGS, *BASELINE_CONFIGS):
        lines = [json.loads(x) for x in (built.out / "swift" / config / "train.jsonl").read_text().splitlines()]
        parquet = loaded[config]["train"]
        assert len(lines) == parquet.num_rows
        assert lines[3]["messages"] == parquet[3]["messages"]
        assert (built.out / lines[3]["images"][0]).is_file()
    assert not (built.out / "swift" / "simple" / "validation.jsonl").exists()  # empty split: no file


def test_the_card_maps_every_config_to_its_shards(built):
    card = (built.out / "README.md").read_text()
    header = card.split("---")[1]
    for config in ALL_CONFIGS:
        assert f"- config_name: {config}\n" in header
    assert "swift/" not in header  # the JSONL is not a config: datasets takes one format per config
    assert "default: true" in header.split("config_name: dual_grounded")[1].split("config_name")[0]
    assert built.manifest["labels"]["id"][:16] in card and built.manifest["spec"]["sha256"] in card


def test_a_rebuild_is_byte_identical_and_a_changed_spec_or_label_set_shows(built, sample_dir, tmp_path):
    again = build([sample_dir], tmp_path / "robomme-mem", BuildOptions(workers=1), progress=False)
    files = sorted(p.relative_to(built.out) for p in built.out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.out) for p in again.out.rglob("*") if p.is_file())
    for path in files:
        if path == Path("README.md"):  # the card names its folder, the one thing that differs
            assert (built.out / path).read_text().replace(str(built.out), "OUT") == (
                again.out / path
            ).read_text().replace(str(again.out), "OUT")
            continue
        assert (built.out / path).read_bytes() == (again.out / path).read_bytes(), path

    text = (
        spec_path().read_text().replace("seed = 0\nvalidation_fraction = 0.05", "seed = 1\nvalidation_fraction = 0.5")
    )
    (tmp_path / "other.toml").write_text(text)
    other = build(
        [sample_dir],
        tmp_path / "other",
        BuildOptions(spec=load_spec(tmp_path / "other.toml"), configs=("simple", TRACES)),
        progress=False,
    )
    assert other.manifest["spec"]["sha256"] != built.manifest["spec"]["sha256"]
    assert other.manifest["configs"]["simple"]["validation"] > 0
    held = {(e["task"], e["episode"]) for e in other.manifest["episodes"] if e["split"] == "validation"}
    assert len(held) == 16  # round(0.5 x 3), half up: 2 of each task's three episodes, whole episodes only
    ds = load_dataset(str(other.out), "simple", cache_dir=str(tmp_path / "cache"))
    assert {(r["task"], r["episode"]) for r in ds["validation"]} == held
    assert not held & {(r["task"], r["episode"]) for r in ds["train"]}


def test_a_rebuilt_folder_loads_its_new_rows_not_the_cached_ones(sample_dir, tmp_path):
    """``datasets`` caches a local folder by its YAML configs; the card's fingerprints keep it honest."""
    out, cache = tmp_path / "robomme-mem", str(tmp_path / "cache")
    build([sample_dir], out, BuildOptions(tasks=("BinFill",), configs=("simple",)), progress=False)
    assert {r["task"] for r in load_dataset(str(out), "simple", cache_dir=cache)["train"]} == {"BinFill"}
    build([sample_dir], out, BuildOptions(tasks=("PickXtimes",), configs=("simple",)), progress=False)
    assert {r["task"] for r in load_dataset(str(out), "simple", cache_dir=cache)["train"]} == {"PickXtimes"}


def test_a_split_file_overrides_the_seeded_split(sample_dir, tmp_path):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": {"BinFill": [1], "StopCube": [0]}}))
    result = build(
        [sample_dir], tmp_path / "out", BuildOptions(configs=("grounded",), split_file=str(split)), progress=False
    )
    held = {(e["task"], e["episode"]) for e in result.manifest["episodes"] if e["split"] == "validation"}
    assert held == {("BinFill", 1), ("StopCube", 0)}
    assert result.manifest["options"]["split_file"]["file"] == "split.json"
    split.write_text(json.dumps({"validation": {"BinFill": [9]}}))
    with pytest.raises(ValueError, match="held-out episodes not in the source: BinFill 9"):
        build(
            [sample_dir], tmp_path / "bad", BuildOptions(configs=("grounded",), split_file=str(split)), progress=False
        )
    assert not (tmp_path / "bad").exists()


def test_bad_specs_are_refused_with_the_file_and_field(tmp_path):
    base = spec_path().read_text()
    for old, new, message in (
        ('"traces",\n]', '"traces", "nope",\n]', "configs.build: unknown configs"),
        ("fixed_cut = { PatternLock = 32 }", "fixed_cut = { PatternLock = 16 }", "segments.fixed_cut"),
        (
            'version = "1"                 # robomme_mem',
            'version = "2"                 # robomme_mem',
            "prompts.version",
        ),
    ):
        path = tmp_path / "bad.toml"
        path.write_text(base.replace(old, new))
        with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + re.escape(message)):
            load_spec(path)


def test_the_spec_drives_the_strides(sample_dir, tmp_path):
    text = spec_path().read_text().replace("stride = 16 ", "stride = 8  ")
    (tmp_path / "s8.toml").write_text(text)
    fine = build(
        [sample_dir],
        tmp_path / "s8",
        BuildOptions(spec=load_spec(tmp_path / "s8.toml"), configs=("simple",)),
        progress=False,
    )
    assert fine.manifest["totals"]["call_frames"] > 1.5 * 273
    assert Path(fine.manifest["spec"]["file"]).name == "s8.toml"


def test_shards_rotate_under_the_size_limit_and_load_as_one_split(sample_dir, tmp_path):
    result = build(
        [sample_dir], tmp_path / "out", BuildOptions(configs=("grounded",), max_shard_bytes=50_000), progress=False
    )
    shards = result.manifest["data_files"]["grounded"]["train"]
    assert len(shards) >= 3 and all(p.endswith(f"-of-{len(shards):05d}.parquet") for p in shards)
    assert [p.split("/")[-1][:11] for p in shards] == [f"train-{i:05d}" for i in range(len(shards))]
    ds = load_dataset(str(result.out), "grounded", cache_dir=str(tmp_path / "cache"))
    assert ds["train"].num_rows == result.manifest["configs"]["grounded"]["train"]
    assert [r["frame"] for r in ds["train"]][:5] == [r["frame"] for r in ds["train"].select(range(5))]


def test_another_label_set_is_a_new_build_and_nothing_else(sample_dir, tmp_path, built):
    files = find_source_files([sample_dir])
    store = LabelCache(tmp_path / "labels.sqlite")
    label_source(files, RulesLabeller(), store=store, name="rules-copy", progress=False)
    same = build(
        [sample_dir],
        tmp_path / "same",
        BuildOptions(configs=("grounded",), labels="rules-copy", label_store=str(store.path)),
        progress=False,
    )
    assert same.manifest["labels"]["id"] == built.manifest["labels"]["id"]  # same answers, same id

    # another labeller's answers arrive as a label set file: here, the same set with one memory rewritten
    export_set(store, "rules-copy", tmp_path / "set.jsonl")
    header, *rows = (json.loads(line) for line in (tmp_path / "set.jsonl").read_text().splitlines())
    key = next(r["key"] for r in rows if r["kind"] == "action" and r["style"] == "grounded" and r["item"] == 1)
    for row in rows:
        if row["key"] == key:
            row["text"] = "I relabelled this memory."
    (tmp_path / "other.jsonl").write_text("".join(json.dumps(x) + "\n" for x in (header, *rows)))
    other = LabelCache(tmp_path / "other.sqlite")
    import_set(other, tmp_path / "other.jsonl", name="other")
    relabelled = build(
        [sample_dir],
        tmp_path / "other",
        BuildOptions(configs=("grounded",), labels="other", label_store=str(other.path)),
        progress=False,
    )
    assert "I relabelled this memory." in (relabelled.out / "swift/grounded/train.jsonl").read_text()
    assert relabelled.manifest["labels"]["id"] != same.manifest["labels"]["id"]
    assert (
        relabelled.manifest["spec"] == same.manifest["spec"]
        and relabelled.manifest["sources"] == same.manifest["sources"]
    )


def test_the_card_and_manifest_of_the_sample_say_it_is_synthetic(built):
    card = (built.out / "README.md").read_text()
    assert built.manifest["origin"] == "synthetic" and all(s["synthetic"] for s in built.manifest["sources"])
    assert "# RoboMME-Mem 2.1.0 (synthetic sample)" in card and "**These rows are synthetic.**" in card
    assert "Rows are built from" not in card and "| synthetic |" in card
    assert "license: apache-2.0" in card.split("---")[1]


def test_the_cards_example_and_coordinates_come_from_the_build(built):
    card = (built.out / "README.md").read_text()
    example = built.manifest["example"]
    assert example["config"] == "dual_grounded" and f"```\n{example['answer']}\n```" in card
    rows = [
        json.loads(x)["messages"][-1]["content"]
        for x in (built.out / "swift/dual_grounded/train.jsonl").read_text().splitlines()
    ]
    assert example["answer"] in rows and "<spatial_mem>Visible: " in example["answer"]
    assert built.manifest["frames"]["sizes"] == [[256, 256]]
    assert "Coordinates `<y, x>` are pixels on the 256x256 front-camera image" in card


def test_a_video_tasks_first_call_sees_the_video_and_later_calls_do_not(built, loaded):
    """The demonstration is in no memory yet at the first call: that row carries the mp4 (as
    RoboMME's rows do) and the runtime's prompt for that call, ``<video>`` included."""
    from robomme_mem.prompts import VIDEO_PLACEHOLDER, policy_user_prompt

    for config in ("simple", "dual_grounded"):
        rows = [r for r in loaded[config]["train"] if r["task"] == "VideoUnmask"]
        first, *later = sorted((r for r in rows if r["episode"] == rows[0]["episode"]), key=lambda r: r["frame"])
        assert len(first["videos"]) == 1 and (built.out / first["videos"][0]).is_file()
        user = first["messages"][1]["content"]
        assert user.startswith(VIDEO_PLACEHOLDER)
        assert user == policy_user_prompt(
            config,
            user.split("The task goal is: ")[1].split("\n")[0],
            first["memory_in"],
            first["spatial_in"],
            video=True,
        )
        assert all(r["videos"] == [] and VIDEO_PLACEHOLDER not in r["messages"][1]["content"] for r in later)
    assert all(r["videos"] == [] for r in loaded["simple"]["train"] if r["task"] == "BinFill")
