"""Two high levels built in for the oracle runs: the privileged ceiling and a memoryless floor."""

from __future__ import annotations

from dataclasses import dataclass

from .oracle import Turn
from .policy import Parsed


@dataclass
class CeilingPolicy:
    """A privileged high level: it issues the env's own next subgoal.

    It measures the oracle executor itself, so every other number reads against it. ``simple``
    issues the simple form (no point), which the executor resolves from the words as it does a
    simple variant's: the ceiling of a simple-subgoal high level.
    """

    simple: bool = False
    privileged = True
    calls: int = 0
    subgoal: str = ""

    def reset(self, goal: str, video=None) -> None:
        self.subgoal, self.calls = "", 0  # privileged: it needs no video

    def online(self, turn: Turn) -> str:
        return (turn.online_simple if self.simple else turn.online_subgoal) or ""

    def step(self, image, turn: Turn):
        self.calls += 1
        self.subgoal = self.online(turn)
        return Parsed(self.subgoal, "", None)


@dataclass
class FirstSubgoalPolicy(CeilingPolicy):
    """A deliberately memoryless high level: it repeats the first subgoal it was given, forever."""

    def step(self, image, turn: Turn):
        self.calls += 1
        if not self.subgoal:
            self.subgoal = self.online(turn)
        return Parsed(self.subgoal, "", None)
