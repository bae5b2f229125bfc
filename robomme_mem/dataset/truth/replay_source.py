"""``robomme-mem truth``: replay every episode of a source, judge it, and append its truth.

Episodes run where :mod:`robomme_mem.parallel` puts them (this process, ``workers`` spawned
processes, or a Ray cluster), each building its own simulator; only this process writes the
file, so a killed run resumes with the episodes it lacks.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...parallel import EpisodesRun, run_jobs, worker_count
from ..checksum import SOURCE_CHECKSUM, file_checksum
from ..plan import episodes_of, plan_episode
from ..source import SourceFile, require_hdf5
from ..spec import BuildSpec, load_spec
from .fidelity import Thresholds, judged
from .truth_file import TruthWriter, key_of, truth_header


@dataclass
class TruthRun(EpisodesRun):
    """``kept``: a summary of each episode given its truth (:func:`summary`; the truths themselves
    are in the file); ``refused``: ``{"task", "episode", "problems", ...}`` of each that got none;
    ``skipped``: episodes the file already held for this simulator (not replayed again)."""


@dataclass(frozen=True)
class _Job:
    file: str
    episode: int
    key: dict
    spec: BuildSpec
    thresholds: Thresholds
    open_env: Callable | None = None


def simulator_versions() -> dict:
    """The versions a truth depends on (read from the installed metadata; nothing is imported),
    with RoboMME's commit: its version number has stayed 0.1.0 across its history."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("robomme", "mani-skill", "sapien", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["robomme_commit"] = installed_commit("robomme")
    return out


def installed_commit(distribution: str) -> str | None:
    """The git commit an installed distribution came from: pip's ``direct_url.json`` names it for a
    VCS install, and the source folder of an editable one is asked (``None`` when neither says)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find
    from urllib.parse import unquote, urlparse

    try:
        text = find(distribution).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    record = json.loads(text)
    if record.get("vcs_info", {}).get("commit_id"):
        return record["vcs_info"]["commit_id"]
    url = urlparse(record.get("url", ""))
    if url.scheme != "file":
        return None
    try:
        done = subprocess.run(
            ["git", "-C", unquote(url.path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def record_truth(
    files: Sequence[Path],
    out: str | Path,
    *,
    spec: BuildSpec | None = None,
    max_episodes: int | None = None,
    thresholds: Thresholds = Thresholds(),
    workers_requested: int | None = 1,
    progress: bool = True,
    open_env: Callable | None = None,
    ray_address: str | None = None,
    retry_refused: bool = False,
) -> TruthRun:
    """Replay each episode (:func:`.replay.replay`) not yet in ``out``, judge it (:func:`.fidelity.problems`), append it.

    ``retry_refused`` replays the episodes the file holds as refused (after a fix, say; the new
    record replaces the old one). ``open_env``: how an episode's env is made and reset (default: RoboMME's; a module-level
    function, so worker processes can be handed it)."""
    spec = spec or load_spec()
    require_hdf5(files, "the scene truth")
    for path in files:
        with SourceFile(path) as source:
            if source.synthetic:
                raise ValueError(
                    f"{path}: synthetic episodes ({source.synthetic}) have no scene to replay; "
                    "the truth needs RoboMME demonstrations recorded in its simulator"
                )
    started = time.perf_counter()
    versions = simulator_versions()
    sums = {Path(p): file_checksum(p)[0] for p in files}
    writer = TruthWriter(out, truth_header(versions, thresholds))
    run = TruthRun(Path(out))
    jobs = []
    for path, index in episodes_of(files, max_episodes):
        key = {"file": Path(path).name, SOURCE_CHECKSUM: sums[Path(path)], "episode": index, "simulator": versions}
        done = key_of({"key": key})
        if done in writer.done and not (retry_refused and done in writer.refused):
            run.skipped += 1
        else:
            jobs.append(_Job(str(path), index, key, spec, thresholds, open_env))

    def keep(record: dict) -> None:
        writer.append(record)
        if record["kind"] == "episode":
            run.kept.append(summary(record))
        else:
            run.refused.append(record)

    run_jobs(
        _replay_job,
        jobs,
        keep,
        workers=worker_count(workers_requested, len(jobs)),
        ray_address=ray_address,
        name=lambda job: f"{Path(job.file).name}:{job.episode}",
        desc="replaying",
        progress=progress,
    )
    run.seconds = time.perf_counter() - started
    return run


def summary(record: dict) -> dict:
    """What a run reports of an episode given its truth: outcome, fidelity, time and memory."""
    points = [g["distance"] for g in record["grounded"] if g["distance"] is not None]
    return {
        "task": record["task"],
        "episode": record["episode"],
        "status": record["status"],
        "steps": len(record["steps"]),
        "calls": len(record["calls"]),
        "worst_image_diff": max((c["image_diff"]["mean"] for c in record["calls"]), default=0.0),
        "worst_point_px": max(points, default=None),
        "points": len(points),
        "seconds": record["seconds"],
    }


def _replay_job(job: _Job) -> dict:
    """One episode's record: its truth, or why it has none (in whatever process runs it)."""
    from .replay import replay  # the simulator loads in the worker, never in the parent

    with SourceFile(job.file) as source:
        episode = source.episode(job.episode)
        planned = plan_episode(episode, job.spec.stride_for)
        try:
            truth = replay(planned, episode, job.open_env)
        except Exception as exc:  # noqa: BLE001  (one episode's broken replay is its own refusal, not the run's end)
            return {
                "kind": "refused",
                "key": job.key,
                "task": planned.task,
                "episode": planned.episode,
                "status": "error",
                "seconds": {},
                "problems": [f"the replay failed: {type(exc).__name__}: {exc}".strip()],
                "worst_image_diff": None,
                "worst_point_px": None,
            }
    truth["seconds"]["peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )  # this worker's, so far
    return judged(truth, job.key, job.thresholds)
