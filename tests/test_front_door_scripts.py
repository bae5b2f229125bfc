"""The front door of ``train/sft.py``, ``evaluate/offline.py`` and ``evaluate/report.py``, run as a user runs them.

No silent wrong data (a build here or a name that says where; a Hub id fetched exactly), one line
for every expected failure (no Hub, no ms-swift, a dead endpoint, a closed pipe, Ctrl-C), and
honest reports (no result is no 0%, a partial mean is not set beside the paper's).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from robomme_mem.dataset.build import BuildOptions, build

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("robomme_evaluate_report_front_door", ROOT / "evaluate" / "report.py")
report = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = report
spec.loader.exec_module(report)


@pytest.fixture(scope="module")
def built(sample_dir, tmp_path_factory) -> Path:
    """A small build, in a folder named as ``robomme-mem build`` names it."""
    out = tmp_path_factory.mktemp("here") / "robomme-mem"
    return build(
        [sample_dir], out, BuildOptions(tasks=("BinFill",), configs=("grounded", "traces")), progress=False
    ).out


def closed_port() -> int:
    """A localhost port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The user's environment, with every cache in ``tmp_path`` and a Hub that cannot be reached unless a test serves one."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    hf = tmp_path / "hf"
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "HF_HOME": str(hf),
            "HF_HUB_CACHE": str(hf / "hub"),
            "HUGGINGFACE_HUB_CACHE": str(hf / "hub"),
            "HF_DATASETS_CACHE": str(hf / "datasets"),
            "HF_XET_CACHE": str(hf / "xet"),
            "HF_ASSETS_CACHE": str(hf / "assets"),
            "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    env.update(extra)
    return env


def run(script: str, *args: str, cwd: Path, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def one_error_line(proc: subprocess.CompletedProcess, prog: str) -> str:
    """The single line a failed run printed on stderr, without its ``<prog>: error: `` prefix."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), proc.stderr
    return lines[0].removeprefix(f"{prog}: error: ")


def fake_swift(folder: Path, script: str) -> Path:
    """A ``swift`` command that runs ``script`` (sh) instead of ms-swift; returns the folder to put on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "swift").write_text("#!/bin/sh\n" + script + "\n")
    (folder / "swift").chmod(0o755)
    return folder


# -- no silent wrong data -----------------------------------------------------------------


def test_a_build_is_found_in_the_current_folder_and_a_bare_name_is_never_looked_up(built, tmp_path):
    """Beside ./robomme-mem no --dataset is needed; elsewhere the scripts say what they looked for, before any Hub call."""
    env = script_env(tmp_path)
    here = run("evaluate/offline.py", "--backend", "replay", "--config", "grounded", "-q", cwd=built.parent, env=env)
    assert here.returncode == 0 and "SELF-CHECK, not a model's score: robomme-mem grounded/train" in here.stdout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for script, prog, code, extra in (
        ("evaluate/offline.py", "offline.py", 2, ["--backend", "replay"]),
        ("train/sft.py", "sft.py", 1, ["--dry-run"]),
    ):
        proc = run(script, *extra, cwd=elsewhere, env=env)
        assert proc.returncode == code
        assert one_error_line(proc, prog) == (
            f"no --dataset given and no build here (looked for ./robomme-mem/manifest.json in {elsewhere}): "
            "pass --dataset FOLDER (a build made by `robomme-mem build`) or --dataset ORG/NAME (a Hub dataset repo)"
        )
        proc = run(script, *extra, "--dataset", "robomme-mem", cwd=elsewhere, env=env)
        assert proc.returncode == code
        assert one_error_line(proc, prog) == (
            f"--dataset robomme-mem: no such build folder (looked for {elsewhere}/robomme-mem/manifest.json) and not a Hub dataset "
            "repo id (ORG/NAME): build one with `robomme-mem build --out robomme-mem`, or name the Hub repo as ORG/NAME"
        )


def test_a_folder_that_is_no_build_and_a_revision_of_a_local_build_are_refused(built, tmp_path):
    env = script_env(tmp_path)
    proc = run("evaluate/offline.py", "--backend", "replay", "--dataset", str(tmp_path), cwd=tmp_path, env=env)
    assert proc.returncode == 2 and one_error_line(proc, "offline.py").startswith(
        f"{tmp_path}: not a robomme-mem build (no manifest.json in it)"
    )
    proc = run("train/sft.py", "--dry-run", "--dataset", str(built), "--revision", "v1.0.0", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert (
        one_error_line(proc, "sft.py")
        == f"--revision v1.0.0 names a Hub revision, but {built} is a local build folder: drop --revision, or name the Hub repo as ORG/NAME"
    )


def test_a_build_of_another_format_is_refused_saying_what_to_do(built, tmp_path):
    old = tmp_path / "old-build"
    shutil.copytree(built, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(
        json.dumps({**manifest, "format": "robomme-mem/1", "package": {"name": "robomme-mem", "version": "0.0.9"}})
    )
    env = script_env(tmp_path)
    for script, prog, code, extra in (
        ("evaluate/offline.py", "offline.py", 2, ["--backend", "replay"]),
        ("train/sft.py", "sft.py", 1, ["--dry-run"]),
    ):
        proc = run(script, *extra, "--dataset", str(old), cwd=tmp_path, env=env)
        assert proc.returncode == code
        said = one_error_line(proc, prog)
        assert said.startswith(
            f"{old}/manifest.json: a build of format 'robomme-mem/1', and this robomme-mem ("
        ) and said.endswith(
            "reads 'robomme-mem/2': build it again with `robomme-mem build`, or read it with the robomme-mem that wrote it (0.0.9)"
        )
    from robomme_mem.dataset.publish import plan_push

    with pytest.raises(ValueError, match="a build of format 'robomme-mem/1'"):
        plan_push(old, "org/name")


def test_a_hub_id_is_fetched_exactly_and_offline_the_cached_copy_is_named(built, tmp_path):
    """ORG/NAME is that repo at that revision; offline, only a cached copy of that same repo is read, and a note says so."""
    from .helpers.fake_hub import FakeHub

    hub = FakeHub()
    try:
        sha = hub.publish(built, "someone/robomme-mem", tag="v1.0.0")
        online = script_env(tmp_path, HF_ENDPOINT=hub.endpoint)
        args = [
            "--dataset",
            "someone/robomme-mem",
            "--revision",
            "v1.0.0",
            "--config",
            "grounded",
            "--backend",
            "replay",
            "-q",
        ]
        proc = run("evaluate/offline.py", *args, "--out", "r.json", cwd=tmp_path, env=online)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        scores = json.loads((tmp_path / "r.json").read_text())
        assert scores["dataset"] == "someone/robomme-mem" and scores["commit"] == sha
        assert scores["scores"]["overall"]["metrics"]["subgoal_exact"]["mean"] == 1.0
    finally:
        hub.close()

    offline = script_env(tmp_path, HF_HUB_OFFLINE="1")
    proc = run("evaluate/offline.py", *args, cwd=tmp_path, env=offline)
    assert proc.returncode == 0 and proc.stderr.strip().splitlines() == [
        f"offline.py: note: offline (HF_HUB_OFFLINE is set): using the copy of someone/robomme-mem (revision v1.0.0, commit {sha[:12]}) cached on this machine"
    ]
    proc = run("evaluate/offline.py", *args, cwd=tmp_path, env=online)  # the Hub has gone away
    assert (
        proc.returncode == 0
        and "offline.py: note: the Hub (http://127.0.0.1:" in proc.stderr
        and "cannot be reached" in proc.stderr
    )

    proc = run("evaluate/offline.py", "--dataset", "someone/other", "--backend", "replay", cwd=tmp_path, env=offline)
    assert proc.returncode == 2 and one_error_line(proc, "offline.py") == (
        "cannot fetch the dataset someone/other from the Hub: offline (HF_HUB_OFFLINE is set), and no copy of it is cached "
        "on this machine (nor is there a local folder someone/other)"
    )


# -- one line for every expected failure ----------------------------------------------------


def test_no_hub_for_the_default_warm_start_says_how_to_train_without_it(built, tmp_path):
    env = script_env(tmp_path, HF_HUB_OFFLINE="1", PATH=str(fake_swift(tmp_path / "bin", "exit 0")))
    proc = run(
        "train/sft.py", "--dataset", str(built), "--config", "grounded", "--output", "runs", cwd=tmp_path, env=env
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert one_error_line(proc, "sft.py") == (
        "cannot fetch the warm-start adapter Yinpei/vlm_subgoal_predictor:qwenvl/grounded_subgoal (the recipe's default for grounded) "
        "from the Hub: offline (HF_HUB_OFFLINE is set), and no copy of it is cached on this machine; "
        "pass --warm-start none for a fresh LoRA, or --warm-start PATH to an adapter on disk"
    )


def test_without_ms_swift_training_says_how_to_install_it(built, tmp_path):
    args = ["--dataset", str(built), "--config", "grounded", "--warm-start", "none", "--output", "runs"]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    proc = run("train/sft.py", *args, cwd=tmp_path, env=script_env(tmp_path, PATH=str(empty)))
    assert proc.returncode == 1 and proc.stdout == ""  # refused before anything is resolved or printed
    assert (
        one_error_line(proc, "sft.py")
        == "ms-swift is not installed (no `swift` command on PATH): pip install 'robomme-mem[train]', or see what would run with --dry-run"
    )
    # and a swift that fails is one line too, under its own output
    proc = run(
        "train/sft.py",
        *args,
        cwd=tmp_path,
        env=script_env(tmp_path, PATH=str(fake_swift(tmp_path / "bin", "echo swift says no >&2; exit 3"))),
    )
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        "swift says no",
        "sft.py: error: swift sft failed (exit 3); its messages are above",
    ]


def test_a_dead_endpoint_is_one_line_before_any_row_is_read(built, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = run(
        "evaluate/offline.py",
        "--dataset",
        str(built),
        "--config",
        "grounded",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--model",
        "m",
        cwd=tmp_path,
        env=script_env(tmp_path),
    )
    assert (
        proc.returncode == 2
        and one_error_line(proc, "offline.py") == f"high-level endpoint {url}: cannot connect: connection refused"
    )


class NoChatRoute(BaseHTTPRequestHandler):
    """A server at the wrong URL: every request is a 404."""

    def log_message(self, *args) -> None:
        pass

    def _404(self) -> None:
        body = b'{"error": "not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _404


def test_an_endpoint_that_fails_mid_run_is_one_line(built, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoChatRoute)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        proc = run(
            "evaluate/offline.py",
            "--dataset",
            str(built),
            "--config",
            "grounded",
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            "m",
            "-q",
            cwd=tmp_path,
            env=script_env(tmp_path),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 2
    assert (
        one_error_line(proc, "offline.py")
        == f"high-level endpoint {url}: 404: no chat-completions route here (is the base URL right, e.g. ending in /v1?)"
    )


@pytest.mark.parametrize(
    "script, args",
    [
        ("evaluate/offline.py", ["--config", "grounded", "--backend", "replay", "-q"]),
        ("train/sft.py", ["--config", "grounded", "--dry-run", "--warm-start", "none"]),
        ("evaluate/report.py", ["results.jsonl", "--out", "report"]),
    ],
)
def test_a_closed_pipe_ends_quietly(built, tmp_path, script, args):
    """``... | head -1`` after the reader has gone: no traceback, the exit status a shell gives SIGPIPE."""
    (built.parent / "results.jsonl").write_text(
        json.dumps({"method": "m", "task": "BinFill", "episode": 0, "success": True}) + "\n"
    )
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / script), *args],
            cwd=built.parent,
            env=script_env(tmp_path),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert proc.returncode == 141 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_ctrl_c_is_said_once(built, tmp_path):
    started = tmp_path / "swift-started"
    bin_dir = fake_swift(tmp_path / "bin", f"{shutil.which('touch')} {started}\nexec {shutil.which('sleep')} 60")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train" / "sft.py"),
            "--dataset",
            str(built),
            "--config",
            "grounded",
            "--warm-start",
            "none",
            "--output",
            "runs",
        ],
        cwd=tmp_path,
        env=script_env(tmp_path, PATH=str(bin_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "sft.py: interrupted"


# -- honest reports ----------------------------------------------------------------------------


def results(path: Path, tasks=("BinFill", "PickXtimes", "StopCube")) -> Path:
    wins = {"BinFill": [1, 1, 0, 1], "PickXtimes": [1, 1, 1, 1], "StopCube": [0, 0, 0, 0]}
    lines = [
        json.dumps({"method": "dual_grounded", "task": t, "episode": i, "success": bool(w)})
        for t in tasks
        for i, w in enumerate(wins.get(t, [1, 0]))
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_partial_run_gets_no_average_beside_the_papers(tmp_path):
    """3 of 7 tasks: the avg column says so, and the mean of those 3 is given under the table, labelled."""
    proc = run(
        "evaluate/report.py",
        str(results(tmp_path / "r.jsonl")),
        "--out",
        "report",
        cwd=tmp_path,
        env=script_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    ours = next(line for line in text.splitlines() if line.startswith("| **dual_grounded**"))
    assert ours.endswith("| 75.00 | 100.00 | - | 0.00 | - | - | - | 3 of 7 tasks | - |")
    assert (
        "- **dual_grounded**: mean of 3 of 7 tasks: 58.33 (SEM 7.22); no result on SwingXtimes, ButtonUnmask, ButtonUnmaskSwap, PickHighlight"
        in text
    )
    assert "not comparable with the paper's averages over all 7 tasks" in text
    # every task: the average stands beside the paper's
    tasks = json.loads(report.PAPER.read_text())["tasks"]
    every = report.summarise({t: [True, False] for t in tasks}, tasks)
    assert report.average_cells(every) == ["50.00", f"{every['sem']:.2f}"] and not report.is_partial(every)


def test_the_radar_leaves_a_gap_where_there_is_no_result():
    summary = report.summarise({"BinFill": [True, False]}, ["BinFill", "StopCube"])
    values = report.radar_values(summary, ["BinFill", "StopCube"])
    assert values[0] == 50.0 and math.isnan(values[1])  # not 0%


def test_without_matplotlib_the_table_is_still_written(tmp_path):
    """A note says why there is no chart; the report has no link to a picture that is not there."""
    code = (
        "import runpy, sys; sys.modules['matplotlib'] = None; "
        f"sys.argv = ['report.py', 'r.jsonl', '--out', 'report']; runpy.run_path({str(ROOT / 'evaluate' / 'report.py')!r}, run_name='__main__')"
    )
    results(tmp_path / "r.jsonl")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "wrote report/report.md"
    assert proc.stderr.strip().splitlines() == [
        "report.py: note: no figures (radar.png): matplotlib is not installed (pip install 'robomme-mem[eval]'); the tables are written"
    ]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| **dual_grounded** (ours, 12 episodes) |" in text and "radar.png" not in text
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.md"]


def test_a_failed_report_leaves_no_folder_behind(tmp_path):
    proc = run(
        "evaluate/report.py",
        str(results(tmp_path / "r.jsonl")),
        "--out",
        "report",
        "--rollout-trace",
        "--episode",
        "BinFill:x",
        cwd=tmp_path,
        env=script_env(tmp_path),
    )
    assert (
        proc.returncode == 2
        and one_error_line(proc, "report.py") == "--episode 'BinFill:x': expected TASK:EPISODE, e.g. BinFill:0"
    )
    assert not (tmp_path / "report").exists()
