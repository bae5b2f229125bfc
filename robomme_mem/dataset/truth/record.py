"""``robomme-mem truth``: replay every episode of a source and keep the truth of those that replay faithfully."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ... import __version__
from ..plan import episodes_of, plan_episode, source_records
from ..source import SourceFile
from ..spec import BuildSpec, load_spec
from .fidelity import Thresholds, problems
from .files import write_truth


@dataclass
class TruthRun:
    out: Path
    kept: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    """``{"task", "episode", "problems"}`` of each episode that got no truth."""
    seconds: float = 0.0


def record_truth(files: Sequence[Path], out: str | Path, *, spec: BuildSpec | None = None, max_episodes: int | None = None,
                 thresholds: Thresholds = Thresholds(), progress: bool = True) -> TruthRun:
    """Replay each episode (:func:`.replay.replay`), judge it (:func:`.fidelity.problems`), write ``out``."""
    from .replay import replay  # the simulator loads here, not when the command line is read

    spec = spec or load_spec()
    for path in files:
        with SourceFile(path) as source:
            if source.synthetic:
                raise ValueError(f"{path}: synthetic episodes ({source.synthetic}) have no scene to replay; "
                                 "the truth needs RoboMME demonstrations recorded in its simulator")
    started = time.perf_counter()
    run = TruthRun(Path(out))
    planned_all = []
    for path, index in tqdm(episodes_of(files, max_episodes), desc="replaying", unit="ep", disable=not progress):
        with SourceFile(path) as source:
            episode = source.episode(index)
            planned = plan_episode(episode, spec.stride_for)
            truth = replay(planned, episode)
        planned_all.append(planned)
        found = problems(truth, thresholds)
        summary = {"task": truth["task"], "episode": truth["episode"], "status": truth["status"], "seconds": truth["seconds"],
                   "worst_image_diff": max((c["image_diff"]["mean"] for c in truth["calls"]), default=None),
                   "worst_point_px": max((g["distance"] for g in truth["grounded"] if g["distance"] is not None), default=None)}
        if found:
            run.refused.append({**summary, "problems": found})
        else:
            run.kept.append(truth)
    run.seconds = time.perf_counter() - started
    write_truth(out, {
        "package": {"name": "robomme-mem", "version": __version__},
        "simulator": _simulator_versions(),
        "thresholds": {"max_mean_diff": thresholds.max_mean_diff, "max_point_px": thresholds.max_point_px},
        "sources": source_records(files, planned_all),
        "refused": run.refused,
        "episodes": run.kept,
    })
    return run


def _simulator_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("robomme", "mani-skill", "sapien", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
