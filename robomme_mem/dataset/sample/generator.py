"""Synthetic RoboMME-format demonstrations: the embedded sample and the tests' fixtures.

Files follow the layout RoboMME's recorder writes (``record_dataset_<Task>.h5`` /
``episode_<n>`` / ``setup`` + contiguous ``timestep_<k>`` with ``obs``, ``action`` and
``info``; variable-length string scalars, bool flags, gzip-compressed uint8 256x256x3
front images) so the builder reads them exactly as it reads real ones. Episodes are
scripted per task: realistic goals and subgoal sequences (ordinals and colours, repeated
actions for counting tasks, ``<y, x>`` pixel coordinates inline in grounded subgoals,
video-demonstration prefixes, final "All tasks completed" steps) and drawn images in which
the objects, the gripper and the scene change from step to step.

Everything is a pure function of ``(task, episode, seed)``: two calls write identical data.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from ...parallel import ignore_interrupts, worker_context, worker_count
from ...subgoals import again_words, listed, number_word, ordinal_word, point_text
from ...tasks import EVALUATED_TASKS, SOURCE_FILE_PREFIX, SOURCE_FILE_SUFFIX
from ..source import SYNTHETIC_ATTR

IMAGE_SIZE = 256
COMPLETED = "All tasks completed"
VIDEO_STATIC = "static"

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 200),
    "yellow": (220, 200, 40),
}
BUTTON_GREY = (165, 165, 165)
CONTAINER_GREY = (178, 178, 178)
BIN_BLACK = (12, 12, 12)
"""Fixtures drawn as RoboMME renders them: grey buttons and containers, a bin whose inside is black."""

SYNTHETIC_TASKS: tuple[str, ...] = (*EVALUATED_TASKS, "VideoUnmask")
"""The 7 evaluated tasks and one video task."""


# -- scripts: what happens in an episode -----------------------------------------------


@dataclass
class Thing:
    """A drawable object of the scene (cube, bin, button, container, target)."""

    kind: str
    colour: tuple[int, int, int]
    yx: tuple[int, int]
    size: int = 14
    visible: bool = True
    held: bool = False
    """In the gripper: drawn where the gripper is, and carried with it."""
    parked: bool = False
    """Out of the scene (a cube taken into the bin, a container not brought in yet), as RoboMME parks objects."""


@dataclass
class Segment:
    """One subgoal held for ``steps`` steps; ``effect`` changes the scene when it ends."""

    simple: str
    grounded: str
    steps: int
    target: tuple[int, int]
    effect: Callable[[dict[str, Thing]], None] | None = None


@dataclass
class Script:
    goals: list[str]
    things: dict[str, Thing]
    segments: list[Segment]
    video_steps: int = 0
    video_effect: Callable[[dict[str, Thing], int, int], None] | None = None
    """Called at every video step (scene, step, total) to animate the demonstration."""
    tail: int = 8
    """Steps of "All tasks completed" after the last subgoal."""
    choices: list[dict] = field(default_factory=list)
    difficulty: str = "easy"


def _at(text: str, yx: tuple[int, int]) -> str:
    """Grounded form: RoboMME writes integer pixels ``<y, x>`` after "at"."""
    return f"{text} at {point_text(yx)}"


def _length(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _spot(rng: np.random.Generator, taken: list[tuple[int, int]], area=(70, 200, 40, 216)) -> tuple[int, int]:
    """A free table position (y, x) at least 28 px from every other object."""
    for _ in range(200):
        yx = (int(rng.integers(area[0], area[1])), int(rng.integers(area[2], area[3])))
        if all(abs(yx[0] - a) + abs(yx[1] - b) >= 28 for a, b in taken):
            taken.append(yx)
            return yx
    raise RuntimeError("no free spot")  # pragma: no cover - the table is large enough


def _grab(name: str) -> Callable[[dict[str, Thing]], None]:
    """The gripper closes on ``name``: from now on it is carried wherever the gripper goes."""

    def effect(things: dict[str, Thing]) -> None:
        things[name].held = True

    return effect


def _into_bin(name: str) -> Callable[[dict[str, Thing]], None]:
    """Let go over the bin: the cube drops in and, as in RoboMME, leaves the scene."""

    def effect(things: dict[str, Thing]) -> None:
        things[name].held, things[name].visible, things[name].parked = False, False, True

    return effect


def _move(name: str, yx: tuple[int, int]) -> Callable[[dict[str, Thing]], None]:
    """Let go of ``name`` at ``yx``."""

    def effect(things: dict[str, Thing]) -> None:
        things[name].yx, things[name].held = yx, False

    return effect


def _press(name: str) -> Callable[[dict[str, Thing]], None]:
    def effect(things: dict[str, Thing]) -> None:
        things[name].colour = (250, 250, 250)

    return effect


def _base(rng: np.random.Generator) -> tuple[dict[str, Thing], list[tuple[int, int]]]:
    taken: list[tuple[int, int]] = []
    button = _spot(rng, taken, area=(55, 80, 90, 130))
    return {"button": Thing("button", BUTTON_GREY, button, size=10)}, taken


def _tail(rng: np.random.Generator) -> int:
    return _length(rng, 7, 35)


def _colour_phrase(counts: dict[str, int]) -> str:
    """BinFill's goal phrase in the recorder's fixed colour order: "one red cube, two blue cubes and ..."."""
    return listed([f"{number_word(n)} {c} cube" + ("s" if n > 1 else "") for c, n in counts.items()])


def script_binfill(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    things["bin"] = Thing("bin", BIN_BLACK, _spot(rng, taken, area=(110, 140, 120, 160)), size=26)
    palette = ["red", "blue", "green"]
    chosen = sorted(rng.choice(3, size=_length(rng, 1, 2), replace=False).tolist())
    counts = {palette[i]: _length(rng, 1, 2) for i in chosen}
    segments = []
    for colour in rng.permutation(list(counts)).tolist():
        for i in range(1, counts[colour] + 1):
            name = f"{colour}{i}"
            things[name] = Thing("cube", COLOURS[colour], _spot(rng, taken))
            text = f"pick up the {ordinal_word(i)} {colour} cube"
            segments.append(
                Segment(text, _at(text, things[name].yx), _length(rng, 60, 120), things[name].yx, _grab(name))
            )
            segments.append(
                Segment(
                    "put it into the bin",
                    _at("put it into the bin", things["bin"].yx),
                    _length(rng, 50, 80),
                    things["bin"].yx,
                    _into_bin(name),
                )
            )
    spare = next(c for c in palette if c not in counts) if len(counts) < 3 else "yellow"
    things["distractor"] = Thing("cube", COLOURS[spare], _spot(rng, taken))
    segments.append(
        Segment(
            "press the button",
            _at("press the button", things["button"].yx),
            _length(rng, 50, 70),
            things["button"].yx,
            _press("button"),
        )
    )
    phrase = _colour_phrase({c: counts[c] for c in palette if c in counts})
    goals = [
        f"put {phrase} into the bin, then press the button to stop",
        f"put {phrase} into the bin and press the button to stop",
    ]
    return Script(goals, things, segments, tail=_tail(rng))


def script_pickxtimes(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    colour = str(rng.choice(["red", "green", "blue"]))
    n = _length(rng, 1, 4)
    things["cube"] = Thing("cube", COLOURS[colour], _spot(rng, taken))
    things["target"] = Thing("target", (230, 230, 230), _spot(rng, taken), size=18)
    segments = []
    for i in range(1, n + 1):
        at = things["cube"].yx if i == 1 else things["target"].yx  # placed on the target, it is picked from there
        segments.append(
            Segment(
                f"pick up the {colour} cube {again_words(i)}",
                f"pick up the {colour} cube at {point_text(at)} {again_words(i)}",
                _length(rng, 40, 80),
                at,
                _grab("cube"),
            )
        )
        place = f"place the {colour} cube onto the target"
        segments.append(
            Segment(
                place,
                _at(place, things["target"].yx),
                _length(rng, 30, 60),
                things["target"].yx,
                _move("cube", things["target"].yx),
            )
        )
    segments.append(
        Segment(
            "press the button to stop",
            f"press the button at {point_text(things['button'].yx)} to stop",
            _length(rng, 40, 70),
            things["button"].yx,
            _press("button"),
        )
    )
    if n > 1:
        goals = [
            f"pick up the {colour} cube and place it on the target, repeating this action {number_word(n)} times, then press the button to stop",
            f"pick up the {colour} cube and place it on the target, repeating this pick-and-place action {number_word(n)} times, then press the button to stop",
        ]
    else:
        goals = [f"pick up the {colour} cube and place it on the target, then press the button to stop"]
    return Script(goals, things, segments, tail=_tail(rng))


def script_swingxtimes(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    colour = str(rng.choice(["red", "green", "blue"]))
    n = _length(rng, 1, 3)
    things["cube"] = Thing("cube", COLOURS[colour], _spot(rng, taken, area=(170, 200, 110, 150)))
    left, right = (140, 60), (140, 196)
    things["left"] = Thing("target", (230, 230, 230), left, size=16)
    things["right"] = Thing("target", (230, 230, 230), right, size=16)
    pick = f"pick up the {colour} cube"
    segments = [Segment(pick, _at(pick, things["cube"].yx), _length(rng, 40, 70), things["cube"].yx, _grab("cube"))]
    for i in range(1, n + 1):
        for side, yx in (("right", right), ("left", left)):
            segments.append(
                Segment(
                    f"move to the top of the {side}-side target {again_words(i)}",
                    f"move to the top of the {side}-side target at {point_text(yx)} {again_words(i)}",
                    _length(rng, 25, 45),
                    yx,
                )
            )
    segments.append(
        Segment(
            f"put the {colour} cube on the table",
            f"put the {colour} cube on the table",
            _length(rng, 8, 15),
            left,
            _move("cube", left),
        )
    )
    segments.append(
        Segment(
            "press the button",
            _at("press the button", things["button"].yx),
            _length(rng, 40, 70),
            things["button"].yx,
            _press("button"),
        )
    )
    if n > 1:
        goals = [
            f"pick up the {colour} cube, move it to the top of the right-side target, then move it to the top of the left-side target, repeating this back-and-forth motion {number_word(n)} times, finally press the button to stop",
            f"pick up the {colour} cube, move it to the right-side target and then to the left-side target, repeating this right-to-left swing motion {number_word(n)} times, then put down the cube and press the button to stop",
        ]
    else:
        goals = [
            f"pick up the {colour} cube, move it to the top of the right-side target, then put it down on the left-side target, finally press the button to stop",
            f"pick up the {colour} cube, move it to the right-side target and then put it down on the left-side target, then press the button to stop",
        ]
    return Script(goals, things, segments, tail=_tail(rng))


def script_stopcube(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    k = _length(rng, 2, 5)
    things["target"] = Thing("target", (230, 230, 230), (150, 128), size=18)
    things["cube"] = Thing("cube", COLOURS["red"], (150, 40))
    button = things["button"].yx
    segments = [
        Segment(
            "move to the top of the button to prepare",
            f"move to the top of the button at {point_text(button)} to prepare",
            _length(rng, 30, 60),
            button,
        )
    ]
    interval = int(rng.choice([60, 80, 120]))
    # "remain static" checkpoints every 100 steps: separate boundaries with the same text
    for _ in range(max(1, (interval * k - interval // 2) // 100)):
        segments.append(Segment("remain static", "remain static", 100, button, _advance("cube", interval)))
    press = "press the button to stop the cube on the target"
    segments.append(Segment(press, _at(press, button), _length(rng, 20, 40), button, _press("button")))
    goals = [
        f"press the button to stop the cube just as it reaches the target {again_words(k)}",
        f"press the button to stop the cube exactly at the target on its {ordinal_word(k)} visit",
    ]
    return Script(goals, things, segments, tail=_tail(rng))


def _advance(name: str, interval: int) -> Callable[[dict[str, Thing]], None]:
    def effect(things: dict[str, Thing]) -> None:
        y, x = things[name].yx
        things[name].yx = (y, 40 + (x - 40 + 100 * 176 // interval) % 176)

    return effect


def _containers(rng: np.random.Generator, things: dict[str, Thing], taken: list, count: int = 3) -> list[str]:
    names = []
    row = int(rng.integers(120, 170))
    for i, x in enumerate(np.linspace(60, 196, count).astype(int)):
        name = f"container{i}"
        things[name] = Thing("container", CONTAINER_GREY, (row, int(x)), size=22)
        taken.append((row, int(x)))
        names.append(name)
    return names


def _picks(rng: np.random.Generator, things: dict[str, Thing], hidden: list[tuple[str, str]]) -> list[Segment]:
    """Container picks of the Unmask tasks, with "put down the container" (where it was lifted) between two picks.

    ``things`` holds the containers where they stand when the picks begin."""
    segments = []
    for i, (name, colour) in enumerate(hidden):
        if i:
            before = things[hidden[i - 1][0]].yx
            segments.append(
                Segment(
                    "put down the container",
                    "put down the container",
                    _length(rng, 10, 15),
                    before,
                    _move(hidden[i - 1][0], before),
                )
            )
        yx = things[name].yx
        segments.append(
            Segment(
                f"pick up the container that hides the {colour} cube",
                f"pick up the container at {point_text(yx)} that hides the {colour} cube",
                _length(rng, 60, 110),
                yx,
                _grab(name),
            )
        )
    return segments


def _unmask_setup(
    rng: np.random.Generator, things: dict[str, Thing], taken: list
) -> tuple[list[str], list[tuple[str, str]], str]:
    names = _containers(rng, things, taken)
    colours = rng.permutation(["red", "green", "blue"]).tolist()
    for name, colour in zip(names, colours):
        things[f"cube_{colour}"] = Thing("cube", COLOURS[colour], things[name].yx, size=10, visible=False)
    picks = _length(rng, 1, 2)
    order = rng.permutation(len(names)).tolist()[:picks]
    hidden = [(names[i], colours[i]) for i in order]
    suffix = f", finally pick up another container hiding the {hidden[1][1]} cube" if picks == 2 else ""
    return names, hidden, suffix


def script_buttonunmask(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    _, hidden, suffix = _unmask_setup(rng, things, taken)
    segments = [
        Segment(
            "press the button",
            _at("press the button", things["button"].yx),
            _length(rng, 80, 120),
            things["button"].yx,
            _press("button"),
        )
    ]
    segments += _picks(rng, things, hidden)
    goals = [f"first press the button, then pick up the container hiding the {hidden[0][1]} cube{suffix}"]
    return Script(goals, things, segments, tail=_tail(rng))


def script_buttonunmaskswap(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    things["button2"] = Thing("button", BUTTON_GREY, _spot(rng, taken, area=(55, 80, 150, 200)), size=10)
    names, hidden, suffix = _unmask_setup(rng, things, taken)
    b1, b2 = things["button"].yx, things["button2"].yx
    segments = [
        Segment(
            "press the first button",
            _at("press the first button", b1),
            _length(rng, 90, 120),
            b1,
            _compose(_press("button"), _swap(names[0], names[2])),
        ),
        Segment(
            "press the second button", _at("press the second button", b2), _length(rng, 90, 110), b2, _press("button2")
        ),
    ]
    _swap(names[0], names[2])(things)  # the picks are aimed where the containers stand after the swap
    segments += _picks(rng, things, hidden)
    _swap(names[0], names[2])(things)
    goals = [
        f"first press both buttons on the table, then pick up the container hiding the {hidden[0][1]} cube{suffix}"
    ]
    return Script(goals, things, segments, tail=_tail(rng))


def _compose(*effects: Callable[[dict[str, Thing]], None]) -> Callable[[dict[str, Thing]], None]:
    def effect(things: dict[str, Thing]) -> None:
        for e in effects:
            e(things)

    return effect


def _swap(a: str, b: str) -> Callable[[dict[str, Thing]], None]:
    """Two containers trade places (and so do the cubes under them): the memory test of *Swap tasks."""

    def effect(things: dict[str, Thing]) -> None:
        at_a, at_b = things[a].yx, things[b].yx
        for thing in things.values():
            if thing.kind == "cube" and thing.yx in (at_a, at_b):
                thing.yx = at_b if thing.yx == at_a else at_a
        things[a].yx, things[b].yx = at_b, at_a

    return effect


def script_pickhighlight(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    colours = rng.permutation(["red", "green", "blue", "yellow"]).tolist()
    for c in colours:
        things[f"cube_{c}"] = Thing("cube", COLOURS[c], _spot(rng, taken))
    k = _length(rng, 1, 3)
    targets = colours[:k]
    segments = [
        Segment(
            "press the button",
            _at("press the button", things["button"].yx),
            _length(rng, 80, 110),
            things["button"].yx,
            _highlight([f"cube_{c}" for c in targets]),
        )
    ]
    for i, c in enumerate(targets, start=1):
        yx = things[f"cube_{c}"].yx
        which = "the highlighted cube" if k == 1 else f"the {ordinal_word(i)} highlighted cube"
        segments.append(
            Segment(
                f"pick up {which}, which is {c}",
                f"pick up {which} at {point_text(yx)}, which is {c}",
                _length(rng, 50, 90),
                yx,
                _grab(f"cube_{c}"),
            )
        )
        if i < k:
            aside = (190, 88 + 40 * i)  # each put down apart from the others
            segments.append(
                Segment(
                    "place the cube onto the table",
                    "place the cube onto the table",
                    _length(rng, 10, 14),
                    aside,
                    _move(f"cube_{c}", aside),
                )
            )
    goals = [
        "first press the button, then pick up all cubes that have been highlighteted with white areas on the table",
        "first press the button, then pick up all highlighted cubes, finally press the button again to stop",
    ]
    return Script(goals, things, segments, tail=_tail(rng))


def _highlight(names: list[str]) -> Callable[[dict[str, Thing]], None]:
    def effect(things: dict[str, Thing]) -> None:
        for name in names:
            things[f"halo_{name}"] = Thing("halo", (255, 255, 255), things[name].yx, size=24)

    return effect


def script_videounmask(rng: np.random.Generator) -> Script:
    things, taken = _base(rng)
    names, hidden, suffix = _unmask_setup(rng, things, taken)
    for name in names:
        things[name].visible, things[name].parked = False, True
    for key in [k for k in things if k.startswith("cube_")]:
        things[key].visible = True

    def video(scene: dict[str, Thing], step: int, total: int) -> None:
        if step == total // 2:  # the containers come down over the cubes halfway through the demo
            for name in names:
                scene[name].visible, scene[name].parked = True, False
            for key in [k for k in scene if k.startswith("cube_")]:
                scene[key].visible = False

    goals = [f"watch the video carefully, then pick up the container hiding the {hidden[0][1]} cube{suffix}"]
    return Script(
        goals,
        things,
        _picks(rng, things, hidden),
        video_steps=_length(rng, 64, 66),
        video_effect=video,
        tail=_tail(rng),
    )


SCRIPTS: dict[str, Callable[[np.random.Generator], Script]] = {
    "BinFill": script_binfill,
    "PickXtimes": script_pickxtimes,
    "SwingXtimes": script_swingxtimes,
    "StopCube": script_stopcube,
    "ButtonUnmask": script_buttonunmask,
    "ButtonUnmaskSwap": script_buttonunmaskswap,
    "PickHighlight": script_pickhighlight,
    "VideoUnmask": script_videounmask,
}


# -- rendering --------------------------------------------------------------------------


def _background() -> np.ndarray:
    y = np.linspace(0, 1, IMAGE_SIZE)[:, None]
    x = np.linspace(0, 1, IMAGE_SIZE)[None, :]
    img = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    band = np.floor(y * 8) / 8 + 0 * x  # a banded table: shaded, yet cheap to compress
    img[..., 0] = (150 + 40 * band).astype(np.uint8)
    img[..., 1] = (120 + 30 * band).astype(np.uint8)
    img[..., 2] = (90 + 20 * band).astype(np.uint8)
    img[:50] = (70, 80, 95)  # back wall
    return img


_BACKGROUND = _background()


def _square(img: np.ndarray, yx: tuple[int, int], size: int, colour: tuple[int, int, int]) -> None:
    h = size // 2
    y0, x0 = max(yx[0] - h, 0), max(yx[1] - h, 0)
    img[y0 : yx[0] + h, x0 : yx[1] + h] = colour


def _paint(
    canvas: np.ndarray,
    things: dict[str, Thing],
    gripper: tuple[float, float],
    fill: Callable[[str, Thing], object],
    dark,
    light,
) -> None:
    """Objects (halos first, what the gripper holds last), then the gripper on top, in ``fill``'s values."""
    for name, thing in sorted(things.items(), key=lambda item: (item[1].kind != "halo", item[1].held)):
        if thing.visible:
            _square(canvas, thing.yx, thing.size, fill(name, thing))
    gy, gx = int(round(gripper[0])), int(round(gripper[1]))
    _square(canvas, (gy, gx), 12, dark)
    canvas[min(gy + 7, IMAGE_SIZE - 1), max(gx - 8, 0) : gx + 8] = light


def render(things: dict[str, Thing], gripper: tuple[float, float], step: int) -> np.ndarray:
    """Front image: table, objects (halos first), then the gripper on top."""
    img = _BACKGROUND.copy()
    _paint(img, things, gripper, lambda _, thing: thing.colour, (40, 40, 40), (220, 220, 220))
    img[IMAGE_SIZE - 6 :, : (step * 3) % IMAGE_SIZE] = (20, 20, 20)  # a step clock: no two frames alike
    return img


def segmentation(things: dict[str, Thing], gripper: tuple[float, float], ids: dict[str, int]) -> np.ndarray:
    """What :func:`render` draws, as object ids (``ids``; 0 for the table, the gripper and anything else)."""
    seg = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.int32)
    _paint(seg, things, gripper, lambda name, _: ids.get(name, 0), 0, 0)
    return seg


# -- writing ----------------------------------------------------------------------------


_STR = h5py.string_dtype("utf-8")
_ASCII = h5py.string_dtype("ascii")


def episode_rng(task: str, episode: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(task.encode()), episode])


@dataclass(frozen=True)
class Frame:
    """One step of a scripted episode as the generator draws it: the texts RoboMME's recorder
    writes, the image, and the scene it was drawn from (for the sample's own truth)."""

    step: int
    image: np.ndarray
    simple: str
    grounded: str
    simple_online: str
    grounded_online: str
    video: bool
    boundary: bool
    completed: bool
    gripper: np.ndarray
    things: dict[str, Thing]
    """A copy of the scene at this step."""
    segment: int
    """Index of the subgoal being carried out (-1 in the video demonstration)."""
    done: Segment | None = None
    """The subgoal that ended just before this step, if one did."""


def _carry(things: dict[str, Thing], gripper: np.ndarray) -> None:
    for thing in things.values():
        if thing.held:
            thing.yx = (int(round(gripper[0])), int(round(gripper[1])))


def _snapshot(things: dict[str, Thing]) -> dict[str, Thing]:
    return {name: replace(thing) for name, thing in things.items()}


def play(task: str, episode: int, seed: int = 0) -> tuple[Script, Iterator[Frame]]:
    """The episode's script, and its frames one step at a time: a pure function of ``(task, episode, seed)``."""
    rng = episode_rng(task, episode, seed)
    script = SCRIPTS[task](rng)
    script.difficulty = str(rng.choice(["easy", "medium", "hard"]))

    def frames() -> Iterator[Frame]:
        things = script.things
        gripper = np.array([40.0, 128.0])
        step = 0
        first = script.segments[0]
        for k in range(script.video_steps):
            if script.video_effect:
                script.video_effect(things, k, script.video_steps)
            yield Frame(
                step,
                render(things, gripper, step),
                VIDEO_STATIC,
                VIDEO_STATIC,
                first.simple,
                first.grounded,
                True,
                k == 0,
                False,
                gripper.copy(),
                _snapshot(things),
                -1,
            )
            step += 1
        done = None
        for index, seg in enumerate(script.segments):
            start = gripper.copy()
            for j in range(seg.steps):
                gripper = start + (np.array(seg.target, float) - start) * min(1.0, (j + 1) / max(seg.steps * 0.7, 1))
                _carry(things, gripper)
                yield Frame(
                    step,
                    render(things, gripper, step),
                    seg.simple,
                    seg.grounded,
                    seg.simple,
                    seg.grounded,
                    False,
                    j == 0,
                    False,
                    gripper.copy(),
                    _snapshot(things),
                    index,
                    done if j == 0 else None,
                )
                step += 1
            if seg.effect:
                seg.effect(things)
            done = seg
        last = script.segments[-1]
        # RoboMME's tail: odd episodes repeat "All tasks completed" in the grounded text, even ones keep the last subgoal
        tail_grounded = COMPLETED if episode % 2 else last.grounded
        for j in range(script.tail):
            _carry(things, gripper)
            yield Frame(
                step,
                render(things, gripper, step),
                COMPLETED,
                tail_grounded,
                last.simple,
                last.grounded,
                False,
                j == 0,
                True,
                gripper.copy(),
                _snapshot(things),
                len(script.segments),
                done if j == 0 else None,
            )
            step += 1

    return script, frames()


def write_episode(h5: h5py.File, task: str, episode: int, seed: int = 0, *, compression: int | None = 1) -> int:
    """Script, render and write one episode into an open file; returns its number of steps.

    ``compression`` is the gzip level of the front images (``None``: stored raw, as RoboMME's
    recorder writes them).
    """
    script, frames = play(task, episode, seed)
    group = h5.create_group(f"episode_{episode}")
    setup = group.create_group("setup")
    setup.create_dataset("seed", data=np.int64(episode_seed(task, episode, seed)))
    setup.create_dataset("difficulty", data=script.difficulty, dtype=_STR)
    setup.create_dataset("task_goal", data=np.array(script.goals, dtype=object), dtype=_STR)
    setup.create_dataset(
        "front_camera_intrinsic", data=np.array([[128, 0, 128], [0, 128, 128], [0, 0, 1]], dtype=np.float32)
    )
    setup.create_dataset("available_multi_choices", data=json.dumps(script.choices), dtype=_STR)
    steps = 0
    for f in frames:
        write_step(
            group,
            f.step,
            f.image,
            f.simple,
            f.grounded,
            f.simple_online,
            f.grounded_online,
            f.video,
            f.boundary,
            f.completed,
            f.gripper,
            compression,
            closed=any(t.held for t in f.things.values()),
        )
        steps += 1
    return steps


def episode_seed(task: str, episode: int, seed: int = 0) -> int:
    """The seed an episode's ``setup/seed`` records."""
    return seed * 100_000 + episode * 100 + zlib.crc32(task.encode()) % 97


def write_step(
    group,
    k,
    image,
    simple,
    grounded,
    simple_online,
    grounded_online,
    video,
    boundary,
    completed,
    gripper,
    compression,
    *,
    closed: bool = False,
) -> None:
    t = group.create_group(f"timestep_{k}")
    info = t.create_group("info")
    for name, text in (
        ("simple_subgoal", simple),
        ("grounded_subgoal", grounded),
        ("simple_subgoal_online", simple_online),
        ("grounded_subgoal_online", grounded_online),
    ):
        info.create_dataset(name, data=text.encode("ascii"), dtype=_ASCII)
    info.create_dataset("is_video_demo", data=np.bool_(video))
    info.create_dataset("is_subgoal_boundary", data=np.bool_(boundary))
    info.create_dataset("is_completed", data=np.bool_(completed))
    obs = t.create_group("obs")
    if compression is None:
        obs.create_dataset("front_rgb", data=image)
    else:
        obs.create_dataset(
            "front_rgb", data=image, chunks=image.shape, compression="gzip", compression_opts=compression
        )
    obs.create_dataset("eef_state", data=np.array([gripper[1] / 256, gripper[0] / 256, 0.1, 0, 0, 0], dtype=np.float32))
    obs.create_dataset("is_gripper_close", data=np.bool_(closed))
    action = t.create_group("action")
    action.create_dataset(
        "eef_action", data=np.array([gripper[1] / 256, gripper[0] / 256, 0.1, 0, 0, 0, 1], dtype=np.float64)
    )


GENERATOR = "robomme-mem synthetic generator (RoboMME's HDF5 layout, drawn scenes, scripted subgoals)"


def mark_synthetic(h5: h5py.File) -> None:
    """Say in the file itself that it is not a recorded demonstration, so builds from it say so too."""
    h5.attrs[SYNTHETIC_ATTR] = GENERATOR


def write_task_file(
    folder: str | Path, task: str, episodes: Sequence[int], seed: int = 0, compression: int | None = 1
) -> Path:
    """Write ``record_dataset_<task>.h5`` with the given episode numbers; returns its path."""
    path = Path(folder) / f"{SOURCE_FILE_PREFIX}{task}{SOURCE_FILE_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with h5py.File(tmp, "w", libver="latest") as h5:
        mark_synthetic(h5)
        for episode in episodes:
            write_episode(h5, task, episode, seed, compression=compression)
    tmp.replace(path)
    return path


def write_source(
    folder: str | Path,
    tasks: Sequence[str] = SYNTHETIC_TASKS,
    episodes: int = 2,
    seed: int = 0,
    *,
    compression: int | None = 1,
    workers: int | None = None,
) -> list[Path]:
    """A whole synthetic RoboMME source: one file per task, ``episodes`` episodes each.

    Files are written by ``workers`` processes (default: one per core), one task each.
    """
    jobs = [(folder, task, range(episodes), seed, compression) for task in tasks]
    workers = worker_count(workers, len(jobs))
    if workers == 1:
        return [write_task_file(*job) for job in jobs]
    with worker_context().Pool(workers, initializer=ignore_interrupts) as pool:
        return pool.starmap(write_task_file, jobs)
