"""Label set files: a set exported as Parquet (metadata in the schema) or JSONL (metadata on the first line).

One row per use of an answer: where it is used, the canonical request, the answer and its usage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .cache import ENTRY_FIELDS, REQUEST_FIELDS, Answer, LabelCache, digest_key
from .sets import ANSWER_FIELDS, LABEL_SET_FORMAT, check_name, describe_set, free_name, placed_id

_META_KEY = b"robomme_mem.label_set"


_TYPES = {
    "episode": pa.int64(),
    "item": pa.int64(),
    "step": pa.int64(),
    "prompt_tokens": pa.int64(),
    "completion_tokens": pa.int64(),
    "attempts": pa.int64(),
    "latency_s": pa.float64(),
}
COLUMNS = tuple(dict.fromkeys((*ENTRY_FIELDS, *REQUEST_FIELDS, *ANSWER_FIELDS)))
"""A label set file's columns, in order: where the answer is used, the canonical request, the answer."""
_KNOWN = frozenset(COLUMNS)
_SCHEMA = pa.schema([(c, _TYPES.get(c, pa.string())) for c in COLUMNS])


def export_rows(store: LabelCache, name: str) -> tuple[dict, list[dict]]:
    meta = store.set_meta(name)
    rows = []
    for entry in store.set_entries(name):
        request = store.request(entry["key"])
        answer = store.get(entry["key"])
        if request is None or answer is None:
            raise ValueError(f"{store.path}: label set {name!r} refers to request {entry['key']} that the store lacks")
        row = dict(entry)
        row.update(request)
        row.update({f: getattr(answer, f) for f in ANSWER_FIELDS})
        rows.append(row)
    return meta, rows


def export_set(store: LabelCache, name: str, path: str | Path) -> int:
    """Write label set ``name`` to ``path`` (``.parquet`` or ``.jsonl``); returns the row count."""
    path = Path(path)
    meta, rows = export_rows(store, name)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if path.suffix == ".parquet":
            table = pa.Table.from_pylist(rows, schema=_SCHEMA).replace_schema_metadata(
                {_META_KEY: json.dumps(meta, sort_keys=True).encode()}
            )
            pq.write_table(table, tmp, compression="zstd")
        elif path.suffix == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"label_set": meta}, sort_keys=True) + "\n")
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            raise ValueError(f"{path}: export to .parquet or .jsonl")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)


def read_set_file(path: str | Path) -> tuple[dict, list[dict]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such label set file")
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"{path}: not a robomme-mem label set (no {_META_KEY.decode()} metadata)")
        return json.loads(raw), table.to_pylist()
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
        if not lines or "label_set" not in lines[0]:
            raise ValueError(f"{path}: not a robomme-mem label set (the first line must hold its metadata)")
        return lines[0]["label_set"], lines[1:]
    raise ValueError(f"{path}: import from .parquet or .jsonl")


def request_key_of(record: dict) -> str:
    """The key a canonical request record (as a label set keeps it) must have."""
    images = [record["image_sha256"]] if record.get("image_sha256") else []
    return digest_key(record["model"], json.loads(record["params"]), json.loads(record["messages"]), images)


def import_set(
    store: LabelCache, path: str | Path, name: str | None = None, *, replace: bool = False
) -> tuple[str, int]:
    """Load a label set file into the store (under its own name, or ``name``); returns (name, rows).

    Nothing is written unless every row checks out:

    - each row's key is recomputed from its canonical request, so a row whose answer was
      filed under another request's key is refused (it would be served for that request);
    - the set's id is recomputed from its rows: a set whose answers were edited by hand gets the
      id of what it now says (``edited_from`` keeps the old one);
    - an answer that differs from one the store already holds for the same request is refused
      (the store keeps one answer per request; import into another ``--store`` instead). A
      stored failure is replaced by an imported success;
    - a set of this name that holds other answers (another id) is not overwritten unless
      ``replace``: importing the same set again is a no-op, anything else is refused naming both.
    """
    meta, rows = read_set_file(path)
    if meta.get("format") != LABEL_SET_FORMAT:
        raise ValueError(f"{path}: label set format {meta.get('format')!r}; this robomme-mem reads {LABEL_SET_FORMAT}")
    name = check_name(name or meta["name"])
    meta = {**meta, "name": name}
    missing = [f for f in (*ENTRY_FIELDS, *REQUEST_FIELDS, "status") if rows and f not in rows[0]]
    if missing:
        raise ValueError(f"{path}: label set rows lack fields {missing}")
    first = 2 if Path(path).suffix == ".jsonl" else 1
    items: dict[str, tuple[Answer, dict]] = {}
    for number, row in enumerate(rows, start=first):
        where = f"{path}: row {number} ({row.get('task')} episode {row.get('episode')}, {row.get('kind')} {row.get('style') or ''} item {row.get('item')})".replace(
            "  ", " "
        )
        unknown = [f for f in row if f not in _KNOWN]
        if unknown:  # an edit under a name the import would drop (say `answer` for `text`) must not pass as imported
            raise ValueError(
                f"{where}: unknown field {', '.join(map(repr, unknown))} (a row has: {', '.join(COLUMNS)}; the answer is `text`); nothing imported"
            )
        try:
            record = {f: row[f] for f in REQUEST_FIELDS}
            expected = request_key_of(record)
            answer = Answer(**{f: row.get(f) for f in ANSWER_FIELDS if row.get(f) is not None})
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        if row["key"] != expected:
            raise ValueError(
                f"{where}: key {row['key'][:16]} is not the key of its request ({expected[:16]}); the file was edited or forged; nothing imported"
            )
        earlier = items.get(expected)
        if earlier is not None and _differs(earlier[0], answer):
            raise ValueError(
                f"{where}: two different answers for request {expected[:16]} in one file; nothing imported"
            )
        stored = store.get(expected)
        if stored is not None and stored.ok and _differs(stored, answer):
            raise ValueError(
                f"{where}: {store.path} already holds a different answer for request {expected[:16]} "
                f"({stored.text!r:.60}); import into another store (--store FILE); nothing imported"
            )
        items[expected] = (answer, record)
    found = placed_id((row, row["status"], row.get("text")) for row in rows)
    if found != meta.get("id"):  # answers edited by hand (a curated set): the id follows its content
        meta = {**meta, "id": found, "edited_from": meta.get("id")}
    if not replace and name in store.set_names():
        held = store.set_meta(name)
        if held.get("id") != meta.get("id"):
            raise ValueError(
                f"{path}: {store.path} already holds a label set {name!r} with other answers ({describe_set(held)}); "
                f"this file holds {describe_set(meta)}: pass --name {free_name(store.set_names(), name)} (or another free name) "
                "to import it beside it, or --replace to replace it; nothing imported"
            )
    store.put_many([(key, answer, record) for key, (answer, record) in items.items()])
    store.save_set(name, meta, [{f: row[f] for f in ENTRY_FIELDS} for row in rows])
    return name, len(rows)


def _differs(a: Answer, b: Answer) -> bool:
    return (a.status, a.text) != (b.status, b.text)
