"""The labelling engine end to end: the real ``openai`` client over HTTP to a local server.

The server (:mod:`robomme_mem.servers.openai_server`) answers deterministically and injects
the faults of a remote API; its request log proves what was sent, retried and deduplicated.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.build import BuildOptions, build
from robomme_mem.dataset.labels.build_labels import resolve
from robomme_mem.dataset.labels.engine.requests import LabelParams
from robomme_mem.dataset.labels.engine.session import LabelSession, PriorityLimiter
from robomme_mem.dataset.labels.labellers.batch import BatchExportLabeller, import_batch, write_batch
from robomme_mem.dataset.labels.labellers.openai_chat import REQUEST_HEADER, OpenAILabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.dataset.labels.store.transfer import export_set, import_set
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import find_source_files, select_files
from robomme_mem.servers.openai_server import FakeOpenAI, default_answer

MODEL = "fake-labeller"
TASKS = ("StopCube", "SwingXtimes")


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def files(sample_dir) -> list[Path]:
    return select_files(find_source_files([sample_dir]), TASKS)


def labeller(server, **kw) -> OpenAILabeller:
    options = {"timeout_s": 5.0, "max_retries": 4}
    options.update(kw)
    return OpenAILabeller(LabelParams(model=MODEL), base_url=server.base_url, **options)


def run(files, server, store, name="fake", **kw):
    lab = kw.pop("labeller", None) or labeller(server)
    return label_source(files, lab, store=store, name=name, progress=False, **kw)


def sent_keys(server) -> list[str]:
    return [r.request_key for r in server.log if r.path.endswith("/chat/completions")]


def test_labels_every_boundary_and_frame_and_sends_each_distinct_request_once(files, server, tmp_path):
    store = LabelCache(tmp_path / "labels.sqlite")
    result = run(files, server, store)
    assert result.problems == [] and result.meta is not None
    works = [e.work for e in result.episodes]
    boundaries = sum(len(w.boundaries[s]) for w in works for s in ("simple", "grounded"))
    frames = sum(len(w.timeline.call_frames) for w in works)
    keys = sent_keys(server)
    assert len(keys) == len(set(keys)) == result.stats.sent  # one HTTP request per distinct key
    assert result.stats.sent < boundaries + frames  # repeated histories were deduplicated
    assert result.stats.sent + result.stats.deduplicated == boundaries + frames
    # the chain: each spatial request carries the previous answer as its prior
    episode = result.episodes[0]
    texts = episode.spatial_memories()
    assert len(texts) == len(episode.work.timeline.call_frames) and len(set(texts)) == len(texts)
    # a second run sends nothing and gives the same label set
    server.clear_log()
    again = run(files, server, store)
    assert sent_keys(server) == [] and again.stats.cached == result.stats.sent
    assert again.meta["id"] == result.meta["id"]


def test_a_build_from_the_label_set_sends_nothing_and_uses_its_answers(files, server, tmp_path):
    store_path = tmp_path / "labels.sqlite"
    with LabelCache(store_path) as store:
        result = run(files, server, store)
    server.clear_log()
    out = build(
        files, tmp_path / "out", BuildOptions(labels="fake", label_store=str(store_path), workers=1), progress=False
    )
    assert server.log == []
    assert out.manifest["labels"]["id"] == result.meta["id"]
    rows = [json.loads(line) for line in (out.out / "swift/dual_grounded/train.jsonl").read_text().splitlines()]
    first = result.episodes[0]
    assert first.spatial_memories()[0] in rows[0]["messages"][2]["content"]
    assert first.action_memories("grounded")[0] in rows[0]["messages"][2]["content"]


def test_a_label_set_from_another_source_is_refused(files, server, tmp_path, sample_dir):
    store = LabelCache(tmp_path / "labels.sqlite")
    run(files[:1], server, store)
    with pytest.raises(ValueError, match="has no answer for SwingXtimes episode 0"):
        resolve(plan_source(files), store, "fake")


def test_every_transport_fault_is_survived(files, server, tmp_path):
    server.retry_after = "0.3"
    server.inject("429", "500", "hang", "drop", "malformed", "500")
    store = LabelCache(tmp_path / "labels.sqlite")
    result = run(files[:1], server, store, labeller=labeller(server, timeout_s=0.5, max_retries=6))
    assert result.problems == [] and result.meta is not None
    chats = [r for r in server.log if r.path.endswith("/chat/completions")]  # after the one GET /models probe
    assert [r.fault for r in chats][:6] == ["429", "500", "hang", "drop", "malformed", "500"]
    retried = [k for k in set(sent_keys(server)) if sent_keys(server).count(k) > 1]
    assert retried, "faulted requests are sent again"
    # Retry-After is honoured: the request after the 429 waited at least that long
    first = chats[0]
    after = next(r for r in chats[1:] if r.request_key == first.request_key)
    assert after.t - first.t >= 0.3


def test_invalid_answers_are_asked_again_then_recorded_as_failures(files, server, tmp_path):
    server.inject("overlong", "preamble", "non_ascii")
    store = LabelCache(tmp_path / "labels.sqlite")
    result = run(files[:1], server, store, labeller=labeller(server, max_reasks=2))
    assert result.problems == []  # each recovered when asked again
    reasked = [r for r in server.log if r.n_messages > 2]
    assert len(reasked) == 3

    # a grounded memory that keeps inventing coordinates fails after 1 + max_reasks asks
    def invent(body):  # grounded action memories, except SwingXtimes' (its goals name the right-side target)
        system, user = body["messages"][0]["content"], str(body["messages"][1]["content"])
        grounded_action = "grounded" in system and "compressed spatial memory" not in system
        return "invented" if grounded_action and "right-side target" not in user else None

    server.fault_for = invent
    failing = LabelCache(tmp_path / "failing.sqlite")
    bad = run(files[:1], server, failing, labeller=labeller(server, max_reasks=1))
    assert bad.problems and all("coordinates not in the history" in p for p in bad.problems)
    failed = [failing.get(k) for k in failing.keys(status="failed")]
    assert failed and all(a.attempts == 2 for a in failed)
    # the build refuses them, or leaves their episodes out when told to
    options = BuildOptions(labels="fake", label_store=str(failing.path), workers=1)
    with pytest.raises(ValueError, match="failed labels"):
        build(files[:1], tmp_path / "out", options, progress=False)
    # every StopCube episode failed, so leaving them out leaves nothing: that is an error too
    with pytest.raises(
        ValueError,
        match=r"nothing to write for simple, .*: every episode was left out for failed labels \(3: StopCube episode 0, StopCube episode 1, StopCube episode 2\)",
    ):
        build(
            files[:1],
            tmp_path / "out",
            BuildOptions(labels="fake", label_store=str(failing.path), workers=1, allow_failed=True),
            progress=False,
        )
    # with episodes of a task whose memories carry no coordinates, the failed ones are left out
    with_simple = run(
        files, server, failing, labeller=labeller(server, max_reasks=1), replace=True
    )  # a wider selection: replaced on purpose
    assert {e.work.task for e in with_simple.episodes if not e.complete} == {"StopCube"}
    allowed = build(
        files,
        tmp_path / "out",
        BuildOptions(labels="fake", label_store=str(failing.path), workers=1, allow_failed=True),
        progress=False,
    )
    assert allowed.manifest["labels"]["left_out"] == ["StopCube episode 0", "StopCube episode 1", "StopCube episode 2"]
    assert 0 < allowed.rows["grounded"] < allowed.rows["baseline_grounded"]


def test_identical_requests_in_flight_are_sent_once(server, files):
    server.latency_s = 0.2
    lab = labeller(server)
    session = LabelSession(lab, None, concurrency=8)
    work = plan_source(files[:1])[0]
    from robomme_mem.dataset.labels.engine.requests import action_request

    request = action_request(work.goal, work.boundaries["simple"][1].history, "simple")

    async def many():
        try:
            return await asyncio.gather(*(session.answer(request) for _ in range(10)))
        finally:
            await lab.aclose()

    answers = asyncio.run(many())
    assert len({a.text for _, a in answers}) == 1
    assert len(sent_keys(server)) == 1 and session.stats.deduplicated == 9


def test_longest_chain_first_and_priority_order():
    order = []

    async def scenario():
        limiter = PriorityLimiter(1)

        async def job(name, priority):
            async with limiter.slot(priority):
                order.append(name)
                await asyncio.sleep(0)

        async with limiter.slot():
            tasks = [asyncio.create_task(job(n, p)) for n, p in (("low", 1), ("high", 5), ("mid", 3), ("low2", 1))]
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert order == ["high", "mid", "low", "low2"]


def test_the_api_key_is_never_written(files, server, tmp_path, monkeypatch, capsys):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("FAKE_KEY", secret)
    server.inject("500")
    store = tmp_path / "labels.sqlite"
    args = [
        "label",
        "--source",
        *map(str, files[:1]),
        "--labeler",
        "openai",
        "--model",
        MODEL,
        "--base-url",
        server.base_url,
        "--api-key-env",
        "FAKE_KEY",
        "--store",
        str(store),
        "--name",
        "keyed",
        "-q",
    ]
    assert main(args) == 0
    assert main(["labels", "--store", str(store), "export", "keyed", str(tmp_path / "set.jsonl")]) == 0
    assert main(["labels", "--store", str(store), "export", "keyed", str(tmp_path / "set.parquet")]) == 0
    assert (
        main(
            [
                "build",
                "--source",
                str(files[0]),
                "--labels",
                "keyed",
                "--store",
                str(store),
                "--out",
                str(tmp_path / "out"),
                "-q",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path


def test_label_sets_move_as_parquet_and_jsonl(files, server, tmp_path):
    store = LabelCache(tmp_path / "a.sqlite")
    result = run(files[:1], server, store)
    for suffix in (".parquet", ".jsonl"):
        path = tmp_path / f"set{suffix}"
        assert export_set(store, "fake", path) == result.meta["counts"]["entries"]
        other = LabelCache(tmp_path / f"b{suffix}.sqlite")
        name, _ = import_set(other, path, name="moved")
        assert other.set_meta(name)["id"] == result.meta["id"]
        moved = resolve(plan_source(files[:1]), other, "moved")
        assert moved[0].spatial_memories() == result.episodes[0].spatial_memories()


def test_batch_export_and_import_walk_the_chains_to_the_online_labels(files, server, tmp_path):
    online = run(files[:1], server, LabelCache(tmp_path / "online.sqlite"))
    store = LabelCache(tmp_path / "batch.sqlite")
    params = LabelParams(model=MODEL)
    rounds = 0
    while True:
        exporter = BatchExportLabeller(params)
        result = run(files[:1], server, store, labeller=exporter, name="batched")
        if result.meta is not None:
            break
        rounds += 1
        batch_in, batch_out = tmp_path / f"in{rounds}.jsonl", tmp_path / f"out{rounds}.jsonl"
        assert write_batch(batch_in, exporter.pending, params, store) == len(exporter.pending)
        with open(batch_in) as src, open(batch_out, "w") as dst:  # what the Batch API would return
            for line in src:
                request = json.loads(line)
                assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
                content = default_answer(request["body"]["messages"])
                body = {
                    "model": MODEL,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
                dst.write(
                    json.dumps(
                        {
                            "id": f"batch_req_{rounds}",
                            "custom_id": request["custom_id"],
                            "response": {"status_code": 200, "body": body},
                            "error": None,
                        }
                    )
                    + "\n"
                )
        imported = import_batch(batch_out, store)
        assert imported.failed == 0 and imported.ok == len(exporter.pending)
    longest = max(len(e.work.timeline.call_frames) for e in online.episodes)
    assert rounds == longest  # one round per frame of the longest chain (action memories ride along in the first)
    assert result.meta["id"] == online.meta["id"]


def test_kill_and_resume_sends_nothing_twice_and_matches_an_uninterrupted_run(files, server, tmp_path):
    server.latency_s = 0.05
    reference = run(files, server, LabelCache(tmp_path / "reference.sqlite"))
    server.clear_log()
    store = tmp_path / "resumed.sqlite"
    command = [
        sys.executable,
        "-m",
        "robomme_mem",
        "label",
        "--source",
        *map(str, files),
        "--labeler",
        "openai",
        "--model",
        MODEL,
        "--base-url",
        server.base_url,
        "--store",
        str(store),
        "--name",
        "fake",
        "--concurrency",
        "4",
        "-q",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.exists() and len(LabelCache(store)) >= reference.stats.sent // 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with LabelCache(store) as cache:
        answered = set(cache.keys(status="ok"))
    assert 0 < len(answered) < reference.stats.sent
    server.clear_log()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    resent = set(sent_keys(server)) & answered
    assert resent == set()
    assert len(set(sent_keys(server))) == reference.stats.sent - len(answered)
    with LabelCache(store) as cache:
        assert cache.set_meta("fake")["id"] == reference.meta["id"]


def test_request_key_header_names_the_cache_key(files, server, tmp_path):
    store = LabelCache(tmp_path / "labels.sqlite")
    run(files[:1], server, store)
    assert REQUEST_HEADER == "X-Robomme-Request"
    assert set(sent_keys(server)) == set(store.keys(status="ok"))
