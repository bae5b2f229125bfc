"""One labelling round as ``robomme-mem label`` runs it: the source labelled into a set through
the store, the run priced, and the requests still pending written as the next Batch API input.

Through the Batch API a set takes several rounds (a spatial chain one per call frame): each
stores the answers of the last output file first (:func:`.labellers.batch.import_batch`), then
runs this; online, one round labels everything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..spec import load_spec
from .engine.defaults import RULES, TRUTH
from .labellers.accounting import run_cost
from .labellers.batch import write_batch
from .labelling import LabelRun, label_source
from .store.cache import LabelCache


@dataclass
class LabelRound:
    run: LabelRun
    seconds: float
    """Labelling time (storing a Batch output first not counted)."""
    offline: bool
    """An offline labeller (rules, truth): nothing sent, nothing to price."""
    cost: tuple[float, str] | None
    """Estimated cost and where its prices came from; ``None``: offline, or no price for the model."""
    batch_written: int | None = None
    """Pending requests written to the Batch API input file; ``None``: none written."""


def label_round(
    files: Sequence[Path],
    kind: str,
    labeller,
    store: LabelCache,
    name: str,
    *,
    spec: Path | None = None,
    batch: bool = False,
    export_batch: Path | None = None,
    prices: Path | None = None,
    price_input: float | None = None,
    price_output: float | None = None,
    **options,
) -> LabelRound:
    """Label ``files`` with ``labeller`` (made as ``kind``) into set ``name`` of ``store``; price the run.

    ``options`` are :func:`.labelling.label_source`'s (``max_episodes``, ``styles``, ``spatial``,
    ``concurrency``, ``retry_failed``, ``replace``, ``progress``). ``batch``: the run goes through
    Batch API files (priced at batch price); ``export_batch``: write the requests left pending
    there. ``prices``, ``price_input``, ``price_output`` override the built-in price table
    (:func:`.labellers.accounting.run_cost`).
    """
    start = time.perf_counter()
    run = label_source(files, labeller, store=store, name=name, spec=load_spec(spec), **options)
    seconds = time.perf_counter() - start
    offline = kind in (RULES, TRUTH)
    cost = (
        None
        if offline
        else run_cost(
            run.stats,
            labeller.params.model,
            price_input=price_input,
            price_output=price_output,
            prices_file=prices,
            batch=batch,
        )
    )
    written = None
    if export_batch and labeller.pending:
        written = write_batch(export_batch, labeller.pending, labeller.params, store)
    return LabelRound(run, seconds, offline, cost, written)
