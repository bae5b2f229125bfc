"""Table-1-style report of rollout results, with the paper's rows printed beside ours.

    python evaluate/report.py results.jsonl --out report/ [--traces robomme-mem --episode BinFill:0]

``results.jsonl`` holds one line per evaluated episode, as the rollout harness appends them:
``{"method": "...", "task": "BinFill", "episode": 0, "success": true}``. The report folder gets
``report.md`` (per-task success %, average and SEM per method, the paper's Table 1 rows from
``paper_results.json`` beside ours), ``radar.png`` (per-task success of every method) and,
given a build with the ``traces`` config (or ``--rollout-trace``: the results file's own rollout),
``trace.png``: one episode's subgoal and action memory at each boundary, like the report's Figure 3.

SEM is the standard error of the average over tasks: ``sqrt(sum_t p_t (1 - p_t) / n_t) / T``.
A method with results on fewer tasks than the table's gets no average beside the full rows:
its mean is given under the table as "mean of 3 of 7 tasks", and on the radar a task without
a result is a gap, never 0%. Without matplotlib the tables are written and a note says the
figures were skipped.

Episodes run with RoboMME's oracle planner as the low level (``rollout.py --low-level oracle``)
measure the high level alone, so they are never mixed with pi0.5 rows or the paper's: they get
their own table, ``radar_oracle.png`` and a count of how their episodes ended, with the ceiling
(``--backend ceiling``: the env's own subgoals) always shown beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from robomme_mem.closed_loop.oracle import STATUSES
from robomme_mem.closed_loop.results import by_method_task, low_level_of, read_results
from robomme_mem.dataset.layout import parquet_dir
from robomme_mem.dataset.resolve import locate_dataset
from robomme_mem.errors import first_line
from robomme_mem.scripts import front_door, note

HERE = Path(__file__).resolve().parent
PAPER = HERE / "paper_results.json"


CEILING = "ceiling"
"""The built-in privileged high level (``ceiling-simple``: its simple-subgoal form)."""


def is_ceiling(method: str) -> bool:
    return method in (CEILING, CEILING + "-simple")


ENDINGS = STATUSES
"""How an oracle episode can end, in the order the report lists them."""


def per_task(path: str | Path, kind: str | None = "pi05") -> dict[str, dict[str, list[bool]]]:
    """``method -> task -> [success, ...]`` (the last line per episode) of one low level (None: all).

    A bad line names the file and line.
    """
    records = [r for r in read_results(path) if kind is None or low_level_of(r) == kind]
    return {
        m: {t: [r["success"] for r in rs] for t, rs in tasks.items()} for m, tasks in by_method_task(records).items()
    }


def summarise(per_task: dict[str, list[bool]], tasks: list[str]) -> dict:
    """Success % per task, the average over tasks, and its SEM (tasks without episodes are skipped)."""
    rates = {t: 100.0 * sum(v) / len(v) for t, v in per_task.items() if v}
    present = [t for t in tasks if t in rates]
    if not present:
        return {"success": {}, "avg": None, "sem": None, "episodes": 0, "tasks": 0, "of": len(tasks)}
    variance = sum((rates[t] / 100) * (1 - rates[t] / 100) / len(per_task[t]) for t in present)
    return {
        "success": rates,
        "avg": sum(rates[t] for t in present) / len(present),
        "sem": 100.0 * math.sqrt(variance) / len(present),
        "episodes": sum(len(per_task[t]) for t in present),
        "tasks": len(present),
        "of": len(tasks),
    }


def is_partial(summary: dict) -> bool:
    """Its average is over fewer tasks than the table's: not comparable with a full row's."""
    return summary["tasks"] < summary["of"]


def average_cells(summary: dict) -> list[str]:
    """The avg and SEM cells: a partial run's mean is not set beside full averages (see :func:`partial_means`)."""
    if summary["avg"] is None:
        return ["-", "-"]
    if is_partial(summary):
        return [f"{summary['tasks']} of {summary['of']} tasks", "-"]
    return [f"{summary['avg']:.2f}", f"{summary['sem']:.2f}"]


def partial_means(ours: dict[str, dict], tasks: list[str], against: str) -> list[str]:
    """One line per partial run: its mean, labelled with the tasks it covers, apart from the table's averages."""
    lines = []
    for method, summary in ours.items():
        if summary["avg"] is not None and is_partial(summary):
            missing = ", ".join(t for t in tasks if t not in summary["success"])
            lines.append(
                f"- **{method}**: mean of {summary['tasks']} of {summary['of']} tasks: {summary['avg']:.2f} "
                f"(SEM {summary['sem']:.2f}); no result on {missing}"
            )
    if not lines:
        return []
    return [
        f"Partial runs: a mean over fewer tasks is not comparable with {against}, so it is given here, not in the avg column.",
        "",
        *lines,
        "",
    ]


def table(ours: dict[str, dict], paper: dict) -> str:
    tasks = paper["tasks"]
    lines = ["| method | " + " | ".join(tasks) + " | avg | SEM |", "|---|" + "---|" * (len(tasks) + 2)]
    for row in paper["rows"]:
        lines.append(
            f"| {row['method']} (paper) | "
            + " | ".join(f"{row['success'][t]:.2f}" for t in tasks)
            + f" | {row['avg']:.2f} | {row['sem']:.2f} |"
        )
    for method, summary in ours.items():
        cells = [f"{summary['success'][t]:.2f}" if t in summary["success"] else "-" for t in tasks]
        lines.append(
            f"| **{method}** (ours, {summary['episodes']} episodes) | "
            + " | ".join(cells + average_cells(summary))
            + " |"
        )
    return "\n".join(lines)


def oracle_table(ours: dict[str, dict], tasks: list[str], endings: dict[str, dict[str, int]]) -> str:
    """Oracle-low-level rows: the ceiling first (or where to get it), then how every method's episodes ended."""
    lines = [
        "| high level | " + " | ".join(tasks) + " | avg | SEM | " + " | ".join(ENDINGS) + " |",
        "|---|" + "---|" * (len(tasks) + 2 + len(ENDINGS)),
    ]
    if not any(map(is_ceiling, ours)):
        lines.append(
            f"| {CEILING} (not in this file: `evaluate/rollout.py --low-level oracle --backend ceiling`) |"
            + " - |" * (len(tasks) + 2 + len(ENDINGS))
        )
    for method in sorted(ours, key=lambda m: (not is_ceiling(m), m)):
        summary = ours[method]
        cells = [f"{summary['success'][t]:.2f}" if t in summary["success"] else "-" for t in tasks]
        ends = [str(endings.get(method, {}).get(e, 0)) for e in ENDINGS]
        name = f"{method} (privileged: the env's own subgoals)" if is_ceiling(method) else method
        lines.append(
            f"| **{name}** ({summary['episodes']} episodes) | "
            + " | ".join(cells + average_cells(summary) + ends)
            + " |"
        )
    return "\n".join(lines)


def oracle_endings(path: str | Path) -> dict[str, dict[str, int]]:
    """``method -> status -> episodes`` of the oracle-low-level results."""
    out: dict[str, dict[str, int]] = {}
    for record in read_results(path):
        if low_level_of(record) == "oracle":
            ends = out.setdefault(record["method"], {})
            status = record.get("status", "success" if record["success"] else "fail")
            ends[status] = ends.get(status, 0) + 1
    return out


def radar_values(summary: dict, tasks: list[str]) -> list[float]:
    """A method's success per task for the radar: NaN (a gap in its line, not 0%) where it has no result."""
    return [summary["success"].get(t, math.nan) for t in tasks]


def radar(ours: dict[str, dict], paper: dict, path: Path, size_px: int = 900, title: str | None = None) -> Path:
    """Per-task success of every method on one radar chart (paper rows, and the oracle's ceiling, dashed).

    A task a method has no result on is a gap in its line (its points are marked, so a lone one
    shows); a task none of ours has is labelled "no result"; partial runs are not filled.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = paper["tasks"]
    angles = [2 * math.pi * i / len(tasks) for i in range(len(tasks))] + [0.0]
    width = size_px / 100
    legend = 0.2 * ((len(paper["rows"]) + len(ours) + 1) // 2) + 0.2  # inches: two columns under the chart
    fig = plt.figure(figsize=(width, width + legend), dpi=100)
    height = width + legend
    ax = fig.add_axes((0.1, (legend + 0.1 * width) / height, 0.8, 0.8 * width / height), projection="polar")
    for row in paper["rows"]:
        values = [row["success"][t] for t in tasks]
        ax.plot(angles, values + values[:1], linestyle="--", linewidth=1, label=f"{row['method']} (paper)")
    for method, summary in ours.items():
        values = radar_values(summary, tasks)
        present = sum(not math.isnan(v) for v in values)
        ceiling = bool(title) and is_ceiling(method)
        notes = ["privileged"] if ceiling else [] if title else ["ours"]
        if present < len(tasks):
            notes.append(f"{present} of {len(tasks)} tasks")
        label = method + (f" ({', '.join(notes)})" if notes else "")
        if ceiling:
            ax.plot(
                angles,
                values + values[:1],
                linestyle="--" if method == CEILING else ":",
                color="black",
                linewidth=1.5,
                marker="o",
                markersize=3,
                label=label,
            )
            continue
        (line,) = ax.plot(angles, values + values[:1], linewidth=2.5, marker="o", markersize=4, label=label)
        if present == len(tasks):  # a partial line's area would cover the tasks it has no result on
            ax.fill(angles, values + values[:1], color=line.get_color(), alpha=0.12)  # the area in its line's colour
    labels = [t if any(t in s["success"] for s in ours.values()) else f"{t}\n(no result)" for t in tasks]
    ax.set_xticks(angles[:-1], labels, fontsize=8)
    ax.set_ylim(0, 100)
    if title:
        ax.set_title(title, fontsize=9, pad=18)
    # below the chart, in two columns: inside the figure whatever the method names' length
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def trace_figure(trace: dict, path: Path, style: str = "grounded") -> Path:
    """One episode's subgoal and action memory at each boundary step (the report's Figure 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boundaries = trace["boundaries"]
    fig, ax = plt.subplots(figsize=(10, 0.9 * len(boundaries) + 1), dpi=100)
    ax.axis("off")
    ax.set_title(f"{trace['task']} episode {trace['episode']}: {trace['goal']}", fontsize=9, loc="left")
    for i, b in enumerate(boundaries):
        y = 1 - (i + 0.5) / len(boundaries)
        ax.text(0.0, y, f"step {b['step']}", fontsize=8, va="center", family="monospace")
        ax.text(0.1, y, textwrap.fill(b[f"subgoal_{style}"] or "", 40), fontsize=8, va="center")
        ax.text(0.45, y, textwrap.fill(b[f"memory_{style}"] or "", 70), fontsize=7, va="center", color="#1f4e79")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def load_trace(dataset: str, episode: str) -> dict:
    """The ``traces`` row of ``TASK:EPISODE`` from a build folder or Hub repo (``ORG/NAME``; any other name is refused)."""
    from datasets import load_dataset

    task, index = parse_episode(episode)
    found = locate_dataset(dataset, patterns=[f"{parquet_dir('traces')}/*"], flag="--traces")
    note("report.py", found.note)
    for split in load_dataset(str(found.root), "traces").values():
        for row in split:
            if row["task"] == task and row["episode"] == index:
                return row
    raise ValueError(f"{dataset}: no trace for {episode} (the traces config holds one row per labelled episode)")


def parse_episode(episode: str) -> tuple[str, int]:
    """``BinFill:3`` -> ("BinFill", 3); ``BinFill`` -> ("BinFill", 0)."""
    task, _, index = episode.partition(":")
    if not task or not (index or "0").isdigit():
        raise ValueError(f"--episode {episode!r}: expected TASK:EPISODE, e.g. BinFill:0")
    return task, int(index or 0)


def rollout_trace(results: Path, episode: str, method: str | None = None) -> dict:
    """A rollout's memory trace from the results file, as :func:`trace_figure` draws it.

    Consecutive calls with the same subgoal and memory collapse into the first, so the figure
    shows the steps where the policy changed its mind, as a build's boundaries do.
    """
    task, index = parse_episode(episode)
    for record in read_results(results):
        if (
            record["task"] == task
            and int(record["episode"]) == index
            and method in (None, record["method"])
            and record.get("trace")
        ):
            boundaries, last = [], None
            for call in record["trace"]:
                if (call["subgoal"], call["memory"]) != last:
                    boundaries.append(
                        {"step": call["step"], "subgoal_rollout": call["subgoal"], "memory_rollout": call["memory"]}
                    )
                    last = (call["subgoal"], call["memory"])
            outcome = f"{record['method']}, {record.get('status', 'success' if record['success'] else 'fail')}"
            return {
                "task": task,
                "episode": f"{index} ({outcome})",
                "goal": record.get("goal", ""),
                "boundaries": boundaries,
            }
    raise ValueError(f"{results}: no rollout trace for {episode}" + (f" of {method}" if method else ""))


def main(argv: list[str] | None = None) -> int:
    """Bad input (a malformed results line, an episode with no trace) ends in one line, exit 2, and leaves no report folder behind."""
    return front_door("report.py", _main, argv, expected=(ValueError, FileNotFoundError))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="report.py", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results JSONL (one line per episode)")
    parser.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    parser.add_argument(
        "--traces", help="a build folder or Hub repo ORG/NAME with the traces config, for the memory-trace figure"
    )
    parser.add_argument("--episode", default="BinFill:0", help="TASK:EPISODE of the trace figure")
    parser.add_argument(
        "--rollout-trace",
        action="store_true",
        help="draw the trace figure from the results file's own rollout of --episode",
    )
    parser.add_argument("--method", help="whose rollout to draw (default: the first with that episode)")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"{args.results}: no such results file (evaluate/rollout.py --results FILE writes one)")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: a file is there, not a folder")

    # everything is read and checked before the report folder is made
    paper = json.loads(PAPER.read_text(encoding="utf-8"))
    results, oracle = per_task(args.results), per_task(args.results, "oracle")
    if not results and not oracle:
        parser.error(f"{args.results}: no results in it; a report of the paper's rows alone would say nothing")
    cannot_draw = figures_problem()
    drawing = cannot_draw is None
    trace = None
    if args.traces or args.rollout_trace:
        parse_episode(args.episode)
        if drawing:  # nothing to download or look up for a figure that cannot be drawn
            trace = (
                rollout_trace(args.results, args.episode, args.method)
                if args.rollout_trace
                else load_trace(args.traces, args.episode)
            )
    figures: dict[str, Callable[[Path], Path]] = {}
    body = ["# RoboMME evaluation"]
    if results:
        ours = {method: summarise(per_task, paper["tasks"]) for method, per_task in sorted(results.items())}
        body += [
            "",
            f"Success rates (%) on RoboMME's non-video tasks, pi0.5 as the low level. Paper rows: {paper['source']}. "
            "SEM of ours: the standard error of the average over tasks.",
            "",
            table(ours, paper),
            "",
            *partial_means(ours, paper["tasks"], f"the paper's averages over all {len(paper['tasks'])} tasks"),
        ]
        figures["radar.png"] = lambda path: radar(ours, paper, path)
        body += ["![per-task success](radar.png)"] if drawing else []
    if oracle:
        tasks = [t for t in paper["tasks"] if any(t in v for v in oracle.values())] + sorted(
            {t for v in oracle.values() for t in v} - set(paper["tasks"])
        )
        rows = {method: summarise(per_task, tasks) for method, per_task in oracle.items()}
        body += [
            "",
            "## Oracle low level (the high level alone)",
            "",
            "RoboMME's motion planner executes each subgoal (`rollout.py --low-level oracle`); the high level is called once per "
            "subgoal, not every 16 steps. Not comparable with the pi0.5 rows or the paper's. The ceiling issues the env's own "
            "next subgoal: it is the executor's own success rate. Episodes by how they ended are on the right.",
            "",
            oracle_table(rows, tasks, oracle_endings(args.results)),
            "",
            *partial_means(rows, tasks, f"the averages over all {len(tasks)} tasks of this table"),
        ]
        figures["radar_oracle.png"] = lambda path: radar(
            rows, {"tasks": tasks, "rows": []}, path, title="oracle low level (RoboMME's planner)"
        )
        body += ["![per-task success, oracle low level](radar_oracle.png)"] if drawing else []
    if args.traces or args.rollout_trace:
        figures["trace.png"] = lambda path: trace_figure(
            trace, path, style="rollout" if args.rollout_trace else "grounded"
        )
        body += ["", f"![memory trace of {args.episode}](trace.png)"] if drawing else []
    if not drawing:
        note("report.py", f"no figures ({', '.join(figures)}): {cannot_draw}; the tables are written")
    written = write_report(args.out, "\n".join(body) + "\n", figures if drawing else {})
    print(f"wrote {written}")
    return 0


def figures_problem() -> str | None:
    """Why the figures cannot be drawn here (None: they can)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        if getattr(exc, "name", None) == "matplotlib":
            return "matplotlib is not installed (pip install 'robomme-mem[eval]')"
        return f"matplotlib cannot be imported ({first_line(exc)})"
    return None


def write_report(out: Path, text: str, figures: dict[str, Callable[[Path], Path]]) -> Path:
    """``out/report.md`` and the figures; on a failure, what this call wrote is removed (and ``out``, if it made it)."""
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for name, draw in figures.items():
            written.append(out / name)
            draw(out / name)
        written.append(out / "report.md")
        (out / "report.md").write_text(text, encoding="utf-8")
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if made and not any(out.iterdir()):
            out.rmdir()
        raise
    return out / "report.md"


if __name__ == "__main__":
    sys.exit(main())
