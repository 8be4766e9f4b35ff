"""Reusing query and listwise prompt vectors: an input identical to an earlier one is not encoded again.

In a lecture the class types the queries the lecturer shows, so many visitors send the very same
query and the very same listwise prompt (same model, query, instruction, documents, order and
pooling). A vector is a pure function of its model input, so a search may take the vector an
identical earlier input got instead of a forward pass, and says so: it keeps the seconds that
forward pass took when it was computed (:attr:`~e2rank_demo.records.Timings.reused`,
:attr:`~e2rank_demo.records.ListwisePrompt.reused_s`).

Only calls inside :func:`reusing` reuse (the app's searches and its influence chart opt in).
Everything that measures the model (the latency panel, ``bench``, evaluations, Present) runs the
forward pass every time.

Example:
    >>> memo = VectorMemo(size=2)
    >>> memo.reuse("a", lambda: "vector a")[1] is None  # computed
    True
    >>> value, seconds = memo.reuse("a", lambda: "never called")
    >>> value, seconds >= 0
    ('vector a', True)
    >>> with reusing():
    ...     reuse_enabled()
    True
    >>> reuse_enabled()
    False
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from e2rank_demo.records import BuiltPrompt

MEMO_SIZE = 1024
"""Vectors kept per model and kind (least recently used dropped first): a class's queries many times
over, at a few kB each (a prompt's text and a vector)."""

_reuse: contextvars.ContextVar[bool] = contextvars.ContextVar("e2rank_reuse_vectors", default=False)

T = TypeVar("T")


def reuse_enabled() -> bool:
    """Whether the current call may reuse vectors (inside :func:`reusing`)."""
    return _reuse.get()


@contextlib.contextmanager
def reusing(enabled: bool = True) -> Iterator[None]:
    """Lets the queries and listwise prompts encoded inside the block reuse identical earlier ones' vectors."""
    token = _reuse.set(enabled)
    try:
        yield
    finally:
        _reuse.reset(token)


def memo_key(*parts: str) -> str:
    """A digest of ``parts`` (separated, so ``("ab", "c")`` and ``("a", "bc")`` differ)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def prompt_key(model_identity: str, pooling: str, built: BuiltPrompt) -> str:
    """What fixes a prompt's vector: the model (weights and truncation), the pooling, the exact model input
    text and the query's span in it (``query`` pooling averages over that span).

    Example:
        >>> built = BuiltPrompt("query: q doc: d", [1], [1], (7, 8))
        >>> prompt_key("m", "mean", built) == prompt_key("m", "query", built)
        False
    """
    return memo_key(model_identity, "prompt", pooling, f"{built.query_span[0]}:{built.query_span[1]}", built.text)


class VectorMemo(Generic[T]):
    """A thread-safe LRU of ``key -> (value, seconds its computation took)``."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[T, float]] = OrderedDict()
        self._pending: dict[str, concurrent.futures.Future[tuple[T, float]]] = {}  # being computed now
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: str) -> tuple[T, float] | None:
        """The value and its computing seconds, or ``None``; a hit becomes the most recently used."""
        with self._lock:
            return self._hit(key)

    def _hit(self, key: str) -> tuple[T, float] | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: str, value: T, seconds: float) -> None:
        """Keeps ``value``, dropping the least recently used past :attr:`size`."""
        with self._lock:
            self._items[key] = (value, seconds)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def reuse(self, key: str, compute: Callable[[], T]) -> tuple[T, float | None]:
        """The value for ``key``: remembered (with the seconds its computation took), or computed now (``None``).

        Visitors who send the same input at once wait for one computation, not one each: the first
        computes, the others wait for its value (or its exception) and count it as reused.
        """
        with self._lock:
            hit = self._hit(key)
            if hit is not None:
                return hit
            pending = self._pending.get(key)
            first = pending is None
            if pending is None:
                pending = self._pending[key] = concurrent.futures.Future()
        if not first:
            return pending.result()
        try:
            start = time.perf_counter()
            value = compute()
            seconds = time.perf_counter() - start
            self.put(key, value, seconds)
            pending.set_result((value, seconds))
            return value, None
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._pending[key]
