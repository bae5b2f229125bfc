"""One pass per episode: planned once, every frame read once, provenance from what was read,
labels planned with the build spec, and a command line that starts without the heavy imports."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.labels.labellers.rules import RulesLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import SourceFile, find_source_files
from robomme_mem.dataset.source import hdf5 as source_module
from robomme_mem.dataset.spec import load_spec, spec_path

ROOT = Path(__file__).resolve().parents[1]


def test_every_frame_is_read_once_and_planning_reads_none(tmp_path, sample_dir, monkeypatch):
    reads: list[tuple[str, int, int]] = []
    original = source_module.Episode.front_image

    def counting(self, step):
        reads.append((self.task, self.index, step))
        return original(self, step)

    monkeypatch.setattr(source_module.Episode, "front_image", counting)
    files = find_source_files([sample_dir])
    planned = plan_source(files)
    assert reads == []  # plans carry no pixels

    result = build(
        [sample_dir], tmp_path / "out", BuildOptions(workers=1), progress=False
    )  # every config, rules labels
    expected = sorted(
        (p.task, p.episode, step)
        for p in planned
        for step in (*range(p.timeline.execution_start), *p.timeline.call_frames)  # video demo + call frames
    )
    assert sorted(reads) == expected  # labelling took the frames the build had already read
    assert result.rows["dual_grounded"] == sum(len(p.timeline.call_frames) for p in planned)


def test_raw_chunk_reads_give_hdf5s_pixels(sample_dir, monkeypatch):
    path = find_source_files([sample_dir])[0]
    with SourceFile(path) as src, h5py.File(path, "r", locking=False) as h5:
        ep = src.episode(src.episode_indices[0])
        fast = [ep.front_image(k) for k in range(0, ep.num_steps, 37)]
        monkeypatch.setattr(source_module, "isal_zlib", None)
        slow = [ep.front_image(k) for k in range(0, ep.num_steps, 37)]
        stock = [h5[f"episode_{ep.index}/timestep_{k}/obs/front_rgb"][()] for k in range(0, ep.num_steps, 37)]
    for a, b, c in zip(fast, slow, stock):
        assert np.array_equal(a, c) and np.array_equal(b, c)


def _copy_source(sample_dir: Path, dest: Path, task: str) -> Path:
    dest.mkdir()
    return Path(shutil.copy(sample_dir / f"record_dataset_{task}.h5", dest))


def test_a_changed_source_changes_the_manifest_and_an_unread_field_does_not_cost_a_hash(tmp_path, sample_dir):
    path = _copy_source(sample_dir, tmp_path / "src", "BinFill")
    options = BuildOptions(configs=("baseline_simple",), workers=1)
    first = build([path], tmp_path / "a", options, progress=False).manifest["sources"][0]
    again = build([path], tmp_path / "b", options, progress=False).manifest["sources"][0]
    assert first == again and len(first["read_xxh3_128"]) == 32 and first["bytes"] == path.stat().st_size

    plan = plan_source([path])[0]
    step = plan.timeline.call_frames[3]
    with h5py.File(path, "r+") as h5:  # one pixel of one call frame
        image = h5[f"episode_{plan.episode}/timestep_{step}/obs/front_rgb"]
        pixels = image[()]
        pixels[0, 0, 0] ^= 1
        image[...] = pixels
    pixel = build([path], tmp_path / "c", options, progress=False).manifest["sources"][0]
    assert pixel["read_xxh3_128"] != first["read_xxh3_128"]

    with h5py.File(path, "r+") as h5:  # one subgoal string of a step that is no call frame
        quiet = next(k for k in range(plan.timeline.num_steps) if k not in plan.subgoals)
        text = h5[f"episode_{plan.episode}/timestep_{quiet}/info/simple_subgoal"]
        text[()] = text[()] + b" "
    subgoal = build([path], tmp_path / "d", options, progress=False).manifest
    assert subgoal["sources"][0]["read_xxh3_128"] not in (first["read_xxh3_128"], pixel["read_xxh3_128"])
    assert "simple subgoal" in subgoal["source_digest"]["covers"]


def test_label_plans_with_the_build_spec(tmp_path, sample_dir):
    spec_file = tmp_path / "stride8.toml"
    spec_file.write_text(spec_path().read_text().replace("stride = 16", "stride = 8"))
    stride8 = load_spec(spec_file)
    assert stride8.stride == 8
    files = find_source_files([sample_dir / "record_dataset_BinFill.h5"])
    store = tmp_path / "labels.sqlite"
    with LabelCache(store) as cache:
        run = label_source(
            files, RulesLabeller(), store=cache, name="eight", spec=stride8, max_episodes=1, progress=False
        )
    assert run.meta["spec"]["stride"] == 8
    frames = len(run.episodes[0].spatial)
    assert (
        frames
        == len(plan_source(files, 1, stride8.stride_for)[0].timeline.call_frames)
        > len(plan_source(files, 1)[0].timeline.call_frames)
    )

    out = tmp_path / "out"
    code = main(
        [
            "build",
            "--source",
            str(files[0]),
            "--spec",
            str(spec_file),
            "--labels",
            "eight",
            "--store",
            str(store),
            "--out",
            str(out),
            "--max-episodes",
            "1",
            "--configs",
            "dual_grounded",
            "-q",
        ]
    )
    assert code == 0
    assert json.loads((out / "manifest.json").read_text())["configs"]["dual_grounded"]["train"] == frames
    with pytest.raises(ValueError, match="has no answer for BinFill episode"):  # the default spec asks for other frames
        build(
            files,
            tmp_path / "other",
            BuildOptions(labels="eight", label_store=str(store), max_episodes=1, configs=("dual_grounded",)),
            progress=False,
        )


def test_label_command_takes_a_spec(tmp_path, sample_dir):
    spec_file = tmp_path / "stride8.toml"
    spec_file.write_text(spec_path().read_text().replace("stride = 16", "stride = 8"))
    store = tmp_path / "labels.sqlite"
    code = main(
        [
            "label",
            "--source",
            str(sample_dir / "record_dataset_StopCube.h5"),
            "--spec",
            str(spec_file),
            "--max-episodes",
            "1",
            "--store",
            str(store),
            "--name",
            "s8",
            "-q",
        ]
    )
    assert code == 0
    with LabelCache(store) as cache:
        assert cache.set_meta("s8")["spec"]["file"] == "stride8.toml"


HEAVY = ("h5py", "datasets", "pyarrow", "openai", "aiohttp", "av", "PIL", "pandas", "huggingface_hub")


def test_help_imports_nothing_heavy():
    code = (
        "import sys\nfrom robomme_mem.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_building_and_labelling_never_load_test_tooling():
    code = (
        "import sys\nimport robomme_mem.dataset.build, robomme_mem.dataset.labels.store.sets, robomme_mem.cli\n"
        "print(sorted(m for m in sys.modules if m in ('robomme_mem.dataset.sample.generator', 'robomme_mem.reference')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert not (ROOT / "robomme_mem" / "reference.py").exists()  # the test oracle lives in tests/helpers


def test_the_manifest_checksums_every_file_it_does_not_describe_itself(tmp_path, sample_dir):
    from robomme_mem.dataset.checksum import file_checksum

    result = build(
        [sample_dir],
        tmp_path / "out",
        BuildOptions(configs=("dual_grounded", "baseline_simple", "traces"), max_shard_bytes=100_000),
        progress=False,
    )
    files = result.manifest["files"]
    on_disk = {p.relative_to(result.out).as_posix() for p in result.out.rglob("*") if p.is_file()}
    assert set(files) == on_disk - {"README.md", "manifest.json"}  # Parquet, JSONL, PNG and mp4
    assert sum(p.startswith("data/dual_grounded/train-") for p in files) > 1  # shards rotated, each hashed as written
    for path, recorded in files.items():
        assert file_checksum(result.out / path) == (recorded["xxh3_128"], recorded["bytes"]), path


def test_the_manifest_pins_the_versions_that_decide_the_bytes_and_a_rebuild_names_what_changed(
    tmp_path, sample_dir, capsys
):
    from importlib import metadata

    out = tmp_path / "out"
    args = [
        "build",
        "--source",
        str(sample_dir),
        "--tasks",
        "VideoUnmask",
        "--configs",
        "baseline_simple",
        "--out",
        str(out),
        "-q",
    ]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    versions = manifest["versions"]
    for name in ("pyarrow", "datasets", "h5py", "numpy", "pillow", "av", "isal", "xxhash"):
        assert versions[name] == metadata.version(name), name
    assert versions["x264"].startswith("core ") and "libavcodec" in versions["ffmpeg"]
    versions["numpy"], versions["ffmpeg"]["libavcodec"] = "1.0.0", "1.2.3"
    (out / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"numpy 1.0.0 -> {metadata.version('numpy')}" in err and "ffmpeg.libavcodec 1.2.3 ->" in err


def test_parquet_schemas_are_datasets_own():
    from robomme_mem.configs import BUILDABLE_CONFIGS
    from robomme_mem.dataset.assemble.schema import arrow_schema, features_for

    for config in BUILDABLE_CONFIGS:
        assert arrow_schema(config).equals(features_for(config).arrow_schema, check_metadata=True), config
