"""The embedded sample: a small synthetic RoboMME source, generated on first use and cached.

It is what ``robomme-mem build`` builds when no ``--source`` is given, so the main job runs
on a fresh machine with no download and no API key. It comes with its own scene truth
(``--truth sample``), so the audit's pictures work with no simulator. Generation is deterministic; the cache
folder name carries :data:`SAMPLE_VERSION`, bumped whenever the generator's output changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...formats import SAMPLE_VERSION
from ..cachedir import cache_root
from ..staging import staged

SAMPLE_EPISODES = 3
"""Episodes per task: two for training, so both kinds of RoboMME episode tail (odd and even)
are present, and a third held out for validation by the sample's split file."""
SPLIT_FILE = "split.json"
"""The sample's held-out episodes (``--split-file``): the last of each task."""
TRUTH_FILE = "truth.jsonl"
"""The sample's scene truth, written by the generator that drew it (:mod:`.generated_truth`)."""
SAMPLE_TRUTH = "sample"
"""What ``--truth`` takes for the sample's own truth file."""
_DONE = ".complete"


def sample_folder(cache: str | Path | None = None) -> Path:
    """Where the embedded sample lives (it may not be generated yet)."""
    return (Path(cache) if cache else cache_root()) / f"sample-v{SAMPLE_VERSION}"


def sample_split_file(cache: str | Path | None = None) -> Path:
    """The sample's split file (validation: the last episode of each task)."""
    return sample_folder(cache) / SPLIT_FILE


def sample_truth_file(cache: str | Path | None = None) -> Path:
    """The sample's scene truth (generated with the sample)."""
    return sample_source(cache) / TRUTH_FILE


def resolve_truth(given: Path | None, sources_given: bool) -> Path | None:
    """``--truth``: a truth file, or ``sample`` for the embedded sample's own (only with the sample as the source)."""
    if given is None or str(given) != SAMPLE_TRUTH:
        return given
    if sources_given:
        raise ValueError(
            f"--truth {SAMPLE_TRUTH} is the embedded sample's truth; with --source, pass the truth file "
            "`robomme-mem truth` wrote for those files"
        )
    return sample_truth_file()


def sample_is_ready(cache: str | Path | None = None) -> bool:
    return (sample_folder(cache) / _DONE).is_file()


def sample_source(cache: str | Path | None = None) -> Path:
    """Folder of the embedded sample's ``record_dataset_<Task>.h5`` files (generated if missing)."""
    folder = sample_folder(cache)
    if sample_is_ready(cache):
        return folder
    from .generator import SYNTHETIC_TASKS, write_source  # the generator loads only when the sample is made

    # an interrupted or older copy is replaced; a complete one another process made meanwhile is kept
    with staged(folder, keep_existing=lambda there: (there / _DONE).is_file()) as tmp:
        files = write_source(tmp, SYNTHETIC_TASKS, episodes=SAMPLE_EPISODES)
        from ..spec import load_spec
        from .generated_truth import write_sample_truth

        write_sample_truth(files, tmp / TRUTH_FILE, load_spec())
        held_out = {task: [SAMPLE_EPISODES - 1] for task in SYNTHETIC_TASKS}
        (tmp / SPLIT_FILE).write_text(json.dumps({"validation": held_out}, indent=2) + "\n")
        (tmp / _DONE).write_text(SAMPLE_VERSION + "\n")
    return folder
