"""Persistent document stores: the first stage over a corpus too large to embed per session.

A store keeps each passage's id, title, text and embedding, and returns the top-N of a
query **with their stored vectors**, so E2Rank, Rocchio and dense reranking rescore the
candidates without re-encoding a document. Two backends, each imported only when used:

- ``faiss:<folder>``: FAISS on disk (vectors in a flat file, ids and texts in SQLite; an
  exact, HNSW or IVF index chosen by size). Needs ``faiss-cpu``.
- ``milvus:<file>.db`` (Milvus Lite, embedded) or ``milvus:http://host:19530`` (a Milvus
  server or cluster); ``#name`` picks the collection. Needs ``pymilvus`` and, for a
  ``.db`` file, ``milvus-lite``.

A store records the document identity of the model that built it
(:attr:`~e2rank_demo.models.Embedder.document_identity`); opening it with a model that
embeds documents differently is refused with a message naming both.

Example:
    >>> import numpy as np, tempfile
    >>> from e2rank_demo.stores import StoreInfo, open_store
    >>> folder = tempfile.mkdtemp()
    >>> store = open_store(f"faiss:{folder}/demo", StoreInfo("doc-id", "demo-model", 2), create=True)
    >>> store.add(["a", "b"], ["", ""], ["first", "second"], np.eye(2, dtype=np.float32))
    2
    >>> hits = store.search(np.array([0.0, 1.0], dtype=np.float32), 1)
    >>> hits.ids, hits.vectors.tolist()
    (['b'], [[0.0, 1.0]])
    >>> store.close()
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

IndexChoice = Literal["flat", "hnsw", "ivf"]

EXACT_MAX = 100_000
"""Up to this many vectors a store searches exactly (as the in-memory path does)."""
HNSW_MAX = 5_000_000
"""Up to this many an HNSW graph (in RAM); above it an IVF index."""

STORE_FORMS = "faiss:<folder>, milvus:<file>.db or milvus:http://host:19530 (optionally #collection)"

# backend -> (module, class, modules it imports, what to install); imported only when used.
_BACKENDS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "faiss": ("e2rank_demo.stores.faiss_store", "FaissStore", ("faiss",), "faiss-cpu==1.15.1"),
    "milvus": ("e2rank_demo.stores.milvus_store", "MilvusStore", ("pymilvus",), "pymilvus==3.0.2"),
}


def index_choice(n: int) -> IndexChoice:
    """The index a store of ``n`` vectors uses: exact, then HNSW, then IVF.

    Example:
        >>> index_choice(5_000), index_choice(1_000_000), index_choice(20_000_000)
        ('flat', 'hnsw', 'ivf')
    """
    if n <= EXACT_MAX:
        return "flat"
    return "hnsw" if n <= HNSW_MAX else "ivf"


@dataclass(frozen=True)
class StoreInfo:
    """What a store records about the embeddings it holds.

    Attributes:
        identity: The building model's document identity (the embedding-cache key).
        model: That model's name, for messages.
        dim: Embedding dimension.
    """

    identity: str
    model: str
    dim: int

    @classmethod
    def of(cls, embedder: object) -> StoreInfo:
        """The info for vectors made by ``embedder`` (an :class:`~e2rank_demo.models.Embedder`)."""
        return cls(embedder.document_identity, embedder.name, int(embedder.dim))  # type: ignore[attr-defined]


@dataclass
class StoreHits:
    """A store's top-N for one query, best first.

    Attributes:
        ids: Passage ids.
        scores: Inner products (cosines for normalised vectors).
        vectors: ``(n, dim)`` float32, the stored embeddings of the hits.
        titles: Stored titles.
        texts: Stored body texts (the embedded text is title and body, as in
            :attr:`~e2rank_demo.records.Passage.full_text`).
    """

    ids: list[str]
    scores: np.ndarray
    vectors: np.ndarray
    titles: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)


class DocumentStore(Protocol):
    """A persistent, searchable set of embedded passages.

    Attributes:
        uri: Where the store lives, as given to :func:`open_store`.
        info: The model identity and dimension it was built with.
    """

    uri: str
    info: StoreInfo

    def add(self, ids: Sequence[str], titles: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> int:
        """Adds passages whose ids are not stored yet (one batch, committed together).

        Returns:
            How many were added; ids already stored (or repeated in the batch) are skipped.
        """
        ...

    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids of ``ids`` not in the store, in their order."""
        ...

    def search(self, query_vector: np.ndarray, n: int) -> StoreHits:
        """Top-``n`` passages by inner product, with their stored vectors and texts."""
        ...

    def count(self) -> int:
        """Passages stored."""
        ...

    @property
    def index_kind(self) -> IndexChoice:
        """The vector index searched now: ``flat`` (exact), ``hnsw`` or ``ivf``."""
        ...

    def optimize(self, kind: IndexChoice | None = None) -> IndexChoice:
        """Builds the index for the current size (``kind`` forces one); returns the kind."""
        ...

    def close(self) -> None:
        """Releases files, locks and connections."""
        ...


class StoreDependencyError(ValueError):
    """A backend's package is not installed; the message says what to install.

    A ``ValueError`` so that the CLI and the app report it as a plain message.
    """


class StoreUnreachableError(ValueError):
    """A store's server does not answer; the message names it and says to try again later.

    A ``ValueError`` so that the CLI and the app report it as a plain message. The store
    stays open: its next call reaches the server again once it is back.
    """


def parse_uri(uri: str) -> tuple[str, str, str | None]:
    """Splits ``backend:location[#collection]``.

    Example:
        >>> parse_uri("milvus:/tmp/a.db#scifact")
        ('milvus', '/tmp/a.db', 'scifact')
        >>> parse_uri("milvus:http://localhost:19530")
        ('milvus', 'http://localhost:19530', None)
    """
    backend, sep, rest = uri.strip().partition(":")
    if not sep or backend not in _BACKENDS or not rest:
        raise ValueError(f"unknown store {uri!r}; use {STORE_FORMS}")
    location, _, collection = rest.partition("#")
    if not location:
        raise ValueError(f"store {uri!r} names no location; use {STORE_FORMS}")
    return backend, location, collection or None


def _backend_class(backend: str) -> type:
    module, cls, needs, install = _BACKENDS[backend]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise StoreDependencyError(f"the {backend} store needs {', '.join(missing)}: pip install {install}")
    return getattr(importlib.import_module(module), cls)


def open_store(
    uri: str, info: StoreInfo | None = None, *, create: bool = False, read_only: bool = False
) -> DocumentStore:
    """Opens (or, with ``create``, creates) the store at ``uri``.

    Args:
        uri: ``faiss:<folder>``, ``milvus:<file>.db`` or ``milvus:http://host:port``,
            optionally ``#collection``.
        info: The model the caller embeds queries (and new documents) with. An existing
            store built with another document identity is refused; a new store records it.
        create: Create the store when it does not exist (requires ``info``).
        read_only: Never write (the app's "Open an index").

    Raises:
        ValueError: Unknown URI, no store there (without ``create``), or another model.
        StoreDependencyError: The backend's package is missing.
    """
    backend, location, collection = parse_uri(uri)
    if create and info is None:
        raise ValueError("creating a store needs the model's identity")
    store = _backend_class(backend)(uri, location, collection, info, create=create, read_only=read_only)
    if info is not None and store.info.identity != info.identity:
        built = store.info
        store.close()
        raise ValueError(
            f"the store {uri} was built with model {built.model} (documents {built.identity}); "
            f"the model in use is {info.model} (documents {info.identity}). Open it with "
            f"--model {built.model}, or index into a new store"
        )
    return store


def check_vectors(info: StoreInfo, ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """``vectors`` as contiguous float32 ``(len(ids), dim)``, or a clear error."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape != (len(ids), info.dim):
        raise ValueError(f"expected vectors of shape {(len(ids), info.dim)}, got {vectors.shape}")
    return vectors


def first_new(ids: Sequence[str], stored: set[str]) -> list[int]:
    """Positions of the ids neither stored nor repeated earlier in ``ids``.

    Example:
        >>> first_new(["a", "b", "a", "c"], {"c"})
        [0, 1]
    """
    seen = set(stored)
    keep = []
    for i, pid in enumerate(ids):
        if pid not in seen:
            seen.add(pid)
            keep.append(i)
    return keep
