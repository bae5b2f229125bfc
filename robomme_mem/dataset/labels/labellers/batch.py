"""OpenAI Batch API files: export pending requests, import answers into the label store.

``robomme-mem label --export-batch FILE`` writes every request the store cannot answer yet,
one JSONL line each (``custom_id`` = the request's key, ``body`` = the chat-completions
request as the online labeller would send it). ``--import-batch FILE`` reads the Batch API's
output file back: each line's answer is validated like an online one and stored under its
``custom_id``; HTTP errors and invalid answers are stored as failures (a later online run
with ``--retry-failed`` asks again).

Action memories are independent, so one batch holds all of them. A spatial chain is
sequential: each batch can only hold the next frame of every chain, so a source with chains
of N frames takes N export/import rounds (each round is cheap: most of the cost is the
first, which also holds every action memory).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.requests import LabelParams, LabelRequest
from ..engine.session import Pending, request_record
from ..store.cache import Answer, LabelCache
from .openai_chat import completion_problems, parse_completion

BATCH_ENDPOINT = "/v1/chat/completions"


class BatchExportLabeller:
    """Collects the requests a run would send, and sends none of them."""

    name = "openai-batch"

    def __init__(self, params: LabelParams) -> None:
        self.params = params
        self.pending: dict[str, LabelRequest] = {}

    def describe(self) -> dict:
        return {"labeller": self.name, "params": self.params.to_dict()}

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        self.pending.setdefault(key, request)
        raise Pending(key, request)

    async def aclose(self) -> None:
        return None


def batch_line(key: str, request: LabelRequest, params: LabelParams) -> dict:
    body = {"model": params.model, "messages": request.wire_messages(), **params.for_kind(request.kind)}
    return {"custom_id": key, "method": "POST", "url": BATCH_ENDPOINT, "body": body}


def write_batch(path: str | Path, pending: dict[str, LabelRequest], params: LabelParams, store: LabelCache) -> int:
    """Write the Batch API input file (sorted by key: the same pending set, the same bytes)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for key in sorted(pending):
                store.put_request(key, request_record(pending[key], params))
                fh.write(json.dumps(batch_line(key, pending[key], params), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(pending)


@dataclass
class BatchImport:
    ok: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)


class _Stored:
    """Enough of a request, rebuilt from the store, to validate its answer."""

    def __init__(self, record: dict) -> None:
        self.kind = record["kind"]
        self.style = record["style"]
        self.template_id = record["template_id"]
        self.template_version = record["template_version"]
        user = json.loads(record["messages"])[-1]["content"]
        self._text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)

    def validation_context(self) -> str:
        return self._text  # coordinates may only come from the prompt (its history)


def import_batch(path: str | Path, store: LabelCache) -> BatchImport:
    """Store the answers of a Batch API output file; returns counts and per-line problems."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such batch output file")
    result = BatchImport()
    for number, line in _lines(path):
        try:
            item = json.loads(line)
            key = item["custom_id"]
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"{path}:{number}: not a Batch API output line")
            continue
        record = store.request(key)
        if record is None:
            result.problems.append(f"{path}:{number}: custom_id {key} was not exported from this store")
            continue
        stored = _Stored(record)
        answer = _answer(item, stored)
        store.put(key, answer)
        if answer.ok:
            result.ok += 1
        else:
            result.failed += 1
            result.problems.append(f"{path}:{number}: {key}: {answer.error}")
    return result


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _answer(item: dict, stored: _Stored) -> Answer:
    common = {"template_id": stored.template_id, "template_version": stored.template_version}
    error = item.get("error")
    response = item.get("response") or {}
    if error or response.get("status_code") != 200:
        detail = error or (response.get("body") or {}).get("error") or f"status {response.get('status_code')}"
        return Answer(status="failed", error=f"batch error: {json.dumps(detail)[:500]}", **common)
    try:
        completion = parse_completion(response.get("body") or {})
    except ValueError:
        return Answer(status="failed", error="batch answer has no message content", **common)
    problems = completion_problems(stored, completion)
    return Answer(
        status="failed" if problems else "ok",
        text=completion.text,
        error=f"invalid: {'; '.join(problems)}" if problems else None,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        model_reported=completion.model,
        **common,
    )
