"""``robomme-mem label`` and ``robomme-mem labels`` as a user runs them."""

from __future__ import annotations

import json

import pytest

from robomme_mem.cli import main
from robomme_mem.labels.accounting import estimate_cost, report
from robomme_mem.labels.session import Stats
from robomme_mem.testing.openai_server import default_answer


def test_rules_label_set_builds_the_same_rows_as_the_default_build(sample_dir, tmp_path, capsys):
    store = str(tmp_path / "labels.sqlite")
    assert main(["label", "--source", str(sample_dir), "--store", store, "-q"]) == 0
    first = capsys.readouterr().out
    assert "label set 'rules-v2'" in first and "0 failed" in first
    assert main(["label", "--source", str(sample_dir), "--store", store, "-q"]) == 0
    assert "requests: 0 sent" in capsys.readouterr().out  # everything came from the store
    assert main(["labels", "--store", store, "list"]) == 0
    assert capsys.readouterr().out.startswith("rules-v2: rules rules-v2")
    assert main(["build", "--source", str(sample_dir), "--out", str(tmp_path / "a"), "-q"]) == 0
    assert main(["build", "--source", str(sample_dir), "--labels", "rules-v2", "--store", store, "--out", str(tmp_path / "b"), "-q"]) == 0
    for config in ("simple", "grounded", "dual_simple", "dual_grounded"):
        a = (tmp_path / "a" / "swift" / config / "train.jsonl").read_bytes()
        assert a and a == (tmp_path / "b" / "swift" / config / "train.jsonl").read_bytes()


def test_batch_rounds_from_the_command_line(sample_dir, tmp_path, capsys):
    source = str(sample_dir / "record_dataset_StopCube.h5")
    common = ["label", "--source", source, "--labeler", "openai", "--model", "gpt-4o-mini", "--store", str(tmp_path / "s.sqlite"), "-q"]
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
                body = {"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": default_answer(request["body"]["messages"])}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
                dst.write(json.dumps({"custom_id": request["custom_id"], "response": {"status_code": 200, "body": body}, "error": None}) + "\n")
        args = [*common, "--import-batch", str(batch_out), "--export-batch", str(tmp_path / f"in{round_}.jsonl")]
    else:
        raise AssertionError("the chains never finished")
    assert round_ == 13  # StopCube's longest chain (12 call frames) + the final round that saves the set
    assert main(["labels", "--store", str(tmp_path / "s.sqlite"), "export", "gpt-4o-mini", str(tmp_path / "set.jsonl")]) == 0
    header = json.loads((tmp_path / "set.jsonl").read_text().splitlines()[0])["label_set"]
    assert header["labeller"] == "openai-batch" and header["counts"]["failed"] == 0


def test_a_batch_error_line_is_recorded_as_a_failure(sample_dir, tmp_path, capsys):
    source = str(sample_dir / "record_dataset_StopCube.h5")
    common = ["label", "--source", source, "--labeler", "openai", "--model", "m", "--store", str(tmp_path / "s.sqlite"), "-q", "--no-spatial"]
    assert main([*common, "--export-batch", str(tmp_path / "in.jsonl")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()]
    with open(tmp_path / "out.jsonl", "w") as dst:
        for i, request in enumerate(lines):
            if i == 0:
                dst.write(json.dumps({"custom_id": request["custom_id"], "response": None, "error": {"code": "server_error", "message": "boom"}}) + "\n")
            else:
                content = default_answer(request["body"]["messages"])
                body = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
                dst.write(json.dumps({"custom_id": request["custom_id"], "response": {"status_code": 200, "body": body}}) + "\n")
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
