"""``evaluate/report.py``: Table 1 beside ours, the radar plot and the memory-trace figure."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from robomme_mem.dataset.build import BuildOptions, build

pytest.importorskip("matplotlib", reason="the report's figures need the [eval] extra (matplotlib)")

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "paper_results.md"
spec = importlib.util.spec_from_file_location("robomme_evaluate_report", ROOT / "evaluate" / "report.py")
report = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = report
spec.loader.exec_module(report)


def results_file(path: Path) -> Path:
    lines = []
    for task, wins in (("BinFill", [1, 1, 0, 1]), ("PickXtimes", [1, 1, 1, 1]), ("StopCube", [0, 0, 0, 0])):
        lines += [
            json.dumps({"method": "dual_grounded", "task": task, "episode": i, "success": bool(w)})
            for i, w in enumerate(wins)
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_report_puts_the_paper_rows_beside_ours(tmp_path, sample_dir):
    built = build([sample_dir], tmp_path / "robomme-mem", BuildOptions(configs=("traces",)), progress=False)
    out = tmp_path / "report"
    assert (
        report.main(
            [
                str(results_file(tmp_path / "results.jsonl")),
                "--out",
                str(out),
                "--traces",
                str(built.out),
                "--episode",
                "BinFill:0",
            ]
        )
        == 0
    )
    text = (out / "report.md").read_text()
    assert "| QwenVL (RoboMME SimpleSG baseline) (paper) | 77.56 | 95.33 |" in text
    ours = next(line for line in text.splitlines() if "**dual_grounded**" in line)
    assert "| 75.00 | 100.00 | - | 0.00 |" in ours and ours.endswith(
        "| 3 of 7 tasks | - |"
    )  # no average beside the paper's
    assert "- **dual_grounded**: mean of 3 of 7 tasks: 58.33 (SEM 7.22)" in text  # (75 + 100 + 0) / 3, under the table
    width, height = Image.open(out / "radar.png").size
    assert width == 900 and height > 900  # the legend gets rows of its own under the chart
    width, height = Image.open(out / "trace.png").size
    assert width > 500 and height > 300


def oracle_line(method: str, task: str, episode: int, status: str) -> str:
    return json.dumps(
        {
            "method": method,
            "task": task,
            "episode": episode,
            "success": status == "success",
            "status": status,
            "low_level": "oracle",
        }
    )


def test_oracle_rows_get_their_own_table_and_radar_with_the_ceiling_beside_them(tmp_path):
    path = results_file(tmp_path / "results.jsonl")
    ended = {
        "ceiling": ["success", "success", "static_stall"],
        "dual_grounded+oracle": ["success", "fail", "unmapped"],
        "first-subgoal": ["fail"] * 3,
    }
    with open(path, "a") as fh:
        for method, statuses in ended.items():
            fh.writelines(
                oracle_line(method, "StopCube" if i == 2 else "BinFill", i, st) + "\n" for i, st in enumerate(statuses)
            )
    out = tmp_path / "report"
    assert report.main([str(path), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    pi05, oracle = text.split("## Oracle low level")
    assert "**dual_grounded** (ours, 12 episodes)" in pi05 and "ceiling" not in pi05 and "first-subgoal" not in pi05
    assert "(paper)" not in oracle and "**dual_grounded** (ours" not in oracle
    rows = [line for line in oracle.splitlines() if line.startswith("| **")]
    assert (
        rows[0].startswith("| **ceiling (privileged: the env's own subgoals)** (3 episodes) | 100.00 | 0.00 |")
        and len(rows) == 3
    )
    assert (
        "| BinFill | StopCube | avg | SEM | success | fail | timeout | error | unmapped | no_point | no_progress | static_stall | call_cap |"
        in oracle
    )
    assert "| **dual_grounded+oracle** (3 episodes) | 50.00 | 0.00 | 25.00 |" in oracle
    assert rows[1].endswith("| 1 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |")
    assert Image.open(out / "radar_oracle.png").size[0] == 900


def test_without_a_ceiling_the_oracle_table_says_how_to_get_it(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(oracle_line("first-subgoal", "BinFill", 0, "fail") + "\n")
    out = tmp_path / "report"
    assert report.main([str(path), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "| ceiling (not in this file: `evaluate/rollout.py --low-level oracle --backend ceiling`) |" in text
    assert not (out / "radar.png").exists() and "(paper)" not in text


def test_sem_is_the_standard_error_of_the_task_average():
    summary = report.summarise({"A": [True, False], "B": [True, True]}, ["A", "B"])
    assert summary["avg"] == 75.0
    assert summary["sem"] == pytest.approx(100 * (0.25 / 2) ** 0.5 / 2)


def test_a_bad_results_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"method": "m", "task": "BinFill", "episode": 0, "success": true}\n{"task": "BinFill"}\n')
    with pytest.raises(ValueError, match=r"r.jsonl:2: not a result line"):
        report.per_task(path)


@pytest.mark.skipif(not SPEC.is_file(), reason="../shared/spec/paper_results.md is not beside the checkout")
def test_the_shipped_paper_rows_match_the_spec():
    paper = json.loads((ROOT / "evaluate" / "paper_results.json").read_text())
    text = SPEC.read_text()
    for row in paper["rows"]:
        cells = " | ".join(f"{row['success'][t]:.2f}" for t in paper["tasks"])
        assert f"| {row['method']} | {cells} | {row['avg']:.2f} | {row['sem']:.2f} |" in text


def test_the_trace_figure_can_come_from_a_rollout_in_the_results_file(tmp_path):
    from robomme_mem.closed_loop.executors import run_serial
    from robomme_mem.closed_loop.loop import run_episode
    from robomme_mem.closed_loop.policy import HighLevelPolicy, ReplayBackend
    from robomme_mem.closed_loop.results import episode_record

    from .test_rollout import LineWorld, Walker, answers

    results = tmp_path / "results.jsonl"
    backend = lambda: ReplayBackend(answers("wait", "walk", "walk", "walk"), repeat_last=True)  # noqa: E731
    world = LineWorld(goal_x=40)
    outcome = lambda: run_episode(world, HighLevelPolicy("simple", backend()), Walker(), every=16, max_steps=200)  # noqa: E731
    run_serial(
        lambda task, e: episode_record("walker", task, e, world.goal, outcome()),
        [("BinFill", 0)],
        results,
        progress=False,
    )

    trace = report.rollout_trace(results, "BinFill:0")
    assert trace["goal"] == "walk to the flag"
    assert [(b["step"], b["subgoal_rollout"]) for b in trace["boundaries"]] == [
        (0, "wait"),
        (16, "walk"),
        (32, "walk"),
        (48, "walk"),
    ]
    assert (
        report.main([str(results), "--out", str(tmp_path / "report"), "--rollout-trace", "--episode", "BinFill:0"]) == 0
    )
    assert Image.open(tmp_path / "report" / "trace.png").size[1] > 100
    with pytest.raises(ValueError, match="no rollout trace for BinFill:1"):
        report.rollout_trace(results, "BinFill:1")


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_missing_or_empty_results_file_is_an_error(tmp_path, capsys, content):
    results = tmp_path / "results.jsonl"
    if content is not None:
        results.write_text(content)
    with pytest.raises(SystemExit) as stop:
        report.main([str(results), "--out", str(tmp_path / "report")])
    assert stop.value.code == 2 and str(results) in capsys.readouterr().err
    assert not (tmp_path / "report" / "report.md").exists()


def test_bad_input_ends_in_one_line(tmp_path, sample_dir, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"method": "x", "task": "BinFill", "episode": 0, "success": true}\nnot json\n{"method": "x", "task": "BinFill", "episode": 1, "success": true}\n'
    )
    assert report.main([str(bad), "--out", str(tmp_path / "r")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"report.py: error: {bad}:2: not a result line (Expecting value: line 1 column 1 (char 0))"
    )
    good = results_file(tmp_path / "good.jsonl")
    build([sample_dir], tmp_path / "b", BuildOptions(tasks=("BinFill",), configs=("traces",)), progress=False)
    for episode, message in (("BinFill:99", "no trace for BinFill:99"), ("BinFill:x", "expected TASK:EPISODE")):
        assert (
            report.main(
                [str(good), "--out", str(tmp_path / "r"), "--traces", str(tmp_path / "b"), "--episode", episode]
            )
            == 2
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert (
            err[-1].startswith("report.py: error: ")
            and message in err[-1]
            and not any("Traceback" in line for line in err)
        )


def test_without_matplotlib_the_report_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without [eval] sees
    assert report.main([str(results_file(tmp_path / "r.jsonl")), "--out", str(tmp_path / "r")]) == 0
    assert (
        capsys.readouterr().err.strip()
        == "report.py: note: no figures (radar.png): matplotlib is not installed (pip install 'robomme-mem[eval]'); the tables are written"
    )
    assert (tmp_path / "r" / "report.md").is_file() and not (tmp_path / "r" / "radar.png").exists()


def test_the_report_cites_only_what_the_repo_holds(tmp_path):
    assert report.main([str(results_file(tmp_path / "r.jsonl")), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert (
        "spec/paper_results.md" not in text
        and "evaluate/paper_results.json" in text
        and (ROOT / "evaluate" / "paper_results.json").is_file()
    )
