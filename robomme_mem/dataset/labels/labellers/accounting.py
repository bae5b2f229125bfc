"""What a labelling run cost: counts, tokens and an estimate in USD from a price table.

Prices are USD per million tokens. The built-in table holds list prices published by OpenAI
(checked 2025; they change, so a run prints which price it used). ``--prices FILE`` (JSON,
``{"model": {"input": 0.4, "output": 1.6}}``) or ``--price-input/--price-output`` override
it. Batch API requests are billed at half price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..engine.session import Stats

PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40},
    "gpt-5-mini": {"input": 0.25, "output": 2.00},
    "gpt-5-nano": {"input": 0.05, "output": 0.40},
}
BATCH_DISCOUNT = 0.5


def load_prices(path: str | Path) -> dict[str, dict[str, float]]:
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            model: {"input": float(p.get("input", 0)), "output": float(p.get("output", 0))}
            for model, p in table.items()
        }
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a price table ({{model: {{input: USD/1M, output: USD/1M}}}}): {exc}") from None


def estimate_cost(
    stats: Stats,
    model: str,
    override: Mapping[str, float] | None = None,
    *,
    batch: bool = False,
    table: Mapping[str, Mapping[str, float]] = PRICES,
) -> tuple[float, str] | None:
    """(USD, where the price came from) for this run's tokens, or ``None`` with no known price."""
    prices, source = (override, "given prices") if override else (table.get(model), f"price table entry {model}")
    if not prices:
        return None
    cost = stats.cost(prices) * (BATCH_DISCOUNT if batch else 1.0)
    return cost, source + (" at batch price" if batch else "")


def run_cost(
    stats: Stats,
    model: str,
    *,
    price_input: float | None = None,
    price_output: float | None = None,
    prices_file: str | Path | None = None,
    batch: bool = False,
) -> tuple[float, str] | None:
    """:func:`estimate_cost` from what a user gives: a per-token override, a price file over the built-in table, or neither."""
    override = None
    if price_input is not None or price_output is not None:
        override = {"input": price_input or 0.0, "output": price_output or 0.0}
    table = {**PRICES, **load_prices(prices_file)} if prices_file else PRICES
    return estimate_cost(stats, model, override, batch=batch, table=table)


def report(stats: Stats, cost: tuple[float, str] | None, *, offline: bool = False) -> str:
    """The run's closing lines; ``offline`` (the rules and truth labellers) costs nothing and says so.

    An offline labeller computes its answers here: nothing is sent, no completion asked, no
    token spent, so its lines count requests "computed offline" and leave out completions and tokens.
    """
    failed = (
        f"{stats.failed + stats.failed_earlier} failed ({stats.failed} in this run, {stats.failed_earlier} stored by an earlier one), "
        f"{stats.pending} pending"
    )
    if offline:
        return "\n".join(
            [
                f"  requests: {stats.sent} computed offline, {stats.cached} served from cache, {stats.deduplicated} deduplicated, {failed}",
                "  cost: none (an offline labeller: no request leaves this machine)",
            ]
        )
    if cost:
        priced = f"  estimated cost: ${cost[0]:.4f} ({cost[1]})"
    else:
        priced = "  estimated cost: unknown (no price for this model; pass --prices or --price-input/--price-output)"
    lines = [
        f"  requests: {stats.sent} sent, {stats.cached} served from cache, {stats.deduplicated} deduplicated in flight, {failed}",
        f"  completions asked: {stats.asks} (re-asks after invalid answers included)",
        f"  tokens: {stats.prompt_tokens} in, {stats.completion_tokens} out",
        priced,
    ]
    return "\n".join(lines)
