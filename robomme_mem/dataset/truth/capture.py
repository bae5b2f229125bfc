"""The scene truth taken while an episode is recorded: the record ``robomme-mem truth`` would
replay for it, from the live simulation, with no second pass.

:class:`Capture` rides the recorder's ``step``. After each step the recorder keeps as
``timestep_<k>`` of the execution, a :class:`.witness.Witness` notes the scene with that step's
own camera extrinsic, and each object's mask is counted on that step's own segmentation (the
call frames are chosen only once the episode is read back, so every step's masks are kept).
Every env step before the first kept execution step is the video demonstration's, noted by a
second witness, one row per env step as the replay's reset notes them. Once the episode is
staged and read back, :meth:`Capture.truth` makes the record from its plan: the call frames'
masks and images, the grounded points' check, the events.

What a recorder keeps of a step is told by ``kept(result)`` (``None``: not kept): RoboMME's
recorder buffers it (:func:`robomme_capture`); the tests' stock recorder keeps every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..plan import PlannedEpisode
from ..source import Episode
from .witness import Witness, as_numpy, call_row, grounded_check, truth_record, visible_objects


@dataclass(frozen=True)
class Kept:
    """A step the recorder keeps: its index in the recording, its front camera's extrinsic and
    segmentation, whether it is the video demonstration's, and what the env step returned."""

    step: int
    extrinsic: np.ndarray
    segmentation: np.ndarray
    demo: bool
    terminated: object = None
    info: dict | None = None


class Capture:
    """The truth of the episode a recorder is recording (a context manager around its steps)."""

    def __init__(
        self,
        recorder,
        task: str,
        kept: Callable[[tuple], Kept | None],
        intrinsic: np.ndarray,
        front_extrinsic: Callable[[], np.ndarray],
    ) -> None:
        """``recorder``: what the solvers step (its ``step`` is ridden); ``kept(result)``: the step
        the recorder kept of the env step that returned ``result``, if any; ``front_extrinsic()``: the front camera's extrinsic
        now (for the demonstration's rows, which the replay also notes with one fixed camera)."""
        self.recorder, self.kept, self.front_extrinsic = recorder, kept, front_extrinsic
        env = recorder.unwrapped
        self.execution = Witness(env, task, intrinsic)
        self.demo = Witness(env, task, intrinsic, demo=True)
        self.visible: dict[int, dict] = {}
        self.targets: dict[int, list[str] | None] = {}
        self.seconds = 0.0
        """Time spent noting (what capturing costs the recording)."""

    def __enter__(self) -> Capture:
        recorder, step = self.recorder, self.recorder.step
        env = recorder.unwrapped

        def stepped(action):
            if (
                not self.execution.rows
            ):  # the execution's first subgoal is the env's when it starts, as after the replay's reset
                self.execution.task_index = int(getattr(env, "timestep", self.execution.task_index))
            result = step(action)
            started = time.perf_counter()
            kept = self.kept(result)
            if kept is not None and not kept.demo:
                self.execution.stepped(kept.step, kept.extrinsic, kept.terminated, kept.info)
                self.visible[kept.step] = visible_objects(kept.segmentation, self.execution.ids)
                self.targets[kept.step] = self.execution.targets()
            elif not self.execution.rows:
                self.demo.stepped(len(self.demo.rows), self.front_extrinsic())
            self.seconds += time.perf_counter() - started
            return result

        self._ridden = vars(recorder).get("step")
        recorder.step = stepped
        return self

    def __exit__(self, *exc) -> None:
        if self._ridden is None:
            del self.recorder.step  # the class's own method again
        else:
            self.recorder.step = self._ridden

    def truth(self, planned: PlannedEpisode, episode: Episode, seconds: dict | None = None) -> dict:
        """The episode's truth record (without its key), from its plan as read back from the file written.

        Raises if the recording and what was noted disagree on the steps (a recorder that kept a
        step the capture did not see)."""
        timeline = planned.timeline
        executed = range(timeline.execution_start, timeline.num_steps)
        noted = [row["step"] for row in self.execution.rows]
        if noted != list(executed):
            raise ValueError(
                f"{planned.task} episode {planned.episode}: the capture noted execution steps {_span(noted)}, "
                f"the recording holds {_span(list(executed))}"
            )
        boundaries = {s.start for s in timeline.segments}
        calls, grounded = [], []
        for step in timeline.call_frames:
            if step not in executed:
                continue
            calls.append(call_row(step, self.visible[step], episode.front_image(step)))
            check = (
                grounded_check(planned, step, self.targets[step], self.visible[step]) if step in boundaries else None
            )
            if check is not None:
                grounded.append(check)
        demo = self.demo if timeline.execution_start > 0 else None
        return truth_record(
            planned,
            episode,
            self.execution,
            calls,
            grounded,
            demo,
            {"capture": round(self.seconds, 2), **(seconds or {})},
        )


def _span(steps: list[int]) -> str:
    return f"{steps[0]}..{steps[-1]} ({len(steps)})" if steps else "none"


def robomme_capture(recorder, task: str) -> Capture:
    """A capture of the episode ``recorder`` (RoboMME's ``RobommeRecordWrapper``, reset) records.

    The recorder buffers a step unless its subgoal is ``NO RECORD``; the buffer's index is the
    step's ``timestep_<k>``, and the record holds the step's extrinsic, segmentation and whether
    it is the video demonstration's."""
    camera = recorder.unwrapped.scene.sensors["base_camera"]
    seen = [len(recorder.buffer)]

    def params() -> dict:
        return {k: as_numpy(v) for k, v in camera.get_params().items()}

    def kept(result: tuple) -> Kept | None:
        buffer = recorder.buffer
        if len(buffer) == seen[0]:
            return None
        seen[0] = len(buffer)
        record, (_, _, terminated, _, info) = buffer[-1], result
        return Kept(
            len(buffer) - 1,
            np.asarray(record["obs"]["front_camera_extrinsic"]),
            np.asarray(record["obs"]["front_camera_segmentation"]),
            bool(record["info"]["is_video_demo"]),
            terminated,
            info,
        )

    intrinsic = params()["intrinsic_cv"].reshape(-1, 3, 3)[0]
    return Capture(recorder, task, kept, intrinsic, lambda: params()["extrinsic_cv"].reshape(-1, 3, 4)[0])
