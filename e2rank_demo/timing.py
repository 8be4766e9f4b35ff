"""Stage timer: measured wall-clock seconds per pipeline stage.

Example:
    >>> from e2rank_demo.timing import StageTimer
    >>> timer = StageTimer()
    >>> with timer.stage("first_stage"):
    ...     _ = sum(range(1000))
    >>> list(timer.stages)
    ['first_stage']
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates ``time.perf_counter`` durations by stage name, in first-seen order."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Times the body of a ``with`` block and adds it to ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start
