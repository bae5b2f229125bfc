"""One labelling run's request path: cache -> in-flight dedup -> priority slot -> labeller.

Every request goes through :meth:`LabelSession.answer`:

1. its key is looked up in the cache (a rebuild or a restarted run sends nothing answered);
2. an identical request already in flight is awaited, not sent again;
3. otherwise it waits for one of ``concurrency`` slots, longest remaining spatial chain
   first (critical-path scheduling: the run ends when its longest chain does), and the
   labeller answers it; answers are committed to the store in groups (every 50 ms), and
   :meth:`LabelSession.flush` writes the rest when the run ends or is interrupted.

Counts and token usage are kept in :class:`Stats` for the end-of-run report.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Protocol

from ..store.cache import Answer, LabelCache
from .requests import LabelParams, LabelRequest

COMMIT_INTERVAL_S = 0.05
COMMIT_BATCH = 256
"""Answers are committed together, at most this many or this long after the first: one
SQLite transaction per answer would cost more than the rest of the client. A run killed
outright loses at most the last interval's answers (they are asked again on restart)."""


class Labeller(Protocol):
    """Anything that answers a request: the ``openai`` client, the ``rules`` baseline."""

    name: str
    params: LabelParams

    async def ask(self, request: LabelRequest, key: str) -> Answer: ...

    async def aclose(self) -> None: ...


class Pending(Exception):
    """A request that this run does not send (batch export, or a build reading a label set)."""

    def __init__(self, key: str, request: LabelRequest) -> None:
        super().__init__(key)
        self.key = key
        self.request = request


@dataclass
class Stats:
    """What a run did, for the report and the label set's record."""

    sent: int = 0
    """Distinct requests the labeller answered in this run."""
    asks: int = 0
    """Completions asked for, re-asks after invalid answers included (HTTP retries are not)."""
    cached: int = 0
    deduplicated: int = 0
    """Requests identical to one this run already sent (in flight or answered)."""
    failed: int = 0
    """Requests answered in this run with a failure."""
    failed_earlier: int = 0
    """Requests served from the store as failures of an earlier run (``--retry-failed`` asks again)."""
    pending: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, answer: Answer) -> None:
        self.sent += 1
        self.asks += answer.attempts
        self.failed += not answer.ok
        self.prompt_tokens += answer.prompt_tokens or 0
        self.completion_tokens += answer.completion_tokens or 0

    def cost(self, prices: Mapping[str, float] | None) -> float | None:
        """USD from a price table ``{"input": $/1M tokens, "output": $/1M tokens}``."""
        if not prices:
            return None
        return (
            self.prompt_tokens * prices.get("input", 0.0) + self.completion_tokens * prices.get("output", 0.0)
        ) / 1e6

    def to_dict(self) -> dict:
        return asdict(self)


class PriorityLimiter:
    """At most ``slots`` holders; waiters are served highest priority first, then FIFO."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"concurrency must be at least 1, got {slots}")
        self._free = slots
        self._waiters: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: float = 0.0) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (-priority, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # the slot was handed over just as we were cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


@dataclass
class LabelSession:
    """Cache, dedup, concurrency and accounting around one labeller."""

    labeller: Labeller
    cache: LabelCache | None = None
    concurrency: int = 16
    retry_failed: bool = False
    """Ask again for requests whose stored answer is a failure (default: keep the failure)."""
    allowed: frozenset[str] | None = None
    """When set, only these keys may be answered from the cache (a build reading one label set)."""
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._limiter = PriorityLimiter(self.concurrency)
        self._inflight: dict[str, asyncio.Future] = {}
        self._memory: dict[str, Answer] = {}
        self._unwritten: list[tuple[str, Answer, dict]] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    @property
    def params(self) -> LabelParams:
        return self.labeller.params

    def lookup(self, key: str) -> Answer | None:
        """A stored answer from an earlier run (this run's own answers are in ``_memory``)."""
        if self.cache is None or (self.allowed is not None and key not in self.allowed):
            return None
        return self.cache.get(key)

    async def answer(self, request: LabelRequest, priority: float = 0.0) -> tuple[str, Answer]:
        """(key, answer) of one request; raises :class:`Pending` if the labeller does not send it."""
        key = request.key(self.params)
        earlier = self._memory.get(key)
        if earlier is not None:  # answered earlier in this run: a duplicate request
            self.stats.deduplicated += 1
            return key, earlier
        stored = self.lookup(key)
        if stored is not None and (stored.ok or not self.retry_failed):
            self.stats.cached += 1
            self.stats.failed_earlier += not stored.ok
            self._memory[key] = stored
            return key, stored
        running = self._inflight.get(key)
        if running is not None:
            self.stats.deduplicated += 1
            return key, await asyncio.shield(running)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            async with self._limiter.slot(priority):
                answer = await self.labeller.ask(request, key)
            self._store(key, request, answer)
            future.set_result(answer)
            return key, answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._inflight[key]

    def _store(self, key: str, request: LabelRequest, answer: Answer) -> None:
        """Keep an answer; it reaches the store within :data:`COMMIT_INTERVAL_S` (group commit)."""
        self.stats.add(answer)
        self._memory[key] = answer
        if self.cache is None:
            return
        self._unwritten.append((key, answer, request_record(request, self.params)))
        if len(self._unwritten) >= COMMIT_BATCH:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(COMMIT_INTERVAL_S, self.flush)

    def flush(self) -> None:
        """Write every answer received so far to the store."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._unwritten and self.cache is not None:
            batch, self._unwritten = self._unwritten, []
            self.cache.put_many(batch)


def request_record(request: LabelRequest, params: LabelParams) -> dict:
    """The canonical request as a label set keeps it (everything but the image's pixels)."""
    return {
        "kind": request.kind,
        "style": request.style,
        "model": params.model,
        "params": json.dumps(params.key_params(request.kind), sort_keys=True),
        "messages": json.dumps(request.canonical_messages(), ensure_ascii=False),
        "image_sha256": request.image_sha256,
        "template_id": request.template_id,
        "template_version": request.template_version,
    }
