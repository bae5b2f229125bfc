"""``robomme-mem label`` and ``robomme-mem labels`` as a user runs them."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.labels.engine.session import Stats
from robomme_mem.dataset.labels.labellers.accounting import estimate_cost, report
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.labels.store.transfer import COLUMNS
from robomme_mem.servers.openai_server import FakeOpenAI, default_answer


def test_rules_label_set_builds_the_same_rows_as_the_default_build(sample_dir, tmp_path, capsys):
    store = str(tmp_path / "labels.sqlite")
    assert main(["label", "--source", str(sample_dir), "--store", store, "-q"]) == 0
    first = capsys.readouterr().out
    assert "label set 'rules-v4'" in first and "0 failed" in first
    assert "cost: none (an offline labeller" in first and "estimated cost" not in first
    assert main(["label", "--source", str(sample_dir), "--store", store, "-q"]) == 0
    assert "requests: 0 computed offline, " in capsys.readouterr().out  # everything came from the store
    assert main(["labels", "--store", store, "list"]) == 0
    assert capsys.readouterr().out.startswith("rules-v4: rules rules-v4")
    assert main(["build", "--source", str(sample_dir), "--out", str(tmp_path / "a"), "-q"]) == 0
    assert (
        main(
            [
                "build",
                "--source",
                str(sample_dir),
                "--labels",
                "rules-v4",
                "--store",
                store,
                "--out",
                str(tmp_path / "b"),
                "-q",
            ]
        )
        == 0
    )
    for config in ("simple", "grounded", "dual_simple", "dual_grounded"):
        a = (tmp_path / "a" / "swift" / config / "train.jsonl").read_bytes()
        assert a and a == (tmp_path / "b" / "swift" / config / "train.jsonl").read_bytes()


def test_truth_sample_is_the_sample_truth_in_label_as_in_build_and_audit(sample_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROBOMME_MEM_CACHE", str(sample_cache))
    store = str(tmp_path / "labels.sqlite")
    assert (
        main(
            [
                "label",
                "--labeler",
                "truth",
                "--truth",
                "sample",
                "--tasks",
                "BinFill",
                "--max-episodes",
                "1",
                "--store",
                store,
                "--name",
                "t",
                "-q",
            ]
        )
        == 0
    )
    assert "label set 't'" in capsys.readouterr().out
    assert (
        main(["label", "--labeler", "truth", "--truth", "sample", "--source", str(tmp_path), "--store", store, "-q"])
        == 1
    )
    assert "--truth sample is the embedded sample's truth" in capsys.readouterr().err


def test_batch_rounds_from_the_command_line(sample_dir, tmp_path, capsys):
    source = str(sample_dir / "record_dataset_StopCube.h5")
    common = [
        "label",
        "--source",
        source,
        "--labeler",
        "openai",
        "--model",
        "gpt-4o-mini",
        "--store",
        str(tmp_path / "s.sqlite"),
        "-q",
    ]
    args = [*common, "--export-batch", str(tmp_path / "in0.jsonl")]
    for round_ in range(1, 50):
        assert main(args) == 0
        out = capsys.readouterr().out
        if "label set 'gpt-4o-mini'" in out:
            break
        assert "at batch price" in out or "requests: 0 sent" in out
        batch_in, batch_out = tmp_path / f"in{round_ - 1}.jsonl", tmp_path / f"out{round_}.jsonl"
        with open(batch_in) as src, open(batch_out, "w") as dst:
            for line in src:
                request = json.loads(line)
                body = {
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": default_answer(request["body"]["messages"])},
                        }
                    ],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10},
                }
                dst.write(
                    json.dumps(
                        {
                            "custom_id": request["custom_id"],
                            "response": {"status_code": 200, "body": body},
                            "error": None,
                        }
                    )
                    + "\n"
                )
        args = [*common, "--import-batch", str(batch_out), "--export-batch", str(tmp_path / f"in{round_}.jsonl")]
    else:
        raise AssertionError("the chains never finished")
    assert round_ == 13  # StopCube's longest chain (12 call frames) + the final round that saves the set
    assert (
        main(["labels", "--store", str(tmp_path / "s.sqlite"), "export", "gpt-4o-mini", str(tmp_path / "set.jsonl")])
        == 0
    )
    header = json.loads((tmp_path / "set.jsonl").read_text().splitlines()[0])["label_set"]
    assert header["labeller"] == "openai-batch" and header["counts"]["failed"] == 0


def test_a_batch_error_line_is_recorded_as_a_failure(sample_dir, tmp_path, capsys):
    source = str(sample_dir / "record_dataset_StopCube.h5")
    common = [
        "label",
        "--source",
        source,
        "--labeler",
        "openai",
        "--model",
        "m",
        "--store",
        str(tmp_path / "s.sqlite"),
        "-q",
        "--no-spatial",
    ]
    assert main([*common, "--export-batch", str(tmp_path / "in.jsonl")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()]
    with open(tmp_path / "out.jsonl", "w") as dst:
        for i, request in enumerate(lines):
            if i == 0:
                dst.write(
                    json.dumps(
                        {
                            "custom_id": request["custom_id"],
                            "response": None,
                            "error": {"code": "server_error", "message": "boom"},
                        }
                    )
                    + "\n"
                )
            else:
                content = default_answer(request["body"]["messages"])
                body = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
                dst.write(
                    json.dumps({"custom_id": request["custom_id"], "response": {"status_code": 200, "body": body}})
                    + "\n"
                )
        dst.write(json.dumps({"custom_id": "not-ours", "response": {"status_code": 200, "body": {}}}) + "\n")
    assert main([*common, "--import-batch", str(tmp_path / "out.jsonl")]) == 1
    captured = capsys.readouterr()
    assert f"{len(lines) - 1} answers, 1 failures" in captured.out
    assert "boom" in captured.err and "not-ours was not exported" in captured.err
    assert "1 requests failed" in captured.err
    assert "1 failed (0 in this run, 1 stored by an earlier one)" in captured.out  # the summary and the verdict agree


def test_cost_comes_from_the_price_table_or_the_given_prices():
    stats = Stats(sent=2, prompt_tokens=1_000_000, completion_tokens=500_000)
    cost, source = estimate_cost(stats, "gpt-4o-mini")
    assert cost == pytest.approx(0.15 + 0.30) and source == "price table entry gpt-4o-mini"
    assert estimate_cost(stats, "gpt-4o-mini", batch=True)[0] == pytest.approx((0.15 + 0.30) / 2)
    assert estimate_cost(stats, "my-local-model") is None
    assert estimate_cost(stats, "my-local-model", {"input": 1.0, "output": 2.0})[0] == 2.0
    text = report(stats, None)
    assert "1000000 in, 500000 out" in text and "unknown" in text


def test_the_closing_hint_is_a_build_command_that_runs(sample_dir, tmp_path, capsys):
    source = str(sample_dir / "record_dataset_BinFill.h5")
    store = str(tmp_path / "s.sqlite")
    assert main(["label", "--source", source, "--max-episodes", "2", "--store", store, "--name", "mine", "-q"]) == 0
    hint = capsys.readouterr().out.strip().splitlines()[-1]
    assert hint.startswith("build from it with: robomme-mem build --source ")
    argv = shlex.split(hint.removeprefix("build from it with: "))[1:]
    assert argv == ["build", "--source", source, "--max-episodes", "2", "--labels", "mine", "--store", store]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["labels"]["name"] == "mine"


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def test_a_name_taken_by_another_model_is_refused_unless_replace(sample_dir, server, tmp_path, capsys):
    common = [
        "label",
        "--source",
        str(sample_dir / "record_dataset_StopCube.h5"),
        "--labeler",
        "openai",
        "--base-url",
        server.base_url,
        "--store",
        str(tmp_path / "s.sqlite"),
        "--name",
        "mine",
        "--no-spatial",
        "-q",
    ]
    assert main([*common, "--model", "model-a"]) == 0
    assert main([*common, "--model", "model-a"]) == 0  # the same model again: a resume, not a replacement
    capsys.readouterr()
    assert main([*common, "--model", "model-b"]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0
        and "label set 'mine'" in err
        and "model-a" in err
        and "model-b" in err
        and "--replace" in err
    )
    assert main(["labels", "--store", str(tmp_path / "s.sqlite"), "list"]) == 0
    assert "mine: openai model-a" in capsys.readouterr().out
    assert main([*common, "--model", "model-b", "--replace"]) == 0
    assert main(["labels", "--store", str(tmp_path / "s.sqlite"), "list"]) == 0
    assert "mine: openai model-b" in capsys.readouterr().out


def test_ctrl_c_says_how_many_answers_were_kept_and_that_a_rerun_resumes(sample_dir, server, tmp_path):
    server.latency_s = 0.05
    store = tmp_path / "s.sqlite"
    command = [
        sys.executable,
        "-m",
        "robomme_mem",
        "label",
        "--source",
        str(sample_dir / "record_dataset_StopCube.h5"),
        "--labeler",
        "openai",
        "--model",
        "m",
        "--base-url",
        server.base_url,
        "--store",
        str(store),
        "--concurrency",
        "2",
        "-q",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (store.exists() and len(LabelCache(store)) >= 10):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    with LabelCache(store) as cache:
        kept = len(cache)
    assert kept >= 10 and "nothing was written" not in err
    assert (
        f"interrupted; {kept} answers from this run are kept in {store} ({kept} in all); run the same command again to resume"
        in err
    )
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and f"{kept} served from cache" in rerun.stdout


@pytest.fixture
def exported(sample_dir, tmp_path):
    store = str(tmp_path / "s.sqlite")
    assert (
        main(
            [
                "label",
                "--source",
                str(sample_dir / "record_dataset_StopCube.h5"),
                "--store",
                store,
                "--name",
                "mine",
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(["labels", "export", "mine", str(tmp_path / "set.jsonl"), "--store", store]) == 0
    )  # --store after the action
    return tmp_path / "set.jsonl"


def test_labels_take_the_store_before_or_after_the_action(exported, tmp_path, capsys):
    other = str(tmp_path / "other.sqlite")
    assert main(["labels", "import", "--store", other, str(exported), "--name", "copy"]) == 0
    assert main(["labels", "--store", other, "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("copy: rules rules-v4")


def test_an_unknown_field_in_an_imported_row_is_an_error(exported, tmp_path, capsys):
    lines = exported.read_text().splitlines()
    row = json.loads(lines[3])
    row["answer"] = row.pop("text")  # an edit under the wrong name
    lines[3] = json.dumps(row)
    exported.write_text("\n".join(lines) + "\n")
    store = tmp_path / "fresh.sqlite"
    assert main(["labels", "import", str(exported), "--store", str(store)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "row 4" in err and "unknown field 'answer'" in err and "the answer is `text`" in err
    with LabelCache(store) as cache:
        assert cache.set_names() == [] and len(cache) == 0


def test_the_labelling_page_names_every_column_of_a_label_set_file():
    page = (Path(__file__).resolve().parents[1] / "docs" / "labelling.md").read_text()
    store = page.split("## The label store and label sets")[1].split("\n## ")[0]
    assert all(f"`{column}`" in store for column in COLUMNS)
