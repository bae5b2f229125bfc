"""Rows of the memory configs (``simple`` ... ``dual_grounded``) and their ``*_history`` ablations.

DESIGN section 2, steps 4-8, for one episode (pure functions):

- the target subgoal of a call is its segment's subgoal ``l_k`` in the variant's style
  (lower-cased; a "complete" marker continues the subgoal before it);
- the action memory is ``M_k`` of the call's segment, forward-filled: the input is the
  previous call's target, the initial memory on the episode's first call;
- the spatial memory (dual) is the chain ``S_c`` over call frames, its input the previous
  call's output, the initial spatial string first;
- prompts are memory-only (no subgoal-history line) in the main configs; the ``*_history``
  ablations add the history line: the subgoals of all earlier calls, consecutive duplicates
  removed (so from the second call of a segment on it already ends with that segment's
  subgoal, as in RoboMME's reference builder). The policy runtime builds the same strings
  with :func:`robomme_mem.prompts.policy_user_prompt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...configs import variant_of
from ...prompts import POLICY_SYSTEM, policy_target, policy_user_prompt, subgoal_style
from ..labels.engine.memories import EpisodeMemories
from ..segment import Timeline
from .fill import forward_fill, spatial_inputs


@dataclass(frozen=True)
class MemoryCall:
    step: int
    segment: int
    is_boundary: bool
    image: str
    subgoal: Mapping[str, str]
    memory_in: Mapping[str, str]
    memory_out: Mapping[str, str]
    spatial_in: str | None
    spatial_out: str | None
    history: Mapping[str, tuple[str, ...]]
    """Per style, the subgoals of the earlier calls (consecutive duplicates removed)."""
    video: str | None = None
    """The demonstration mp4, on a video task's first call only: what the video showed is in no
    memory yet, so that call sees the video itself (as RoboMME's baseline rows do); its memory
    target states what the task needs of it, and later calls carry that in memory."""


def memory_calls(
    plan: Timeline, memories: EpisodeMemories, images: Sequence[str], video: str | None = None
) -> list[MemoryCall]:
    """Inputs and targets of every call frame of one episode (``video``: its demonstration, given to the first call)."""
    filled = {style: forward_fill(plan, memories.action[style]) for style in memories.action}
    spatial_out = list(memories.spatial) if memories.spatial is not None else None
    if spatial_out is not None and len(spatial_out) != len(plan.call_frames):
        raise ValueError(f"need one spatial memory per call frame ({len(plan.call_frames)}), got {len(spatial_out)}")
    spatial_in = spatial_inputs(spatial_out) if spatial_out is not None else None
    calls = []
    history: dict[str, list[str]] = {style: [] for style in filled}
    for index, step in enumerate(plan.call_frames):
        some = next(iter(filled.values()))[index]
        subgoal = {style: memories.subgoals[style][some.segment] for style in filled}
        calls.append(
            MemoryCall(
                step=step,
                segment=some.segment,
                is_boundary=some.is_boundary,
                image=images[index],
                subgoal=subgoal,
                memory_in={style: filled[style][index].memory_in for style in filled},
                memory_out={style: filled[style][index].memory_out for style in filled},
                spatial_in=spatial_in[index] if spatial_in is not None else None,
                spatial_out=spatial_out[index] if spatial_out is not None else None,
                history={style: tuple(items) for style, items in history.items()},
                video=video if index == 0 else None,
            )
        )
        for style, items in history.items():
            if not items or items[-1] != subgoal[style]:
                items.append(subgoal[style])
    return calls


def memory_row(config: str, goal: str, call: MemoryCall) -> dict:
    """One ms-swift row (``messages`` + ``images``) of a memory config or its history ablation."""
    variant = variant_of(config)
    style = subgoal_style(variant)
    dual = variant.startswith("dual")
    if dual and call.spatial_out is None:
        raise ValueError(f"config {config} needs spatial memories; these labels have none")
    spatial_in = call.spatial_in if dual else None
    spatial_out = call.spatial_out if dual else None
    history = list(call.history[style]) if config.endswith("_history") else None
    row = {
        "messages": [
            {"role": "system", "content": POLICY_SYSTEM[variant].render()},
            {
                "role": "user",
                "content": policy_user_prompt(
                    variant, goal, call.memory_in[style], spatial_in, history, video=call.video is not None
                ),
            },
            {"role": "assistant", "content": policy_target(call.subgoal[style], call.memory_out[style], spatial_out)},
        ],
        "images": [call.image],
    }
    if call.video is not None:
        row["videos"] = [call.video]
    return row


def memory_meta(config: str, call: MemoryCall) -> dict:
    """The flat columns of a memory row (Parquet only): where it comes from and what it carries."""
    variant = variant_of(config)
    style = subgoal_style(variant)
    dual = variant.startswith("dual")
    return {
        "frame": call.step,
        "segment": call.segment,
        "is_boundary": call.is_boundary,
        "subgoal": call.subgoal[style],
        "memory_in": call.memory_in[style],
        "memory_out": call.memory_out[style],
        "spatial_in": call.spatial_in if dual else None,
        "spatial_out": call.spatial_out if dual else None,
        "videos": [call.video] if call.video is not None else [],
    }
