"""The labellers a run can use, made from plain settings: ``rules`` (offline), ``openai`` (any
OpenAI-compatible endpoint, online), or ``openai`` through Batch API files (nothing sent here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.defaults import DEFAULT_API_KEY_ENV, LABELLERS, OPENAI, RULES, TRUTH

if TYPE_CHECKING:
    from ..engine.requests import LabelParams


def make_labeller(
    kind: str,
    params: LabelParams | None = None,
    *,
    batch: bool = False,
    base_url: str | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    timeout_s: float = 120.0,
    max_retries: int = 8,
    max_reasks: int = 2,
    truth: str | None = None,
):
    """``rules`` takes no settings; ``openai`` needs ``params`` (its model at least); ``truth`` a truth file."""
    if kind == TRUTH:
        if not truth:
            raise ValueError("--truth FILE is required with --labeler truth (write one with `robomme-mem truth`)")
        from .truth_labeller import TruthLabeller

        return TruthLabeller(truth)
    if kind == RULES:
        from .rules import RulesLabeller

        return RulesLabeller()
    if kind != OPENAI:
        raise ValueError(f"unknown labeller {kind!r}; choose one of {', '.join(LABELLERS)}")
    if params is None or not params.model:
        raise ValueError("--model is required with --labeler openai")
    if batch:
        from .batch import BatchExportLabeller

        return BatchExportLabeller(params)
    from .openai_chat import OpenAILabeller

    return OpenAILabeller(
        params,
        base_url=base_url,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        max_retries=max_retries,
        max_reasks=max_reasks,
    )
