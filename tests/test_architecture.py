"""The layout's rules hold: ``lint-imports`` checks the contracts in ``pyproject.toml``.

The dataset wing and the closed-loop wing never import each other, each flows one way, and
the root keeps only what both share. A copy of the package with one forbidden import shows
that the check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which(
    "lint-imports", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (it is in the [dev] extra)")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the package under cwd, not the installed one
    return subprocess.run(
        [LINT, "--no-cache", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_dataset_module_importing_the_closed_loop_breaks_the_contract(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "robomme_mem", tmp_path / "robomme_mem", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    segment = tmp_path / "robomme_mem" / "dataset" / "segment.py"
    segment.write_text(segment.read_text() + "\nfrom ..closed_loop.policy import parse_answer  # noqa: E402,F401\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "robomme_mem.dataset.segment -> robomme_mem.closed_loop.policy" in result.stdout
    assert "the dataset wing imports nothing from the closed-loop wing" in result.stdout


def test_no_two_modules_share_a_name():
    names: dict[str, list[str]] = {}
    for path in (ROOT / "robomme_mem").rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            names.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    for package in (ROOT / "robomme_mem").rglob("__init__.py"):
        names.setdefault(package.parent.name, []).append(str(package.parent.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def test_every_room_of_the_dataset_wing_sits_in_a_layer():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (wing,) = [c for c in contracts if c.get("containers") == ["robomme_mem.dataset"]]
    placed = {room.strip() for layer in wing["layers"] for room in layer.replace(":", "|").split("|")}
    dataset = ROOT / "robomme_mem" / "dataset"
    rooms = {p.stem for p in dataset.glob("*.py") if p.name != "__init__.py"} | {
        p.parent.name for p in dataset.glob("*/__init__.py")
    }
    assert rooms - placed == set()
