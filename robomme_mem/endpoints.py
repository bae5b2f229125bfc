"""Why an OpenAI-compatible endpoint cannot be used, in one line.

Shared by the labeller (:mod:`robomme_mem.dataset.labels.labellers.openai_chat`), whose failures stop a
labelling run, and the rollout's high level (:func:`robomme_mem.closed_loop.policy.endpoint_problem`),
probed before any simulator starts.
"""

from __future__ import annotations

import socket

import openai

from .errors import first_line


def connect_failure(exc: BaseException) -> str | None:
    """Why a connection could not be made, from the exception's causes; ``None`` if it was made.

    The SDK's aiohttp client reports a refused connection as a timeout: the cause is in the chain.
    """
    chain = []
    while exc is not None and len(chain) < 20:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host ({cause.strerror or cause})"
    for cause in chain:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return first_line(cause, 200)
    return None


def endpoint_cause(exc: openai.OpenAIError, *, probing: bool, timeout_s: float, key_env: str | None = None) -> str:
    """The cause of an endpoint's failure, never the key (``key_env``: the variable that held it)."""
    refused = connect_failure(exc)
    if refused:
        return f"cannot connect: {refused}"
    if isinstance(exc, openai.APITimeoutError):
        return f"no answer within {timeout_s:g} s" if probing else "requests time out, retries included"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed ({first_line(exc, 200)})"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return f"{exc.status_code}: the API key" + (f" in ${key_env}" if key_env else "") + " was refused"
    if isinstance(exc, openai.NotFoundError):
        return "404: no chat-completions route here (is the base URL right, e.g. ending in /v1?)"
    if isinstance(exc, openai.APIStatusError):
        return f"{exc.status_code} after retries ({first_line(exc, 200)})"
    return f"{type(exc).__name__}: {first_line(exc, 200)}"
