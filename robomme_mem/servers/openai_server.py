"""A local, deterministic, fault-injecting OpenAI-compatible chat-completions server.

For offline tests and benchmarks of the labelling engine: the real ``openai`` client talks
to it over HTTP on loopback, so retries, timeouts, keep-alive and concurrency are the SDK's
own and nothing is mocked. Answers come from :func:`default_answer` (deterministic, and
valid under the labelling rules) unless a fault is queued with :meth:`FakeOpenAI.inject` or
chosen per request by :attr:`FakeOpenAI.fault_for`.

Standard library only (asyncio streams and a minimal HTTP/1.1 with keep-alive), so it ships
in the core package. In a test::

    with FakeOpenAI(latency_s=0.05) as server:
        server.inject("429", "hang")
        client = openai.OpenAI(base_url=server.base_url, api_key="test")

In its own process (prints one line, ``BASE_URL http://127.0.0.1:PORT/v1``, then serves
until SIGTERM/SIGINT)::

    python -m robomme_mem.servers.openai_server --port 0 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import contextvars
import hashlib
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from ..prompts import EMPTY_ACTION_MEMORY, SPATIAL_TAG
from ..subgoals import POINT_RE, point_text, points, points_in_order

MODEL_ID = "fake-labeller"
"""The one model ``GET /v1/models`` lists (any requested model name is accepted and echoed)."""
FAULTS = ("ok", "400", "429", "500", "hang", "drop", "malformed", "overlong", "preamble", "non_ascii", "invented")
"""What a chat request can be answered with; see :class:`FakeOpenAI`."""
HANG_S = 3600.0
"""How long a "hang" waits: longer than any test's client timeout."""
REQUEST_HEADER = "X-Robomme-Request"
"""The labeller's request-key header, recorded in :attr:`LoggedRequest.request_key`."""
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"

NOTHING_YET = EMPTY_ACTION_MEMORY
_HISTORY_MARK = "The history of completed subtasks: "
_NO_HISTORY = "(none yet)"
_ITEM_SPLIT_RE = re.compile(r"(?:^|;\s*)\d+\.\s+")
_LIMIT_RE = re.compile(r"under (\d+) words", re.IGNORECASE)
_DEFAULT_LIMITS = {"simple": 50, "grounded": 90, "spatial": 70}
_IMAGE_TOKENS = 85
"""Prompt tokens charged per image (OpenAI's low-detail price), so usage is deterministic."""
_MALFORMED = (
    b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assis'
)
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
}


# -- the default answer ---------------------------------------------------------------------


def _text(content: Any) -> str:
    """A message's text: the string itself, or its ``text`` parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _sha8(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:8]


def default_answer(messages: list[dict]) -> str:
    """A deterministic answer that passes the labelling rules, from the message content alone.

    The kind comes from the system text ("compressed spatial memory" -> spatial, "grounded"
    -> grounded action, else simple action) and the word limit from its "under N words".
    Only the system messages and the *first* user message count, so a re-ask (an assistant
    answer and a new user turn appended) gets the same answer as the original request.

    - action: "I completed N subtasks, last: <last history item>." (grounded keeps the last
      item's ``<a, b>`` coordinates, which come from the history, and invents none);
      the one empty-memory wording (``prompts.EMPTY_ACTION_MEMORY``) for an empty history.
    - spatial: "Observation D after P." with D a hash of the request (image data URL
      included, so another image gives another answer) and P a hash of the prior memory.
    """
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), len(messages) - 1)
    asked = messages[: first_user + 1]
    system = "\n".join(_text(m.get("content")) for m in asked if m.get("role") == "system")
    user = _text(asked[-1].get("content")) if asked and asked[-1].get("role") == "user" else ""
    digest = _sha8(json.dumps(asked, sort_keys=True, separators=(",", ":")))
    kind = "spatial" if "compressed spatial memory" in system else "grounded" if "grounded" in system else "simple"
    found = _LIMIT_RE.search(system)
    limit = int(found.group(1)) if found else _DEFAULT_LIMITS[kind]
    if kind == "spatial":
        return f"Observation {digest} after {_sha8(SPATIAL_TAG.inside(user) or '')}."
    at = user.find(_HISTORY_MARK)
    if at < 0:
        return f"I received request {digest}."
    history = user[at + len(_HISTORY_MARK) :].split("\n", 1)[0].strip()
    return _action_answer(history, kind == "grounded", limit)


def _action_answer(history: str, grounded: bool, limit: int) -> str:
    """The action answer for a ``1. a; 2. b`` history, kept under ``limit`` words."""
    items = [s.strip() for s in _ITEM_SPLIT_RE.split(history) if s.strip()]
    if history == _NO_HISTORY or not items:
        return NOTHING_YET
    n = len(items)
    last = items[-1].encode("ascii", "ignore").decode("ascii").strip().rstrip(".").strip()
    prefix = f"I completed {n} subtask{'' if n == 1 else 's'}"
    budget = limit - 1 - len(prefix.split()) - 1  # words left for the item after "last:"
    words = last.split()
    if len(words) > budget:  # shorten the text, keeping (grounded) the item's coordinates
        points = [point_text(p) for p in points_in_order(last)] if grounded else []
        points = points[: max(0, budget // 2)]
        words = (POINT_RE.sub(" ", last) if grounded else last).split()[: max(0, budget - 2 * len(points))] + points
    return f"{prefix}, last: {' '.join(words)}." if words else f"{prefix}."


def _invent(answer: str, messages: list[dict]) -> str:
    """The answer plus a coordinate found nowhere in the request (or the answer)."""
    seen = points(" ".join([answer] + [_text(m.get("content")) for m in messages]))
    n = 999
    while (n, n) in seen:
        n += 1
    return f"{answer} The cube is at {point_text((n, n))}."


_CONTENT_FAULTS: dict[str, Callable[[str, list[dict]], str]] = {
    "ok": lambda a, _: a,
    "overlong": lambda a, _: " ".join((a.split() + ["again"] * 200)[:200]),
    "preamble": lambda a, _: "Sure! Here is the summary: " + a,
    "non_ascii": lambda a, _: f"{a} I paused at the caf\u00e9.",
    "invented": _invent,
}


# -- the server -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server saw it, logged on arrival (status 0: hung or dropped)."""

    t: float
    path: str
    model: str | None
    fault: str
    status: int
    request_key: str | None
    body_sha256: str
    n_messages: int
    connection: int = 0
    """Which TCP connection carried it (numbered from 1 as they are accepted)."""


_CONNECTION: contextvars.ContextVar[int] = contextvars.ContextVar("connection", default=0)


def _error(message: str, kind: str, code: str | None = None) -> bytes:
    """An error body in OpenAI's shape."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


class FakeOpenAI:
    """An OpenAI-compatible chat-completions server on loopback, with latency and injected faults.

    Each chat request takes the fault from :attr:`fault_for` (if set and not ``None``) or the
    next one :meth:`inject` queued ("ok" when none is):

    - "ok": the answer; "overlong" (200 words), "preamble", "non_ascii", "invented" (a
      coordinate not in the request): a valid completion with broken content;
    - "429" (with ``Retry-After: {retry_after}``), "500": an OpenAI error; "400": a refused
      request whose message quotes the API key it came with (as careless servers do);
    - "hang": no answer until the client gives up (or :meth:`stop`); "drop": the connection
      closes with no response; "malformed": status 200 with a truncated JSON body.

    With ``api_key`` set, a request with any other key gets 401, its message quoting the key it
    was sent (so the client's scrubbing is exercised). Every request (chat or not) is appended
    to :attr:`log` on arrival. ``latency_s``,
    ``retry_after``, ``answer`` and ``fault_for`` may be changed while it runs.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        answer: Callable[[list[dict]], str] = default_answer,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.api_key = api_key
        self.answer = answer
        self.host = host
        self.retry_after = "1"
        self.fault_for: Callable[[dict], str | None] | None = None
        self.log: list[LoggedRequest] = []
        self.keep_log = True
        """False stops logging (the CLI's long-running server would otherwise grow without bound)."""
        self._port = port
        self._faults: collections.deque[str] = collections.deque()
        self._served = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task] = set()
        self.connections_accepted = 0

    # -- control (any thread) --

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}/v1"

    @property
    def pending_faults(self) -> int:
        """How many injected faults no request has taken yet."""
        return len(self._faults)

    def inject(self, *faults: str) -> None:
        """Queue faults for the next chat requests, one each, in order."""
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        self._faults.extend(faults)

    def clear_log(self) -> None:
        self.log.clear()

    def start(self) -> Self:
        """Serve on a daemon thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="FakeOpenAI", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None or self._loop is None:
            self._thread.join()
            self._thread = None
            raise self._error or RuntimeError("FakeOpenAI stopped before listening (see the thread's traceback)")
        return self

    def stop(self) -> None:
        """Stop listening, cancel hung requests, close every connection and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self.serve(self._ready.set))
        except OSError as exc:  # cannot listen (port taken, bad host): start() raises it
            self._error = exc
        finally:
            self._ready.set()

    # -- serving (the server's event loop) --

    async def serve(self, on_ready: Callable[[], None] | None = None, *, handle_signals: bool = False) -> None:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``): the thread's and the CLI's body."""
        server = await asyncio.start_server(self._connection, self.host, self._port)
        self._port = server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stop.set)
        try:
            if on_ready is not None:
                on_ready()
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            if self._connections:
                await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()
            self._loop = self._stop = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests in turn until the client or a fault closes it."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self.connections_accepted += 1
        _CONNECTION.set(self.connections_accepted)  # each connection runs in its own task and context
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away mid-request, or bytes that are not HTTP
        except asyncio.CancelledError:
            pass  # stop(): end normally, as Python 3.11's start_server logs a cancelled handler as an error
        finally:
            self._connections.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # closed between requests: the normal end of a keep-alive connection
        t = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        if len(request_line) != 3:
            await self._send(writer, 400, _error("malformed request line", "invalid_request_error"), False)
            return False
        method, target, version = request_line
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        path = target.split("?", 1)[0]
        key = headers.get("x-robomme-request")
        presented = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.api_key is not None and presented != self.api_key:
            self._record(t, path, None, "ok", 401, key, body, 0)
            await self._send(
                writer,
                401,
                _error(f"Incorrect API key provided: {presented}.", "invalid_request_error", "invalid_api_key"),
                keep_alive,
            )
            return keep_alive
        if method == "POST" and path == CHAT_PATH:
            return await self._chat(reader, writer, body, t, key, keep_alive, presented)
        if method == "GET" and path == MODELS_PATH:
            status, payload = 200, _MODELS
        else:
            status, payload = (
                404,
                _error(f"Unknown request URL: {method} {path}", "invalid_request_error", "unknown_url"),
            )
        self._record(t, path, None, "ok", status, key, body, 0)
        await self._send(writer, status, payload, keep_alive)
        return keep_alive

    async def _chat(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        body: bytes,
        t: float,
        key: str | None,
        keep_alive: bool,
        presented: str = "",
    ) -> bool:
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        messages = request.get("messages") if isinstance(request, dict) else None
        if not isinstance(messages, list) or (isinstance(request, dict) and request.get("stream")):
            why = (
                "streaming is not supported by FakeOpenAI"
                if isinstance(messages, list)
                else "the body must be JSON with a 'messages' list"
            )
            self._record(t, CHAT_PATH, None, "ok", 400, key, body, 0)
            await self._send(writer, 400, _error(why, "invalid_request_error"), keep_alive)
            return keep_alive
        model = request.get("model")
        model = model if isinstance(model, str) else MODEL_ID
        fault = "ok"
        extra = b""
        try:
            chosen = self.fault_for(request) if self.fault_for is not None else None
            if chosen is None:
                try:
                    chosen = self._faults.popleft()
                except IndexError:
                    chosen = "ok"
            fault = chosen
            if fault in _CONTENT_FAULTS:
                status, payload = (
                    200,
                    self._completion(model, messages, _CONTENT_FAULTS[fault](self.answer(messages), messages)),
                )
            elif fault == "429":
                status, extra = 429, b"Retry-After: %s\r\n" % str(self.retry_after).encode("latin-1")
                payload = _error(
                    "Rate limit reached (injected by FakeOpenAI).", "rate_limit_error", "rate_limit_exceeded"
                )
            elif fault == "400":
                status, payload = (
                    400,
                    _error(
                        f"Invalid request (injected by FakeOpenAI), sent with key {presented}.", "invalid_request_error"
                    ),
                )
            elif fault == "500":
                status, payload = 500, _error("The server had an error (injected by FakeOpenAI).", "server_error")
            elif fault == "malformed":
                status, payload = 200, _MALFORMED
            elif fault in ("hang", "drop"):
                status, payload = 0, b""
            else:
                raise ValueError(f"fault_for returned an unknown fault {fault!r}; known: {FAULTS}")
        except Exception as exc:  # noqa: BLE001 -- a broken answer() or fault_for: the client sees it, the thread survives
            status, extra, payload = 500, b"", _error(f"FakeOpenAI failed: {type(exc).__name__}: {exc}", "server_error")
        self._record(t, CHAT_PATH, model, fault, status, key, body, len(messages))
        if fault == "hang":
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(), HANG_S)  # returns when the client hangs up
            return False
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if status == 0:  # drop
            return False
        await self._send(writer, status, payload, keep_alive, extra)
        return keep_alive

    def _completion(self, model: str, messages: list[dict], content: str) -> bytes:
        self._served += 1
        text = "".join(_text(m.get("content")) for m in messages if isinstance(m, dict))
        images = sum(
            1
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("content"), list)
            for p in m["content"]
            if isinstance(p, dict) and p.get("type") == "image_url"
        )
        prompt_tokens = len(text) // 4 + _IMAGE_TOKENS * images
        completion_tokens = len(content.split())
        return json.dumps(
            {
                "id": f"chatcmpl-fake{self._served}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            separators=(",", ":"),
        ).encode()

    def _record(
        self,
        t: float,
        path: str,
        model: str | None,
        fault: str,
        status: int,
        key: str | None,
        body: bytes,
        n_messages: int,
    ) -> None:
        if self.keep_log:
            self.log.append(
                LoggedRequest(
                    t, path, model, fault, status, key, hashlib.sha256(body).hexdigest(), n_messages, _CONNECTION.get()
                )
            )

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, status: int, body: bytes, keep_alive: bool, extra: bytes = b""
    ) -> None:
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: %s\r\n\r\n" % (
            status,
            _REASONS.get(status, b"Unknown"),
            len(body),
            extra,
            b"keep-alive" if keep_alive else b"close",
        )
        writer.write(head + body)
        await writer.drain()


_MODELS = json.dumps(
    {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "robomme-mem"}]}
).encode()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (trailers skipped)."""
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground, so a benchmark can put the server in its own process."""
    parser = argparse.ArgumentParser(
        prog="python -m robomme_mem.servers.openai_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each chat request waits before answering")
    args = parser.parse_args(argv)
    server = FakeOpenAI(latency_s=args.latency, host=args.host, port=args.port)
    server.keep_log = False
    asyncio.run(server.serve(lambda: print(f"BASE_URL {server.base_url}", flush=True), handle_signals=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
