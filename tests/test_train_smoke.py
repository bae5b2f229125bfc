"""CPU smoke run of the real training path: a tiny Qwen3-VL, ms-swift's Qwen3-VL template over
every memory row of the embedded build, `swift sft` with LoRA through ``train/sft.py``, a
warm-started second run, then the adapter loaded with peft and with ms-swift's inference engine,
and pushed with its card.

Needs the training environment (torch + torchvision + ms-swift, ``$ROBOMME_MEM_TRAIN_PYTHON``;
``.ci/run`` makes it); skips, saying so, without it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from robomme_mem.configs import HISTORY_CONFIGS, MEMORY_CONFIGS
from robomme_mem.dataset.build import BuildOptions, build

from .test_train import RecordingHfApi, sft

TRAIN_PYTHON = os.environ.get("ROBOMME_MEM_TRAIN_PYTHON")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TRAIN_PYTHON,
        reason="set ROBOMME_MEM_TRAIN_PYTHON to an environment with ms-swift and torchvision (.ci/run does)",
    ),
]
SMOKE = [
    "max_steps=2",
    "torch_dtype=float32",
    "lora_rank=4",
    "lora_alpha=8",
    "per_device_train_batch_size=1",
    "gradient_accumulation_steps=1",
    "save_steps=2",
    "logging_steps=1",
    "dataloader_num_workers=0",
    "dataset_num_proc=1",
    "check_model=false",
    "report_to=none",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny Qwen3-VL, built offline by ``train/tiny_qwen3_vl.py``."""
    folder = tmp_path_factory.mktemp("model") / "tiny-qwen3-vl"
    subprocess.run(
        [TRAIN_PYTHON, str(ROOT / "train" / "tiny_qwen3_vl.py"), str(folder)], check=True, capture_output=True
    )
    return folder


def test_the_qwen3_vl_template_supervises_only_the_target_and_every_row_fits(sample_dir, tiny, tmp_path):
    configs = (*MEMORY_CONFIGS, *HISTORY_CONFIGS)
    built = build([sample_dir], tmp_path / "robomme-mem", BuildOptions(configs=configs), progress=False)
    paths = [str(built.out / "swift" / c / "train.jsonl") for c in configs]
    max_length = sft.Recipe.load().swift["max_length"]
    done = subprocess.run(
        [TRAIN_PYTHON, str(ROOT / "tests" / "helpers" / "swift_encode.py"), str(tiny), str(max_length), *paths],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "ROOT_IMAGE_DIR": str(built.out)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(rows) == sum(built.rows[c] for c in configs)
    # the tiny tokenizer is byte-level, so its lengths bound the real tokenizer's from above
    assert max(r["length"] for r in rows) <= max_length
    for row in rows:  # the subgoal line, <mem> and <spatial_mem>: the assistant turn and nothing else
        assert row["supervised"] == row["target"] + "<|im_end|>\n"


def test_swift_sft_trains_a_lora_that_loads_generates_and_pushes(sample_dir, tiny, tmp_path, monkeypatch, capsys):
    built = build(
        [sample_dir],
        tmp_path / "robomme-mem",
        BuildOptions(configs=("dual_grounded",), tasks=("BinFill", "StopCube")),
        progress=False,
    )
    monkeypatch.setenv("PATH", f"{Path(TRAIN_PYTHON).parent}{os.pathsep}{os.environ['PATH']}")  # its `swift`
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("USE_HF", "1")
    common = ["--dataset", str(built.out), "--config", "dual_grounded", "--model", str(tiny)] + [
        a for s in SMOKE for a in ("--set", s)
    ]

    assert sft.main([*common, "--warm-start", "none", "--output", str(tmp_path / "first")]) == 0
    first = sft.final_adapter(tmp_path / "first")
    assert sft.loss_summary(tmp_path / "first")["steps"] == 2

    # the recipe's way: continue an existing LoRA (here the first run's) rather than a fresh one
    assert sft.main([*common, "--warm-start", str(first), "--output", str(tmp_path / "second")]) == 0
    assert f"--adapters {first}" in capsys.readouterr().out
    second = sft.final_adapter(tmp_path / "second")

    image = next((built.out / "swift" / "images").glob("*.png"))
    done = subprocess.run(
        [TRAIN_PYTHON, str(ROOT / "tests" / "helpers" / "smoke_infer.py"), str(tiny), str(second), str(image)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lora_tensors"] > 0 and result["peft_new_tokens"] > 0 and result["swift_completion_tokens"] > 0

    files = sft.resolve_dataset(str(built.out), "dual_grounded")
    card = sft.model_card(sft.Recipe.load().override(SMOKE), files, str(first), tmp_path / "second")
    api = RecordingHfApi()
    sft.push_adapter(second, "someone/tiny-lora", card, api=api)
    names = api.calls[1][3]
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors"} <= set(names)
    assert "2 steps; loss" in (second / "README.md").read_text()
