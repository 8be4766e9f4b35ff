"""The turn-taking of one shared model: a visitor's search goes before other visitors' bulk work.

All sessions share one model. Forward passes take turns for a few slots (:class:`ModelLock`): one
on a GPU; on a CPU one per group of torch's threads (:func:`model_slots`), because passes on one
core each, side by side, serve more visitors than one pass spread over all cores. A plain lock
hands a free slot to whichever thread the OS wakes first, so a search could wait behind a whole
class's prompt-lab charts and corpus embeddings. Work marked with :func:`bulk` (corpus embedding,
leave-one-out influence, evaluations) waits while any interactive call (a query, a listwise
prompt) is waiting; within one kind, turns go first come, first served.

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

from e2rank_demo.serving import usable_cores

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


def model_slots(device: str) -> int:
    """Forward passes that may run at once on ``device``: on a CPU, the cores divided by torch's intra-op threads
    (two one-thread passes on two cores serve 1.6 times the searches of one two-thread pass, and a pass alone
    takes 11% longer); on a GPU, one.

    Example:
        >>> model_slots("cuda")
        1
    """
    if device != "cpu":
        return 1
    import torch

    return max(1, usable_cores() // torch.get_num_threads())


class ModelLock:
    """A re-entrant lock held by up to ``slots`` threads at once (the forward passes that may run side by side),
    given to the most urgent waiting thread: interactive before bulk, then first come, first served.

    :meth:`exclusive` holds every slot, for a change to the shared model itself.
    """

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a model lock needs at least one slot, not {slots}")
        self.slots = slots
        self._cond = threading.Condition(threading.Lock())
        self._depths: dict[int, int] = {}  # holding thread -> times entered
        self._exclusive: int | None = None  # the thread holding every slot
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, ticket)
        self._tickets = itertools.count()

    def holder_depth(self) -> int:
        """How many times the calling thread has entered (0: it does not hold the lock)."""
        with self._cond:
            return self._depths.get(threading.get_ident(), 0)

    def waiting(self) -> int:
        """Threads waiting for their turn now."""
        with self._cond:
            return len(self._waiting)

    def acquire(self, priority: int | None = None, exclusive: bool = False) -> None:
        """Waits for a slot (``exclusive``: for all of them); ``priority``: default :func:`current_priority`.

        Raises:
            RuntimeError: ``exclusive`` asked by a thread that already holds one slot (it would wait forever
                for itself).
        """
        me = threading.get_ident()
        with self._cond:
            if me in self._depths:
                if exclusive and self._exclusive != me:
                    raise RuntimeError("a thread holding one model slot cannot take all of them")
                self._depths[me] += 1
                return
            turn = (current_priority() if priority is None else priority, next(self._tickets))
            heapq.heappush(self._waiting, turn)
            while self._waiting[0] != turn or not self._free(exclusive):
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._depths[me] = 1
            if exclusive:
                self._exclusive = me
            self._cond.notify_all()  # the next in line may take another free slot

    def _free(self, exclusive: bool) -> bool:
        if exclusive:
            return not self._depths
        return self._exclusive is None and len(self._depths) < self.slots

    def release(self) -> None:
        """Ends the calling thread's turn (once per :meth:`acquire`)."""
        me = threading.get_ident()
        with self._cond:
            if me not in self._depths:
                raise RuntimeError("release of a ModelLock this thread does not hold")
            self._depths[me] -= 1
            if self._depths[me] == 0:
                del self._depths[me]
                if self._exclusive == me:
                    self._exclusive = None
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Holds every slot while the block runs (no other forward pass runs meanwhile)."""
        self.acquire(exclusive=True)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> ModelLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
