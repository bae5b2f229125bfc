"""Rows of the ``traces`` config: one per episode, the whole memory chain in one place.

Meant for reuse outside this project (other memory methods, analyses of what a labeller
wrote): every boundary with both styles' subgoals and action memories, every call frame with
its spatial memory, the request key of each answer (look it up in the exported label set for
the exact prompt, usage and model), and the label set's provenance.
"""

from __future__ import annotations

from ..labels.engine import EpisodeLabels


def trace_row(labels: EpisodeLabels, seed: int | None, label_info: dict) -> dict:
    work = labels.work
    plan = work.plan
    action = {style: {e.item: e for e in labels.action.get(style, [])} for style in ("simple", "grounded")}
    boundaries = []
    for simple, grounded in zip(work.boundaries["simple"], work.boundaries["grounded"]):
        a, b = action["simple"].get(simple.segment), action["grounded"].get(grounded.segment)
        boundaries.append(
            {
                "segment": simple.segment,
                "step": simple.step,
                "subgoal_simple": simple.subgoal,
                "subgoal_grounded": grounded.subgoal,
                "memory_simple": a.text if a else None,
                "memory_grounded": b.text if b else None,
                "request_simple": a.key if a else None,
                "request_grounded": b.key if b else None,
            }
        )
    spatial = {e.item: e for e in labels.spatial}
    calls = []
    for index, step in enumerate(plan.call_frames):
        segment = plan.segment_of(step)
        entry = spatial.get(index)
        calls.append(
            {
                "index": index,
                "step": step,
                "segment": segment.index,
                "is_boundary": step == segment.start,
                "spatial": entry.text if entry else None,
                "request": entry.key if entry else None,
            }
        )
    return {
        "task": work.task,
        "episode": work.episode,
        "seed": seed,
        "goal": work.goal,
        "num_steps": plan.num_steps,
        "execution_start": plan.execution_start,
        "stride": plan.stride,
        "boundaries": boundaries,
        "calls": calls,
        "label_set": label_info.get("name"),
        "label_set_id": label_info.get("id"),
        "labeller": label_info.get("labeller"),
        "model": label_info.get("params", {}).get("model"),
    }
