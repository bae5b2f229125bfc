"""Where robomme-mem keeps what it makes once per machine: the embedded sample and the label store."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ROBOMME_MEM_CACHE"


def cache_root() -> Path:
    """``$ROBOMME_MEM_CACHE``, else ``$XDG_CACHE_HOME/robomme-mem``, else ``~/.cache/robomme-mem``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "robomme-mem"
