"""``python -m robomme_mem`` is the ``robomme-mem`` command."""

import sys

from .cli import main

sys.exit(main())
