"""Content-addressed cache of labeller answers, in SQLite.

A labelling request is a pure function of (model, parameters, messages, image bytes), so its
answer is stored under the hash of exactly that (:func:`request_key`): identical requests
across episodes, rebuilds and restarted runs are answered from here, and a label set is just
the rows a build used. The key never includes the API key or the endpoint's URL: the same
model behind another URL gives the same labels.

The same SQLite file is the **label store**: it also keeps each request's canonical form
(``requests``) and named label sets (``label_sets``: metadata, and which answer each
boundary and call frame of each episode uses).

Safe under concurrent writers (several labelling processes on one file): WAL journal, a busy
timeout, and one short transaction per write. A successful answer is never replaced by a
failure.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ....formats import LABEL_CACHE_SCHEMA

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    text TEXT,
    error TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    model_reported TEXT,
    template_id TEXT,
    template_version TEXT,
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    style TEXT,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    messages TEXT NOT NULL,
    image_sha256 TEXT,
    template_id TEXT NOT NULL,
    template_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS label_sets (name TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS label_set_entries (
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    task TEXT NOT NULL,
    episode INTEGER NOT NULL,
    kind TEXT NOT NULL,
    style TEXT,
    item INTEGER NOT NULL,
    step INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (name, position)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

REQUEST_FIELDS = ("kind", "style", "model", "params", "messages", "image_sha256", "template_id", "template_version")
ENTRY_FIELDS = ("task", "episode", "kind", "style", "item", "step", "key")
"""Where a label set uses an answer: action memory of boundary ``item`` (at ``step``) in one
style, or spatial memory of call frame number ``item`` (at ``step``)."""


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request_key(model: str, params: dict, messages: Sequence[dict], images: Sequence[bytes] = ()) -> str:
    """sha256 of the canonical request: model, sampling parameters, messages and image bytes.

    ``messages`` hold the prompt text (images referenced by position, not inlined); images
    enter the key by their own sha256. Key order, spacing and Unicode escaping of the JSON
    cannot change the key.
    """
    return digest_key(model, params, messages, [image_digest(b) for b in images])


def digest_key(model: str, params: dict, messages: Sequence[dict], image_digests: Sequence[str]) -> str:
    """:func:`request_key` from the images' sha256 digests (computed once by the caller)."""
    canonical = json.dumps(
        {"model": model, "params": params, "messages": list(messages), "images": list(image_digests)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Answer:
    """One stored answer (or failure) and how it was obtained."""

    status: str
    text: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    model_reported: str | None = None
    template_id: str | None = None
    template_version: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"


_FIELDS = tuple(Answer.__dataclass_fields__)


class LabelCache:
    """``cache.get(key)`` / ``cache.put(key, answer)`` over one SQLite file."""

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(LABEL_CACHE_SCHEMA),))
        (version,) = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if int(version) != LABEL_CACHE_SCHEMA:
            raise RuntimeError(
                f"{self.path}: label cache schema {version}, this robomme-mem reads {LABEL_CACHE_SCHEMA}; use a new cache file"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction that takes the lock up front (no upgrade deadlocks between writers)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LabelCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: str) -> Answer | None:
        row = self._db.execute(f"SELECT {', '.join(_FIELDS)} FROM answers WHERE key = ?", (key,)).fetchone()
        return Answer(**dict(zip(_FIELDS, row))) if row else None

    def put(self, key: str, answer: Answer, request: dict | None = None) -> None:
        """Store an answer (and its request's canonical form) in one transaction.

        A failure never overwrites a stored success.
        """
        self.put_many([(key, answer, request)])

    def put_many(self, items: Sequence[tuple[str, Answer, dict | None]]) -> None:
        """Store several answers in one transaction (group commit: one disk write for all)."""
        columns = ", ".join(("key",) + _FIELDS)
        marks = ", ".join("?" * (len(_FIELDS) + 1))
        updates = ", ".join(f"{f} = excluded.{f}" for f in _FIELDS)
        statement = f"INSERT INTO answers ({columns}) VALUES ({marks}) ON CONFLICT(key) DO UPDATE SET {updates} WHERE answers.status != 'ok'"
        with self._transaction():
            for key, answer, request in items:
                if request is not None:
                    self._insert_request(key, request)
                values = asdict(answer)
                self._db.execute(statement, (key, *(values[f] for f in _FIELDS)))

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM answers WHERE key = ? AND status = 'ok'", (key,)).fetchone() is not None

    def keys(self, status: str | None = None) -> Iterator[str]:
        query = "SELECT key FROM answers" + (" WHERE status = ?" if status else "") + " ORDER BY key"
        for (key,) in self._db.execute(query, (status,) if status else ()):
            yield key

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    # -- requests and label sets ------------------------------------------------------

    def put_request(self, key: str, record: dict) -> None:
        """Keep a request's canonical form (first one wins: equal keys mean equal requests)."""
        with self._transaction():
            self._insert_request(key, record)

    def _insert_request(self, key: str, record: dict) -> None:
        self._db.execute(
            f"INSERT OR IGNORE INTO requests (key, {', '.join(REQUEST_FIELDS)}) VALUES ({', '.join('?' * (len(REQUEST_FIELDS) + 1))})",
            (key, *(record[f] for f in REQUEST_FIELDS)),
        )

    def request(self, key: str) -> dict | None:
        row = self._db.execute(f"SELECT {', '.join(REQUEST_FIELDS)} FROM requests WHERE key = ?", (key,)).fetchone()
        return dict(zip(REQUEST_FIELDS, row)) if row else None

    def save_set(self, name: str, meta: dict, entries: Sequence[dict]) -> None:
        """Write (or replace) a label set in one transaction: readers see the old or the new one."""
        with self._transaction():
            self._db.execute("DELETE FROM label_set_entries WHERE name = ?", (name,))
            self._db.execute(
                "INSERT OR REPLACE INTO label_sets VALUES (?, ?)", (name, json.dumps(meta, sort_keys=True))
            )
            self._db.executemany(
                f"INSERT INTO label_set_entries (name, position, {', '.join(ENTRY_FIELDS)}) VALUES ({', '.join('?' * (len(ENTRY_FIELDS) + 2))})",
                [(name, i, *(e[f] for f in ENTRY_FIELDS)) for i, e in enumerate(entries)],
            )

    def set_names(self) -> list[str]:
        return [name for (name,) in self._db.execute("SELECT name FROM label_sets ORDER BY name")]

    def set_meta(self, name: str) -> dict:
        row = self._db.execute("SELECT meta FROM label_sets WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(self.set_names()) or "none"
            raise KeyError(f"{self.path}: no label set {name!r} (label sets here: {known})")
        return json.loads(row[0])

    def set_answers(self, name: str) -> dict[str, Answer]:
        """Every answer label set ``name`` uses, by key, in one query: what a build's worker reads once."""
        self.set_meta(name)
        query = (
            f"SELECT a.key, {', '.join('a.' + f for f in _FIELDS)} FROM answers a "
            "WHERE a.key IN (SELECT key FROM label_set_entries WHERE name = ?)"
        )
        return {row[0]: Answer(**dict(zip(_FIELDS, row[1:]))) for row in self._db.execute(query, (name,))}

    def set_entries(self, name: str) -> list[dict]:
        self.set_meta(name)
        query = f"SELECT {', '.join(ENTRY_FIELDS)} FROM label_set_entries WHERE name = ? ORDER BY position"
        return [dict(zip(ENTRY_FIELDS, row)) for row in self._db.execute(query, (name,))]
