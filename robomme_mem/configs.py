"""The dataset configs a build can write, by kind."""

from __future__ import annotations

from .prompts import VARIANTS

MEMORY_CONFIGS: tuple[str, ...] = VARIANTS
"""Memory-only prompts: the method's main configs."""
HISTORY_CONFIGS: tuple[str, ...] = tuple(f"{v}_history" for v in VARIANTS)
"""The same rows with the subgoal-history line (the ablation)."""
BASELINE_CONFIGS: tuple[str, ...] = ("baseline_simple", "baseline_grounded")
"""RoboMME's own QwenVL subgoal data (history, no memory)."""
TRACES = "traces"
"""One row per episode with the whole memory chain: the reusable artefact."""
ROW_CONFIGS: tuple[str, ...] = (*MEMORY_CONFIGS, *HISTORY_CONFIGS, *BASELINE_CONFIGS)
"""Configs of training rows (one per call frame), each also written as ms-swift JSONL."""
ALL_CONFIGS: tuple[str, ...] = (*ROW_CONFIGS, TRACES)
"""What a build spec may list."""
SCENE = "scene"
"""One row per call frame with what the simulator says is in it: built only from a scene truth
(``build --truth FILE``), so no spec builds it by default."""
BUILDABLE_CONFIGS: tuple[str, ...] = (*ALL_CONFIGS, SCENE)
DEFAULT_CONFIG = "dual_grounded"
"""The full method: what ``load_dataset(repo)`` gives without a config name."""
LABELLED_CONFIGS: tuple[str, ...] = (*MEMORY_CONFIGS, *HISTORY_CONFIGS, TRACES)
"""Configs that need labels."""


def variant_of(config: str) -> str:
    """``dual_grounded_history`` -> ``dual_grounded``."""
    return config.removesuffix("_history")
