"""The command line's front door: a closed pipe, Ctrl-C, the folders it makes, the options every verb shares."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from robomme_mem.cli import main
from robomme_mem.dataset.staging import current_umask


def run_cli(*args, env, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "robomme_mem", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_a_reader_that_stops_early_gets_no_traceback(sample_cache):
    """``robomme-mem inspect | head -1``: the reader closes the pipe, the command exits quietly."""
    process = run_cli("inspect", "-q", env={**os.environ, "ROBOMME_MEM_CACHE": str(sample_cache)})
    process.stdout.close()  # the reader is gone before the first line
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_ctrl_c_during_a_build_is_said_once_and_workers_print_nothing(sample_cache, tmp_path):
    """The terminal sends SIGINT to the whole process group: the parent answers, its workers stay quiet."""
    env = {**os.environ, "ROBOMME_MEM_CACHE": str(sample_cache)}
    process = run_cli("build", "--out", str(tmp_path / "out"), "--workers", "2", "-q", env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".out.tmp-*")) and time.monotonic() < deadline:  # the build has begun writing
        time.sleep(0.02)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err.strip().splitlines() == ["robomme-mem: interrupted; nothing was written"], err
    assert not (tmp_path / "out").exists()


def test_an_export_is_a_folder_others_can_read_and_the_encoder_stays_quiet(sample_dir, tmp_path):
    out = tmp_path / "lerobot"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "robomme_mem",
            "export",
            "lerobot",
            "--source",
            str(sample_dir / "record_dataset_BinFill.h5"),
            "--max-episodes",
            "1",
            "--labels",
            "none",
            "--out",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o777 & ~current_umask()
    assert "Svt[" not in done.stderr, done.stderr


def test_inspect_takes_its_source_as_every_verb_does(sample_dir, capsys):
    assert main(["inspect", "--source", str(sample_dir / "record_dataset_BinFill.h5"), "-q"]) == 0
    assert capsys.readouterr().out.startswith("record_dataset_BinFill.h5: task BinFill")


def test_the_help_names_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exit:
        assert exit.code == 0
    out = capsys.readouterr().out
    description = " ".join(out.split("\n\n")[1].split())
    for verb in ("build", "label", "labels", "truth", "record", "export", "push", "audit", "inspect"):
        assert f"    {verb} " in out and f" {verb}," in description.replace(".", ","), verb


def test_a_push_with_the_hub_out_of_reach_is_one_line(sample_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBOMME_MEM_CACHE", str(sample_cache))
    assert (
        main(
            [
                "build",
                "--tasks",
                "BinFill",
                "--max-episodes",
                "1",
                "--configs",
                "simple",
                "--out",
                str(tmp_path / "b"),
                "-q",
            ]
        )
        == 0
    )
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_test", "HF_HUB_OFFLINE": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "robomme_mem",
            "push",
            str(tmp_path / "b"),
            "--repo-id",
            "someone/robomme-mem",
            "--allow-synthetic",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        f"robomme-mem: error: cannot push {tmp_path / 'b'} to datasets/someone/robomme-mem: the Hub (http://127.0.0.1:9) cannot be reached ("
    )
    assert line.endswith("; the build folder is as it was")
