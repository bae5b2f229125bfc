"""The front door of the thin scripts (``train/sft.py``, ``evaluate/*.py``): expected failures are one line.

    if __name__ == "__main__":
        sys.exit(front_door("offline.py", main))

- a :class:`Refused` (or one of ``expected``): ``<prog>: error: <its first line>`` on stderr, exit ``code``;
- Ctrl-C: ``<prog>: interrupted``, exit 130;
- stdout closed early (``... | head -1``): no traceback, exit 141 (as a shell reports a program ended by SIGPIPE).

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from .errors import first_line

INTERRUPTED = 130
CLOSED_PIPE = 141


class Refused(Exception):
    """An expected failure, said in one line by :func:`front_door`."""


def front_door(
    prog: str,
    main: Callable[[Sequence[str] | None], int],
    argv: Sequence[str] | None = None,
    *,
    expected: tuple[type[BaseException], ...] = (),
    code: int = 2,
) -> int:
    """``main(argv)``'s exit status, with every expected failure turned into one line on stderr."""
    try:
        status = main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        silence_stdout()
        return CLOSED_PIPE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (Refused, *expected) as exc:
        print(f"{prog}: error: {first_line(exc)}", file=sys.stderr)
        return code


def note(prog: str, text: str | None) -> None:
    """A one-line note on stderr (nothing for None)."""
    if text:
        print(f"{prog}: note: {text}", file=sys.stderr)


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds nothing to complain about."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (a test's capture)
        pass
