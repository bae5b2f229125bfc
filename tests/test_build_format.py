"""Every reader of a build folder checks its format: another is refused in one line that says what to do."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from robomme_mem import __version__
from robomme_mem.cli import main
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.resolve import DatasetError, locate_dataset
from robomme_mem.formats import BUILD_FORMAT

ROOT = Path(__file__).resolve().parents[1]
OLD = "robomme-mem/1"


def old_build(built: Path, tmp_path: Path, **manifest_fields) -> Path:
    """A copy of ``built`` whose manifest says another format (written by robomme-mem 0.0.9)."""
    old = tmp_path / "old-build"
    shutil.copytree(built, old)
    manifest = json.loads((old / "manifest.json").read_text())
    fields = {"format": OLD, "package": {"name": "robomme-mem", "version": "0.0.9"}, **manifest_fields}
    (old / "manifest.json").write_text(json.dumps({**manifest, **fields}))
    return old


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("format") / "robomme-mem"
    return build(
        [sample_dir / "record_dataset_BinFill.h5"],
        out,
        BuildOptions(configs=("grounded", "traces"), max_episodes=1, workers=1),
        progress=False,
    ).out


def said(capsys) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_dataset_of_another_format_is_refused_for_training_and_evaluation(built, tmp_path):
    """``locate_dataset`` serves ``train/sft.py``, ``evaluate/offline.py`` and ``evaluate/report.py --traces``."""
    old = old_build(built, tmp_path)
    with pytest.raises(DatasetError) as refused:
        locate_dataset(str(old))
    assert str(refused.value) == (
        f"{old}/manifest.json: a build of format {OLD!r}, and this robomme-mem ({__version__}) reads {BUILD_FORMAT!r}: "
        "build it again with `robomme-mem build`, or read it with the robomme-mem that wrote it (0.0.9)"
    )
    assert locate_dataset(str(built)).manifest["format"] == BUILD_FORMAT


def test_the_report_refuses_traces_of_another_format_in_one_line(built, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("robomme_evaluate_report_format", ROOT / "evaluate" / "report.py")
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report
    spec.loader.exec_module(report)
    old = old_build(built, tmp_path)
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"method": "grounded", "task": "BinFill", "episode": 0, "success": True}) + "\n")
    assert (
        report.main([str(results), "--out", str(tmp_path / "r"), "--traces", str(old), "--episode", "BinFill:0"]) == 2
    )
    assert said(capsys) == (
        f"report.py: error: {old}/manifest.json: a build of format {OLD!r}, and this robomme-mem ({__version__}) reads "
        f"{BUILD_FORMAT!r}: build it again with `robomme-mem build`, or read it with the robomme-mem that wrote it (0.0.9)"
    )


def test_a_push_of_another_format_is_refused_in_one_line(built, tmp_path, capsys):
    old = old_build(built, tmp_path)
    assert main(["push", str(old), "--repo-id", "someone/robomme-mem", "--allow-synthetic", "--dry-run"]) == 1
    assert said(capsys).startswith(
        f"robomme-mem: error: {old}/manifest.json: a build of format {OLD!r}, and this robomme-mem"
    )
    (old / "manifest.json").write_text("{not json")
    assert main(["push", str(old), "--repo-id", "someone/robomme-mem", "--allow-synthetic", "--dry-run"]) == 1
    assert said(capsys).startswith(f"robomme-mem: error: {old}/manifest.json: not valid JSON (")


def test_a_rebuild_over_a_build_of_another_format_is_refused_in_one_line_and_touches_nothing(
    built, sample_dir, tmp_path, capsys
):
    old = old_build(built, tmp_path)
    (old / "notes.md").write_text("mine\n")
    before = {p.relative_to(old).as_posix(): p.read_bytes() for p in sorted(old.rglob("*")) if p.is_file()}
    args = [
        "build",
        "--source",
        str(sample_dir / "record_dataset_BinFill.h5"),
        "--max-episodes",
        "1",
        "--configs",
        "grounded",
        "--out",
        str(old),
        "-q",
    ]
    assert main(args) == 1
    assert said(capsys) == (
        f"robomme-mem: error: {old}/manifest.json: a build of format {OLD!r}, and this robomme-mem ({__version__}) replaces only "
        f"builds of {BUILD_FORMAT!r}, as it cannot tell which files the old one owned: remove that build (keep .git and your own "
        "files) or choose another --out, or rebuild it with the robomme-mem that wrote it (0.0.9)"
    )
    assert {p.relative_to(old).as_posix(): p.read_bytes() for p in sorted(old.rglob("*")) if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-build"]
    (old / "manifest.json").write_text("[1, 2]")  # JSON, but no manifest
    assert main(args) == 1
    assert said(capsys).startswith(
        f"robomme-mem: error: {old}/manifest.json: a build of format None, and this robomme-mem"
    )
    (old / "manifest.json").write_text("{not json")
    assert main(args) == 1
    assert said(capsys).startswith(f"robomme-mem: error: {old}/manifest.json: not a readable build manifest (")


def test_each_format_is_defined_once_in_the_version_table():
    import robomme_mem.formats as formats
    from robomme_mem import prompts
    from robomme_mem.dataset import spec
    from robomme_mem.dataset.labels.store import cache, sets
    from robomme_mem.dataset.record import run
    from robomme_mem.dataset.sample import embedded as sample
    from robomme_mem.dataset.truth import truth_file
    from robomme_mem.dataset.write import lerobot, manifest

    owners = {
        "BUILD_FORMAT": manifest,
        "TRUTH_FORMAT": truth_file,
        "LABEL_SET_FORMAT": sets,
        "LABEL_CACHE_SCHEMA": cache,
        "SPEC_FORMAT": spec,
        "PROMPT_SET_VERSION": prompts,
        "SAMPLE_VERSION": sample,
        "RECORD_FORMAT": run,
        "LEROBOT_CODEBASE_VERSION": lerobot,
    }
    assert set(owners) == {name for name in vars(formats) if name.isupper()}
    for name, owner in owners.items():
        assert getattr(owner, name) is getattr(formats, name), name
