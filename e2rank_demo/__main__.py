"""``python -m e2rank_demo``: see :mod:`e2rank_demo.cli`."""

from __future__ import annotations

import sys

from e2rank_demo.cli import main

sys.exit(main())
