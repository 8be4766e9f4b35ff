"""Corpus embeddings (computed once, through the cache) and the FAISS index over them.

Example:
    >>> import numpy as np
    >>> from e2rank_demo.index import VectorIndex
    >>> index = VectorIndex(np.eye(3, dtype=np.float32))
    >>> index.search(np.array([0, 1, 0], dtype=np.float32), 2)[1].tolist()
    [1, 0]
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from e2rank_demo.cache import EmbeddingCache, scoped_key, text_hash
from e2rank_demo.models import Embedder, ProgressFn, bulk

IndexKind = Literal["flat", "hnsw"]
VectorOrigin = Literal["model", "sample", "given", "store"]
"""Where a corpus's vectors came from: the model (through the cache), shipped with a bundled
sample, handed in by the caller, or a document store."""


@dataclass
class EncodeStats:
    """How the corpus embeddings were obtained.

    Attributes:
        seconds: Wall-clock time spent (model plus cache).
        n_cached: Texts found in the cache (all of them for vectors not made by the model).
        n_encoded: Texts the model had to encode.
        origin: Where the vectors came from (:data:`VectorOrigin`).
    """

    seconds: float
    n_cached: int
    n_encoded: int
    origin: VectorOrigin = "model"

    @property
    def cache_hit(self) -> bool:
        """True when no text needed the model."""
        return self.n_encoded == 0

    @property
    def source(self) -> str:
        """Where the vectors came from, in a few words: the one wording of this fact, which the corpus
        panel (:meth:`describe`), the latency chart and table and the report's timings all use.

        Example:
            >>> EncodeStats(0.0, 1200, 0, "sample").source
            'precomputed (shipped with the sample)'
        """
        if self.origin == "sample":
            return "precomputed (shipped with the sample)"
        if self.origin == "given":
            return "precomputed (given with the passages)"
        if self.origin == "store":
            return "read from the document store"
        return "cache hit" if self.cache_hit else "partly cached" if self.n_cached else "embedded now"

    def describe(self) -> str:
        """:attr:`source` with the counts and seconds, for the corpus panel.

        Example:
            >>> EncodeStats(0.61, 0, 3).describe()
            'embedded now: 3 in 0.6 s (not in the cache)'
        """
        if self.origin != "model":
            return self.source
        if self.cache_hit:
            return f"{self.source}: all {self.n_cached:,} from the embedding cache ({self.seconds:.1f} s)"
        if self.n_cached:
            return (
                f"{self.source}: {self.n_encoded:,} embedded in {self.seconds:.1f} s, {self.n_cached:,} from the "
                "embedding cache"
            )
        return f"{self.source}: {self.n_encoded:,} in {self.seconds:.1f} s (not in the cache)"


def embed_corpus(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = 32,
    scope: str = "",
) -> tuple[np.ndarray, EncodeStats]:
    """Embeds corpus texts, reading and filling the cache keyed by the model identity within ``scope``.

    ``scope`` is ``""`` for shared corpora and a per-user secret for uploads
    (:func:`~e2rank_demo.cache.scoped_key`).
    """
    start = time.perf_counter()
    hashes = [text_hash(t) for t in texts]
    key = scoped_key(embedder.document_identity, scope)
    cached = cache.get_many(key, hashes) if cache is not None else {}
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    if missing:
        # A corpus of more than one batch is bulk work: other visitors' searches go first between its batches.
        # One batch (a visitor's small upload) is as interactive as a search.
        with bulk() if len(missing) > batch_size else contextlib.nullcontext():
            fresh = embedder.embed_documents([texts[i] for i in missing], batch_size=batch_size, progress=progress)
        vectors[missing] = fresh
        if cache is not None:
            cache.put_many(key, {hashes[i]: fresh[j] for j, i in enumerate(missing)})
    for i, h in enumerate(hashes):
        if h in cached:
            vectors[i] = cached[h]
    if progress is not None:
        progress(len(texts), len(texts))
    return vectors, EncodeStats(time.perf_counter() - start, len(texts) - len(missing), len(missing))


ESTIMATE_PROBE = 4
"""Texts :func:`estimate_embedding` times by default."""


def estimate_embedding(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None = None,
    probe: int = ESTIMATE_PROBE,
    scope: str = "",
    keep_probe: bool = True,
) -> tuple[int, float]:
    """How many ``texts`` the model still has to embed, and about how many seconds that takes.

    Times the model on ``probe`` of the missing texts (spread over the length range) and
    scales by characters. Texts are looked up in ``cache`` within ``scope`` (as
    :func:`embed_corpus` files them); with ``keep_probe`` the probed vectors go there too,
    so the time is not lost (but the corpus's stats then count them as cache hits).

    Returns:
        ``(n_missing, estimated_seconds)``; ``(0, 0.0)`` when the cache holds everything.
    """
    hashes = [text_hash(t) for t in texts]
    key = scoped_key(embedder.document_identity, scope)
    cached = cache.get_many(key, hashes) if cache is not None else {}
    missing = sorted({h: i for i, h in enumerate(hashes) if h not in cached}.values(), key=lambda i: len(texts[i]))
    if not missing:
        return 0, 0.0
    spread = (len(missing) - 1) / max(probe - 1, 1)
    picks = sorted({missing[round(j * spread)] for j in range(min(probe, len(missing)))})
    start = time.perf_counter()
    vectors = embedder.embed_documents([texts[i] for i in picks], batch_size=len(picks))
    seconds = time.perf_counter() - start
    if cache is not None and keep_probe:
        cache.put_many(key, {hashes[i]: vectors[j] for j, i in enumerate(picks)})
    per_char = seconds / max(sum(len(texts[i]) for i in picks), 1)
    return len(missing), per_char * sum(len(texts[i]) for i in missing)


class VectorIndex:
    """Inner-product FAISS index over L2-normalised vectors (so scores are cosines).

    Args:
        vectors: ``(n, d)`` float32, L2-normalised.
        kind: ``"flat"`` (exact, default) or ``"hnsw"`` (approximate, for large corpora).
    """

    def __init__(self, vectors: np.ndarray, kind: IndexKind = "flat") -> None:
        import faiss

        dim = vectors.shape[1]
        index: faiss.Index
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efSearch = 128
            index = hnsw
        else:
            raise ValueError(f"unknown index kind {kind!r}; use 'flat' or 'hnsw'")
        self._index = index
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.kind = kind

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, rows)`` for one query vector."""
        k = min(k, len(self))
        scores, rows = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep]
