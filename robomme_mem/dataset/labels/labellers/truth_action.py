"""The ``truth`` labeller's action memory: what the robot did by a boundary, per distinct object.

Written from the replay's events (:mod:`..truth.actions`), never from the subgoal text: two
cubes binned are two cubes even when the subgoals say "the blue cube" both times; a grasp that
closed on nothing is left out; nothing is said before it happened (events up to the
boundary's step). In a video task the memory opens with what the demonstration showed that the
task needs (which cube each container hides and where that container stands when execution
starts, what was picked or placed and in what order, the demonstrated way in the env's own
words), so a row whose target the video singles out is answerable, and later calls carry it.

Simple style counts distinct objects ("I put two blue cubes into the bin"); grounded style
names each object at the point where it was acted on ("the blue cube <86, 136> and the blue
cube <86, 88>").
"""

from __future__ import annotations

from collections.abc import Sequence

from ....subgoals import (
    BIN,
    CONTAINER,
    IN_THE_VIDEO,
    QUIET_SUBGOALS,
    TARGET,
    VIDEO_SHOWED,
    listed,
    number_word,
    object_name,
    ordinal_word,
    point_text,
    times_words,
)
from ...truth.seen import never_seen
from .rules import compose_action_memory, past_tense

ACTION_KINDS = {"pick", "place", "press"}


def display_name(info: dict) -> str:
    return object_name(info["kind"], info.get("colour"))


def _yx(point) -> str:
    """A point after a name (`` <y, x>``), or nothing where there is none."""
    return f" {point_text(point)}" if point else ""


def _start_row(episode: dict) -> dict:
    """The truth's row of the first executed step: where everything stands when the policy takes over."""
    return episode["steps"][0] if episode.get("steps") else {}


def _plural(name: str) -> str:
    return name + ("es" if name.endswith(("x", "s")) else "s")


def _clauses(
    events: Sequence[dict],
    objects: dict,
    grounded: bool,
    bin_point,
    named: dict[str, str] | None = None,
    unseen: frozenset[str] = frozenset(),
) -> list[tuple[str, str, list[tuple[str, list | None]]]]:
    """(verb, destination, [(object, point), ...] one entry per time) in order of first occurrence.

    A pick and the place that follows it on the same object are one clause (``put``); a pick
    not yet followed by one is ``picked up`` (the object is in the gripper). Destinations carry
    their points in grounded style only.
    """
    out: dict[tuple[str, str], list[tuple[str, list | None]]] = {}
    picked: dict[str, list | None] = {}
    order: list[tuple[str, str]] = []

    def add(verb: str, where: str, name: str, point) -> None:
        key = (verb, where)
        if key not in out:
            out[key] = []
            order.append(key)
        out[key].append((name, point))

    for event in events:
        kind, name = event["kind"], event.get("object")
        if kind == "pick":
            picked[name] = event.get("point")
        elif kind == "place":
            origin = picked.pop(name, event.get("point"))
            onto = (
                None if event.get("onto") in unseen else event.get("onto")
            )  # over a marker no camera shows: on the table
            if objects.get(name, {}).get("kind") == CONTAINER:
                add("lifted", "", name, origin)
            elif onto == "bin":
                add("put", f"into the bin{_yx(bin_point) if grounded else ''}", name, origin)
            elif onto and named is not None and onto in named:
                add("placed", f"onto {named[onto]}", name, origin)
            elif onto:
                add(
                    "placed",
                    f"onto the {display_name(objects.get(onto, {'kind': TARGET}))}{_yx(event.get('point')) if grounded else ''}",
                    name,
                    origin,
                )
            else:
                add("put", "down on the table", name, origin)
        elif kind == "press":
            add("pressed", "", name, event.get("point"))
    for name, point in picked.items():
        add("picked up", "", name, point)
    return [(verb, where, out[(verb, where)]) for verb, where in order]


def _objects_text(
    done: list[tuple[str, list | None]], objects: dict, grounded: bool, named: dict[str, str] | None = None
) -> str:
    """The objects of one clause: each named once, with how often (grounded: at its point;
    ``named``: a phrase per object that replaces both, as a video's objects are named by their
    place when execution starts)."""
    times: dict[str, int] = {}
    first: dict[str, list | None] = {}
    for name, point in done:
        times[name] = times.get(name, 0) + 1
        first.setdefault(name, point)
    if named is not None:
        return listed(
            [
                named.get(n, f"the {display_name(objects.get(n, {'kind': n}))}")
                + (f" {times_words(k)}" if k > 1 else "")
                for n, k in times.items()
            ]
        )
    if grounded:
        return listed(
            [
                f"the {display_name(objects.get(n, {'kind': n}))}{_yx(first[n])}"
                + (f" {times_words(k)}" if k > 1 else "")
                for n, k in times.items()
            ]
        )
    by_label: dict[str, list[str]] = {}
    for name in times:
        by_label.setdefault(display_name(objects.get(name, {"kind": name})), []).append(name)
    parts = []
    for label, names in by_label.items():
        total = sum(times[n] for n in names)
        if len(names) == 1:
            parts.append(f"the {label}" + (f" {times_words(total)}" if total > 1 else ""))
        else:
            parts.append(
                f"{number_word(len(names)) if len(names) <= 10 else len(names)} {_plural(label)}"
                + (f", {total} times in all" if total != len(names) else "")
            )
    return listed(parts)


def _did(
    events: Sequence[dict],
    objects: dict,
    grounded: bool,
    bin_point,
    named: dict[str, str] | None = None,
    unseen: frozenset[str] = frozenset(),
) -> list[str]:
    """One clause per (action, destination), in the order they were first done."""
    out = []
    mentioned: set[str] = set()
    for verb, where, done in _clauses(events, objects, grounded, bin_point, named, unseen):
        once = {name for name, _ in done}
        if named is not None and len(once) == 1 and once <= mentioned:
            text = "it"  # a video's sequence on one object: named once, then "it"
        else:
            text = _objects_text(done[:1] if len(once) == 1 else done, objects, grounded, named)
        mentioned |= once
        count = (
            times_words(len(done)) if len(once) == 1 and len(done) > 1 else ""
        )  # one object, done again: the count closes the clause
        out.append(" ".join(w for w in (verb, text, where, count) if w))
    return out


def _by_place(
    episode: dict, grounded: bool, moved: set[str] = frozenset(), unseen: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Each object named by where it stands when execution starts: grounded, ``the cube now at
    <y, x>``; simple, by its rank from the left among objects of its name (``the left cube``,
    ``the second cube from the left``), or by its name alone where it is the only one. What a
    video showed is needed where things are now (cubes and containers move in the video)."""
    pixel = _start_row(episode).get("pixel", {})
    objects = episode["objects"]
    out = {}
    for name, info in objects.items():
        label = display_name(info)
        if grounded:
            out[name] = (
                f"the {label}{' now at' if name in moved else ''}{_yx(pixel.get(name))}"
                if pixel.get(name)
                else f"the {label}"
            )
            continue
        same = sorted(
            (n for n, i in objects.items() if display_name(i) == label and pixel.get(n) and n not in unseen),
            key=lambda n: pixel[n][1],
        )
        out[name] = _ranked(label, same.index(name), len(same)) if len(same) > 1 and name in same else f"the {label}"
    return out


def _hidden(episode: dict, grounded: bool) -> list[str]:
    """Which cube each container hides when execution starts, the container named by its place
    (grounded: its pixel; simple: its rank from the left, as the camera sees the row)."""
    first = _start_row(episode)
    under = first.get("under", {})
    if not under:
        return []
    objects = episode["objects"]
    pixel = first.get("pixel", {})
    containers = sorted(
        (n for n, info in objects.items() if info["kind"] == CONTAINER and pixel.get(n)), key=lambda n: pixel[n][1]
    )
    out = []
    for cube, container in sorted(under.items(), key=lambda cc: pixel.get(cc[1], [0, 0])[1]):
        if grounded:
            place = f"the container{_yx(pixel.get(container))}"
        else:
            place = (
                _ranked(CONTAINER, containers.index(container), len(containers))
                if container in containers
                else "a container"
            )
        out.append(f"the {display_name(objects[cube])} is under {place}")
    return out


def _ranked(label: str, index: int, count: int) -> str:
    """An object named by its place in the row the camera sees: ``the left container``, ``the
    middle container``, ``the third target from the left``."""
    if count in (2, 3):
        return f"the {(('left', 'right') if count == 2 else ('left', 'middle', 'right'))[index]} {label}"
    return f"the {ordinal_word(index + 1)} {label} from the left"


def demonstration_summary(episode: dict, grounded: bool, unseen: frozenset[str] | None = None) -> str | None:
    """What a video task's demonstration showed that the task needs, as one sentence (None: no video;
    ``unseen``: the objects no camera shows, :func:`~..truth.seen.never_seen`, when the caller has them)."""
    if not episode.get("execution_start"):
        return None
    unseen = never_seen(episode) if unseen is None else unseen
    objects = episode["objects"]
    demo = [e for e in episode.get("events", []) if e.get("demo")]
    start_pixel = _start_row(episode).get("pixel", {})
    moved = {e["object"] for e in demo if e["kind"] in ("pick", "place")} | {
        n for e in demo if e["kind"] == "swap" for n in e["objects"]
    }
    ways = []
    for event in demo:
        name = (event.get("subgoal") or "").strip()
        if event["kind"] != "subgoal_done" or not name or name.lower() in QUIET_SUBGOALS:
            continue
        if name.lower().startswith(
            ("pick up the cube", "drop the cube", "put it down", "press the button", "put down")
        ):
            continue  # the positions already say these, with their objects
        way = past_tense(name[0].lower() + name[1:])
        if grounded:  # where the objects it acted on stand now (the peg to grasp, the box to insert into)
            way += "".join(_yx(start_pixel.get(t)) for t in event.get("targets", []) if start_pixel.get(t))
        ways.append(way)
    # the env's own words where it names the way (InsertPeg's end and side, MoveCube's hook, the
    # stick's moves); otherwise what the positions show, each object named where it is now
    parts = (
        [", then ".join(_compress(ways))]
        if ways
        else _did(
            [e for e in demo if e["kind"] in ACTION_KINDS],
            objects,
            grounded,
            _bin_point(episode),
            _by_place(episode, grounded, moved, unseen),
            unseen,
        )
    )
    if len(parts) > 1:  # a last put-down on the table is the video clearing up, not what it showed
        parts = [p for p in parts if not p.endswith("down on the table")] or parts
    swapped = sum(1 for e in demo if e["kind"] == "swap")
    hidden = _hidden(episode, grounded)
    text = ""
    if parts:
        text = f"{IN_THE_VIDEO} the robot " + listed(parts) + "."
    if swapped:
        kinds = {episode["objects"].get(n, {}).get("kind") for e in demo if e["kind"] == "swap" for n in e["objects"]}
        what = "cubes" if kinds == {"cube"} else "containers"
        text += (" " if text else "") + f"{IN_THE_VIDEO} the {what} swapped places {times_words(swapped)}."
    if hidden:
        text += (" " if text else "") + f"{VIDEO_SHOWED} " + listed(hidden) + "."
    return text or None


def _compress(ways: list[str]) -> list[str]:
    """Consecutive repeats of one demonstrated move as a count ("move left twice")."""
    out: list[tuple[str, int]] = []
    for way in ways:
        if out and out[-1][0] == way:
            out[-1] = (way, out[-1][1] + 1)
        else:
            out.append((way, 1))
    return [w if n == 1 else f"{w} {times_words(n)}" for w, n in out]


def _bin_point(episode: dict):
    first = _start_row(episode)
    for name, info in episode["objects"].items():
        if info["kind"] == BIN and first.get("pixel", {}).get(name):
            return first["pixel"][name]
    return None


def action_memory(episode: dict, step: int, style: str) -> str:
    """The action memory at ``step`` (a boundary) of a truth episode, in ``style``."""
    grounded = style == "grounded"
    objects = episode["objects"]
    done = [
        e for e in episode.get("events", []) if not e.get("demo") and e["kind"] in ACTION_KINDS and e["step"] <= step
    ]
    unseen = never_seen(episode)
    clauses = _did(done, objects, grounded, _bin_point(episode), unseen=unseen)
    return compose_action_memory(demonstration_summary(episode, grounded, unseen), clauses, style)
