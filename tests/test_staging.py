"""One way to put a folder in place: stage beside it, swap it in on success, leave the destination as it was on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from robomme_mem.dataset import staging
from robomme_mem.dataset.staging import current_umask, staged


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture(params=["exchange", "two renames"])
def out(request, tmp_path, monkeypatch):
    if request.param == "two renames":  # a kernel without renameat2
        monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    folder = tmp_path / "nested" / "out"
    return folder


def test_a_new_folder_appears_whole_with_the_users_mode(out):
    with staged(out) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".out.tmp-") and not out.exists()
        (stage / "a.txt").write_text("new")
    assert tree(out) == {"a.txt": "new"} and beside(out) == []
    assert out.stat().st_mode & 0o777 == 0o777 & ~current_umask()


def test_an_existing_folder_is_replaced_only_by_a_complete_one(out):
    out.mkdir(parents=True)
    (out / "old.txt").write_text("old")
    with staged(out) as stage:
        (stage / "a.txt").write_text("new")
        assert tree(out) == {"old.txt": "old"}  # untouched until the block ends
    assert tree(out) == {"a.txt": "new"} and beside(out) == []


def test_a_failure_removes_the_stage_and_leaves_the_destination(out):
    out.mkdir(parents=True)
    (out / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with staged(out) as stage:
            (stage / "a.txt").write_text("new")
            raise KeyboardInterrupt
    assert tree(out) == {"old.txt": "old"} and beside(out) == []


def test_carry_brings_what_must_survive_and_its_failure_leaves_the_destination(out):
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    (out / "old.txt").write_text("old")

    def carry(old: Path, stage: Path) -> None:
        (stage / "keep.txt").write_text((old / "keep.txt").read_text())

    with staged(out, carry=carry) as stage:
        (stage / "a.txt").write_text("new")
    assert tree(out) == {"a.txt": "new", "keep.txt": "mine"}

    def broken(old: Path, stage: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with staged(out, carry=broken) as stage:
            (stage / "b.txt").write_text("newer")
    assert tree(out) == {"a.txt": "new", "keep.txt": "mine"} and beside(out) == []


def test_a_complete_folder_another_process_made_meanwhile_is_kept(out):
    def complete(folder: Path) -> bool:
        return (folder / "done").is_file()

    with staged(out, keep_existing=complete) as stage:
        (stage / "done").write_text("ours")
        out.mkdir(parents=True)  # the other process renames its folder in first
        (out / "done").write_text("theirs")
    assert tree(out) == {"done": "theirs"} and beside(out) == []
    (out / "done").unlink()  # an interrupted copy: replaced
    with staged(out, keep_existing=complete) as stage:
        (stage / "done").write_text("ours")
    assert tree(out) == {"done": "ours"} and beside(out) == []


def test_a_scratch_folder_is_always_removed(out):
    out.mkdir(parents=True)
    (out / "old.txt").write_text("old")
    with staged(out, swap=False) as stage:
        (stage / "a.txt").write_text("scratch")
    assert tree(out) == {"old.txt": "old"} and beside(out) == []
