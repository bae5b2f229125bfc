"""A recording run: the episodes asked for and not yet recorded, in workers or on Ray, into one folder.

Each worker records its episode (:mod:`.episode`), stages it (:mod:`.staged`), checks that the
staged copy holds what the recorder wrote, and reads it back with the project's own source:
every field and call frame a build reads, and its plan; with the scene truth asked, it saves the
truth it captured while recording (:mod:`.captured`). What it cannot finish or that fails a
check is reported with the reason and kept out. Only this process writes the run's manifest
(``record-manifest.jsonl``: a header with the versions, then one line per episode), and at the
end it merges the staged episodes into ``record_dataset_<Task>.h5`` (or its shards) and writes
the truth file. A killed run resumes: the episodes staged or merged are not recorded again.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ... import __version__
from ...formats import RECORD_FORMAT
from ...jsonl import append_line
from ...parallel import EpisodesRun, run_jobs, worker_count
from .captured import CapturedTruth, save_capture, write_captured_truth
from .jobs import RecordJob, metadata_file, pin_numerics, plan_jobs, read_metadata
from .staged import merge_staged, recorded_episodes, same_kept_data, stage_episode, staged_file

MANIFEST = "record-manifest.jsonl"
RAW = ".raw"


@dataclass
class RecordRun(EpisodesRun):
    """``kept`` and ``refused``: the episodes' manifest lines; ``skipped``: episodes the folder
    already held (not recorded again)."""

    files: dict[str, int] = field(default_factory=dict)
    """Episodes per file the merge wrote (task files or shards)."""
    truth: CapturedTruth | None = None
    """What ``truth`` got: the folder's captured truths, keyed and judged (None: no truth asked)."""


@dataclass(frozen=True)
class _Work:
    job: RecordJob
    out: str
    trim: bool
    versions: dict
    capture: bool = False


def robomme_root() -> Path:
    """Where RoboMME's package lies (its ``env_metadata``), found without importing it."""
    spec = importlib.util.find_spec("robomme")
    if spec is None or not spec.submodule_search_locations:
        from ..truth.replay import ROBOMME_INSTALL

        raise ValueError(f"RoboMME is not installed in this environment; install with: {ROBOMME_INSTALL}")
    return Path(list(spec.submodule_search_locations)[0])


def plan_run(
    tasks: Sequence[str], split: str, episodes: list[int], policy: str, root: Path | None = None
) -> list[RecordJob]:
    root = root or robomme_root()
    jobs = []
    for task in tasks:
        path = metadata_file(root, split, task)
        if not path.is_file():
            raise ValueError(f"{path}: RoboMME has no {split} metadata for {task}")
        jobs += plan_jobs(task, split, episodes, read_metadata(path), policy)
    return jobs


def record_run(
    tasks: Sequence[str],
    split: str,
    episodes: list[int],
    out: str | Path,
    *,
    failures: str = "auto",
    trim: bool = False,
    workers: int | None = 1,
    ray_address: str | None = None,
    progress: bool = True,
    truth: str | Path | None = None,
    shard_episodes: int | None = None,
) -> RecordRun:
    """Record every asked episode ``out`` does not hold yet (see the module's docstring).

    ``truth``: capture each episode's scene truth while recording it, and write the truth file
    of the folder's episodes there (:mod:`.captured`). ``shard_episodes``: episodes per shard
    file (:func:`.files.task_file`; default: one file per task)."""
    from ..truth.replay_source import simulator_versions

    started = time.perf_counter()
    out = Path(out)
    jobs = plan_run(tasks, split, episodes, failures)
    out.mkdir(parents=True, exist_ok=True)
    run = RecordRun(out)
    done = {task: recorded_episodes(out, task) for task in tasks}
    todo = [job for job in jobs if job.episode not in done[job.task]]
    run.skipped = len(jobs) - len(todo)
    versions = {"robomme-mem": __version__, **simulator_versions()}
    manifest = out / MANIFEST
    if not manifest.exists():
        append_line(manifest, {"format": RECORD_FORMAT, "versions": versions})
    pin_numerics()  # for spawned workers (this process has loaded numpy already: the command pins them first)

    def keep(result: dict) -> None:
        append_line(manifest, result)
        (run.kept if result["kind"] == "episode" else run.refused).append(result)

    run_jobs(
        _record_job,
        [_Work(job, str(out), trim, versions, truth is not None) for job in todo],
        keep,
        workers=worker_count(workers, len(todo)),
        ray_address=ray_address,
        name=lambda w: f"{w.job.task}:{w.job.episode}",
        desc="recording",
        progress=progress,
    )
    run.files = merge_staged(out, tasks, shard_episodes)
    shutil.rmtree(out / RAW, ignore_errors=True)
    if truth is not None:
        run.truth = write_captured_truth(out, tasks, Path(truth), simulator_versions())
    run.seconds = time.perf_counter() - started
    return run


def _record_job(work: _Work) -> dict:
    """Record, stage and check one episode (in whatever process runs it); its manifest line."""
    from .episode import record_once

    job = work.job
    raw_dir = Path(work.out) / RAW / f"{job.task}_ep{job.episode}"
    shutil.rmtree(raw_dir, ignore_errors=True)
    tries = []
    for seed in job.seeds:
        result = record_once(job, seed, raw_dir, capture=work.capture)
        tries.append({"seed": seed, "reason": result["reason"], "seconds": result["seconds"]})
        if result["success"]:
            break
    line = {
        "task": job.task,
        "split": job.split,
        "episode": job.episode,
        "seed": result["seed"],
        "difficulty": job.difficulty,
        "listed": job.listed,
        "failure_policy": job.failure,
        "injected_failure": result["injected_failure"],
        "seconds": round(sum(t["seconds"] for t in tries), 1),
        "peak_rss_mb": result["peak_rss_mb"],
    }
    if len(tries) > 1:
        line["tries"] = tries
    if not result["success"]:
        shutil.rmtree(raw_dir, ignore_errors=True)
        return {"kind": "refused", **line, "reason": result["reason"]}
    raw = Path(result["raw"])
    provenance = {
        **{k: line[k] for k in ("task", "split", "episode", "seed", "difficulty", "injected_failure")},
        "versions": work.versions,
        "trimmed": work.trim,
    }
    staged = staged_file(Path(work.out), job.task, job.episode)
    try:
        stage_episode(raw, staged, job.episode, provenance, trim=work.trim)
        line["datasets_checked"] = same_kept_data(raw, staged, job.episode)
        line.update(read_back(staged, job.episode))
    except Exception as exc:  # noqa: BLE001  (a staged copy that fails its checks is this episode's refusal)
        shutil.rmtree(staged.parent, ignore_errors=True)
        shutil.rmtree(raw_dir, ignore_errors=True)
        return {
            "kind": "refused",
            **line,
            "reason": f"the recorded episode fails its check: {type(exc).__name__}: {exc}",
        }
    line["raw_mb"], line["mb"] = round(raw.stat().st_size / 1e6, 1), round(staged.stat().st_size / 1e6, 1)
    shutil.rmtree(raw_dir, ignore_errors=True)
    if result["capture"] is not None:
        try:
            save_capture(Path(work.out), job.task, job.episode, captured_record(result["capture"], staged, job.episode))
            line["capture_seconds"] = round(result["capture"].seconds, 1)
        except Exception as exc:  # noqa: BLE001  (the episode stands; it has no captured truth, and the run says why)
            line["capture_problem"] = f"{type(exc).__name__}: {exc}"
    return {"kind": "episode", **line}


def captured_record(capture, path: Path, episode: int) -> dict:
    """The truth record (without its key) of what ``capture`` saw, planned as ``robomme-mem truth`` plans the file's episode."""
    from ..plan import plan_episode
    from ..source import SourceFile
    from ..spec import load_spec

    with SourceFile(path) as source:
        ep = source.episode(episode)
        return capture.truth(plan_episode(ep, load_spec().stride_for), ep)


def read_back(path: Path, episode: int) -> dict:
    """The project's own reader on a recorded episode: every field and frame a build reads, and its plan."""
    from ..plan import plan_episode
    from ..source import SourceFile

    with SourceFile(path) as source:
        ep = source.episode(episode)
        ep.check_images()
        planned = plan_episode(ep)
        for step in planned.read_steps:
            ep.front_image(step)
        return {
            "steps": ep.num_steps,
            "video_steps": planned.timeline.execution_start,
            "call_frames": len(planned.timeline.call_frames),
            "completed": bool(ep.is_completed(ep.num_steps - 1)),
        }
