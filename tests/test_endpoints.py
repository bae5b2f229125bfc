"""Endpoints that cannot label fail fast, with one line naming the URL and the cause (never the
key); transport failures are not stored as label failures and save no label set."""

import socket
import time

import pytest

from robomme_mem.cli import main
from robomme_mem.dataset.labels.store.cache import LabelCache
from robomme_mem.servers.openai_server import FakeOpenAI

SECRET = "sk-test-SECRET-0123456789"


@pytest.fixture
def source(sample_dir) -> str:
    return str(sample_dir / "record_dataset_StopCube.h5")


def label(source, base_url, store, *extra) -> list[str]:
    return [
        "label",
        "--source",
        source,
        "--labeler",
        "openai",
        "--model",
        "m",
        "--base-url",
        base_url,
        "--api-key-env",
        "FAKE_KEY",
        "--store",
        str(store),
        "--name",
        "s",
        "-q",
        "--timeout",
        "5",
        *extra,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nothing_listening_stops_the_run_at_once(source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    assert main(label(source, url, tmp_path / "s.sqlite")) == 1
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"robomme-mem: error: labelling endpoint {url}: cannot connect: connection refused"]
    with LabelCache(tmp_path / "s.sqlite") as store:
        assert len(store) == 0 and store.set_names() == []  # no failures stored, no label set


def test_a_refused_key_stops_the_run_after_one_request_and_is_never_shown(source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    with FakeOpenAI(api_key="the-right-key") as server:  # answers 401 quoting the key it was sent
        assert main(label(source, server.base_url, tmp_path / "s.sqlite")) == 1
        assert len(server.log) == 1 and server.log[0].status == 401  # the probe, nothing more
    captured = capsys.readouterr()
    assert "401: the API key in $FAKE_KEY was refused" in captured.err and server.base_url in captured.err
    assert SECRET not in captured.out + captured.err
    with LabelCache(tmp_path / "s.sqlite") as store:
        assert len(store) == 0 and store.set_names() == []


def test_a_server_that_dies_midway_keeps_the_answers_and_the_rerun_sends_only_the_rest(
    source, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    store = tmp_path / "s.sqlite"
    with FakeOpenAI() as server:
        answered = 0

        def die_after_ten(request):
            nonlocal answered
            answered += 1
            return "500" if answered > 10 else "ok"

        server.fault_for = die_after_ten
        assert main(label(source, server.base_url, store, "--max-retries", "1", "--concurrency", "1")) == 1
        assert "500 after retries" in capsys.readouterr().err
        with LabelCache(store) as cache:
            assert len(cache) == 10 and not list(cache.keys(status="failed")) and cache.set_names() == []
        server.fault_for = None
        server.clear_log()
        assert main(label(source, server.base_url, store)) == 0
        rest = [r for r in server.log if r.path.endswith("/chat/completions")]
        with LabelCache(store) as cache:
            assert len(rest) == len(cache) - 10 and cache.set_names() == ["s"]


def test_a_request_the_server_refuses_is_that_requests_failure_and_the_key_it_quotes_is_scrubbed(
    source, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    store = tmp_path / "s.sqlite"
    with FakeOpenAI() as server:
        server.inject("400")  # quotes the key it came with
        assert main(label(source, server.base_url, store, "--max-episodes", "1")) == 1
    with LabelCache(store) as cache:
        (failed,) = [cache.get(k) for k in cache.keys(status="failed")]
        assert "sent with key ***" in failed.error and SECRET not in failed.error
    assert SECRET not in capsys.readouterr().err


def test_a_build_of_nothing_fails_and_says_why(source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    store = tmp_path / "s.sqlite"
    with FakeOpenAI() as server:
        server.fault_for = lambda request: "overlong"  # every answer breaks the word limit
        assert main(label(source, server.base_url, store, "--max-episodes", "1", "--max-reasks", "0")) == 1
    out = tmp_path / "out"
    code = main(
        [
            "build",
            "--source",
            source,
            "--labels",
            "s",
            "--store",
            str(store),
            "--allow-failed",
            "--max-episodes",
            "1",
            "--configs",
            "dual_grounded",
            "baseline_simple",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert (
        "nothing to write for dual_grounded: every episode was left out for failed labels (1: StopCube episode 0)"
        in err
    )
