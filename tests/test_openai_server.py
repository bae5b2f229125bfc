"""The fake OpenAI server, exercised by the real ``openai`` SDK over loopback HTTP (no mocks)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import openai
import pytest

from robomme_mem.dataset.labels.engine.requests import action_request, spatial_request
from robomme_mem.dataset.labels.engine.validate import check_action, check_spatial
from robomme_mem.servers.openai_server import (
    FAULTS,
    MODEL_ID,
    NOTHING_YET,
    FakeOpenAI,
    default_answer,
)
from robomme_mem.subgoals import points

GOAL = "put the red cube and the blue cube in the bin"
HISTORY = (
    "pick up the red cube <120, 88>",
    "place the red cube in the bin <30, 200>",
    "pick up the blue cube <64, 17>",
)
MESSAGES = action_request(GOAL, HISTORY, "grounded").wire_messages()


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=5.0) as c:
        yield c


def ask(client: openai.OpenAI, messages=MESSAGES, **kwargs):
    return client.chat.completions.create(model="gpt-test", messages=messages, **kwargs)


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


# -- normal answers ----------------------------------------------------------------------------


def test_normal_completion(server, client):
    response = ask(client)
    content = response.choices[0].message.content
    assert content == default_answer(MESSAGES) == "I completed 3 subtasks, last: pick up the blue cube <64, 17>."
    assert response.model == "gpt-test" and response.object == "chat.completion"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == len(content.split())
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    [entry] = server.log
    assert (entry.path, entry.model, entry.fault, entry.status, entry.n_messages) == (
        "/v1/chat/completions",
        "gpt-test",
        "ok",
        200,
        2,
    )
    assert entry.request_key is None and len(entry.body_sha256) == 64


def test_request_key_header_is_logged(server, client):
    ask(client, extra_headers={"X-Robomme-Request": "key-123"})
    ask(client)
    assert [e.request_key for e in server.log] == ["key-123", None]


def test_body_hash_is_the_raw_body(server):
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
    assert server.log[0].body_sha256 == hashlib.sha256(body).hexdigest()


def test_models_and_unknown_paths(server, client):
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/v1/nothing")
    response = conn.getresponse()
    assert response.status == 404
    assert set(json.loads(response.read())["error"]) >= {"message", "type", "code"}
    conn.close()
    assert [(e.path, e.status) for e in server.log] == [("/v1/models", 200), ("/v1/nothing", 404)]


def test_keep_alive_and_connection_close(server):
    """Many requests share one connection; ``Connection: close`` is honoured."""
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(3):
        conn.request("POST", "/v1/chat/completions", body=body)
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Connection") == "keep-alive"
        response.read()
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Connection": "close"})
    response = conn.getresponse()
    assert response.getheader("Connection") == "close"
    response.read()
    assert [r.connection for r in server.log] == [1, 1, 1, 1]  # one connection carried all four requests
    assert server.connections_accepted == 1
    conn.close()
    assert len(server.log) == 4


# -- faults ------------------------------------------------------------------------------------


def test_429_carries_retry_after(server, client):
    server.inject("429")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    assert caught.value.response.headers["Retry-After"] == "1"
    assert caught.value.body["type"] == "rate_limit_error"
    assert server.log[0].fault == "429" and server.log[0].status == 429


def test_500(server, client):
    server.inject("500")
    with pytest.raises(openai.InternalServerError):
        ask(client)
    assert server.log[0].status == 500


def test_hang_times_out_and_the_server_survives(server, client):
    server.inject("hang")
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert ask(client).choices[0].message.content == default_answer(MESSAGES)
    assert [(e.fault, e.status) for e in server.log] == [("hang", 0), ("ok", 200)]


def test_drop(server, client):
    server.inject("drop")
    with pytest.raises(openai.APIConnectionError) as caught:
        ask(client)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert (server.log[0].fault, server.log[0].status) == ("drop", 0)


def test_malformed_body_escapes_the_sdk_as_a_json_error(server, client):
    """openai 3.x does not wrap an unparsable 200 body: callers must catch ValueError too."""
    server.inject("malformed")
    with pytest.raises(json.JSONDecodeError):
        ask(client)
    assert (server.log[0].fault, server.log[0].status) == ("malformed", 200)


def test_content_faults_break_the_labelling_rules(server, client):
    server.inject("overlong", "preamble", "non_ascii", "invented")
    history = action_request(GOAL, HISTORY, "grounded").validation_context()
    normal = default_answer(MESSAGES)
    answers = [ask(client).choices[0].message.content for _ in range(4)]
    overlong, preamble, non_ascii, invented = answers
    assert len(overlong.split()) == 200
    assert preamble == "Sure! Here is the summary: " + normal
    assert "caf\u00e9" in non_ascii and normal in non_ascii
    assert invented == normal + " The cube is at <999, 999>."
    problems = [check_action(a, "grounded", history) for a in answers]
    assert ["words" in " ".join(p) for p in problems] == [True, False, False, False]
    assert any("preamble" in p for p in problems[1])
    assert any("non-ASCII" in p for p in problems[2])
    assert any("<999, 999>" in p for p in problems[3])
    assert [e.fault for e in server.log] == ["overlong", "preamble", "non_ascii", "invented"]


def test_invented_coordinate_is_never_in_the_request(server, client):
    server.inject("invented")
    messages = action_request(GOAL, ("pick up the cube <999, 999>",), "grounded").wire_messages()
    content = ask(client, messages=messages).choices[0].message.content
    assert content.endswith("The cube is at <1000, 1000>.")


def test_fault_for_comes_first_and_none_falls_through(server, client):
    server.inject("500")
    server.fault_for = lambda body: "429" if body["model"] == "limited" else None
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="limited", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError):
        ask(client)
    ask(client)
    assert [e.fault for e in server.log] == ["429", "500", "ok"]
    assert server.pending_faults == 0


def test_unknown_fault_names_are_refused(server):
    with pytest.raises(ValueError, match="unknown faults"):
        server.inject("ok", "timeout")
    assert server.pending_faults == 0
    assert set(FAULTS) >= {"ok", "429", "500", "hang", "drop", "malformed"}


def test_sdk_retries_honour_retry_after(server):
    server.retry_after = "0.2"
    server.inject("429", "500")
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=2, timeout=5.0) as client:
        assert ask(client).choices[0].message.content == default_answer(MESSAGES)
    assert [(e.fault, e.status) for e in server.log] == [("429", 429), ("500", 500), ("ok", 200)]
    assert server.log[1].t - server.log[0].t >= 0.2


# -- latency and concurrency -------------------------------------------------------------------


def test_concurrent_requests_overlap():
    async def main(url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=url, api_key="test", max_retries=0, timeout=5.0) as client:
            responses = await asyncio.gather(
                *(client.chat.completions.create(model="m", messages=MESSAGES) for _ in range(50))
            )
        return [r.choices[0].message.content for r in responses]

    with FakeOpenAI(latency_s=0.2) as server:
        started = time.monotonic()
        answers = asyncio.run(main(server.base_url))
        elapsed = time.monotonic() - started
        assert len(server.log) == 50
    assert set(answers) == {default_answer(MESSAGES)}
    assert 0.2 <= elapsed < 2.0  # 50 x 0.2 s in series would take 10 s


def test_latency_can_change_at_runtime(server, client):
    server.latency_s = 0.15
    started = time.monotonic()
    ask(client)
    assert time.monotonic() - started >= 0.15


# -- lifecycle ----------------------------------------------------------------------------------


def test_stop_cancels_a_hung_request_and_joins_the_thread():
    before = set(threading.enumerate())
    server = FakeOpenAI().start()
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0
    server.inject("hang")
    errors: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30.0) as c:
            try:
                ask(c)
            except openai.APIConnectionError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.log:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 2 and not caller.is_alive()
    assert len(errors) == 1
    assert set(threading.enumerate()) == before
    with pytest.raises(OSError):  # no longer listening
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_cli_serves_in_its_own_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "robomme_mem.servers.openai_server", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("BASE_URL http://127.0.0.1:")
        with openai.OpenAI(base_url=line.split()[1], api_key="test", max_retries=0, timeout=5.0) as client:
            assert ask(client).choices[0].message.content == default_answer(MESSAGES)
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        proc.stdout.close()


# -- the default answer ---------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["simple", "grounded"])
@pytest.mark.parametrize(
    "history",
    [
        (),
        ("pick up the red cube <120, 88>",),
        HISTORY,
        tuple(f"press button {i} <{i}, {2 * i}>" for i in range(40)),
        ("move the green cube " + "very " * 120 + "carefully to <7, 9> then <11, 13>",),
    ],
    ids=["none", "one", "three", "forty", "long-item"],
)
def test_default_action_answers_pass_the_rules(style, history):
    request = action_request(GOAL, history, style)
    answer = default_answer(request.wire_messages())
    assert answer == default_answer(request.wire_messages())
    assert check_action(answer, style, request.validation_context()) == []
    if not history:
        assert answer == NOTHING_YET
    else:
        assert answer.startswith(f"I completed {len(history)} subtask")
    if style == "grounded":
        assert points(answer) <= points(request.validation_context())
        if history:
            assert points(answer) == points(history[-1])  # the last item's coordinates are kept


def test_default_spatial_answers_follow_image_and_prior():
    answers = {
        (prior, seed): default_answer(spatial_request(GOAL, prior, frame(seed)).wire_messages())
        for prior in (None, "red cube <10, 20>")
        for seed in (0, 1)
    }
    assert len(set(answers.values())) == 4
    for answer in answers.values():
        assert check_spatial(answer) == [] and answer.startswith("Observation ")
    again = default_answer(spatial_request(GOAL, None, frame(0)).wire_messages())
    assert again == answers[(None, 0)]


def test_a_reask_gets_the_original_answer():
    for messages in (MESSAGES, spatial_request(GOAL, None, frame(3)).wire_messages()):
        first = default_answer(messages)
        reask = [
            *messages,
            {"role": "assistant", "content": "Sure! bad"},
            {"role": "user", "content": "Your answer breaks these rules."},
        ]
        assert default_answer(reask) == first


def test_a_taken_port_fails_start(server):
    with pytest.raises(OSError):
        FakeOpenAI(port=server.port).start()


def test_a_broken_answer_function_is_a_500(server, client):
    server.answer = lambda messages: 1 / 0
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        ask(client)
    server.answer = default_answer
    assert ask(client).choices[0].message.content == default_answer(MESSAGES)
