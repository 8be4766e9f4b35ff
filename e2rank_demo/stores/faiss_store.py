"""FAISS on disk: vectors in a flat file, ids and texts in SQLite, the index built by size.

Layout of the store folder::

    store.json     model identity, name and dimension
    docs.sqlite    row -> id, title, text (the commit point of every batch)
    vectors.f32    row-major float32 vectors, row i at byte i * dim * 4
    index.faiss    the search index over rows [0, ntotal), rebuilt or extended as needed

A batch's vectors are written and flushed to disk before its rows are committed to
SQLite, so after a crash (even SIGKILL) the committed rows always have their vectors;
vectors past the last committed row are cut off when the store is opened again.

Example:
    >>> import numpy as np, tempfile
    >>> from e2rank_demo.stores import StoreInfo, open_store
    >>> store = open_store(f"faiss:{tempfile.mkdtemp()}/s", StoreInfo("i", "m", 3), create=True)
    >>> store.add(["x", "y", "x"], ["", "", ""], ["a", "b", "c"], np.eye(3, dtype=np.float32))
    2
    >>> store.count(), store.missing(["x", "z"])
    (2, ['z'])
    >>> store.close()
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from e2rank_demo.stores import IndexChoice, StoreHits, StoreInfo, check_vectors, first_new, index_choice

if TYPE_CHECKING:
    import faiss

_FORMAT = "e2rank-faiss-store/1"
_HNSW_M = 32
_HNSW_EF_SEARCH = 128
_IVF_NPROBE = 32
_ADD_CHUNK = 100_000  # rows read from disk at a time while building, so memory stays bounded


class FaissStore:
    """A :class:`~e2rank_demo.stores.DocumentStore` in a folder (see the module docstring)."""

    def __init__(
        self,
        uri: str,
        location: str,
        collection: str | None,
        info: StoreInfo | None,
        *,
        create: bool = False,
        read_only: bool = False,
    ) -> None:
        if collection:
            raise ValueError(f"{uri}: a FAISS store is one folder and has no #collection")
        self.uri = uri
        self.folder = Path(location).expanduser()
        self.read_only = read_only
        meta_path = self.folder / "store.json"
        if not meta_path.is_file():
            if not create or read_only:
                raise ValueError(
                    f"no FAISS store at {self.folder}; build one with python -m e2rank_demo index --store {uri}"
                )
            assert info is not None
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"format": _FORMAT, "identity": info.identity, "model": info.model, "dim": info.dim}),
                encoding="utf-8",
            )
            os.replace(tmp, meta_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            self.info = StoreInfo(str(meta["identity"]), str(meta["model"]), int(meta["dim"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{meta_path} is not a store description ({type(exc).__name__})") from None
        self._lock = threading.Lock()
        db_uri = (self.folder / "docs.sqlite").resolve().as_uri() + ("?mode=ro" if read_only else "")
        self._db = sqlite3.connect(db_uri, uri=True, check_same_thread=False)
        if not read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS docs (row INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
                " title TEXT NOT NULL, text TEXT NOT NULL)"
            )
            self._db.commit()
        self._vectors_path = self.folder / "vectors.f32"
        self._n = self._db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        row_bytes = self.info.dim * 4
        on_disk = self._vectors_path.stat().st_size if self._vectors_path.exists() else 0
        if on_disk < self._n * row_bytes:
            raise ValueError(
                f"{self._vectors_path} holds {on_disk // row_bytes} vectors but "
                f"{self._n} passages are committed: the store is damaged"
            )
        if on_disk > self._n * row_bytes and not read_only:
            # Vectors of a batch that was never committed (the process died in between).
            os.truncate(self._vectors_path, self._n * row_bytes)
        self._index: faiss.Index | None = None
        self._matrix: np.memmap | None = None

    # ----------------------------------------------------------------- writing
    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids not stored yet, in their order."""
        stored = self._stored(ids)
        return [pid for pid in ids if pid not in stored]

    def _stored(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in self._db.execute(f"SELECT id FROM docs WHERE id IN ({marks})", chunk))
        return found

    def add(self, ids: Sequence[str], titles: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> int:
        """Adds the passages not stored yet; vectors reach the disk before the rows commit."""
        if self.read_only:
            raise ValueError(f"{self.uri} is open read-only")
        vectors = check_vectors(self.info, ids, vectors)
        keep = first_new(ids, self._stored(ids))
        if not keep:
            return 0
        with self._lock:
            start = self._n
            with open(self._vectors_path, "ab") as fh:
                fh.write(vectors[keep].tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            self._db.executemany(
                "INSERT INTO docs (row, id, title, text) VALUES (?, ?, ?, ?)",
                [(start + j, ids[i], titles[i], texts[i]) for j, i in enumerate(keep)],
            )
            self._db.commit()
            self._n = start + len(keep)
            self._matrix = None
        return len(keep)

    def count(self) -> int:
        """Passages committed."""
        return self._n

    # ----------------------------------------------------------------- index
    def _vectors(self) -> np.ndarray:
        if self._matrix is None or len(self._matrix) != self._n:
            self._matrix = (
                np.memmap(self._vectors_path, dtype=np.float32, mode="r", shape=(self._n, self.info.dim))
                if self._n
                else None
            )
        return self._matrix if self._matrix is not None else np.zeros((0, self.info.dim), np.float32)

    def _new_index(self, kind: IndexChoice) -> faiss.Index:
        import faiss

        dim = self.info.dim
        if kind == "flat":
            return faiss.IndexFlatIP(dim)
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, _HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 100
            return hnsw
        nlist = max(1, int(4 * np.sqrt(self._n)))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), nlist, faiss.METRIC_INNER_PRODUCT)
        sample = self._vectors()[np.linspace(0, self._n - 1, min(self._n, 64 * nlist)).astype(np.int64)]
        ivf.train(np.ascontiguousarray(sample))
        return ivf

    @staticmethod
    def _kind_of(index: faiss.Index) -> IndexChoice:
        import faiss

        if isinstance(index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(index, faiss.IndexIVF) else "flat"

    def _extend(self, index: faiss.Index) -> None:
        """Adds the committed rows the index does not cover yet, a chunk at a time."""
        matrix = self._vectors()
        for start in range(int(index.ntotal), self._n, _ADD_CHUNK):
            index.add(np.ascontiguousarray(matrix[start : start + _ADD_CHUNK]))

    def _loaded_index(self) -> faiss.Index:
        import faiss

        with self._lock:
            if self._index is None:
                path = self.folder / "index.faiss"
                self._index = faiss.read_index(str(path)) if path.exists() else self._new_index(index_choice(self._n))
            index = self._index
            if index.ntotal < self._n:
                self._extend(index)
            # The same tests as _kind_of, written out so the type checker sees each kind's attributes.
            if isinstance(index, faiss.IndexHNSW):
                index.hnsw.efSearch = _HNSW_EF_SEARCH
            elif isinstance(index, faiss.IndexIVF):
                index.nprobe = _IVF_NPROBE
            return index

    @property
    def index_kind(self) -> IndexChoice:
        """The index searches use (loads it, as the first search would): ``flat``, ``hnsw`` or ``ivf``."""
        return self._kind_of(self._loaded_index())

    def optimize(self, kind: IndexChoice | None = None) -> IndexChoice:
        """Builds (or extends) the index for the current size and saves it atomically."""
        import faiss

        kind = kind or index_choice(self._n)
        path = self.folder / "index.faiss"
        with self._lock:
            index: faiss.Index | None = faiss.read_index(str(path)) if path.exists() else None
            if index is None or self._kind_of(index) != kind or index.ntotal > self._n:
                index = self._new_index(kind)
            self._extend(index)
            if not self.read_only:
                tmp = path.with_suffix(".tmp")
                faiss.write_index(index, str(tmp))
                os.replace(tmp, path)
            self._index = index
        return kind

    # ----------------------------------------------------------------- reading
    def search(self, query_vector: np.ndarray, n: int) -> StoreHits:
        """Top-``n`` by inner product, with the stored vectors, titles and texts."""
        if not self._n:
            return StoreHits([], np.zeros(0, np.float32), np.zeros((0, self.info.dim), np.float32), [], [])
        index = self._loaded_index()
        query = np.ascontiguousarray(np.asarray(query_vector, dtype=np.float32).reshape(1, -1))
        scores, rows = index.search(query, min(n, self._n))
        keep = rows[0] >= 0
        rows, scores = rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)
        with self._lock:
            marks = ",".join("?" * len(rows))
            found = {
                r[0]: r[1:]
                for r in self._db.execute(
                    f"SELECT row, id, title, text FROM docs WHERE row IN ({marks})", rows.tolist()
                )
            }
        vectors = np.asarray(self._vectors()[rows], dtype=np.float32)
        return StoreHits(
            [found[r][0] for r in rows.tolist()],
            scores,
            vectors,
            [found[r][1] for r in rows.tolist()],
            [found[r][2] for r in rows.tolist()],
        )

    def close(self) -> None:
        """Closes the database and drops the in-memory index."""
        with self._lock:
            self._db.close()
            self._index = None
            self._matrix = None
