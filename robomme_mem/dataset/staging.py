"""Write a folder beside where it goes, then swap it in: a failure leaves the destination as it was.

Build, export, the embedded sample and publish all write this way (:func:`staged`). The stage is
a sibling of the destination (same file system, so the swap is a rename) with the mode a folder
made here gets: ``tempfile.mkdtemp`` makes its folder private (0700), which the rename would keep,
and a build or an export would be the one folder of the user's tree that others cannot read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged(
    out: Path,
    *,
    carry: Callable[[Path, Path], None] | None = None,
    keep_existing: Callable[[Path], bool] | None = None,
    swap: bool = True,
) -> Iterator[Path]:
    """A new folder ``.<name>.tmp-*`` beside ``out`` to write into, made the folder at ``out`` when the block succeeds.

    If the block raises (Ctrl-C included), the stage is removed and ``out`` is untouched. Else the
    stage replaces ``out``: where it does not exist yet, by a rename; where it does, the two are
    exchanged in one ``renameat2(RENAME_EXCHANGE)`` where the kernel has it (two renames elsewhere)
    and only then is the old folder removed, so ``out`` is replaced only by a complete folder.

    ``carry(old, stage)`` runs just before an existing ``out`` is replaced, to bring into the stage
    what must survive from the old folder (a rebuild keeps a clone's ``.git``); if it raises, the
    stage goes and ``out`` stays. An existing ``out`` that ``keep_existing`` accepts is kept and the
    stage dropped: another process made the same folder first. ``swap=False`` makes a scratch
    folder, always removed at the end (publish uploads from one).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        stage.chmod(0o777 & ~current_umask())
        yield stage
        if swap:
            _put_in_place(stage, out, carry, keep_existing)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # after a swap: the old folder, or nothing


def _put_in_place(stage: Path, out: Path, carry, keep_existing) -> None:
    if not out.exists():
        try:
            stage.rename(out)
            return
        except OSError:
            if not out.exists():
                raise
            # another process put its folder there meanwhile: treated as an existing one below
    if keep_existing is not None and keep_existing(out):
        return
    if carry is not None:
        carry(out, stage)
    if _exchange(stage, out):
        return  # ``stage`` now holds the old folder, removed by the caller
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); ``False`` where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(b))
