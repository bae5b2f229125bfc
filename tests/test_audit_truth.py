"""The audit against the scene truth: what a memory claims, entry by entry, checked against what
is really in the frame (an invented point is false, a covered cube must keep its place, a stale
copy is counted, a count of passes must be the truth's)."""

from __future__ import annotations

from robomme_mem.dataset.audit.against_truth import TruthAudit, score_events, score_frame, things_at
from robomme_mem.dataset.audit.entries import Entry, entries

OBJECTS = {
    "cube_red_0": {"kind": "cube", "colour": "red"},
    "bin_0": {"kind": "container", "colour": None},
    "button_cap": {"kind": "button", "colour": None},
    "button_base": {"kind": "fixture", "colour": None},
}


def frame(step, visible, under=None, held=(), pixel=None):
    row = {
        "step": step,
        "held": list(held),
        "under": under or {},
        "parked": [],
        "highlighted": [],
        "pixel": pixel
        or {"cube_red_0": [80, 120], "bin_0": [40, 200], "button_cap": [60, 100], "button_base": [62, 100]},
    }
    call = {"step": step, "visible": {n: {"pixels": px, "centre": c} for n, (px, c) in visible.items()}}
    return row, call


def episode(*frames):
    return {
        "task": "ButtonUnmask",
        "episode": 0,
        "execution_start": 0,
        "objects": OBJECTS,
        "steps": [f[0] for f in frames],
        "calls": [f[1] for f in frames],
        "events": [],
    }


SEEN = frame(0, {"cube_red_0": (200, [80, 120]), "bin_0": (300, [40, 200]), "button_cap": (90, [60, 100])})
COVERED = frame(
    16,
    {"cube_red_0": (0, None), "bin_0": (310, [79, 121]), "button_cap": (90, [60, 100])},
    under={"cube_red_0": "bin_0"},
    pixel={"cube_red_0": [80, 120], "bin_0": [79, 121], "button_cap": [60, 100], "button_base": [62, 100]},
)


def scored(memory, truth, index):
    scores = TruthAudit()
    score_frame(memory, things_at(truth, index), scores, "here")
    return scores


def test_entries_are_read_from_any_labellers_wording():
    found = entries(
        "Visible: button <60, 100>, red cube <80, 120> (held). Not in view: red cube hidden under the container at <78, 121>; "
        "white area under the red cube last seen at <80, 120>; blue cube in the bin. Visible cubes: green <10, 20>. Arm <5, 5>."
    )
    assert [(e.kind, e.colour, e.point, e.status) for e in found] == [
        ("button", None, (60, 100), "visible"),
        ("cube", "red", (80, 120), "held"),
        ("cube", "red", (78, 121), "hidden"),
        ("white area", None, (80, 120), "last_seen"),
        ("cube", "blue", None, "in_bin"),
        ("cube", "green", (10, 20), "visible"),  # a new "Visible" heading
        ("other", None, (5, 5), "visible"),
    ]
    assert isinstance(found[0], Entry)


def test_a_faithful_memory_scores_one_and_an_invented_point_is_false_where_it_is():
    truth = episode(SEEN)
    good = scored("Visible: button <60, 100>, red cube <81, 119>, container <40, 200>.", truth, 0)
    assert (good.precision.hits, good.precision.n, good.recall.hits, good.recall.n) == (3, 3, 3, 3)
    invented = scored("Visible: button <60, 100>, red cube <81, 119>, container <40, 200>, button <56, 130>.", truth, 0)
    assert (invented.precision.hits, invented.precision.n) == (3, 4)
    assert invented.false_entries == [
        "here: 'button <56, 130>'"
    ]  # a second button, on the gripper: named and counted false
    on_the_arm = scored("Visible: red cube <80, 120>. Gripper <80, 120>.", truth, 0)
    assert (on_the_arm.precision.hits, on_the_arm.precision.n) == (
        1,
        2,
    )  # the arm is no task object, whatever its point


def test_a_covered_cube_must_be_named_where_its_container_is():
    truth = episode(SEEN, COVERED)
    kept = scored(
        "Visible: container <79, 121>, button <60, 100>. Not in view: red cube hidden under the container at <79, 121>.",
        truth,
        1,
    )
    assert (kept.hidden.hits, kept.hidden.n) == (1, 1)
    forgotten = scored("Visible: container <79, 121>, button <60, 100>.", truth, 1)
    assert (forgotten.hidden.hits, forgotten.hidden.n) == (0, 1) and forgotten.missed == [
        "here: cube_red_0 (hidden) not named"
    ]


def test_an_object_named_twice_or_last_seen_where_it_is_not_is_stale():
    moved = frame(
        16,
        {"cube_red_0": (200, [100, 150]), "bin_0": (300, [40, 200]), "button_cap": (90, [60, 100])},
        pixel={"cube_red_0": [100, 150], "bin_0": [40, 200], "button_cap": [60, 100], "button_base": [62, 100]},
    )
    truth = episode(SEEN, moved)
    trail = scored("Visible: red cube <100, 150>. Not in view: red cube last seen at <80, 120>.", truth, 1)
    assert (trail.stale.hits, trail.stale.n) == (1, 2)  # the last-seen copy of a cube in plain view elsewhere
    twice = scored("Visible: red cube <100, 150>, red cube <101, 151>.", truth, 1)
    assert (twice.stale.hits, twice.stale.n) == (1, 2)


def test_a_count_of_passes_is_scored_against_the_truths():
    truth = episode(SEEN)
    truth["events"] = [{"step": 4, "kind": "pass", "object": "cube"}, {"step": 9, "kind": "pass", "object": "cube"}]
    for memory, right in (
        ("The cube has passed over the target twice.", True),
        ("The cube passed the target once.", False),
        ("Visible: cube <1, 2>.", False),
    ):
        scores = TruthAudit()
        score_events(memory, truth, 10, scores)
        assert (scores.events.hits, scores.events.n) == (int(right), 1), memory
    none_yet = TruthAudit()
    score_events("Visible: cube <1, 2>.", truth, 2, none_yet)
    assert none_yet.events.n == 0  # before the first pass there is nothing to state
