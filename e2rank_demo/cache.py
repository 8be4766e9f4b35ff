"""On-disk embedding cache keyed by model identity and text hash.

Re-opening a corpus that was embedded before costs no model time (nor tokenizer time: the
documents' prompt token ids are kept here too, under their own key). The cache is one
SQLite file (atomic writes, safe across threads and processes), capped in size with
least-recently-used eviction; a corrupted file is set aside and rebuilt, never fatal.

Example:
    >>> import numpy as np, tempfile, os
    >>> cache = EmbeddingCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cache.put_many("model-a", {text_hash("hi"): np.ones(3, dtype=np.float32)})
    >>> sorted(cache.get_many("model-a", [text_hash("hi")]))[0] == text_hash("hi")
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = int(float(os.environ.get("E2RANK_CACHE_MB", "1024")) * (1 << 20))


def default_cache_dir() -> Path:
    """``E2RANK_CACHE_DIR`` or ``~/.cache/e2rank_demo``: the only place the app writes."""
    return Path(os.environ.get("E2RANK_CACHE_DIR") or Path.home() / ".cache" / "e2rank_demo")


def text_hash(text: str) -> str:
    """Content hash of one input text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def scoped_key(identity: str, scope: str = "") -> str:
    """The cache key of a model identity within a scope.

    The empty scope is shared by everyone (bundled samples, server collections); a
    non-empty scope (one user's uploads) is only found again through the same scope,
    so whether a user's text is cached never depends on what other users embedded.

    Example:
        >>> scoped_key("m") == "m" != scoped_key("m", "a") != scoped_key("m", "b")
        True
    """
    return f"{identity}|scope:{scope}" if scope else identity


class EmbeddingCache:
    """A size-capped LRU store of float32 vectors (and other flat arrays, e.g. token ids, by ``dtype``).

    Args:
        path: SQLite file; defaults to ``default_cache_dir() / "embeddings.sqlite"``.
        max_bytes: Cap on the stored vector bytes; oldest-used rows are evicted past it.
    """

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash TEXT NOT NULL, "
        "vec BLOB NOT NULL, used REAL NOT NULL, PRIMARY KEY (model, hash))"
    )

    def __init__(self, path: str | os.PathLike[str] | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path) if path is not None else default_cache_dir() / "embeddings.sqlite"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute(self._SCHEMA)
            conn.execute("SELECT COUNT(*) FROM vectors").fetchone()
            return conn
        except sqlite3.DatabaseError as exc:
            logger.warning("embedding cache %s is unreadable (%s); starting a new one", self.path, exc)
            self._discard_file()
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute(self._SCHEMA)
            return conn

    def _discard_file(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _recover(self, exc: Exception) -> None:
        logger.warning("embedding cache failed (%s); rebuilding it", exc)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        self._discard_file()
        self._conn = self._open()

    def get_many(self, model: str, hashes: Sequence[str], dtype: npt.DTypeLike = np.float32) -> dict[str, np.ndarray]:
        """Returns the cached arrays among ``hashes`` (missing ones are absent), read as ``dtype``."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            try:
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN ({marks})", [model, *chunk]
                    ).fetchall()
                    found.update((h, np.frombuffer(v, dtype=dtype).copy()) for h, v in rows)
                if found:
                    now = time.time()
                    self._conn.executemany(
                        "UPDATE vectors SET used=? WHERE model=? AND hash=?", [(now, model, h) for h in found]
                    )
                    self._conn.commit()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return {}
        return found

    def put_many(self, model: str, vectors: Mapping[str, np.ndarray], dtype: npt.DTypeLike = np.float32) -> None:
        """Stores arrays as ``dtype`` (read them back with the same), then evicts least-recently-used rows past
        the size cap."""
        now = time.time()
        rows: Iterable[tuple[str, str, bytes, float]] = (
            (model, h, np.asarray(v, dtype=dtype).tobytes(), now) for h, v in vectors.items()
        )
        with self._lock:
            try:
                self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
                self._conn.commit()
                self._evict()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)

    def _evict(self) -> None:
        total = self._conn.execute("SELECT COALESCE(SUM(LENGTH(vec)), 0) FROM vectors").fetchone()[0]
        if total <= self.max_bytes:
            return
        excess = total - self.max_bytes
        victims, freed = [], 0
        for model, h, size in self._conn.execute("SELECT model, hash, LENGTH(vec) FROM vectors ORDER BY used"):
            victims.append((model, h))
            freed += size
            if freed >= excess:
                break
        self._conn.executemany("DELETE FROM vectors WHERE model=? AND hash=?", victims)
        self._conn.commit()

    def size_bytes(self) -> int:
        """Bytes of vectors stored."""
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(SUM(LENGTH(vec)), 0) FROM vectors").fetchone()[0])
