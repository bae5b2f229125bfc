"""A folder to write into before it is renamed into place, with the mode a folder made here gets.

``tempfile.mkdtemp`` makes its folder private (0700), which the rename would keep: a build or an
export would be the one folder of the user's tree that others cannot read.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def staging_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` (same file system, so the rename is atomic), mode 0777 less the umask."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    folder.chmod(0o777 & ~current_umask())
    return folder
