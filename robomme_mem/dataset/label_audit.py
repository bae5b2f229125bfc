"""One label set audited over a source: scored against the demonstrations, against a scene
truth where one is given, and for the rows it makes answerable.

It sits above :mod:`.assemble` (the answerable rows are a property of assembled rows) and
gathers what :mod:`.audit` scores; ``robomme-mem audit`` is this module and its report's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..configs import ROW_CONFIGS
from .assemble.answerable import answerable_report
from .audit.against_truth import audit_against_truth, truth_table
from .audit.demonstrations import audit, table
from .labels.build_labels import BuildLabels
from .labels.engine.defaults import RULES
from .labels.engine.episodes import EpisodeLabels
from .plan import plan_source
from .source import find_source_files, select_files
from .spec import load_spec
from .truth.truth_file import offsets_by_source


@dataclass
class LabelAudit:
    """What :func:`audit_label_set` found."""

    labels: str
    episodes: list[EpisodeLabels]
    scores: dict
    """Per task and overall, against the demonstrations (:func:`.audit.audit`)."""
    answerable: dict
    """:func:`.assemble.answerable.answerable_report` of the complete episodes, every row config."""
    truth: Path | None = None
    against: dict | None = None
    """Scores against ``truth`` (:func:`.audit.audit_against_truth`); ``None`` without a truth."""
    offsets: dict[tuple[str, int], int] | None = None
    """Where each episode's record sits in ``truth``, read once for the scores and the pictures."""

    def record(self, source: str) -> dict:
        """The audit as JSON: the set, the source as the report names it, every score."""
        return {
            "label_set": self.labels,
            "source": source,
            "scores": self.scores,
            "answerable": self.answerable,
            **({"against_truth": self.against} if self.against is not None else {}),
        }


def audit_label_set(
    sources: Sequence[Path],
    labels: str = RULES,
    *,
    tasks: Sequence[str] | None = None,
    max_episodes: int | None = None,
    spec: Path | None = None,
    store: Path | None = None,
    truth: Path | None = None,
    progress: bool = True,
) -> LabelAudit:
    """Audit label set ``labels`` of the store (``rules``: labelled here, offline, nothing stored) over ``sources``.

    ``spec`` is the build spec the set was labelled with: its strides pick the call frames.
    """
    files = select_files(find_source_files(sources), tuple(tasks) if tasks else None)
    build_spec = load_spec(spec)
    source = BuildLabels.named(labels, store)  # rules labelled here, as a build does; a set read once
    works = plan_source(files, max_episodes, build_spec.stride_for)
    episodes = [source.label(w) for w in tqdm(works, desc="labels", unit="ep", disable=not progress, leave=False)]
    scores = audit(episodes)
    against = offsets = None
    if truth:
        offsets = offsets_by_source(files, truth)
        against = audit_against_truth(episodes, truth, offsets)
    answerable = answerable_report([(e.work, e.memories()) for e in episodes if e.complete], ROW_CONFIGS)
    return LabelAudit(labels, episodes, scores, answerable, truth, against, offsets)


def write_audit_pictures(folder: Path, result: LabelAudit, progress: bool = True) -> Path:
    """Per episode a contact sheet of the memories' points beside the truth's objects (the audit had a truth), and the index page's path."""
    from .audit.pictures import write_pictures  # PIL: only for pictures

    tables = {
        "Against the scene truth": truth_table(result.against),
        "Against the demonstrations": table(result.scores),
    }
    return write_pictures(
        folder,
        result.episodes,
        result.truth,
        tables,
        f"label set {result.labels!r}",
        progress=progress,
        offsets=result.offsets,
    )
