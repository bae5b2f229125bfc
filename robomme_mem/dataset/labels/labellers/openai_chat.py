"""The ``openai`` labeller: any OpenAI-compatible chat-completions endpoint.

OpenAI itself, vLLM, ``swift deploy``, SGLang, llama.cpp's server: anything that speaks
``POST /v1/chat/completions``. Transport faults are the SDK's job: ``AsyncOpenAI`` retries
429 (honouring ``Retry-After``), 408/409, 5xx, timeouts and dropped connections with
exponential backoff and jitter, up to ``max_retries``. This module adds what the SDK cannot
know: an answer is checked against its prompt's rules (:mod:`..engine.validate`), an invalid one is
asked again with the broken rules quoted (at most ``max_reasks`` times), and what still fails
is recorded as a failure rather than raised, so one bad request never stops a run.

Requests go through the client's generic ``post`` (its documented way to call any
endpoint) with the body already in wire form, and the response is read as JSON text:
``chat.completions.create`` walks every message through the SDK's type-driven transform and
builds pydantic models of the answer, which together cost more CPU than everything else per
request (more than half the client's time at high rates). Retries and timeouts are the same.

The API key is read from an environment variable and goes only to the SDK: it is never
logged, stored or part of a request key, and it is scrubbed from error messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass

import openai
from openai import AsyncOpenAI

from ....endpoints import endpoint_cause
from ....errors import EndpointError
from ....prompts import LABEL_REASK
from ..engine.defaults import DEFAULT_API_KEY_ENV
from ..engine.requests import LabelParams, LabelRequest
from ..engine.validate import check_action, check_spatial
from ..store.cache import Answer

REQUEST_HEADER = "X-Robomme-Request"
"""Carries the request's cache key, so server logs can be matched with label sets."""
PROBE_TIMEOUT_S = 10.0
"""How long the first contact with an endpoint may take before the run stops."""
REQUEST_FAILURES = frozenset({400, 413, 422})
"""HTTP statuses that say something about one request (too long, refused content): stored as
that request's failure. Any other error is the endpoint's, and stops the run."""


class OpenAILabeller:
    name = "openai"

    def __init__(
        self,
        params: LabelParams,
        *,
        base_url: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout_s: float = 120.0,
        max_retries: int = 8,
        max_reasks: int = 2,
    ) -> None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if base_url is None:
                raise ValueError(
                    f"the openai labeller needs an API key in ${api_key_env} (or --base-url for a local server)"
                )
            api_key = "unused"  # local servers usually take any key
        self.params = params
        self.base_url = base_url
        self.max_reasks = max_reasks
        self._secret = api_key
        self._api_key_env = api_key_env
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries, http_client=_http_client()
        )
        self._probed: asyncio.Future | None = None

    @property
    def where(self) -> str:
        return str(self._client.base_url).rstrip("/")

    async def probe(self) -> None:
        """Contact the endpoint once, quickly, before the first request is sent.

        ``GET /models`` with no retries: a refused connection, a DNS failure, a hang or a
        refused key stop the run within seconds instead of after every request's retries. A
        404 (no ``/models`` route: some servers lack it) is not an error here.
        """
        if self._probed is None:
            self._probed = asyncio.ensure_future(self._probe())
        await asyncio.shield(self._probed)

    async def _probe(self) -> None:
        try:
            await self._client.with_options(max_retries=0, timeout=PROBE_TIMEOUT_S).models.list()
        except openai.NotFoundError:
            return
        except openai.OpenAIError as exc:
            raise self._endpoint_error(exc, probing=True) from None

    def _endpoint_error(self, exc: openai.OpenAIError, probing: bool = False) -> EndpointError:
        cause = endpoint_cause(exc, probing=probing, timeout_s=PROBE_TIMEOUT_S, key_env=self._api_key_env)
        return EndpointError(f"labelling endpoint {self.where}: {cause}".replace(self._secret, "***"))

    def describe(self) -> dict:
        """Provenance for label sets and manifests: never the key, and not the URL's credentials."""
        return {"labeller": self.name, "params": self.params.to_dict(), "max_reasks": self.max_reasks}

    async def aclose(self) -> None:
        await self._client.close()

    async def ask(self, request: LabelRequest, key: str) -> Answer:
        messages = request.wire_messages()
        sampling = self.params.for_kind(request.kind)
        prompt_tokens = completion_tokens = 0
        started = time.monotonic()
        text: str | None = None
        problems: list[str] = []
        attempts = 0
        await self.probe()
        for attempts in range(1, self.max_reasks + 2):
            try:
                raw = await self._client.post(
                    "/chat/completions",
                    cast_to=str,
                    body={"model": self.params.model, "messages": messages, **sampling},
                    options={"headers": {REQUEST_HEADER: key}},
                )
            except openai.APIStatusError as exc:
                if exc.status_code not in REQUEST_FAILURES:
                    raise self._endpoint_error(exc) from None
                return self._failure(
                    request, f"{type(exc).__name__}: {exc}", attempts, started, prompt_tokens, completion_tokens
                )
            except openai.OpenAIError as exc:  # transport: unreachable, timed out, dropped (after the SDK's retries)
                raise self._endpoint_error(exc) from None
            try:
                completion = parse_completion(raw)
            except ValueError as exc:  # a body that is not a chat completion: ask again
                problems = [str(exc)]
                continue
            prompt_tokens += completion.prompt_tokens or 0
            completion_tokens += completion.completion_tokens or 0
            text = completion.text
            problems = completion_problems(request, completion)
            if not problems:
                return Answer(
                    status="ok",
                    text=text,
                    finish_reason=completion.finish_reason,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_s=round(time.monotonic() - started, 6),
                    model_reported=completion.model,
                    template_id=request.template_id,
                    template_version=request.template_version,
                    attempts=attempts,
                )
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                {"role": "user", "content": LABEL_REASK.render(problems="; ".join(problems))},
            ]
        error = f"invalid after {attempts} asks: {'; '.join(problems)}"
        return self._failure(request, error, attempts, started, prompt_tokens, completion_tokens, text=text)

    def _failure(
        self,
        request: LabelRequest,
        error: str,
        attempts: int,
        started: float,
        prompt_tokens: int,
        completion_tokens: int,
        text: str | None = None,
    ) -> Answer:
        return Answer(
            status="failed",
            text=text,
            error=error.replace(self._secret, "***")[:1000],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=round(time.monotonic() - started, 6),
            template_id=request.template_id,
            template_version=request.template_version,
            attempts=attempts,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def parse_completion(raw: str | dict) -> Completion:
    """The parts of a chat-completions response a label needs, from its JSON text or its parsed
    body (a Batch API output line carries the latter); ``ValueError`` if it is not one."""
    try:
        body = json.loads(raw) if isinstance(raw, str) else raw
        choice = body["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        shown = raw if isinstance(raw, str) else json.dumps(raw)
        raise ValueError(f"malformed response: {shown[:80]!r}") from None
    usage = body.get("usage") or {}
    return Completion(
        text=(text or "").strip(),
        finish_reason=choice.get("finish_reason"),
        model=body.get("model"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


def completion_problems(request, completion: Completion) -> list[str]:
    """The broken rules of a completion: its text's (:func:`check`), and a cut-off answer."""
    problems = check(request, completion.text)
    if completion.finish_reason == "length":
        problems.append("the answer was cut off at the token limit")
    return problems


def _http_client():
    """aiohttp under the SDK when installed (``openai[aiohttp]``): a third less CPU per request."""
    try:
        return openai.DefaultAioHttpClient()
    except RuntimeError:  # aiohttp is not installed: the SDK's default httpx client
        return None


def check(request: LabelRequest, text: str) -> list[str]:
    """The broken rules of an answer to ``request`` (empty when it is valid)."""
    if request.kind == "action":
        return check_action(text, request.style, request.validation_context())
    return check_spatial(text)
