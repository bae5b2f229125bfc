"""One error type for bad source data, so every failure names where it happened."""

from __future__ import annotations

from pathlib import Path


class SourceError(Exception):
    """Bad RoboMME input: names the file, episode, step and field that are wrong.

    The message is a single line, so the CLI can print it as is::

        record_dataset_BinFill.h5: episode_3 timestep_12 info/simple_subgoal: bytes are not valid UTF-8
    """

    def __init__(
        self,
        file: str | Path,
        problem: str,
        *,
        episode: str | None = None,
        step: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.problem = problem
        self.episode = episode
        self.step = step
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = [self.file + ":"]
        if self.episode is not None:
            where.append(self.episode)
        if self.step is not None:
            where.append(f"timestep_{self.step}")
        if self.field is not None:
            where.append(self.field + ":")
        elif len(where) > 1:
            where[-1] += ":"
        return " ".join(where + [self.problem])

    def __reduce__(self):  # survives a trip through a worker process
        return (
            _rebuild,
            (self.file, self.problem, self.episode, self.step, self.field),
        )


def _rebuild(file, problem, episode, step, field) -> SourceError:
    return SourceError(file, problem, episode=episode, step=step, field=field)


class EndpointError(Exception):
    """A labelling endpoint cannot label anything now (unreachable, key refused, wrong URL, down).

    It stops the run: nothing about the request is stored, so the next run asks again. The
    message names the base URL and the cause, never the key.
    """


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's first line (its type's name if it says nothing), for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
