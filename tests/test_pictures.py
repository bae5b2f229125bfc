"""``audit --truth FILE --pictures DIR``: a hand-made label set with one invented point is counted
false and drawn where it is, the true entries are drawn on the truth's objects, and index.html
loads every episode in a real headless browser (Debian's ``chromium``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from PIL import Image

from robomme_mem.cli import main
from robomme_mem.dataset.audit.pictures import FALSE_RING, RING, TRUE_RING
from robomme_mem.dataset.checksum import file_checksum, image_sha256
from robomme_mem.dataset.labels.labellers.truth_labeller import TruthLabeller
from robomme_mem.dataset.labels.labelling import label_source
from robomme_mem.dataset.labels.store.cache import Answer, LabelCache
from robomme_mem.dataset.plan import plan_source
from robomme_mem.dataset.source import SourceFile, find_source_files
from robomme_mem.dataset.truth.truth_file import TruthWriter

INVENTED = "button <5, 250>"


class OneInvention(TruthLabeller):
    """The truth's memories, with a button that is not there added at every call frame."""

    name = "handmade"

    def answer_now(self, request) -> Answer:
        answer = super().answer_now(request)
        if request.kind == "spatial" and answer.text:
            answer = Answer(**{**answer.__dict__, "text": answer.text.rstrip(".") + f", {INVENTED}."})
        return answer


@pytest.fixture
def pictured(sample_dir, tmp_path):
    files = [
        p
        for p in find_source_files([sample_dir])
        if p.name in ("record_dataset_ButtonUnmask.h5", "record_dataset_BinFill.h5")
    ]
    planned = plan_source(files, max_episodes=1)
    truth = tmp_path / "truth.jsonl"
    writer = TruthWriter(truth, {})
    for work in planned:
        with SourceFile(work.file) as src:
            ep = src.episode(work.episode)
            calls = [
                {
                    "step": s,
                    "image_sha256": image_sha256(ep.front_image(s)),
                    "image_diff": {"mean": 0.0, "max": 0},
                    "visible": {
                        "cube_red_0": {"pixels": 150, "centre": [100, 60 + s % 50]},
                        "button_cap": {"pixels": 90, "centre": [60, 200]},
                    },
                }
                for s in work.timeline.call_frames
            ]
        steps = [
            {
                "step": s,
                "held": [],
                "under": {},
                "parked": [],
                "highlighted": [],
                "position": {},
                "pixel": {"cube_red_0": [100, 60 + s % 50], "button_cap": [60, 200]},
            }
            for s in range(work.timeline.num_steps)
        ]
        writer.append(
            {
                "kind": "episode",
                "key": {"file": work.file.name, "xxh3_128": file_checksum(work.file)[0], "episode": work.episode},
                "task": work.task,
                "episode": work.episode,
                "execution_start": work.timeline.execution_start,
                "events": [],
                "demonstration": [],
                "objects": {
                    "cube_red_0": {"kind": "cube", "colour": "red"},
                    "button_cap": {"kind": "button", "colour": None},
                },
                "steps": steps,
                "calls": calls,
            }
        )
    store = tmp_path / "labels.sqlite"
    with LabelCache(store) as cache:
        label_source(files, OneInvention(truth), store=cache, name="handmade", max_episodes=1, progress=False)
    out = tmp_path / "pictures"
    assert (
        main(
            [
                "audit",
                "--source",
                *map(str, files),
                "--labels",
                "handmade",
                "--store",
                str(store),
                "--max-episodes",
                "1",
                "--truth",
                str(truth),
                "--pictures",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    return out, planned


def ring_colours(image: Image.Image, x: int, y: int) -> set:
    return {image.getpixel((x + dx, y + dy)) for dx, dy in ((RING, 0), (-RING, 0), (0, RING), (0, -RING))}


def test_the_invented_point_is_false_and_drawn_where_it_is_and_true_ones_sit_on_the_objects(pictured):
    out, planned = pictured
    for work in planned:
        points = json.loads((out / f"{work.task}_ep{work.episode}.json").read_text())
        sheet = Image.open(out / f"{work.task}_ep{work.episode}.png").convert("RGB")
        assert len(points["frames"]) == len(work.timeline.call_frames)
        for frame in points["frames"]:
            entries = [m for m in frame["marks"] if m["verdict"] is not None]
            (invented,) = [m for m in entries if m["verdict"] is False]
            assert invented["point"] == [5, 250] and invented["label"] == "button"
            left, top = frame["origin"]
            assert invented["sheet"] == [left + 250 * points["scale"], top + 5 * points["scale"]]
            assert FALSE_RING in ring_colours(sheet, *invented["sheet"])  # drawn red, where it is
            assert (
                frame["action_memory"] and frame["false_claims"] == []
            )  # the truth's own action memory, under each frame
            truths = {tuple(m["point"]) for m in frame["marks"] if m["verdict"] is None}
            for mark in entries:
                if mark["verdict"]:
                    assert tuple(mark["point"]) in truths and TRUE_RING in ring_colours(sheet, *mark["sheet"])


def test_the_index_loads_every_episode_in_a_headless_browser(pictured):
    out, planned = pictured
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        why = "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
        if os.environ.get("CI") == "true":  # .ci/run installs it: a CI run without it must not pass quietly
            pytest.fail(why)
        pytest.skip(why)
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for work in planned:
        assert f'data-task="{work.task}" data-episode="{work.episode}"' in dom
    assert (
        dom.count('data-loaded="yes"') == len(planned) and 'data-loaded="no"' not in dom
    )  # every sheet decoded by the browser
    assert "Coordinates are &lt;y, x&gt; on the 256x256 front image" in dom and "<th>precision</th>" in dom
