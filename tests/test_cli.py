"""The README's main command and ``inspect``, run the way a newcomer runs them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.sample.generator import SYNTHETIC_TASKS


def command() -> list[str]:
    exe = shutil.which("robomme-mem")
    return [exe] if exe else [sys.executable, "-m", "robomme_mem"]


def test_readme_main_command_builds_the_embedded_sample(tmp_path, sample_cache):
    env = {**os.environ, "ROBOMME_MEM_CACHE": str(sample_cache)}
    proc = subprocess.run([*command(), "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "robomme-mem"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s["task"] for s in manifest["sources"]} == set(SYNTHETIC_TASKS)
    for config in ("baseline_simple", "baseline_grounded"):
        lines = (out / f"swift/{config}/train.jsonl").read_text().splitlines()
        assert len(lines) == manifest["configs"][config]["train"] > 0
        assert f"{config}" in proc.stdout
    assert "embedded sample" in proc.stdout
    # every referenced image exists, relative to the build folder
    for line in (out / "swift/baseline_simple/train.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert all((out / p).is_file() for p in row["images"] + row.get("videos", []))


def test_build_is_byte_identical_whatever_the_worker_count(tmp_path, sample_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        main(
            [
                "build",
                "--source",
                str(sample_dir),
                "--out",
                str(a),
                "-q",
                "--workers",
                "1",
                "--tasks",
                "BinFill",
                "VideoUnmask",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "build",
                "--source",
                str(sample_dir),
                "--out",
                str(b),
                "-q",
                "--workers",
                "2",
                "--tasks",
                "BinFill",
                "VideoUnmask",
            ]
        )
        == 0
    )
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.name == "README.md" and rel.parent == Path("."):  # the card names its folder, the one thing that differs
            assert (a / rel).read_text().replace(str(a), "OUT") == (b / rel).read_text().replace(str(b), "OUT")
            continue
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_build_options_select_tasks_configs_and_episodes(tmp_path, sample_dir):
    out = tmp_path / "out"
    code = main(
        [
            "build",
            "--source",
            str(sample_dir),
            "--out",
            str(out),
            "-q",
            "--tasks",
            "StopCube",
            "--configs",
            "baseline_simple",
            "--max-episodes",
            "1",
        ]
    )
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["task"] for s in manifest["sources"]] == ["StopCube"]
    assert list(manifest["configs"]) == ["baseline_simple"]
    assert manifest["totals"]["episodes"] == 1
    assert not (out / "swift/baseline_grounded").exists()


def test_manifest_records_what_produced_the_build(tmp_path, sample_dir):
    out = tmp_path / "out"
    main(["build", "--source", str(sample_dir), "--out", str(out), "-q", "--tasks", "BinFill"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["package"]["name"] == "robomme-mem"
    assert manifest["options"]["noise_seed"] == 0
    assert any(k.startswith("baseline.user.simple@") for k in manifest["prompt_templates"])
    (source,) = manifest["sources"]
    assert source["file"] == "record_dataset_BinFill.h5" and len(source["read_xxh3_128"]) == 32 and source["bytes"] > 0


def test_inspect_shows_episodes_and_segments(sample_dir, capsys):
    assert main(["inspect", str(sample_dir / "record_dataset_VideoUnmask.h5")]) == 0
    out = capsys.readouterr().out
    assert "task VideoUnmask, 3 episode(s)" in out
    assert "episode_0:" in out and "episode_1:" in out
    assert "execution from step" in out and "pick up the container" in out
    assert "call frames:" in out


@pytest.mark.parametrize("argv", [["build", "--configs", "nope"], ["inspect", "--episode", "x"]])
def test_usage_errors_exit_non_zero(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code != 0


def test_the_closing_hint_loads_the_build_from_anywhere(tmp_path, sample_dir, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    proc = subprocess.run(
        [*command(), "build", "--source", str(sample_dir), "--tasks", "BinFill", "--configs", "simple", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    hint = proc.stdout.strip().splitlines()[-1].removeprefix("load it with: ")
    code = f"{hint}\nprint(ds['train'].num_rows)"
    other = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert other.returncode == 0, other.stderr
    manifest = json.loads((tmp_path / "work" / "robomme-mem" / "manifest.json").read_text())
    assert int(other.stdout.strip()) == manifest["configs"]["simple"]["train"]


def test_inspect_with_no_path_inspects_the_embedded_sample(sample_cache, monkeypatch, capsys):
    monkeypatch.setenv("ROBOMME_MEM_CACHE", str(sample_cache))
    assert main(["inspect"]) == 0
    out = capsys.readouterr().out
    assert all(f"record_dataset_{task}.h5: task {task}" in out for task in SYNTHETIC_TASKS)


def test_help_names_every_command_in_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out
    for command_name in ("build", "label", "labels", "push", "inspect"):
        assert f"    {command_name} " in out


def test_an_option_several_commands_take_is_one_option_in_each():
    """Shared options are argparse parents: one definition, so their defaults and help cannot drift apart."""
    from robomme_mem.cli import _parser

    commands = _parser()._subparsers._group_actions[0].choices
    takers = ("build", "audit", "label", "export")
    shared = {
        "--source": (*takers, "inspect"),
        "--tasks": (*takers, "truth"),
        "--max-episodes": (*takers, "truth"),
        "--spec": (*takers, "inspect", "truth"),
        "--store": (*takers, "labels"),
        "--quiet": (*takers, "inspect", "truth", "record"),
        "--workers": ("truth", "record"),
        "--ray": ("truth", "record"),
    }
    for flag, verbs in shared.items():
        actions = [commands[verb]._option_string_actions[flag] for verb in verbs]
        assert len({(a.dest, a.type, a.metavar, a.default, a.nargs) for a in actions}) == 1, flag
        if flag != "--spec":  # --spec says what each command takes from the spec
            assert len({id(a) for a in actions}) == 1, flag


def test_the_embedded_sample_has_a_validation_split_and_the_card_offers_it_only_when_it_exists(
    tmp_path, sample_cache, monkeypatch
):
    monkeypatch.setenv("ROBOMME_MEM_CACHE", str(sample_cache))
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--configs", "dual_grounded", "traces", "-q"]) == 0
    manifest = json.loads((tmp_path / "robomme-mem" / "manifest.json").read_text())
    assert manifest["configs"]["traces"] == {"train": 2 * len(SYNTHETIC_TASKS), "validation": len(SYNTHETIC_TASKS)}
    assert (tmp_path / "robomme-mem" / "swift/dual_grounded/validation.jsonl").is_file()
    assert "--val_dataset swift/dual_grounded/validation.jsonl" in (tmp_path / "robomme-mem" / "README.md").read_text()

    assert (
        main(["build", "--configs", "dual_grounded", "--max-episodes", "1", "--out", "first", "-q"]) == 0
    )  # episode 2 is not built
    assert not (tmp_path / "first" / "swift/dual_grounded/validation.jsonl").exists()
    assert "--val_dataset" not in (tmp_path / "first" / "README.md").read_text()


def test_the_first_build_counts_the_samples_generation(tmp_path):
    env = {**os.environ, "ROBOMME_MEM_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [*command(), "build", "-q", "--configs", "simple"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    generated = float(proc.stderr.split("generated the embedded sample in ")[1].split(" s")[0])
    first = proc.stdout.splitlines()[0]
    total = float(first.split(" in ")[1].split(" s")[0])
    assert f"({generated:.1f} s of it generating the sample)" in first and total >= generated


@pytest.mark.parametrize(
    "argv, says",
    [
        (["build", "--workers", "0"], "argument --workers: must be at least 1, got 0"),
        (["build", "--max-episodes", "-1"], "argument --max-episodes: must be at least 1, got -1"),
        (["label", "--max-episodes", "0"], "argument --max-episodes: must be at least 1, got 0"),
    ],
)
def test_counts_below_one_are_usage_errors(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_a_folder_whose_files_lie_one_level_down_says_where(sample_dir, tmp_path, capsys):
    (tmp_path / "data" / "part1").mkdir(parents=True)
    shutil.copy(sample_dir / "record_dataset_BinFill.h5", tmp_path / "data" / "part1")
    assert main(["inspect", "-q", str(tmp_path / "data")]) == 1
    assert (
        "folder has no record_dataset_<Task>.h5 files and no meta/info.json (a LeRobot dataset); found some one level down, in part1/: pass those folders"
        in capsys.readouterr().err
    )
