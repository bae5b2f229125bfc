"""LoRA SFT of the high-level policy on a published RoboMME-Mem config, with ms-swift.

    python train/sft.py --dataset robomme-mem --config dual_grounded --output runs/dual_grounded --dry-run
    python train/sft.py --dataset ORG/robomme-mem --revision v1.0.0 --config grounded --output runs/g \\
        --push-to-hub ORG/robomme-mem-grounded-lora

A thin consumer: it resolves the published split (a local build folder, ``./robomme-mem`` if
``--dataset`` is not given, or a Hub dataset repo ``ORG/NAME`` at a revision, downloaded with
``huggingface_hub``; any other name is refused before the Hub is asked: :mod:`robomme_mem.dataset.resolve`),
hands its ms-swift JSONL to ``swift sft``
with the recipe of ``train/recipe-1.toml`` (any value overridable with ``--set``), continues
training RoboMME's baseline subgoal LoRA of the variant's subgoal style (``--warm-start``
overrides it), and can push the adapter with a generated model card. It holds no data logic.
What a run needs (ms-swift, the data, the warm-start adapter) is checked before it starts, and
each thing missing is one line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from robomme_mem.configs import ROW_CONFIGS
from robomme_mem.dataset.layout import SWIFT_IMAGES_DIR, swift_jsonl
from robomme_mem.dataset.resolve import HubError, hub_snapshot, locate_dataset
from robomme_mem.errors import first_line
from robomme_mem.prompts import subgoal_style
from robomme_mem.scripts import Refused, front_door, note

HERE = Path(__file__).resolve().parent
DEFAULT_RECIPE = HERE / "recipe-1.toml"


@dataclass
class Recipe:
    version: str
    model: str
    model_type: str
    env: dict[str, str]
    warm_start: dict[str, str]
    swift: dict[str, object]
    path: str = ""

    @classmethod
    def load(cls, path: str | Path = DEFAULT_RECIPE) -> Recipe:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            str(data["version"]),
            data["model"],
            data["model_type"],
            dict(data.get("env", {})),
            dict(data["warm_start"]),
            dict(data["swift"]),
            str(path),
        )

    def override(self, assignments: list[str]) -> Recipe:
        """``KEY=VALUE`` pairs: ``model``, ``model_type``, ``env.NAME``, ``warm_start.STYLE`` or a ``swift`` argument."""
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"--set {item!r}: use KEY=VALUE")
            value = _parse_value(raw)
            if key in ("model", "model_type"):
                setattr(self, key, str(value))
            elif key.startswith("env."):
                self.env[key[4:]] = str(value)
            elif key.startswith("warm_start."):
                self.warm_start[key[11:]] = str(value)
            else:
                self.swift[key.removeprefix("swift.")] = value
        return self

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "model": self.model,
            "model_type": self.model_type,
            "env": self.env,
            "warm_start": self.warm_start,
            "swift": self.swift,
        }


def _parse_value(raw: str) -> object:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare string


@dataclass
class DatasetFiles:
    """A published split on this machine: its root (where image paths resolve) and its JSONL files."""

    root: Path
    source: str
    revision: str | None
    config: str
    train: Path
    validation: Path | None
    manifest: dict = field(default_factory=dict)
    hub: bool = False
    note: str | None = None
    """A cached copy was used because the Hub could not be asked (one line for the user)."""


def resolve_dataset(dataset: str | None, config: str, revision: str | None = None) -> DatasetFiles:
    """A local build folder (None: ``./robomme-mem``), or a Hub dataset repo downloaded at ``revision`` (only what ``config`` needs).

    Anything else is a one-line ``ValueError`` (:func:`robomme_mem.dataset.resolve.locate_dataset`), before any download.
    """
    if config not in ROW_CONFIGS:
        raise ValueError(f"--config {config!r}: train on one of {', '.join(ROW_CONFIGS)}")
    found = locate_dataset(dataset, revision=revision, patterns=[f"swift/{config}/*", f"{SWIFT_IMAGES_DIR}/*"])
    train = found.root / swift_jsonl(config, "train")
    if not train.is_file():
        raise ValueError(
            f"{found.source}: config {config!r} has no train split here (built configs: {', '.join(found.manifest.get('configs', {}))})"
        )
    validation = found.root / swift_jsonl(config, "validation")
    return DatasetFiles(
        found.root,
        found.source,
        revision,
        config,
        train,
        validation if validation.is_file() else None,
        found.manifest,
        hub=found.hub,
        note=found.note,
    )


def warm_start_for(recipe: Recipe, config: str, given: str | None) -> str | None:
    """The adapter to continue: ``--warm-start``, else the recipe's for the config's subgoal style ("none" for a fresh LoRA)."""
    choice = given if given is not None else recipe.warm_start.get(subgoal_style(config.removesuffix("_history")))
    return None if choice in (None, "", "none") else choice


def swift_command(recipe: Recipe, files: DatasetFiles, output: Path, adapter: str | None) -> list[str]:
    """The exact ``swift sft`` invocation."""
    cmd = ["swift", "sft", "--model", recipe.model, "--model_type", recipe.model_type, "--dataset", str(files.train)]
    if files.validation is not None:
        cmd += ["--val_dataset", str(files.validation)]
    if adapter:
        cmd += ["--adapters", adapter]
    for key, value in recipe.swift.items():
        if isinstance(value, bool):
            value = str(value).lower()
        cmd += [f"--{key}", *str(value).split()]
    cmd += ["--output_dir", str(output)]
    return cmd


def swift_env(recipe: Recipe, files: DatasetFiles) -> dict[str, str]:
    """Environment for ``swift sft``: the recipe's budgets, and where relative image paths resolve."""
    return {**recipe.env, "ROOT_IMAGE_DIR": str(files.root)}


def fetch_adapter(spec: str, *, local_only: bool = False) -> str:
    """A local adapter folder for ``repo_id[:subfolder]`` (downloaded) or a local path (as is).

    ``local_only`` (a dry run) downloads nothing: a copy already in the Hub cache gives its
    real path; otherwise the command shows where the download will go, in words. A repo the
    Hub cannot give now (offline, unreachable, no such repo) is a :class:`HubError`.
    """
    if Path(spec).exists():
        return spec
    repo, _, sub = spec.partition(":")
    patterns = [f"{sub}/**"] if sub else None
    if local_only:
        from huggingface_hub import snapshot_download

        try:
            local = Path(snapshot_download(repo, allow_patterns=patterns, local_files_only=True))
        except Exception:  # noqa: BLE001  (huggingface_hub's "not in the cache" errors differ by version)
            return f"<local copy of {spec}, downloaded from the Hub when the run starts>"
    else:
        local, _ = hub_snapshot(repo, repo_type="model", patterns=patterns)
    found = sorted((local / sub).rglob("adapter_config.json"), key=lambda p: p.parent.stat().st_mtime)
    if not found:
        raise ValueError(f"{spec}: no LoRA adapter (adapter_config.json) in it")
    return str(found[-1].parent)


# -- the adapter's card and push ----------------------------------------------------------


def loss_summary(output: Path) -> dict:
    """First and last training loss and steps, from the trainer state ms-swift writes."""
    states = sorted(output.rglob("trainer_state.json"), key=lambda p: p.stat().st_mtime)
    if not states:
        return {}
    history = [h for h in json.loads(states[-1].read_text()).get("log_history", []) if "loss" in h]
    if not history:
        return {}
    return {
        "steps": history[-1].get("step"),
        "first_loss": history[0]["loss"],
        "last_loss": history[-1]["loss"],
        "min_loss": min(h["loss"] for h in history),
    }


def model_card(
    recipe: Recipe, files: DatasetFiles, warm_start: str | None, output: Path, evaluation: dict | None = None
) -> str:
    losses = loss_summary(output)
    manifest = files.manifest
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {recipe.model}",
        "tags:",
        "- robotics",
        "- robomme",
        "- ms-swift",
        "- lora",
        f"datasets:\n- {files.source}" if files.hub else "datasets: []",
        "---",
        "",
        f"# {recipe.model.split('/')[-1]} + LoRA: RoboMME-Mem `{files.config}` high-level policy",
        "",
        "A LoRA adapter that makes the VLM emit the next subgoal and its compressed memory "
        "(see the dataset card for the format and prompts).",
        "",
        f"- Base model: `{recipe.model}`",
        f"- Warm start: `{warm_start or 'none (fresh LoRA)'}`",
        f"- Dataset: `{files.source}`, config `{files.config}`, revision `{files.revision or 'local build'}`, "
        f"spec {manifest.get('spec', {}).get('version', '?')}, label set `{(manifest.get('labels') or {}).get('name', '?')}`",
        f"- Recipe {recipe.version} (`train/recipe-1.toml` of robomme-mem), as run:",
        "",
        "```json",
        json.dumps(recipe.to_dict(), indent=2, sort_keys=True),
        "```",
        "",
        "## Training loss",
        "",
        (
            f"{losses['steps']} steps; loss {losses['first_loss']:.4f} -> {losses['last_loss']:.4f} (min {losses['min_loss']:.4f})"
            if losses
            else "No trainer state found."
        ),
        "",
        "## Evaluation",
        "",
        (
            "```json\n" + json.dumps(evaluation, indent=2, sort_keys=True) + "\n```"
            if evaluation
            else "No evaluation report was given."
        ),
        "",
    ]
    return "\n".join(lines)


def push_adapter(adapter_dir: Path, repo_id: str, card: str, *, private: bool = False, api=None) -> str:
    """Upload the adapter folder with its card in one commit; returns the commit id."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    (adapter_dir / "README.md").write_text(card, encoding="utf-8")
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(adapter_dir),
        commit_message=f"robomme-mem LoRA adapter ({adapter_dir.name})",
    )
    return commit.oid


def final_adapter(output: Path) -> Path:
    """The newest checkpoint folder ms-swift wrote under ``output``."""
    found = sorted(output.rglob("adapter_config.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ValueError(f"{output}: no adapter was written")
    return found[-1].parent


def main(argv: list[str] | None = None) -> int:
    """Every expected failure (no build, no Hub, no ms-swift, a failed run) ends in one line, exit 1; Ctrl-C, exit 130."""
    return front_door("sft.py", _main, argv, expected=(ValueError, FileNotFoundError), code=1)


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set, read as ``huggingface_hub`` reads it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="sft.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        help="a build folder or a Hub dataset repo id ORG/NAME (default: ./robomme-mem, if it holds a build)",
    )
    parser.add_argument("--config", default="dual_grounded", help="the config to train on (default: dual_grounded)")
    parser.add_argument("--revision", help="Hub revision (a version tag, say)")
    parser.add_argument(
        "--recipe", type=Path, default=DEFAULT_RECIPE, help="recipe file (default: train/recipe-1.toml)"
    )
    parser.add_argument("--model", help="base model (default: the recipe's)")
    parser.add_argument(
        "--warm-start",
        help="LoRA to continue: path or repo_id[:subfolder]; 'none' for a fresh one (default: the recipe's for the variant)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set learning_rate=2e-4",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/sft"), help="output folder")
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload the adapter with a model card")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--eval-report", type=Path, help="evaluation report (JSON) to put in the model card")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved files and the exact ms-swift invocation, and stop"
    )
    args = parser.parse_args(argv)

    recipe = Recipe.load(args.recipe).override(args.set)
    if args.model:
        recipe.model = args.model
    # everything a run needs is checked before anything is downloaded or trained
    evaluation = json.loads(args.eval_report.read_text(encoding="utf-8")) if args.eval_report else None
    if not args.dry_run and shutil.which("swift") is None:
        raise Refused(
            "ms-swift is not installed (no `swift` command on PATH): pip install 'robomme-mem[train]', or see what would run with --dry-run"
        )
    if args.push_to_hub and not args.dry_run and hub_offline():
        raise Refused(
            f"--push-to-hub {args.push_to_hub} needs the Hub, but HF_HUB_OFFLINE is set: unset it, or drop --push-to-hub"
        )
    files = resolve_dataset(args.dataset, args.config, args.revision)
    note("sft.py", files.note)
    warm = warm_start_for(recipe, args.config, args.warm_start)
    try:
        adapter = None if warm is None else fetch_adapter(warm, local_only=args.dry_run)
    except HubError as exc:
        whose = "" if args.warm_start is not None else f" (the recipe's default for {args.config})"
        raise Refused(
            f"cannot fetch the warm-start adapter {warm}{whose} from the Hub: {exc}; "
            "pass --warm-start none for a fresh LoRA, or --warm-start PATH to an adapter on disk"
        ) from None
    cmd = swift_command(recipe, files, args.output, adapter)
    env = swift_env(recipe, files)
    print(f"dataset: {files.source} (config {files.config}, revision {files.revision or 'local'}) at {files.root}")
    print(f"  train: {files.train}" + (f"\n  validation: {files.validation}" if files.validation else ""))
    print(f"warm start: {warm or 'none (fresh LoRA)'}")
    print("command: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    try:
        subprocess.run(cmd, env={**os.environ, **env}, check=True)
    except FileNotFoundError:
        raise Refused(
            "ms-swift is not installed (no `swift` command on PATH): pip install 'robomme-mem[train]'"
        ) from None
    except subprocess.CalledProcessError as exc:
        raise Refused(f"swift sft failed (exit {exc.returncode}); its messages are above") from None
    if args.push_to_hub:
        done = final_adapter(args.output)
        try:
            commit = push_adapter(
                done, args.push_to_hub, model_card(recipe, files, warm, args.output, evaluation), private=args.private
            )
        except Exception as exc:  # noqa: BLE001 -- the Hub's refusals and connection errors are one line; the adapter stays on disk
            raise Refused(
                f"cannot push {done} to {args.push_to_hub}: {type(exc).__name__}: {first_line(exc, 200)} (the adapter is on disk)"
            ) from None
        print(f"pushed {done} to https://huggingface.co/{args.push_to_hub} (commit {commit[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
