"""A build folder is a Hub dataset repo: a rebuild inside a clone keeps ``.git`` and every file it did not write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.write import replace

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
CONFIGS = ("grounded", "baseline_grounded")


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, env=env).stdout


def snapshot(folder: Path, under: str = "") -> dict[str, bytes]:
    root = folder / under
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def source(sample_dir):
    return [sample_dir / "record_dataset_BinFill.h5"]


@pytest.fixture
def clone(source, tmp_path):
    """A committed build with the Hub's .gitattributes and a user's own files, as a git clone would be."""
    out = tmp_path / "robomme-mem"
    build(source, out, BuildOptions(configs=CONFIGS, workers=1), progress=False)
    (out / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (out / "notes.md").write_text("my notes\n")
    (out / "docs").mkdir()
    (out / "docs" / "figure.txt").write_text("a figure\n")
    git(out, "init", "-q")
    git(out, "add", "-A")
    git(out, "commit", "-qm", "build")
    return out


def test_a_rebuild_with_the_same_inputs_leaves_a_clean_git_status(clone, source):
    before = snapshot(clone, ".git") | {
        p: snapshot(clone)[p] for p in (".gitattributes", "notes.md", "docs/figure.txt")
    }
    build(source, clone, BuildOptions(configs=CONFIGS, workers=1), progress=False)
    after = snapshot(clone)
    assert {p: after[p] for p in before} == before  # .git byte for byte, and the user's files
    assert git(clone, "status", "--porcelain") == ""


def test_a_rebuild_with_other_rows_changes_only_the_data_files(clone, source):
    build(source, clone, BuildOptions(configs=CONFIGS, noise_seed=7, workers=1), progress=False)
    changed = {line[3:] for line in git(clone, "status", "--porcelain").splitlines()}
    assert changed and all(
        p.startswith(("data/baseline_grounded/", "swift/baseline_grounded/")) or p in ("manifest.json", "README.md")
        for p in changed
    ), changed
    assert (clone / "notes.md").read_text() == "my notes\n" and (clone / "docs/figure.txt").is_file()


def test_what_the_old_build_owned_and_the_new_one_does_not_write_is_removed(clone, source):
    build(source, clone, BuildOptions(configs=("grounded",), workers=1), progress=False)
    assert not (clone / "data" / "baseline_grounded").exists()
    assert {line[3:] for line in git(clone, "status", "--porcelain").splitlines()} >= {
        "data/baseline_grounded/train-00000-of-00001.parquet"
    }
    assert (clone / "notes.md").is_file()


def test_a_fresh_clone_of_an_empty_hub_repo_is_accepted(source, tmp_path):
    out = tmp_path / "empty-clone"
    out.mkdir()
    git(out, "init", "-q")
    (out / ".gitattributes").write_text("*.parquet filter=lfs\n")
    build(source, out, BuildOptions(configs=("grounded",), workers=1), progress=False)
    assert (
        (out / "manifest.json").is_file()
        and (out / ".git" / "HEAD").is_file()
        and (out / ".gitattributes").read_text() == "*.parquet filter=lfs\n"
    )


def test_a_folder_that_is_neither_a_build_nor_a_clone_is_refused(source, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"not a robomme-mem build \(it holds thesis.tex\)"):
        build(source, out, BuildOptions(configs=("grounded",), workers=1), progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["precious"] and (out / "thesis.tex").read_text() == "keep me"


def test_an_interrupt_while_carrying_files_over_leaves_the_old_folder_whole(clone, source, monkeypatch):
    before = snapshot(clone)
    calls = []

    def interrupted(src, dst):
        calls.append(src)
        if len(calls) == 5:
            raise KeyboardInterrupt
        os.link(src, dst)

    monkeypatch.setattr(replace, "link_or_copy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(source, clone, BuildOptions(configs=CONFIGS, noise_seed=7, workers=1), progress=False)
    assert snapshot(clone) == before
    assert [p.name for p in clone.parent.iterdir() if p.name.startswith(".")] == []
    assert git(clone, "status", "--porcelain") == ""
