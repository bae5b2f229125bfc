"""Teacher-forced scoring of a high-level policy on a published split: no simulator needed.

    python evaluate/offline.py --dataset robomme-mem --config dual_grounded --backend replay   # a self-check of the loop
    python evaluate/offline.py --dataset ORG/robomme-mem --revision v1.0.0 --config grounded --split validation \\
        --backend openai --base-url http://localhost:8000/v1 --model robomme-lora --out report.json

Every row's own prompt (goal, memories from the data, frame) goes to the backend; the answer is
parsed with the rollout parser (:mod:`robomme_mem.closed_loop.policy`) and compared with the row's target:

- ``subgoal_exact``: normalised subgoal equals the target's;
- ``pixel_error``: mean distance between the predicted and true ``<a, b>`` points (grounded);
- ``format_valid``: the answer needed no parser fallback;
- ``boundary_precision`` / ``boundary_recall``: the predicted subgoal changes exactly where the
  data's does (per episode, in frame order);
- ``memory_update_agreement``: the policy rewrites its memory exactly when the target does;
- ``count_faithful``: on counting tasks, the count in the memory equals the target memory's.

An answer without its memory block (``<mem>``, and ``<spatial_mem>`` for dual configs) is wrong
on every memory metric: the parser's fallback to the previous memory would otherwise agree
with a target that did not change. The baseline configs (RoboMME's subgoal data, no memory)
are scored on the subgoal metrics, their ``<bbox>`` targets filled from the row's ``objects``.

Per task and overall, with bootstrap 95% intervals over rows; JSON and Markdown output.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from robomme_mem.configs import BASELINE_CONFIGS, ROW_CONFIGS
from robomme_mem.closed_loop.policy import BACKENDS, MAX_NEW_TOKENS, NO_MEMORY, NO_SPATIAL, UNCLOSED_MEMORY, UNCLOSED_SPATIAL, make_backend, parse_answer
from robomme_mem.prompts import INITIAL_MEMORY, INITIAL_SPATIAL
from robomme_mem.subgoals import COUNTING_TASKS, NUMBER_WORDS, POINT_RE, TIMES_WORDS, normalise, points_in_order

_COUNT_WORDS = {**TIMES_WORDS, **NUMBER_WORDS}
_COUNT = re.compile(r"\b(\d+|" + "|".join(_COUNT_WORDS) + r")\b(?:\s+times?)?", re.IGNORECASE)
METRICS = ("subgoal_exact", "pixel_error", "format_valid", "boundary_precision", "boundary_recall", "memory_update_agreement", "count_faithful")


def counts(text: str) -> list[int]:
    """Numbers a memory states (``twice`` -> 2, ``3 times`` -> 3), coordinates excluded."""
    text = POINT_RE.sub(" ", text)
    return [int(m) if m.isdigit() else _COUNT_WORDS[m.lower()] for m in _COUNT.findall(text)]


def pixel_error(predicted: str, true: str) -> float | None:
    a, b = points_in_order(predicted), points_in_order(true)
    if not b:
        return None
    if not a:
        return math.inf
    return float(np.mean([math.dist(p, t) for p, t in zip(a, b)]))


_MEMORY_MISSING = {NO_MEMORY, UNCLOSED_MEMORY, NO_SPATIAL, UNCLOSED_SPATIAL}


def baseline_target(row: dict) -> str:
    """A baseline row's target with each ``<bbox>`` replaced by its point from ``objects`` (``<y, x>``)."""
    text = row["messages"][2]["content"]
    for y, x in (row.get("objects") or {}).get("bbox") or []:
        text = text.replace("<bbox>", f"<{y}, {x}>", 1)
    return text


def score_rows(rows: list[dict], answers: list[str], dual: bool, baseline: bool = False) -> list[dict]:
    """Per-row scores; ``rows`` carry task, episode, frame, memory_in, spatial_in and the target."""
    scored = []
    for row, answer in zip(rows, answers):
        if baseline:
            target, predicted = parse_answer(baseline_target(row), dual=False), parse_answer(answer, dual=False)
            scored.append(_subgoal_scores(row, target, predicted, format_valid=bool(predicted.subgoal)))
            continue
        target = parse_answer(row["messages"][2]["content"], dual=dual)
        previous = {"previous_memory": row.get("memory_in") or INITIAL_MEMORY, "previous_spatial": row.get("spatial_in") or (INITIAL_SPATIAL if dual else None)}
        predicted = parse_answer(answer, dual=dual, **previous)
        true_count, predicted_count = counts(target.memory), counts(predicted.memory)
        has_memory = not _MEMORY_MISSING & set(predicted.fallbacks)
        scored.append(
            {
                **_subgoal_scores(row, target, predicted, format_valid=predicted.valid),
                "memory_update_agreement": float(has_memory and (predicted.memory != previous["previous_memory"]) == (target.memory != previous["previous_memory"])),
                "count_faithful": float(has_memory and predicted_count == true_count) if row["task"] in COUNTING_TASKS and true_count else None,
                "fallbacks": list(predicted.fallbacks),
            }
        )
    return scored


def _subgoal_scores(row: dict, target, predicted, format_valid: bool) -> dict:
    """The subgoal metrics of a row (a baseline row has no memory, so these are all it gets)."""
    return {
        "task": row["task"],
        "episode": row["episode"],
        "frame": row["frame"],
        "predicted_subgoal": normalise(predicted.subgoal),
        "true_subgoal": normalise(target.subgoal),
        "subgoal_exact": float(normalise(predicted.subgoal) == normalise(target.subgoal)),
        "pixel_error": pixel_error(predicted.subgoal, target.subgoal),
        "format_valid": float(format_valid),
        "memory_update_agreement": None,
        "count_faithful": None,
        "fallbacks": [],
    }


def boundary_scores(scored: list[dict]) -> tuple[list[float], list[float]]:
    """Per predicted change: was it a true change (precision); per true change: was it predicted (recall)."""
    precision, recall = [], []
    episodes = defaultdict(list)
    for row in scored:
        episodes[(row["task"], row["episode"])].append(row)
    for rows in episodes.values():
        rows.sort(key=lambda r: r["frame"])
        for before, now in zip(rows, rows[1:]):
            predicted = now["predicted_subgoal"] != before["predicted_subgoal"]
            true = now["true_subgoal"] != before["true_subgoal"]
            if predicted:
                precision.append(float(true))
            if true:
                recall.append(float(predicted))
    return precision, recall


def summarise(values: list[float], rng: np.random.Generator, resamples: int = 1000) -> dict:
    """Mean with a bootstrap 95% interval; infinite pixel errors (no point predicted) are reported apart."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    missing = sum(1 for v in values if v is not None and not math.isfinite(v))
    if not finite:
        return {"n": 0, "mean": None, "ci95": None, **({"missing_points": missing} if missing else {})}
    data = np.asarray(finite)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    out = {"n": len(finite), "mean": float(data.mean()), "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]}
    if missing:
        out["missing_points"] = missing
    return out


def report(scored: list[dict], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    groups = {"overall": scored}
    for task in sorted({r["task"] for r in scored}):
        groups[task] = [r for r in scored if r["task"] == task]
    out = {}
    for name, rows in groups.items():
        precision, recall = boundary_scores(rows)
        metrics = {m: summarise([r[m] for r in rows if r[m] is not None], rng) for m in METRICS if m not in ("boundary_precision", "boundary_recall")}
        metrics["boundary_precision"] = summarise(precision, rng)
        metrics["boundary_recall"] = summarise(recall, rng)
        fallbacks = defaultdict(int)
        for row in rows:
            for f in row["fallbacks"]:
                fallbacks[f] += 1
        out[name] = {"rows": len(rows), "metrics": metrics, "fallbacks": dict(fallbacks)}
    return out


def markdown(result: dict, title: str) -> str:
    lines = [f"# {title}", "", "| group | rows | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for name, group in result.items():
        cells = []
        for metric in METRICS:
            m = group["metrics"][metric]
            cells.append("-" if m["mean"] is None else f"{m['mean']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]")
        lines.append(f"| {name} | {group['rows']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def load_rows(dataset: str, config: str, split: str, revision: str | None, max_rows: int | None):
    """The split's rows; a config or split the dataset lacks is a ``ValueError`` saying what it has."""
    from datasets import get_dataset_split_names, load_dataset

    if config not in ROW_CONFIGS:
        raise ValueError(f"config {config!r} has no prompts to score (choose one of {', '.join(ROW_CONFIGS)})")
    try:
        ds = load_dataset(dataset, config, split=split, revision=revision)
    except ValueError as exc:
        if "split" not in str(exc).lower():
            raise
        try:
            have = ", ".join(get_dataset_split_names(dataset, config, revision=revision))
        except Exception:  # noqa: BLE001  (only for the message)
            have = "unknown"
        raise ValueError(f"{dataset} {config} has no split {split!r} (splits: {have})") from None
    if max_rows:
        ds = ds.select(range(min(max_rows, len(ds))))
    return ds


def run(dataset: str, config: str, split: str, backend, revision: str | None = None, max_rows: int | None = None, progress: bool = True) -> tuple[dict, list[dict]]:
    return score_split(load_rows(dataset, config, split, revision, max_rows), config, backend, progress, videos_in=_folder(dataset))


def _folder(dataset: str) -> Path | None:
    """A local build folder, where a row's ``videos`` (paths relative to it) can be read."""
    return Path(dataset) if Path(dataset).is_dir() else None


def _video(row: dict, videos_in: Path | None) -> dict:
    """The demonstration mp4 of a row that carries one (a video task's first call), as the runtime sends it."""
    names = row.get("videos") or []
    if not names or videos_in is None or not (videos_in / names[0]).is_file():
        return {}
    return {"video": (videos_in / names[0]).read_bytes()}


def score_split(ds, config: str, backend, progress: bool = True, videos_in: Path | None = None) -> tuple[dict, list[dict]]:
    """Ask ``backend`` every row's prompt of a loaded split; the report and the per-row scores.

    ``videos_in``: the build folder the rows' ``videos`` are read from (a local build); a Hub
    split's rows name their mp4 but the Parquet shards do not hold it."""
    baseline = config in BASELINE_CONFIGS
    variant = "grounded" if baseline else config.removesuffix("_history")
    dual = variant.startswith("dual")
    rows, answers = [], []
    for row in tqdm(ds, desc=config, unit="row", disable=not progress):
        image = np.asarray(row["images"][0].convert("RGB")) if row["images"] else None
        answers.append(backend(row["messages"][:2], image, MAX_NEW_TOKENS[variant], **_video(row, videos_in)))
        rows.append(row)
    scored = score_rows(rows, answers, dual, baseline)
    return report(scored), scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="robomme-mem", help="build folder or Hub dataset repo id")
    parser.add_argument("--config", default="dual_grounded", metavar="CONFIG",
                        help=f"a row config (default: %(default)s; any of {', '.join(ROW_CONFIGS)}; baselines get the subgoal metrics)")
    parser.add_argument("--split", default="train", help="split to score (default: %(default)s)")
    parser.add_argument("--revision", help="Hub revision or tag, e.g. v1.0.0")
    parser.add_argument("--backend", choices=BACKENDS, required=True,
                        help="openai or swift score a model; replay answers with the split's own targets (a self-check of the scoring loop: 1.000 by construction)")
    parser.add_argument("--model", help="served model name (openai) or base model (swift)")
    parser.add_argument("--adapter", help="LoRA adapter (swift backend)")
    parser.add_argument("--base-url", help="OpenAI-compatible server (openai backend)")
    parser.add_argument("--max-rows", type=int)
    parser.add_argument("--out", type=Path, help="JSON report (a .md beside it gets the table)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    try:
        ds = load_rows(args.dataset, args.config, args.split, args.revision, args.max_rows)
    except (ValueError, FileNotFoundError) as exc:
        print(f"offline.py: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    target = baseline_target if args.config in BASELINE_CONFIGS else (lambda r: r["messages"][2]["content"])
    targets = [target(r) for r in ds] if args.backend == "replay" else None
    try:
        backend = make_backend(args.backend, model=args.model, base_url=args.base_url, adapter=args.adapter, targets=targets)
    except ValueError as exc:
        parser.error(str(exc))
    result, _ = score_split(ds, args.config, backend, progress=not args.quiet, videos_in=_folder(args.dataset))
    replay = args.backend == "replay"
    title = f"Offline scores: {args.dataset} {args.config}/{args.split} ({args.backend})"
    if replay:
        title = f"SELF-CHECK, not a model's score: {args.dataset} {args.config}/{args.split} replayed from its own targets"
    table = markdown(result, title)
    print(table)
    if args.out:
        args.out.write_text(json.dumps({"dataset": args.dataset, "config": args.config, "split": args.split, "revision": args.revision,
                                        "backend": args.backend, "self_check": replay, "model": args.model, "adapter": args.adapter,
                                        "scores": result}, indent=2))
        args.out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
