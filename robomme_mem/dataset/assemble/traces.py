"""Rows of the ``traces`` config: one per episode, the whole memory chain in one place.

Meant for reuse outside this project (other memory methods, analyses of what a labeller
wrote): every boundary with both styles' subgoals and action memories, every call frame with
its spatial memory, the request key of each answer (look it up in the exported label set for
the exact prompt, usage and model), and the label set's provenance.
"""

from __future__ import annotations

import json

from ..labels.engine.memories import EpisodeMemories
from ..plan import PlannedEpisode


def trace_row(work: PlannedEpisode, memories: EpisodeMemories, label_info: dict) -> dict:
    """One complete episode's trace (a style or the spatial chain the label set lacks is ``None``)."""
    plan = work.timeline

    def at(values, index):
        return values[index] if values is not None and index < len(values) else None

    boundaries = []
    for simple, grounded in zip(work.boundaries["simple"], work.boundaries["grounded"]):
        boundaries.append(
            {
                "segment": simple.segment,
                "step": simple.step,
                "subgoal_simple": simple.subgoal,
                "subgoal_grounded": grounded.subgoal,
                "memory_simple": at(memories.action.get("simple"), simple.segment),
                "memory_grounded": at(memories.action.get("grounded"), grounded.segment),
                "request_simple": at(memories.action_keys.get("simple"), simple.segment),
                "request_grounded": at(memories.action_keys.get("grounded"), grounded.segment),
            }
        )
    calls = []
    for index, step in enumerate(plan.call_frames):
        segment = plan.segment_of(step)
        calls.append(
            {
                "index": index,
                "step": step,
                "segment": segment.index,
                "is_boundary": step == segment.start,
                "spatial": at(memories.spatial, index),
                "request": at(memories.spatial_keys, index),
            }
        )
    return {
        "task": work.task,
        "episode": work.episode,
        "seed": work.seed,
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
        "injected_failure": json.dumps(work.injected_failure, sort_keys=True) if work.injected_failure else None,
    }
