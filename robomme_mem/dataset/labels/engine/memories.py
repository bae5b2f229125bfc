"""What labels hand downstream: an episode's memory texts (and the request key of each), in order.

Plain data, so assembly and the traces need nothing of the labelling machinery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpisodeMemories:
    """An episode's labels, per segment (subgoal, action memory) and per call frame (spatial)."""

    subgoals: Mapping[str, Sequence[str]]
    """``l_k`` per style."""
    action: Mapping[str, Sequence[str]]
    """``M_k`` per style."""
    spatial: Sequence[str] | None
    """``S_c`` per call frame; ``None`` when the labels have no spatial chain."""
    action_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """The request key of each ``M_k`` (look it up in the label set for prompt, model and usage)."""
    spatial_keys: Sequence[str] | None = None
