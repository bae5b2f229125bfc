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

``--dataset`` is a build folder (default: ``./robomme-mem``, where ``robomme-mem build`` writes) or a
Hub repo ``ORG/NAME``; any other name is refused before the Hub is asked
(:mod:`robomme_mem.dataset.resolve`). An OpenAI-compatible endpoint is probed before any row is read.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from robomme_mem.closed_loop.policy import (
    BACKENDS,
    MAX_NEW_TOKENS,
    NO_MEMORY,
    NO_SPATIAL,
    UNCLOSED_MEMORY,
    UNCLOSED_SPATIAL,
    backend_problem,
    endpoint_problem,
    make_backend,
    parse_answer,
)
from robomme_mem.configs import BASELINE_CONFIGS, ROW_CONFIGS
from robomme_mem.dataset.layout import parquet_dir
from robomme_mem.dataset.resolve import Located, locate_dataset
from robomme_mem.errors import EndpointError
from robomme_mem.prompts import GROUNDED_BOX_PLACEHOLDER, INITIAL_MEMORY, INITIAL_SPATIAL
from robomme_mem.scripts import Refused, front_door, note
from robomme_mem.subgoals import COUNTING_TASKS, counts, normalise, point_text, points_in_order

METRICS = (
    "subgoal_exact",
    "pixel_error",
    "format_valid",
    "boundary_precision",
    "boundary_recall",
    "memory_update_agreement",
    "count_faithful",
)


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
        text = text.replace(GROUNDED_BOX_PLACEHOLDER, point_text((y, x)), 1)
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
        previous = {
            "previous_memory": row.get("memory_in") or INITIAL_MEMORY,
            "previous_spatial": row.get("spatial_in") or (INITIAL_SPATIAL if dual else None),
        }
        predicted = parse_answer(answer, dual=dual, **previous)
        true_count, predicted_count = counts(target.memory), counts(predicted.memory)
        has_memory = not _MEMORY_MISSING & set(predicted.fallbacks)
        scored.append(
            {
                **_subgoal_scores(row, target, predicted, format_valid=predicted.valid),
                "memory_update_agreement": float(
                    has_memory
                    and (predicted.memory != previous["previous_memory"])
                    == (target.memory != previous["previous_memory"])
                ),
                "count_faithful": float(has_memory and predicted_count == true_count)
                if row["task"] in COUNTING_TASKS and true_count
                else None,
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
    out = {
        "n": len(finite),
        "mean": float(data.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
    }
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
        metrics = {
            m: summarise([r[m] for r in rows if r[m] is not None], rng)
            for m in METRICS
            if m not in ("boundary_precision", "boundary_recall")
        }
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


def load_rows(dataset: str | None, config: str, split: str, revision: str | None, max_rows: int | None):
    """The split's rows of a build folder or Hub repo (:func:`locate_rows`, then :func:`open_split`)."""
    return open_split(locate_rows(dataset, config, revision), config, split, max_rows)


def locate_rows(dataset: str | None, config: str, revision: str | None = None) -> Located:
    """Where ``config``'s rows are: a build folder (None: ``./robomme-mem``), or a Hub repo's snapshot of them.

    A config with nothing to score, or a name that is neither, is a one-line ``ValueError`` before any download."""
    if config not in ROW_CONFIGS:
        raise ValueError(f"config {config!r} has no prompts to score (choose one of {', '.join(ROW_CONFIGS)})")
    return locate_dataset(dataset, revision=revision, patterns=[f"{parquet_dir(config)}/*"])


def open_split(found: Located, config: str, split: str, max_rows: int | None = None):
    """The split's rows, read from the folder (never from the Hub); a config or split it lacks is a ``ValueError`` saying what it has."""
    from datasets import get_dataset_split_names, load_dataset

    root = str(found.root)
    try:
        ds = load_dataset(root, config, split=split)
    except ValueError as exc:
        if "split" not in str(exc).lower():
            raise
        try:
            have = ", ".join(get_dataset_split_names(root, config))
        except Exception:  # noqa: BLE001  (only for the message)
            have = "unknown"
        raise ValueError(f"{found.source} {config} has no split {split!r} (splits: {have})") from None
    if max_rows:
        ds = ds.select(range(min(max_rows, len(ds))))
    return ds


def run(
    dataset: str | None,
    config: str,
    split: str,
    backend,
    revision: str | None = None,
    max_rows: int | None = None,
    progress: bool = True,
) -> tuple[dict, list[dict]]:
    found = locate_rows(dataset, config, revision)
    return score_split(open_split(found, config, split, max_rows), config, backend, progress, videos_in=found.root)


def _video(row: dict, videos_in: Path | None) -> dict:
    """The demonstration mp4 of a row that carries one (a video task's first call), as the runtime sends it."""
    names = row.get("videos") or []
    if not names or videos_in is None or not (videos_in / names[0]).is_file():
        return {}
    return {"video": (videos_in / names[0]).read_bytes()}


def score_split(
    ds, config: str, backend, progress: bool = True, videos_in: Path | None = None
) -> tuple[dict, list[dict]]:
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
    """Every expected failure (no build, no Hub, a dead endpoint, a split the data lacks) ends in one line, exit 2; Ctrl-C, exit 130."""
    return front_door("offline.py", _main, argv, expected=(ValueError, FileNotFoundError, EndpointError))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="offline.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        help="a build folder or a Hub dataset repo id ORG/NAME (default: ./robomme-mem, if it holds a build)",
    )
    parser.add_argument(
        "--config",
        default="dual_grounded",
        metavar="CONFIG",
        help=f"a row config (default: %(default)s; any of {', '.join(ROW_CONFIGS)}; baselines get the subgoal metrics)",
    )
    parser.add_argument("--split", default="train", help="split to score (default: %(default)s)")
    parser.add_argument("--revision", help="Hub revision or tag, e.g. v1.0.0")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        required=True,
        help="openai or swift score a model; replay answers with the split's own targets (a self-check of the scoring loop: 1.000 by construction)",
    )
    parser.add_argument("--model", help="served model name (openai) or base model (swift)")
    parser.add_argument("--adapter", help="LoRA adapter (swift backend)")
    parser.add_argument("--base-url", help="OpenAI-compatible server (openai backend)")
    parser.add_argument("--max-rows", type=int)
    parser.add_argument("--out", type=Path, help="JSON report (a .md beside it gets the table)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    # what can be checked before the data is loaded is: the backend's arguments, then its endpoint
    replay = args.backend == "replay"
    if problem := backend_problem(
        args.backend, model=args.model, base_url=args.base_url, targets=() if replay else None
    ):
        parser.error(problem)
    if args.backend == "openai" and (problem := endpoint_problem(args.base_url)):
        raise EndpointError(problem)
    if args.backend == "swift" and importlib.util.find_spec("swift") is None:
        raise Refused("the swift backend needs ms-swift, which is not installed: pip install 'robomme-mem[train]'")
    found = locate_rows(args.dataset, args.config, args.revision)
    note("offline.py", found.note)
    ds = open_split(found, args.config, args.split, args.max_rows)
    target = baseline_target if args.config in BASELINE_CONFIGS else (lambda r: r["messages"][2]["content"])
    backend = make_backend(
        args.backend,
        model=args.model,
        base_url=args.base_url,
        adapter=args.adapter,
        targets=[target(r) for r in ds] if replay else None,
    )
    try:
        result, _ = score_split(ds, args.config, backend, progress=not args.quiet, videos_in=found.root)
    except Exception as exc:
        if cause := _endpoint_failure(exc, args.base_url):
            raise EndpointError(cause) from None
        raise
    title = f"Offline scores: {found.source} {args.config}/{args.split} ({args.backend})"
    if replay:
        title = (
            f"SELF-CHECK, not a model's score: {found.source} {args.config}/{args.split} replayed from its own targets"
        )
    table = markdown(result, title)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "dataset": found.source,
                    "config": args.config,
                    "split": args.split,
                    "revision": args.revision,
                    "commit": found.commit,
                    "backend": args.backend,
                    "self_check": replay,
                    "model": args.model,
                    "adapter": args.adapter,
                    "scores": result,
                },
                indent=2,
            )
        )
        args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


def _endpoint_failure(exc: Exception, base_url: str | None) -> str | None:
    """One line for an OpenAI-compatible endpoint that failed mid-run (None: not an endpoint's failure)."""
    if "openai" not in sys.modules:
        return None
    import openai

    from robomme_mem.endpoints import endpoint_cause

    if not isinstance(exc, openai.OpenAIError):
        return None
    return f"high-level endpoint {base_url}: {endpoint_cause(exc, probing=False, timeout_s=0)}"  # (the timeout is named only when probing)


if __name__ == "__main__":
    sys.exit(main())
