"""The label cache: content-addressed keys, no secrets in them, safe with several writer processes."""

import multiprocessing as mp
import sqlite3

from robomme_mem.dataset.labels.store.cache import Answer, LabelCache, request_key

MESSAGES = [{"role": "system", "content": "rules"}, {"role": "user", "content": 'Task goal: "g"'}]


def test_key_is_a_pure_function_of_the_request():
    a = request_key("gpt-x", {"temperature": 1.0, "max_tokens": 600}, MESSAGES, [b"png-bytes"])
    b = request_key(
        "gpt-x", {"max_tokens": 600, "temperature": 1.0}, [dict(reversed(m.items())) for m in MESSAGES], [b"png-bytes"]
    )
    assert a == b and len(a) == 64
    assert request_key("gpt-y", {"temperature": 1.0, "max_tokens": 600}, MESSAGES, [b"png-bytes"]) != a
    assert request_key("gpt-x", {"temperature": 0.0, "max_tokens": 600}, MESSAGES, [b"png-bytes"]) != a
    assert request_key("gpt-x", {"temperature": 1.0, "max_tokens": 600}, MESSAGES, [b"other-png"]) != a


def test_store_and_read_back(tmp_path):
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        cache.put(
            "k1",
            Answer(
                "ok",
                text="I pressed the button.",
                prompt_tokens=120,
                completion_tokens=9,
                template_id="label.action.user",
                template_version="1",
            ),
        )
        got = cache.get("k1")
        assert got.ok and got.text == "I pressed the button." and got.prompt_tokens == 120
        assert "k1" in cache and cache.get("nope") is None and len(cache) == 1


def test_a_failure_never_replaces_a_success(tmp_path):
    with LabelCache(tmp_path / "labels.sqlite") as cache:
        cache.put("k", Answer("failed", error="HTTP 500"))
        assert "k" not in cache
        cache.put("k", Answer("ok", text="fine", attempts=2))
        cache.put("k", Answer("failed", error="later failure"))
        assert cache.get("k").text == "fine" and cache.get("k").attempts == 2
        assert list(cache.keys("ok")) == ["k"]


def _writer(path, worker, count):
    with LabelCache(path) as cache:
        for i in range(count):
            cache.put(f"{worker}-{i}", Answer("ok", text=f"answer {worker} {i}"))
            cache.put("shared", Answer("ok", text="same answer"))


def test_concurrent_writer_processes(tmp_path):
    path = tmp_path / "labels.sqlite"
    LabelCache(path).close()
    procs = [mp.get_context("fork").Process(target=_writer, args=(path, w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with LabelCache(path) as cache:
        assert len(cache) == 4 * 200 + 1
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
