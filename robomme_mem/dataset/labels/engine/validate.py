"""Checks every labelled memory against the rules its prompt states.

An answer that breaks a rule is asked again (a bounded number of times) and otherwise
recorded as a failure; a build refuses to publish failures unless told to keep them.
"""

from __future__ import annotations

import re

from ....prompts import ACTION_WORD_LIMITS, SPATIAL_WORD_LIMIT
from ....subgoals import point_text, points

PREAMBLE_RE = re.compile(
    r"^\s*(here is|here's|sure\b|certainly\b|summary\s*:|memory\s*:|spatial memory\s*:|updated (spatial )?memory\s*:|as an ai\b)",
    re.IGNORECASE,
)


def _common(text: str, limit: int) -> list[str]:
    problems = []
    if not text.strip():
        problems.append("empty answer")
    if not text.isascii():
        bad = sorted({c for c in text if not c.isascii()})
        problems.append(f"non-ASCII characters {''.join(bad)!r}")
    words = len(text.split())
    if words >= limit:
        problems.append(f"{words} words (limit: under {limit})")
    if PREAMBLE_RE.match(text):
        problems.append("starts with a preamble")
    return problems


def check_action(text: str, style: str, history: str) -> list[str]:
    """Problems of an action memory; grounded ones may only use coordinates found in ``history``."""
    problems = _common(text, ACTION_WORD_LIMITS[style])
    if style == "grounded":
        invented = points(text) - points(history)
        if invented:
            listed = ", ".join(point_text(p) for p in sorted(invented))
            problems.append(f"coordinates not in the history: {listed}")
    return problems


def check_spatial(text: str) -> list[str]:
    """Problems of a spatial memory."""
    return _common(text, SPATIAL_WORD_LIMIT)
