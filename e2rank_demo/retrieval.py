"""First stages: dense (FAISS), BM25 (``bm25s``) and candidates read from a TREC run.

Each returns :class:`~e2rank_demo.records.Candidates` whose ``rows`` point into the
corpus embedding matrix, so rerankers reuse the cached document embeddings.

Example:
    >>> from e2rank_demo.retrieval import BM25Retriever
    >>> bm25 = BM25Retriever(["the cat sat", "dogs bark loudly", "a dog"])
    >>> bm25.search("cats", 2).ids
    ['0']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from e2rank_demo.index import VectorIndex
from e2rank_demo.records import Candidates


class DenseRetriever:
    """Cosine top-N over the FAISS index."""

    def __init__(self, index: VectorIndex, ids: Sequence[str]) -> None:
        self.index = index
        self.ids = list(ids)

    def search(self, query_vector: np.ndarray, n: int) -> Candidates:
        """Top-``n`` passages by cosine to ``query_vector``."""
        scores, rows = self.index.search(query_vector, n)
        return Candidates([self.ids[r] for r in rows], scores.astype(np.float32), rows.astype(np.int64), "dense")


class BM25Retriever:
    """Okapi BM25 (``bm25s``, English stop words, Snowball stemming when available)."""

    def __init__(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> None:
        import bm25s

        self._bm25s = bm25s
        self._stemmer = _english_stemmer()
        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        self._retriever = bm25s.BM25()
        self._retriever.index(self._tokenize(list(texts)), show_progress=False)
        self._n = len(texts)

    def _tokenize(self, texts: list[str]):  # noqa: ANN202 - bm25s' own token type
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)

    def search(self, query: str, n: int) -> Candidates:
        """Top-``n`` passages by BM25; passages sharing no term with the query are left out."""
        k = min(n, self._n)
        rows, scores = self._retriever.retrieve(self._tokenize([query]), k=k, show_progress=False)
        rows, scores = rows[0].astype(np.int64), scores[0].astype(np.float32)
        keep = scores > 0
        rows, scores = rows[keep], scores[keep]
        return Candidates([self.ids[r] for r in rows], scores, rows, "bm25")


def _english_stemmer():  # noqa: ANN202
    try:
        import Stemmer
    except ImportError:
        return None
    return Stemmer.Stemmer("english").stemWords


def candidates_from_run(ranked: Sequence[tuple[str, float]], row_of: Mapping[str, int], n: int) -> Candidates:
    """Candidates from one query's run entries (best first), keeping ids in the corpus."""
    kept = [(pid, s) for pid, s in ranked if pid in row_of][:n]
    return Candidates(
        [pid for pid, _ in kept],
        np.array([s for _, s in kept], dtype=np.float32),
        np.array([row_of[pid] for pid, _ in kept], dtype=np.int64),
        "run",
    )


def read_trec_run(path: str) -> dict[str, list[tuple[str, float]]]:
    """Reads ``qid Q0 docid rank score tag`` lines; each list sorted best first by rank."""
    by_query: dict[str, list[tuple[int, str, float]]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 5:
                by_query.setdefault(parts[0], []).append((int(parts[3]), parts[2], float(parts[4])))
    return {q: [(d, s) for _, d, s in sorted(rows)] for q, rows in by_query.items()}
