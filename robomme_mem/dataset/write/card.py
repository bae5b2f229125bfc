"""The dataset card (``README.md``): YAML ``configs:`` for ``datasets`` and the build's story.

Rendered from ``dataset_cards/robomme-mem.md`` with the manifest's numbers only, so two builds
with equal manifests have equal cards. ``datasets`` reads the YAML ``configs:`` block to map
each config and split to its Parquet shards; the ms-swift JSONL under ``swift/`` is left out
of it on purpose (``datasets`` takes one file format per config).
"""

from __future__ import annotations

import json
from collections import Counter
from importlib.resources import files
from string import Template

import xxhash

from ...configs import ALL_CONFIGS, BUILDABLE_CONFIGS, DEFAULT_CONFIG, SCENE, TRACES
from ..assemble.answerable import answerable_table
from ..assemble.schema import SCENE_DOCS
from ..checksum import READ_DIGEST, SOURCE_CHECKSUM
from ..layout import EVERY_SPLIT, FAILURES_SPLIT, SPLITS, parquet_dir

TEMPLATE = "robomme-mem.md"
ROBOMME_TERMS = "https://github.com/RoboMME/robomme_benchmark"
"""Where RoboMME states the terms its demonstrations come with (the Hub's ``license_link``)."""
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
    SCENE: "one row per call frame: every task object as the simulator has it (scene truth)",
}


def data_fingerprint(files: list[str], checksums: dict[str, dict]) -> str:
    """One hash of a config's Parquet files (their names and checksums)."""
    digest = xxhash.xxh3_64()
    for name in files:
        digest.update(f"{name}:{checksums[name][SOURCE_CHECKSUM]}\n".encode())
    return digest.hexdigest()


def yaml_header(
    data_files: dict[str, dict[str, list[str]]], checksums: dict[str, dict], origin: str = "recorded"
) -> str:
    """The card's front matter (YAML written by hand: a fixed, small shape, and byte-stable).

    Each config's ``description`` names a fingerprint of its data files. ``datasets`` keys the
    cache of a local folder with YAML configs on the configs alone (the patterns, not the files
    they match), so without it a rebuilt folder (relabelled, say) would load the old cached rows.
    """
    # Rows made wholly by robomme-mem's generator are the package's own (Apache-2.0); rows from
    # RoboMME's demonstrations carry RoboMME's terms, named the way the Hub expects for "other".
    license = (
        ["license: apache-2.0"]
        if origin == "synthetic"
        else ["license: other", "license_name: robomme", f"license_link: {ROBOMME_TERMS}"]
    )
    lines = [
        "pretty_name: RoboMME-Mem" + (" (synthetic sample)" if origin == "synthetic" else ""),
        *license,
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
        present = [split for split in EVERY_SPLIT if splits.get(split)]
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


def audit_text(
    scores: dict | None, overall_table: str | None, truth_table: str | None = None, answerable: dict | None = None
) -> str:
    """The label audit in short: the overall row (rendered by the audit) and the fixtures found."""
    if not scores or not overall_table:
        return "No labelled config was built, so no label audit."
    lines = [
        "What the labels say, scored against the demonstrations (`robomme-mem audit`; rate [95% interval] n; "
        "per task in `manifest.json` under `labels_audit`):",
        "",
        overall_table,
    ]
    found = scores["overall"]["spatial"]["fixtures"]
    if found:
        lines += [
            "",
            "Fixtures the spatial memories report as objects in every episode of their task: " + "; ".join(found) + ".",
        ]
    if answerable and answerable.get("by_config"):
        lines += [
            "",
            "Answerable rows: where a row's target is singled out by the past (the container that hides a cube, the highlighted "
            "cube, what a video showed), the share of rows whose input holds that fact with the target's place (in a memory, or the "
            "video itself; rate [95% interval] n; the rows that are not, under `answerable` in `manifest.json`):",
            "",
            answerable_table(answerable),
        ]
    if truth_table:
        lines += [
            "",
            "The spatial memories against the scene truth (`robomme-mem audit --truth`; an entry is true within 10 px of a place "
            "of a true object of its kind; per task in `manifest.json` under `labels_audit_truth`):",
            "",
            truth_table,
        ]
    return "\n".join(lines)


def swift_command(manifest: dict) -> str:
    """The card's ``swift sft`` line, for the default config; ``--val_dataset`` only when that split has rows."""
    configs = manifest["configs"]
    config = (
        DEFAULT_CONFIG
        if DEFAULT_CONFIG in configs
        else next((c for c in ALL_CONFIGS if c in configs and c != TRACES), DEFAULT_CONFIG)
    )
    line = f"swift sft --model Qwen/Qwen3-VL-4B-Instruct --dataset swift/{config}/train.jsonl"
    if configs.get(config, {}).get("validation"):
        line += f" --val_dataset swift/{config}/validation.jsonl"
    return line + " ..."


def failures_text(manifest: dict) -> str:
    """The episodes that hold a failed grasp ``robomme-mem record`` injected, as a sentence (none: nothing)."""
    failures = [e for e in manifest.get("episodes", []) if e.get("injected_failure")]
    if not failures:
        return ""
    modes = ", ".join(
        f"{m} {n}" for m, n in sorted(Counter(e["injected_failure"].get("mode") for e in failures).items())
    )
    held = (
        f" They are held out as the `{FAILURES_SPLIT}` split (the spec's `splits.hold_out_failures`)."
        if manifest["splits"].get("hold_out_failures")
        else ""
    )
    return (
        f" {len(failures)} of them hold a failed grasp injected while recording (`robomme-mem record`; modes: {modes}):"
        " the gripper closes on nothing and reopens before the real grasp. The `traces` config names it per episode (`injected_failure`)."
        + held
    )


def origin_text(manifest: dict) -> tuple[str, str]:
    """(title note, paragraph): what the rows were built from, in words no reader can miss."""
    origin = manifest.get("origin", "recorded")
    synthetic = [s for s in manifest["sources"] if s.get("synthetic")]
    recorded = [s for s in manifest["sources"] if not s.get("synthetic")]
    drawn = (
        f"**These rows are synthetic.** {sum(s['episodes'] for s in synthetic)} episodes of {len(synthetic)} file(s) "
        "were drawn by robomme-mem's own generator in RoboMME's HDF5 layout (scripted subgoals, drawn scenes): "
        "they exercise the pipeline and are not RoboMME demonstrations, so do not train a policy on them or publish them as RoboMME data."
    )
    real = (
        f"Rows are built from {sum(s['episodes'] for s in recorded)} [RoboMME](https://github.com/RoboMME) demonstrations "
        f"(ManiSkill, HDF5) in {len(recorded)} file(s), listed with their checksums under [Source](#source)."
    )
    if origin == "synthetic":
        return " (synthetic sample)", drawn
    if origin == "mixed":
        return " (partly synthetic)", f"{real} {drawn.replace('These rows are synthetic.', 'Some rows are synthetic:')}"
    return "", real


def example_text(manifest: dict) -> tuple[str, str]:
    """The card's example completion, taken from the build's own rows."""
    example = manifest.get("example")
    if not example:
        return "This build has no memory config, so no example completion.", ""
    where = f"`{example['config']}`, {example['task']} episode {example['episode']}, frame {example['frame']}"
    return f"One target of this build ({where}):", "```\n" + example["answer"] + "\n```"


def scene_text(manifest: dict) -> str:
    """The ``scene`` config's section: where its truth came from and a sentence for every feature."""
    scene = manifest.get("scene")
    if not scene:
        return ""
    simulator = ", ".join(f"{k} {v}" for k, v in sorted((scene.get("simulator") or {}).items()) if v)
    without = scene.get("episodes_without_truth") or []
    lines = [
        "## Scene truth",
        "",
        f"The `{SCENE}` config holds what RoboMME's simulator says is in every call frame: each demonstration was replayed "
        f"from its setup and recorded actions (`robomme-mem truth`; truth file `{scene['truth']['file']}`, xxh3-128 "
        f"`{scene['truth'][SOURCE_CHECKSUM]}`; {simulator or 'simulator versions not recorded'}) and kept only where the replayed "
        "front image and RoboMME's grounded points agreed with the recording"
        + (f" (thresholds: {json.dumps(scene['thresholds'], sort_keys=True)})" if scene.get("thresholds") else "")
        + ".",
    ]
    if without:
        lines += ["", f"{len(without)} episode(s) have no truth and no `{SCENE}` rows: {', '.join(without)}."]
    lines += ["", "| feature | what it is |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in SCENE_DOCS.items()]
    return "\n".join(lines) + "\n\n"


def points_text(manifest: dict) -> str:
    sizes = (manifest.get("frames") or {}).get("sizes") or []
    frame = " or ".join(f"{h}x{w}" for h, w in sizes) or "front"
    return (
        f"Coordinates `<y, x>` are pixels on the {frame} front-camera image the row embeds: row, then column, "
        "counted from the top-left corner (RoboMME's grounded subgoals use the same order)."
    )


def location(repo: str) -> tuple[str, str]:
    """(what ``load_dataset`` takes, the citation's ``howpublished``) for a Hub repo id or a build folder."""
    if repo.startswith(("/", ".")) or "/" not in repo or repo.count("/") > 1:
        return repo, f"local build at \\texttt{{{repo}}}, not published"
    return repo, f"\\url{{https://huggingface.co/datasets/{repo}}}"


def render_card(manifest: dict, repo: str, audit_table: str | None = None, truth_table: str | None = None) -> str:
    """The card of a build, naming where it loads from: its folder's path, or ``ORG/NAME`` once pushed.

    ``audit_table``: the label audit's overall row as the audit renders it (``audit.overall_table``).
    """
    template = Template(files("robomme_mem").joinpath("dataset_cards", TEMPLATE).read_text(encoding="utf-8"))
    configs = [
        c for c in BUILDABLE_CONFIGS if c in manifest["configs"]
    ]  # manifest.json sorts its keys; the card keeps the build's order
    labels = manifest.get("labels") or {}
    params = labels.get("params") or {}
    spec = manifest["spec"]
    shown = [s for s in EVERY_SPLIT if s in SPLITS or any(counts.get(s) for counts in manifest["configs"].values())]
    fraction = manifest["splits"]["validation_fraction"]
    split_text = (
        "the episodes listed in the build's split file are validation."
        if manifest["options"].get("split_file")
        else f"{fraction:.0%} of each task's episodes (rounded; none for a task with fewer than "
        f"{int(0.5 / fraction + 0.999) if fraction else 'any'} episodes), chosen by a hash of (seed {manifest['splits']['seed']}, task, episode)."
    )
    title_note, origin = origin_text(manifest)
    example_intro, example = example_text(manifest)
    load, howpublished = location(repo)
    license_text = (
        "The rows are robomme-mem's own synthetic data, Apache-2.0 like the package."
        if manifest.get("origin") == "synthetic"
        else f"The rows derive from RoboMME's demonstrations and follow their terms ({ROBOMME_TERMS}); robomme-mem itself is Apache-2.0."
    )
    return template.substitute(
        title_note=title_note,
        origin_text=origin,
        example_intro=example_intro,
        example=example,
        points_text=points_text(manifest),
        default_config=DEFAULT_CONFIG if DEFAULT_CONFIG in manifest["configs"] else configs[0],
        howpublished=howpublished,
        license_text=license_text,
        audit=audit_text(manifest.get("labels_audit"), audit_table, truth_table, manifest.get("answerable")),
        scene=scene_text(manifest),
        swift_command=swift_command(manifest),
        yaml=yaml_header(
            {c: manifest["data_files"][c] for c in configs}, manifest["files"], manifest.get("origin", "recorded")
        ),
        version=spec["version"],
        bib_version=spec["version"].replace(".", "_"),
        package_version=manifest["package"]["version"],
        spec_name=spec["file"],
        spec_version=spec["version"],
        spec_sha=spec["sha256"],
        split_header=" | ".join(f"{s} rows" for s in shown),
        split_rule="---|" * len(shown),
        config_rows="\n".join(
            f"| `{c}` | {_DESCRIPTIONS.get(c, c)} | "
            + " | ".join(str(manifest["configs"][c].get(s, 0)) for s in shown)
            + " |"
            for c in configs
        ),
        split_rule_text=split_text,
        repo=load,
        labeller=labels.get("labeller", "no labeller (no labelled config was built)"),
        model=params.get("model", "-"),
        label_set=labels.get("name", "-"),
        label_id=(labels.get("id") or "-")[:16],
        label_params=json.dumps({k: v for k, v in params.items() if v is not None}, sort_keys=True) if params else "-",
        prompt_set=manifest["options"].get("prompt_set", spec.get("prompt_set", "1")),
        episodes=manifest["totals"]["episodes"],
        steps=manifest["totals"]["steps"],
        call_frames=manifest["totals"]["call_frames"],
        failures_text=failures_text(manifest),
        source_rows="\n".join(
            f"| {s['file']} | {s['task']} | {'synthetic' if s.get('synthetic') else 'recorded'} | {s['episodes']} | {s['bytes']} | `{s[READ_DIGEST]}` |"
            for s in manifest["sources"]
        ),
    )
