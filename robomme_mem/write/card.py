"""The dataset card (``README.md``): YAML ``configs:`` for ``datasets`` and the build's story.

Rendered from ``dataset_cards/robomme-mem.md`` with the manifest's numbers only, so two builds
with equal manifests have equal cards. ``datasets`` reads the YAML ``configs:`` block to map
each config and split to its Parquet shards; the ms-swift JSONL under ``swift/`` is left out
of it on purpose (``datasets`` takes one file format per config).
"""

from __future__ import annotations

import json
from importlib.resources import files
from string import Template

import xxhash

from ..checksum import READ_DIGEST, SOURCE_CHECKSUM
from ..configs import TRACES
from ..layout import SPLITS, parquet_dir

TEMPLATE = "robomme-mem.md"
DEFAULT_REPO = "robomme-mem"
DEFAULT_CONFIG = "dual_grounded"
_DESCRIPTIONS = {
    "simple": "memory-only, simple subgoals",
    "grounded": "memory-only, grounded subgoals and memories",
    "dual_simple": "action + spatial memory, simple subgoals",
    "dual_grounded": "action + spatial memory, grounded (the full method)",
    "simple_history": "`simple` + subgoal history (ablation)",
    "grounded_history": "`grounded` + subgoal history (ablation)",
    "dual_simple_history": "`dual_simple` + subgoal history (ablation)",
    "dual_grounded_history": "`dual_grounded` + subgoal history (ablation)",
    "baseline_simple": "RoboMME's QwenVL subgoal data (simple)",
    "baseline_grounded": "RoboMME's QwenVL subgoal data (grounded)",
    TRACES: "one row per episode: the whole memory chain",
}


def data_fingerprint(files: list[str], checksums: dict[str, dict]) -> str:
    """One hash of a config's Parquet files (their names and checksums)."""
    digest = xxhash.xxh3_64()
    for name in files:
        digest.update(f"{name}:{checksums[name][SOURCE_CHECKSUM]}\n".encode())
    return digest.hexdigest()


def yaml_header(data_files: dict[str, dict[str, list[str]]], checksums: dict[str, dict]) -> str:
    """The card's front matter (YAML written by hand: a fixed, small shape, and byte-stable).

    Each config's ``description`` names a fingerprint of its data files. ``datasets`` keys the
    cache of a local folder with YAML configs on the configs alone (the patterns, not the files
    they match), so without it a rebuilt folder (relabelled, say) would load the old cached rows.
    """
    lines = [
        "pretty_name: RoboMME-Mem",
        "license: other",
        "task_categories:",
        "- robotics",
        "tags:",
        "- robotics",
        "- vision-language",
        "- memory",
        "- robomme",
        "- ms-swift",
        "configs:",
    ]
    for config, splits in data_files.items():
        present = [split for split in SPLITS if splits.get(split)]
        if not present:  # nothing to load (every episode left out): no config
            continue
        lines.append(f"- config_name: {config}")
        if config == DEFAULT_CONFIG:
            lines.append("  default: true")
        every = [name for split in present for name in splits[split]]
        lines.append(f"  description: 'RoboMME-Mem {config}, data xxh3 {data_fingerprint(every, checksums)}'")
        lines.append("  data_files:")
        for split in present:
            lines.append(f"  - split: {split}")
            lines.append(f"    path: {parquet_dir(config)}/{split}-*.parquet")
    return "\n".join(lines)


def audit_text(scores: dict | None) -> str:
    """The label audit in short: the overall row and the fixtures found (``robomme-mem audit`` has the rest)."""
    if not scores:
        return "No labelled config was built, so no label audit."
    from ..audit import table  # noqa: PLC0415  (the card alone needs it)

    lines = [
        "What the labels say, scored against the demonstrations (`robomme-mem audit`; rate [95% interval] n; "
        "per task in `manifest.json` under `labels_audit`):",
        "",
        table({"overall": scores["overall"]}),
    ]
    found = scores["overall"]["spatial"]["fixtures"]
    if found:
        lines += ["", "Fixtures the spatial memories report as objects in every episode: " + "; ".join(found) + "."]
    return "\n".join(lines)


def swift_command(manifest: dict) -> str:
    """The card's ``swift sft`` line, for the default config; ``--val_dataset`` only when that split has rows."""
    configs = manifest["configs"]
    config = DEFAULT_CONFIG if DEFAULT_CONFIG in configs else next((c for c in configs if c != TRACES), DEFAULT_CONFIG)
    line = f"swift sft --model Qwen/Qwen3-VL-4B-Instruct --dataset swift/{config}/train.jsonl"
    if configs.get(config, {}).get("validation"):
        line += f" --val_dataset swift/{config}/validation.jsonl"
    return line + " ..."


def render_card(manifest: dict, repo: str = DEFAULT_REPO) -> str:
    template = Template(files("robomme_mem").joinpath("dataset_cards", TEMPLATE).read_text(encoding="utf-8"))
    configs = list(manifest["configs"])
    labels = manifest.get("labels") or {}
    params = labels.get("params") or {}
    spec = manifest["spec"]
    fraction = manifest["splits"]["validation_fraction"]
    split_text = (
        "the episodes listed in the build's split file are validation."
        if manifest["options"].get("split_file")
        else f"{fraction:.0%} of each task's episodes (rounded; none for a task with fewer than "
        f"{int(0.5 / fraction + 0.999) if fraction else 'any'} episodes), chosen by a hash of (seed {manifest['splits']['seed']}, task, episode)."
    )
    return template.substitute(
        audit=audit_text(manifest.get("labels_audit")),
        swift_command=swift_command(manifest),
        yaml=yaml_header(manifest["data_files"], manifest["files"]),
        version=spec["version"],
        bib_version=spec["version"].replace(".", "_"),
        package_version=manifest["package"]["version"],
        spec_name=spec["file"],
        spec_version=spec["version"],
        spec_sha=spec["sha256"],
        split_header=" | ".join(f"{s} rows" for s in SPLITS),
        split_rule="---|" * len(SPLITS),
        config_rows="\n".join(
            f"| `{c}` | {_DESCRIPTIONS.get(c, c)} | " + " | ".join(str(manifest["configs"][c].get(s, 0)) for s in SPLITS) + " |" for c in configs
        ),
        split_rule_text=split_text,
        repo=repo,
        labeller=labels.get("labeller", "no labeller (no labelled config was built)"),
        model=params.get("model", "-"),
        label_set=labels.get("name", "-"),
        label_id=(labels.get("id") or "-")[:16],
        label_params=json.dumps({k: v for k, v in params.items() if v is not None}, sort_keys=True) if params else "-",
        prompt_set=manifest["options"].get("prompt_set", spec.get("prompt_set", "1")),
        episodes=manifest["totals"]["episodes"],
        steps=manifest["totals"]["steps"],
        call_frames=manifest["totals"]["call_frames"],
        source_rows="\n".join(f"| {s['file']} | {s['task']} | {s['episodes']} | {s['bytes']} | `{s[READ_DIGEST]}` |" for s in manifest["sources"]),
    )
