"""The README's commands exist: each one it and its pages show answers ``--help``, and knows every option it is shown with."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [
    README,
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "train" / "README.md",
    ROOT / "evaluate" / "README.md",
    ROOT / "benchmarks" / "README.md",
]
"""The README and the pages it links to: their commands are checked alike."""
SCRIPTS = ("train/", "evaluate/", "benchmarks/")


def shown_commands(text: str) -> list[str]:
    """Every command line of the README's shell blocks (continuations joined, comments and prompts dropped)."""
    lines, block = [], False
    for raw in text.splitlines():
        if raw.startswith("```"):
            block = raw.strip() in ("```bash", "```sh", "```shell", "```console")
            continue
        if block:
            lines.append(raw)
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    commands = []
    for line in joined.splitlines():
        for part in re.split(
            r"&&|\|\||;|\|",
            line.split(" #")[0].split("#", 1)[0] if line.lstrip().startswith("#") else line.split(" #")[0],
        ):
            part = part.strip().removeprefix("$ ").strip()
            if part.startswith(("robomme-mem", "hf ")) or (
                part.startswith("python ") and any(s in part for s in SCRIPTS)
            ):
                commands.append(part)
    return commands


def program_of(words: list[str]) -> tuple[str, ...]:
    """The words that name the command: ``robomme-mem labels export``, ``python train/sft.py``, ``hf download``."""
    if words[0] in ("python", "hf"):
        return tuple(words[:2])
    verbs = ["robomme-mem"]
    for word in words[1:3]:
        if word.startswith("-") or "/" in word or "." in word or word.isupper():
            break
        verbs.append(word)
        if word not in ("labels", "export"):
            break
    return tuple(verbs)


@cache
def help_text(program: tuple[str, ...]) -> str:
    modules = {
        "robomme-mem": ["-m", "robomme_mem"],
        "hf": ["-m", "huggingface_hub.cli.hf"],
        "python": [],
    }  # this environment's, whatever PATH holds
    argv = [sys.executable, *modules[program[0]], *program[1:]]
    done = subprocess.run([*argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(program)} --help exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return done.stdout


def test_the_readme_shows_commands():
    commands = shown_commands(README.read_text(encoding="utf-8"))
    assert any(c.startswith("robomme-mem build") for c in commands) and any(
        c.startswith("python train/") for c in commands
    )


def test_the_readme_reads_in_five_minutes():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 250


@pytest.mark.parametrize(
    "command", sorted({c for page in PAGES if page.is_file() for c in shown_commands(page.read_text(encoding="utf-8"))})
)
def test_each_command_the_readme_shows_exists_with_its_options(command):
    words = shlex.split(command)
    text = help_text(program_of(words))
    unknown = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in text]
    assert not unknown, f"{command!r}: {' '.join(program_of(words))} has no {', '.join(unknown)}"
