"""``train/sft.py``: the recipe, the resolved split and the exact ``swift sft`` call; the adapter push."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from robomme_mem.configs import MEMORY_CONFIGS
from robomme_mem.dataset.build import BuildOptions, build

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("robomme_train_sft", ROOT / "train" / "sft.py")
sft = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = sft  # train/ is a folder of scripts, not an installed package
spec.loader.exec_module(sft)


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    split = tmp_path_factory.mktemp("split") / "split.json"
    split.write_text(json.dumps({"validation": {"BinFill": [1]}}))
    options = BuildOptions(configs=(*MEMORY_CONFIGS, "baseline_simple"), split_file=str(split))
    return build([sample_dir], tmp_path_factory.mktemp("train") / "robomme-mem", options, progress=False)


def dry_run(capsys, *args) -> str:
    assert sft.main(["--dry-run", *args]) == 0
    return capsys.readouterr().out


def test_each_variant_warm_starts_from_its_subgoal_style(built, capsys):
    recipe = sft.Recipe.load()
    for config in MEMORY_CONFIGS:
        out = dry_run(capsys, "--dataset", str(built.out), "--config", config, "--output", "runs/x")
        style = "grounded" if config.endswith("grounded") else "simple"
        # nothing is downloaded in a dry run, and the command says what the run passes: a local copy, not the repo id
        assert (
            f"--adapters '<local copy of {recipe.warm_start[style]}, downloaded from the Hub when the run starts>'"
            in out
        )
        assert f"--dataset {built.out}/swift/{config}/train.jsonl" in out
        assert f"--val_dataset {built.out}/swift/{config}/validation.jsonl" in out
        assert f"ROOT_IMAGE_DIR={built.out}" in out and "IMAGE_MAX_TOKEN_NUM=256" in out


def test_the_command_carries_the_whole_recipe(built, capsys):
    out = dry_run(capsys, "--dataset", str(built.out), "--config", "grounded")
    command = out.split("command: ", 1)[1]
    for expected in (
        "swift sft",
        "--model Qwen/Qwen3-VL-4B-Instruct",
        "--model_type qwen3_vl",
        "--tuner_type lora",
        "--lora_rank 16",
        "--lora_alpha 32",
        "--target_modules q_proj k_proj v_proj o_proj gate_proj up_proj down_proj",
        "--freeze_vit true",
        "--freeze_aligner true",
        "--torch_dtype bfloat16",
        "--per_device_train_batch_size 4",
        "--gradient_accumulation_steps 4",
        "--learning_rate 0.0001",
        "--warmup_ratio 0.05",
        "--num_train_epochs 2",
        "--max_length 3200",
        "--attn_impl sdpa",
        "--gradient_checkpointing true",
    ):
        assert expected in command, expected


def test_recipe_values_and_the_warm_start_can_be_overridden(built, capsys):
    out = dry_run(
        capsys,
        "--dataset",
        str(built.out),
        "--config",
        "simple",
        "--set",
        "learning_rate=2e-4",
        "--set",
        "num_train_epochs=3",
        "--set",
        "env.IMAGE_MAX_TOKEN_NUM=128",
        "--warm-start",
        "none",
        "--model",
        "my/model",
    )
    assert "--learning_rate 0.0002" in out and "--num_train_epochs 3" in out and "IMAGE_MAX_TOKEN_NUM=128" in out
    assert "--adapters" not in out and "warm start: none" in out and "--model my/model" in out


def test_unknown_configs_and_folders_are_refused(built, tmp_path):
    with pytest.raises(ValueError, match="train on one of"):
        sft.resolve_dataset(str(built.out), "traces")
    with pytest.raises(ValueError, match="has no train split here"):
        sft.resolve_dataset(str(built.out), "dual_grounded_history")
    with pytest.raises(ValueError, match="not a robomme-mem build"):
        sft.resolve_dataset(str(tmp_path), "simple")


@dataclass
class Commit:
    oid: str


class RecordingHfApi:
    def __init__(self) -> None:
        self.calls = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def upload_folder(self, *args, **kwargs):
        self.calls.append(
            ("upload_folder", args, kwargs, sorted(p.name for p in Path(kwargs["folder_path"]).iterdir()))
        )
        return Commit("feedface" * 5)


def test_the_adapter_is_pushed_with_a_card_that_tells_how_it_was_made(built, tmp_path):
    output = tmp_path / "runs"
    checkpoint = output / "v0-20260101" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "adapter_config.json").write_text("{}")
    (checkpoint / "adapter_model.safetensors").write_bytes(b"\0")
    history = [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.75}, {"step": 4, "loss": 1.25}]
    (checkpoint / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    recipe = sft.Recipe.load().override(["learning_rate=2e-4"])
    files = sft.resolve_dataset(str(built.out), "dual_grounded")
    card = sft.model_card(
        recipe,
        files,
        "Yinpei/vlm_subgoal_predictor:qwenvl/grounded_subgoal",
        output,
        {"success_rate": {"BinFill": 0.8}},
    )
    api = RecordingHfApi()
    commit = sft.push_adapter(sft.final_adapter(output), "someone/rm-lora", card, api=api)
    assert commit == "feedface" * 5
    (create, args, kwargs), (upload, _, up, names) = api.calls
    assert (create, args, kwargs["repo_type"]) == ("create_repo", ("someone/rm-lora",), "model")
    assert upload == "upload_folder" and up["repo_type"] == "model" and up["repo_id"] == "someone/rm-lora"
    assert names == ["README.md", "adapter_config.json", "adapter_model.safetensors", "trainer_state.json"]
    text = (checkpoint / "README.md").read_text()
    for expected in (
        "base_model: Qwen/Qwen3-VL-4B-Instruct",
        "config `dual_grounded`",
        "grounded_subgoal",
        '"learning_rate": 0.0002',
        "4 steps; loss 2.5000 -> 1.2500",
        '"BinFill": 0.8',
        "label set `rules`",
    ):
        assert expected in text, expected


def test_a_hub_dataset_is_downloaded_at_its_revision(built, tmp_path, monkeypatch):
    from .helpers.fake_hub import FakeHub, use_fake_hub

    hub = FakeHub()
    try:
        use_fake_hub(monkeypatch, tmp_path, hub.endpoint)
        hub.publish(built.out, "someone/robomme-mem", tag="v1.0.0")
        files = sft.resolve_dataset("someone/robomme-mem", "grounded", revision="v1.0.0")
        assert files.train.read_bytes() == (built.out / "swift/grounded/train.jsonl").read_bytes()
        first = json.loads(files.train.read_text().splitlines()[0])
        assert (files.root / first["images"][0]).is_file()  # frames came along, where ROOT_IMAGE_DIR points
        assert not (files.root / "data").exists()  # only what the config needs
    finally:
        hub.close()


def test_an_unreachable_hub_dataset_is_one_line(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train" / "sft.py"),
            "--dataset",
            "someone/robomme-mem",
            "--revision",
            "v1.0.0",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "sft.py: error: cannot fetch the dataset someone/robomme-mem at revision v1.0.0 from the Hub"
    )
