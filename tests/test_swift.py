"""ms-swift's own dataset loader accepts the published rows (JSONL and Parquet).

ms-swift pins its own ``datasets``, so it lives in a separate environment whose Python is
``$ROBOMME_MEM_SWIFT_PYTHON`` (``.ci/run`` makes one, shared with the training smoke run);
without it these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from robomme_mem.configs import ROW_CONFIGS
from robomme_mem.dataset.build import BuildOptions, build

SWIFT_PYTHON = os.environ.get("ROBOMME_MEM_SWIFT_PYTHON")
LOADER = Path(__file__).parent / "helpers" / "swift_load.py"
pytestmark = pytest.mark.skipif(
    not SWIFT_PYTHON, reason="set ROBOMME_MEM_SWIFT_PYTHON to an environment with ms-swift (.ci/run does)"
)


def swift_load(*paths: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SWIFT_PYTHON, str(LOADER), *map(str, paths)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory):
    return build(
        [sample_dir],
        tmp_path_factory.mktemp("swift") / "robomme-mem",
        BuildOptions(tasks=("BinFill", "VideoUnmask")),
        progress=False,
    )


def test_ms_swift_loads_every_published_file(built):
    jsonl = [built.out / "swift" / c / "train.jsonl" for c in ROW_CONFIGS]
    parquet = [built.out / built.manifest["data_files"][c]["train"][0] for c in ROW_CONFIGS]
    done = swift_load(*jsonl, *parquet, cwd=built.out)  # relative image paths resolve from the build folder
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    for config, path in zip(ROW_CONFIGS * 2, jsonl + parquet):
        loaded = summary[str(path)]
        assert loaded["rows"] == built.manifest["configs"][config]["train"], path  # ms-swift drops rows it cannot read
        assert loaded["roles"] == ["system", "user", "assistant"]
        assert loaded["image"] is not None
    first_jsonl = summary[str(jsonl[0])]
    assert (built.out / first_jsonl["image"]["path"]).is_file()
    assert summary[str(parquet[0])]["image"]["has_bytes"]  # Parquet rows carry the frame itself
    assert "objects" in summary[str(built.out / "swift" / "baseline_grounded" / "train.jsonl")]["columns"]


def test_ms_swift_rejects_a_malformed_row(built, tmp_path):
    line = json.loads((built.out / "swift" / "simple" / "train.jsonl").read_text().splitlines()[0])
    line["messages"][1]["role"] = "robot"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line) + "\n")
    done = swift_load(bad, cwd=built.out)
    assert done.returncode != 0 and "bad.jsonl" in done.stderr
