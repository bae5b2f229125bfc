"""What the ``rules`` spatial labeller sees in a front image: the task's objects, never the table.

Calibrated on RoboMME's real renders (the episodes in ``../shared``), in Pillow's HSV (0-255):

- the wooden table is orange with saturation ~160: neither saturated nor grey, so never an object;
- cubes are saturated (S > 180) and named by their median colour's hue: red, yellow, green, blue;
- buttons and containers are grey-white (S < 60, V > 110), told apart by size (a button with
  its plate covers ~220 pixels, a container ~370-560); a ringed target disc is as large as a
  button but mostly grey rings (:data:`RING_SHARE_GREY`); a region almost all white (V > 215) is a target or a
  highlight, as is a light region under a cube (PickHighlight's white areas);
- the bin is the black inside of its frame;
- anything touching the image border is the back wall, the robot arm reaching in from the top,
  or an object only partly in view, and is left out; so is a light region touching the arm (every
  grey region reaching in from the top, widened by :data:`ARM_PX`: the gripper), and a cube
  touching it is held;
- targets (calibrated against the scene truth, ``robomme-mem audit --truth``): PickXtimes' and
  StopCube's purple rings (hue 185-218, as saturated as the table but not orange), a white centre
  inside a coloured ring, and a hollow saturated ring (SwingXtimes' red-and-white discs) are one
  target each; StopCube's pink cube (hue 220-248) is a cube, and so is a solid purple region with
  no white in it (StopCube's cube in its hard episodes; a target's purple is a ring round white);
- saturated pixels are split by colour before they are grouped, so touching cubes of different
  colours (crowded hard episodes) are told apart.

Regions are SciPy's 8-connected components of each class's mask. The synthetic sample's
renderer uses the same classes (grey buttons and containers, a black bin), so one detector
serves both.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from ....subgoals import BIN, BUTTON, CONTAINER, CUBE, OBJECT_KINDS, TARGET, WHITE_AREA, object_name, white_area_under

HUES = {"red": ((0, 12), (240, 256)), "yellow": ((25, 52),), "green": ((60, 125),), "blue": ((130, 200),)}
"""Cube colours by Pillow hue (0-255), named as :data:`~robomme_mem.subgoals.COLOURS` names them."""
SATURATED, GREY_SAT, WHITE_VALUE, DARK_VALUE = 180, 60, 215, 45
MIN_CUBE, BUTTON_AREA, CONTAINER_AREA, BIN_AREA = 40, (60, 320), (320, 900), (350, 2000)
WHITE_SHARE = 0.85
"""A light region this white (or more) is a flat white area, not a grey-and-white box or button."""
UNDER_CUBE_PX = 12
RING_VALUE, RING_SHARE_GREY = 170, 0.57
"""A flat ringed disc (SwingXtimes' targets) is mostly its grey rings: 59-64% of its pixels darker
than 170, where a button on its white plate has 42-55% (measured against the scene truth on easy
and hard episodes of six tasks). Its width (1.25-1.36 times its height from the front camera)
overlaps a button's (1.06-1.33), so shape alone mistook a disc half behind a cube for a button."""


ARM_PX = 3
"""Pixels around the arm (every grey region reaching in from the top border) that belong to it:
a light region there is part of the gripper, not a button; a cube there is in the gripper."""


@dataclass(frozen=True)
class SceneObject:
    kind: str
    """``cube``, ``button``, ``target``, ``container``, ``white area`` or ``bin``."""
    colour: str | None
    y: int
    x: int
    area: int
    held: bool = False
    """A cube touching the gripper."""

    @property
    def name(self) -> str:
        if self.kind == WHITE_AREA and self.colour:
            return white_area_under(object_name(CUBE, self.colour))
        return object_name(self.kind, self.colour)


def detect_objects(image: np.ndarray) -> list[SceneObject]:
    """Objects in a uint8 HxWx3 RGB frame with their centres (RoboMME's ``<y, x>``), largest first per kind."""
    from scipy import ndimage  # the detector's only SciPy use (0.2 s to import)

    # HSV's value and saturation (0-255) without a whole-image conversion: V = max, S = (max - min) / max
    r, g, b = image[..., 0], image[..., 1], image[..., 2]  # elementwise on channels: a max over axis 2 is slow
    val = np.maximum(np.maximum(r, g), b).astype(np.int32)
    spread = (val - np.minimum(np.minimum(r, g), b)) * 255
    light = (spread < GREY_SAT * val) & (val > 110)
    white = light & (val > WHITE_VALUE)
    saturated = (spread > SATURATED * val) & (val > 60)
    # as saturated as the table, which is orange, but bluer than green: only such pixels can have a
    # purple or pink hue (>= 185 of 255), so only they get one (the table has none)
    tinted = (spread > TINTED * val) & (val > 100) & (b > g)
    hue = np.zeros(val.shape, dtype=np.int32)
    hue[tinted] = _hues(image[tinted], val[tinted], spread[tinted])
    purple = tinted & (hue >= PURPLE[0]) & (hue < PURPLE[1])
    pink = tinted & ~saturated & (hue >= PINK[0]) & (hue < PINK[1])
    # saturated pixels split by colour before they are grouped, so two cubes of different colours
    # that touch (hard episodes crowd them) are two cubes, not one of their mixed colour
    cube_hue = np.full(val.shape, -1, dtype=np.int32)
    cube_hue[saturated] = _hues(image[saturated], val[saturated], spread[saturated])
    by_colour = tuple(
        (f"cube:{c}", saturated & np.logical_or.reduce([(cube_hue >= lo) & (cube_hue < hi) for lo, hi in ranges]))
        for c, ranges in HUES.items()
    )
    classes = (*by_colour, ("light", light), ("bin", val < DARK_VALUE), ("purple", purple), ("pink", pink))
    found: list[SceneObject] = []
    eight = np.ones((3, 3), dtype=bool)
    arm = _arm(spread < GREY_SAT * val, eight, ndimage)
    for kind, mask in classes:
        if np.count_nonzero(mask) < MIN_CUBE:
            continue  # no region large enough to be anything (most colours are absent from a frame)
        kind, _, cube_colour = kind.partition(":")
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        top, left = int(rows[0]), int(cols[0])  # labelled within the mask's bounding box: the same regions, sooner
        labels, count = ndimage.label(mask[top : rows[-1] + 1, left : cols[-1] + 1], structure=eight)
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        areas[0] = 0  # the background
        boxes = ndimage.find_objects(labels)
        for number in np.nonzero(areas >= MIN_CUBE)[0]:
            area, inner = int(areas[number]), boxes[number - 1]
            box = (slice(inner[0].start + top, inner[0].stop + top), slice(inner[1].start + left, inner[1].stop + left))
            if box[0].start == 0 or box[1].start == 0 or box[0].stop == mask.shape[0] or box[1].stop == mask.shape[1]:
                continue  # the wall, the arm, or an object partly out of view
            member = labels[inner] == number  # the component, within its bounding box
            touches_arm = bool(arm[box][member].any())
            if touches_arm and kind != "cube":
                continue  # a light or dark part of the gripper
            named = _name(
                kind, area, float(white[box][member].sum()) / area, float((val[box][member] < RING_VALUE).sum()) / area
            )
            if named == CUBE and _hollow(member):
                named = TARGET  # a saturated ring round a light centre: a target's disc (SwingXtimes)
            elif named == WHITE_AREA and _ringed(saturated | purple, box, member, ndimage):
                named = TARGET  # a white centre in a coloured ring (PickXtimes', StopCube's targets)
            elif named == TARGET and kind == "purple" and not _hollow(member) and not white[box][member].any():
                named, cube_colour = (
                    CUBE,
                    "purple",
                )  # solid purple with no white in it: StopCube's cube, not a target's ring
            colour = "pink" if kind == "pink" else cube_colour or None if named == CUBE else None
            if named is not None and (named != CUBE or colour is not None):
                ys, xs = np.nonzero(member)
                y, x = int(round(ys.mean() + box[0].start)), int(round(xs.mean() + box[1].start))
                found.append(SceneObject(named, colour, y, x, area, held=touches_arm and named == CUBE))
    cubes = [o for o in found if o.kind == CUBE]
    found = _one_per_target([_under_cube(o, cubes) for o in found])
    return sorted(found, key=lambda o: (OBJECT_KINDS.index(o.kind), o.colour or "", -o.area))


TINTED = 100
"""Saturation (0-255) of the colours that are no brighter than the table's but of another hue."""
PURPLE, PINK = (185, 218), (220, 248)
"""Pillow hues (0-255) of the targets' purple rings and of StopCube's pink cube (the table's is ~15)."""


def _hues(image: np.ndarray, val: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Pillow's hue (0-255) of pixels (``... x 3`` RGB with their value and spread), vectorised (0 for greys)."""
    r, g, b = (image[..., i].astype(np.int32) for i in range(3))
    delta = np.maximum(spread // 255, 1)
    h = np.where(val == r, (g - b) / delta, np.where(val == g, 2 + (b - r) / delta, 4 + (r - g) / delta))
    return ((h / 6.0) % 1.0 * 255).astype(np.int32)


RING_SHARE = 0.5
"""Share of the pixels just around a white region that are saturated for it to be a target's
centre (a coloured ring round it), not a white area on the table."""
TARGET_PX = 10
"""A target's ring and its centre are one target."""


def _hollow(member: np.ndarray) -> bool:
    """Whether a region is a ring: its own centre is not in it."""
    ys, xs = np.nonzero(member)
    return not member[int(round(ys.mean())), int(round(xs.mean()))]


def _ringed(saturated: np.ndarray, box, member: np.ndarray, ndimage) -> bool:
    """Whether a region sits in a saturated ring (the pixels up to 3 px around it)."""
    top, left = max(box[0].start - 3, 0), max(box[1].start - 3, 0)
    window = np.zeros((box[0].stop + 3 - top, box[1].stop + 3 - left), dtype=bool)
    window[box[0].start - top : box[0].stop - top, box[1].start - left : box[1].stop - left] = member
    around = ndimage.binary_dilation(window, iterations=3) & ~window
    ring = saturated[top : top + window.shape[0], left : left + window.shape[1]][
        around[: saturated.shape[0] - top, : saturated.shape[1] - left]
    ]
    return ring.size > 0 and float(ring.mean()) >= RING_SHARE


def _one_per_target(found: list[SceneObject]) -> list[SceneObject]:
    """A target's ring and centre, found apart, named once (the larger one's place)."""
    out: list[SceneObject] = []
    for thing in sorted(found, key=lambda o: -o.area):
        if thing.kind == TARGET and any(
            o.kind == TARGET and abs(o.y - thing.y) + abs(o.x - thing.x) <= TARGET_PX for o in out
        ):
            continue
        out.append(thing)
    return out


def _arm(grey: np.ndarray, eight: np.ndarray, ndimage) -> np.ndarray:
    """The arm and the wall behind it: the grey regions touching the top border, widened by :data:`ARM_PX`."""
    labels, count = ndimage.label(grey, structure=eight)
    top = np.unique(labels[0][labels[0] > 0])
    if not count or not len(top):
        return np.zeros(grey.shape, dtype=bool)
    return ndimage.maximum_filter(
        np.isin(labels, top), size=2 * ARM_PX + 1, mode="constant", cval=0
    )  # = ARM_PX dilations by ``eight``


def _under_cube(thing: SceneObject, cubes: list[SceneObject]) -> SceneObject:
    """A light region with a cube on it is the white area that highlights that cube."""
    if thing.kind in (BUTTON, CONTAINER, WHITE_AREA) and any(
        abs(c.y - thing.y) + abs(c.x - thing.x) <= UNDER_CUBE_PX for c in cubes
    ):
        cube = min(cubes, key=lambda c: abs(c.y - thing.y) + abs(c.x - thing.x))
        return SceneObject(WHITE_AREA, cube.colour, thing.y, thing.x, thing.area)
    return thing


def _hue(rgb) -> int:
    """Pillow's hue (0-255) of one RGB colour (a region's median)."""
    return int(colorsys.rgb_to_hsv(*(float(c) / 255 for c in rgb))[0] * 255)


def _colour(median_hue: int) -> str | None:
    return next((c for c, ranges in HUES.items() if any(low <= median_hue < high for low, high in ranges)), None)


def _name(kind: str, area: int, white_share: float, grey_share: float) -> str | None:
    if kind == "purple":
        return TARGET  # PickXtimes' and StopCube's purple-and-white targets: nothing else in RoboMME is purple
    if kind == "cube" or kind == "pink":
        return CUBE if area >= MIN_CUBE else None
    if kind == "light":
        if area < BUTTON_AREA[0] or area >= CONTAINER_AREA[1]:
            return None
        if white_share >= WHITE_SHARE:
            return WHITE_AREA
        if area >= BUTTON_AREA[1]:
            return CONTAINER
        return TARGET if grey_share >= RING_SHARE_GREY else BUTTON
    return BIN if BIN_AREA[0] <= area < BIN_AREA[1] else None
