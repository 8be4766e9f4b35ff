"""The turn-taking of one shared model: a visitor's search goes before other visitors' bulk work.

All sessions share one model, and torch modules are not re-entrant, so forward passes take turns
(:class:`ModelLock`). A plain lock hands the model to whichever thread the OS wakes first, so a
search could wait behind a whole class's prompt-lab charts and corpus embeddings. Work marked
with :func:`bulk` (corpus embedding, leave-one-out influence, evaluations) waits while any
interactive call (a query, a listwise prompt) is waiting; within one kind, turns go first come,
first served.

Example:
    >>> lock = ModelLock()
    >>> with lock, lock:  # re-entrant in one thread
    ...     lock.holder_depth()
    2
    >>> with bulk():
    ...     current_priority() == BULK
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import threading
from collections.abc import Iterator

INTERACTIVE = 0
BULK = 1

_priority: contextvars.ContextVar[int] = contextvars.ContextVar("e2rank_model_priority", default=INTERACTIVE)


def current_priority() -> int:
    """:data:`BULK` inside :func:`bulk`, else :data:`INTERACTIVE`."""
    return _priority.get()


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Marks the model calls made inside the block as bulk work (they yield to interactive calls)."""
    token = _priority.set(BULK)
    try:
        yield
    finally:
        _priority.reset(token)


class ModelLock:
    """A re-entrant lock that gives the model to the most urgent waiting thread (interactive before bulk,
    then first come, first served)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, ticket)
        self._tickets = itertools.count()

    def holder_depth(self) -> int:
        """How many times the current holder has entered (0: free)."""
        return self._depth

    def waiting(self) -> int:
        """Threads waiting for their turn now."""
        with self._cond:
            return len(self._waiting)

    def acquire(self, priority: int | None = None) -> None:
        """Waits for the model's turn (``priority``: default :func:`current_priority`)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            turn = (current_priority() if priority is None else priority, next(self._tickets))
            heapq.heappush(self._waiting, turn)
            while self._owner is not None or self._waiting[0] != turn:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._owner, self._depth = me, 1

    def release(self) -> None:
        """Ends the current holder's turn (once per :meth:`acquire`)."""
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a ModelLock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> ModelLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
