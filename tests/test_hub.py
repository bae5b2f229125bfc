"""Publishing: the operations ``HfApi`` receives (the only mock), then loading by repo id and tag
from a loopback server that serves the pushed folder as the Hub would."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from datasets import load_dataset

from robomme_mem.cli import main
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.publish import STALE_PATTERNS, plan_push, push

from .helpers.fake_hub import FakeHub, use_fake_hub


@dataclass
class Commit:
    oid: str


class RecordingHfApi:
    """Stands in for ``huggingface_hub.HfApi``: records each call (the Hub cannot be reached here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        return Commit("0123456789abcdef0123456789abcdef01234567")

    def create_tag(self, *args, **kwargs):
        self.calls.append(("create_tag", args, kwargs))


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    return build(
        [sample_dir],
        tmp_path_factory.mktemp("hub") / "robomme-mem",
        BuildOptions(configs=("grounded", "dual_grounded", "traces")),
        progress=False,
    )


def test_push_creates_the_repo_uploads_the_folder_and_tags_the_commit(built):
    api = RecordingHfApi()
    plan = plan_push(built.out, "someone/robomme-mem", tag="v1.0.0", allow_synthetic=True)
    commit = push(plan, private=True, api=api)
    (create, args, kwargs), (upload, _, up), (tag, targs, tkw) = api.calls
    assert (create, args, kwargs) == (
        "create_repo",
        ("someone/robomme-mem",),
        {"repo_type": "dataset", "private": True, "exist_ok": True},
    )
    assert upload == "upload_folder" and up["repo_type"] == "dataset"
    assert not Path(up["folder_path"]).exists()  # a staging folder beside the build, removed after the upload
    assert up["delete_patterns"] == STALE_PATTERNS  # shards of an older build go
    assert "2.1.0" in up["commit_message"] and built.manifest["labels"]["id"][:12] in up["commit_message"]
    assert (
        (tag, targs) == ("create_tag", ("someone/robomme-mem",))
        and tkw["tag"] == "v1.0.0"
        and tkw["revision"] == commit
    )
    paths = {p for p, _ in plan.files}
    assert {"README.md", "manifest.json"} <= paths and any(p.startswith("data/grounded/train-") for p in paths)


def test_push_refuses_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(ValueError, match="not a robomme-mem build"):
        plan_push(tmp_path, "someone/robomme-mem")


def test_dry_run_lists_the_files(built, capsys):
    assert (
        main(
            [
                "push",
                str(built.out),
                "--repo-id",
                "someone/robomme-mem",
                "--tag",
                "v1.0.0",
                "--dry-run",
                "--allow-synthetic",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "manifest.json" in out and "would upload" in out and "tag it v1.0.0" in out


class HubBackedApi(RecordingHfApi):
    """``HfApi`` whose upload commits what it was given (ignore patterns applied) to a :class:`FakeHub`."""

    def __init__(self, hub: FakeHub, root: Path) -> None:
        super().__init__()
        self.hub, self.root = hub, root

    def upload_folder(self, *args, **kwargs):
        super().upload_folder(*args, **kwargs)
        folder = Path(kwargs["folder_path"])
        snapshot = self.root / f"commit-{len(self.calls)}"
        for path in folder.rglob("*"):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and not any(fnmatch(rel, p) for p in kwargs["ignore_patterns"]):
                (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, snapshot / rel)
        return Commit(self.hub.publish(snapshot, kwargs["repo_id"]))

    def create_tag(self, repo_id, *, tag, revision, **kwargs):
        super().create_tag(repo_id, tag=tag, revision=revision, **kwargs)
        self.hub.repos[repo_id]["refs"][tag] = revision


def test_the_pushed_folder_loads_by_repo_id_and_tag(built, tmp_path, monkeypatch):
    hub = FakeHub()
    try:
        use_fake_hub(monkeypatch, tmp_path, hub.endpoint)
        api = HubBackedApi(hub, tmp_path / "pushed")
        before = (built.out / "README.md").read_bytes()
        commit = push(plan_push(built.out, "someone/robomme-mem", tag="v1.0.0", allow_synthetic=True), api=api)
        assert (built.out / "README.md").read_bytes() == before  # the build folder is left as it is
        assert hub.repos["someone/robomme-mem"]["refs"] == {"main": commit, "v1.0.0": commit}
        ds = load_dataset("someone/robomme-mem", "dual_grounded", revision="v1.0.0")
        assert ds["train"].num_rows == built.manifest["configs"]["dual_grounded"]["train"]
        assert ds["train"][0]["images"][0].size == (256, 256)
        default = load_dataset("someone/robomme-mem")  # the card's default config
        assert default["train"][0]["messages"] == ds["train"][0]["messages"]
        assert any("/resolve/" in line and ".parquet" in line for line in hub.log)
    finally:
        hub.close()


def test_a_synthetic_build_is_refused_unless_asked_for(built, capsys):
    with pytest.raises(ValueError, match="built from synthetic episodes"):
        plan_push(built.out, "someone/robomme-mem")
    assert main(["push", str(built.out), "--repo-id", "someone/robomme-mem", "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "synthetic" in err and "--allow-synthetic" in err
    assert "(synthetic source)" in plan_push(built.out, "someone/robomme-mem", allow_synthetic=True).commit_message


def test_the_card_names_the_folder_before_a_push_and_the_repo_in_it(built):
    local = (built.out / "README.md").read_text()
    assert f'load_dataset("{built.out}", "dual_grounded")' in local
    assert f"local build at \\texttt{{{built.out}}}" in local and "huggingface.co/datasets" not in local
    pushed = plan_push(built.out, "someone/robomme-mem", allow_synthetic=True).card
    assert 'load_dataset("someone/robomme-mem", "dual_grounded")' in pushed and str(built.out) not in pushed
    assert "\\url{https://huggingface.co/datasets/someone/robomme-mem}" in pushed
    assert (
        pushed.replace("someone/robomme-mem", "X").split("## Load")[0]
        == local.replace(str(built.out), "X").split("## Load")[0]
    )
