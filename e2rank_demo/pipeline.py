"""The plain Python API the UI, the CLI, notebooks and tests share.

A :class:`SearchSession` holds one corpus embedded by one model: passages, their
embeddings (computed once, through the cache), the FAISS index and, lazily, a BM25
index. :meth:`SearchSession.search` runs the first stage and every requested reranker
and returns a :class:`~e2rank_demo.query_result.QueryResult`. :class:`SearchSettings` is defined in
:mod:`e2rank_demo.rerank`, next to the registry it names rerankers from, and importable from here.

Example:
    >>> from e2rank_demo.models import load_embedder
    >>> from e2rank_demo.records import Document
    >>> from e2rank_demo.pipeline import SearchSession, SearchSettings
    >>> docs = [Document("a", "", "Bread rises because yeast makes gas."),
    ...         Document("b", "", "Tides come from the Moon's gravity.")]
    >>> session = SearchSession.from_documents(docs, load_embedder("minilm").embedder, cache=None)
    >>> result = session.search("why does bread rise", SearchSettings(candidates=2, prompt_docs=2))
    >>> result.first_stage.ids[0]
    'a'
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.doc_tokens import TokenTable, corpus_tokens
from e2rank_demo.index import EncodeStats, IndexKind, VectorIndex, VectorOrigin, embed_corpus
from e2rank_demo.models import Embedder, ProgressFn, reusing
from e2rank_demo.prompt_lab import Influence, PoolingComparison, Provenance, compare_pooling, leave_one_out, provenance
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Candidates, Document, Passage, PromptPooling, Ranking, Timings
from e2rank_demo.rerank import MAX_INSTRUCTION_CHARS, RERANKERS, E2RankReranker, SearchSettings
from e2rank_demo.retrieval import BM25Retriever, DenseRetriever
from e2rank_demo.timing import StageTimer

__all__ = ["MAX_INSTRUCTION_CHARS", "MAX_QUERY_CHARS", "CorpusStats", "QueryResult", "SearchSession", "SearchSettings"]

MAX_QUERY_CHARS = int(os.environ.get("E2RANK_MAX_QUERY_CHARS", "2000"))


@dataclass
class CorpusStats:
    """What the corpus panel shows after indexing."""

    n_documents: int
    n_passages: int
    n_tokens: int
    model: str
    encode: EncodeStats


_TOKEN_TOTALS: dict[tuple[str, str], int] = {}
_TOKEN_TOTALS_LOCK = threading.Lock()
_TOKEN_TOTALS_MAX = 64


def corpus_token_count(embedder: Embedder, texts: Sequence[str]) -> int:
    """Total tokens of ``texts`` under the model's tokenizer, remembered per model and corpus in this process.

    A class opening one sample would otherwise tokenise its 1,200 passages once per visitor: that was most
    of a sample load's time (``bench --class``).
    """
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x1e")
    key = (embedder.identity, digest.hexdigest())
    with _TOKEN_TOTALS_LOCK:
        known = _TOKEN_TOTALS.get(key)
    if known is None:
        known = int(sum(embedder.count_tokens(texts)))
        with _TOKEN_TOTALS_LOCK:
            if len(_TOKEN_TOTALS) >= _TOKEN_TOTALS_MAX:
                _TOKEN_TOTALS.pop(next(iter(_TOKEN_TOTALS)))
            _TOKEN_TOTALS[key] = known
    return known


class SearchSession:
    """One corpus, embedded once by one model, ready to search.

    The passages' prompt token ids are computed (or read from the cache) with the vectors, so a
    listwise prompt never tokenises its documents (:attr:`tokens`).

    Args:
        embedder: The model (shared, read-only).
        passages: The units to index.
        cache: Embedding cache; ``None`` disables caching.
        index_kind: ``"flat"`` (exact) or ``"hnsw"``.
        progress: Called with ``(done, total)`` while documents are embedded.
        vectors: Precomputed embeddings aligned with ``passages`` (skips the model).
        vectors_origin: Where ``vectors`` came from (``"sample"``: shipped with a bundled
            sample), as the corpus panel and the latency chart say.
        scope: Cache scope: ``""`` (shared) for public corpora, a per-user secret for
            uploads, so that neither the embedding cache nor the UMAP map cache tells a
            user what others embedded (:func:`~e2rank_demo.cache.scoped_key`).
    """

    def __init__(
        self,
        embedder: Embedder,
        passages: Sequence[Passage],
        cache: EmbeddingCache | None = None,
        index_kind: IndexKind = "flat",
        progress: ProgressFn | None = None,
        vectors: np.ndarray | None = None,
        scope: str = "",
        vectors_origin: VectorOrigin = "given",
    ) -> None:
        if not passages:
            raise ValueError("the corpus is empty: add at least one document")
        ids = [p.id for p in passages]
        if len(set(ids)) != len(ids):
            raise ValueError("passage ids must be unique")
        self.embedder = embedder
        self.scope = scope
        self.passages = list(passages)
        self.ids = ids
        self.row_of = {pid: i for i, pid in enumerate(ids)}
        self.texts = [p.full_text for p in self.passages]
        if vectors is not None:
            if vectors.shape != (len(passages), embedder.dim):
                raise ValueError(
                    f"precomputed vectors have shape {vectors.shape}, expected {(len(passages), embedder.dim)}"
                )
            self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self.encode_stats = EncodeStats(0.0, len(passages), 0, vectors_origin)
        else:
            self.vectors, self.encode_stats = embed_corpus(embedder, self.texts, cache, progress, scope=scope)
        # None when the model's prompt documents depend on the query (they are tokenised per prompt then).
        self.tokens: TokenTable | None = corpus_tokens(embedder, self.texts, cache, scope)
        self.index = VectorIndex(self.vectors, index_kind)
        self.dense = DenseRetriever(self.index, ids)
        self._bm25: BM25Retriever | None = None
        self._bm25_lock = threading.Lock()

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[Document],
        embedder: Embedder,
        cache: EmbeddingCache | None = None,
        *,
        split: bool = False,
        max_words: int = 200,
        overlap: int = 40,
        **kwargs: object,
    ) -> SearchSession:
        """Builds a session from documents, optionally splitting long ones into passages."""
        if split:
            from e2rank_demo.corpus import split_passages

            passages = split_passages(documents, max_words=max_words, overlap=overlap)
        else:
            passages = [Passage.from_document(d) for d in documents]
        return cls(embedder, passages, cache, **kwargs)  # type: ignore[arg-type]

    holds_corpus = True
    """Whether ``passages`` and ``vectors`` are the whole corpus (a document store's session holds less)."""

    # ------------------------------------------------------------------ lookups
    @property
    def size(self) -> int:
        """Passages searched by the first stage (the whole corpus)."""
        return len(self.passages)

    def passage(self, pid: str) -> Passage:
        """The passage with id ``pid``."""
        return self.passages[self.row_of[pid]]

    def prompt_tokens(self, rows: Sequence[int] | np.ndarray) -> list[np.ndarray] | None:
        """The prompt token ids of the passages at ``rows`` (``None`` when the session keeps none)."""
        return None if self.tokens is None else self.tokens.rows(rows)

    @property
    def bm25(self) -> BM25Retriever:
        """BM25 index, built on first use (most users only need dense)."""
        with self._bm25_lock:
            if self._bm25 is None:
                self._bm25 = BM25Retriever(self.texts, self.ids)
            return self._bm25

    def stats(self) -> CorpusStats:
        """Counts for the corpus panel (token counts use the model's tokenizer)."""
        return CorpusStats(
            n_documents=len({p.doc_id for p in self.passages}),
            n_passages=len(self.passages),
            n_tokens=corpus_token_count(self.embedder, self.texts),
            model=self.embedder.name,
            encode=self.encode_stats,
        )

    # ------------------------------------------------------------------ search
    def first_stage(
        self, query: str, query_vector: np.ndarray, settings: SearchSettings, timer: StageTimer
    ) -> Candidates:
        """Top-N candidates from the configured first stage."""
        with timer.stage("first_stage"):
            if settings.first_stage == "bm25":
                return self.bm25.search(query, settings.candidates)
            return self.dense.search(query_vector, settings.candidates)

    def search(
        self,
        query: str,
        settings: SearchSettings | None = None,
        *,
        candidates: Candidates | None = None,
        reuse_vectors: bool = False,
    ) -> QueryResult:
        """Runs the first stage (or uses ``candidates``) and every requested reranker.

        Args:
            query: The query text.
            settings: Query-time settings; defaults to :class:`SearchSettings`.
            candidates: Precomputed candidates (e.g. from a TREC run) instead of the first stage.
            reuse_vectors: Take the vectors of an identical query and listwise prompt encoded before (by
                any session of this model) instead of forward passes (:mod:`~e2rank_demo.models.vector_memo`);
                the result's :attr:`~e2rank_demo.records.Timings.reused` says which stages did. Off
                wherever the model's time is measured.

        Returns:
            Both rankings, the vectors, the prompt and per-stage timings.
        """
        settings = (settings or SearchSettings()).for_model(self.embedder)
        query = query.strip()
        if not query:
            raise ValueError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ValueError(
                f"the query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,} (E2RANK_MAX_QUERY_CHARS)"
            )
        timer = StageTimer()
        reused: dict[str, float] = {}
        with timer.stage("query_encoding"), reusing(reuse_vectors):
            query_vector, query_reused = self.embedder.embed_query(query, settings.instruction)
        if query_reused is not None:
            reused["query_encoding"] = query_reused
        if candidates is None:
            candidates = self.first_stage(query, query_vector, settings, timer)
        first = Ranking(
            "first_stage",
            list(candidates.ids),
            np.asarray(candidates.scores, dtype=np.float32),
            vectors={"query": query_vector},
        )
        # A document store hands back the candidates' stored vectors and texts with them.
        doc_vectors = candidates.vectors if candidates.vectors is not None else self.vectors[candidates.rows]
        doc_texts = candidates.texts if candidates.texts is not None else [self.texts[r] for r in candidates.rows]
        doc_tokens = None if candidates.texts is not None else self.prompt_tokens(candidates.rows)
        reranked: dict[str, Ranking] = {}
        system_stages: dict[str, dict[str, float]] = {}
        if len(candidates):
            with reusing(reuse_vectors):
                for name, reranker in settings.build_rerankers(self.embedder).items():
                    sub = StageTimer()
                    reranked[name] = reranker.rerank(
                        query, query_vector, candidates, doc_vectors, doc_texts, sub, doc_tokens=doc_tokens
                    )
                    system_stages[name] = sub.stages
        stages = dict(timer.stages)
        for name, sub_stages in system_stages.items():
            stages.update({f"{name}.{k}": v for k, v in sub_stages.items()})
        reused.update(
            (f"{name}.prompt_encoding", ranking.prompt.reused_s)
            for name, ranking in reranked.items()
            if ranking.prompt is not None and ranking.prompt.reused_s is not None
        )
        e2rank = reranked.get("e2rank")
        return QueryResult(
            query=query,
            first_stage=first,
            reranked=reranked,
            query_vector=query_vector,
            prompt=e2rank.prompt if e2rank else None,
            candidates=candidates,
            timings=Timings(
                stages, self.encode_stats.seconds, self.encode_stats.cache_hit, self.encode_stats.source, reused
            ),
            settings=settings,
            prompt_ids=list(candidates.ids[: settings.prompt_docs]) if e2rank else [],
        )

    def add_reranker(self, result: QueryResult, name: str) -> tuple[QueryResult, bool]:
        """``result`` with the registered reranker ``name`` run on its candidates too.

        Uses the result's own settings and the cached document vectors (Rocchio and dense
        cosine need no model call). The given result is never changed.

        Returns:
            The result (a copy when the ranking was added) and whether it was added here:
            ``False`` when it already had one or there are no candidates.
        """
        if name in result.reranked or not len(result.candidates):
            return result, False
        reranker = RERANKERS[name].build(result.settings, self.embedder)
        rows = result.candidates.rows
        ranking = reranker.rerank(
            result.query,
            result.query_vector,
            result.candidates,
            self.vectors[rows],
            [self.texts[r] for r in rows],
            doc_tokens=self.prompt_tokens(rows),
        )
        return dataclasses.replace(result, reranked={**result.reranked, name: ranking}), True

    # ------------------------------------------------------------------ prompt lab
    def _e2rank(self, result: QueryResult) -> E2RankReranker:
        reranker = RERANKERS["e2rank"].build(result.settings, self.embedder)
        assert isinstance(reranker, E2RankReranker)
        return reranker

    def _prompt_rows(self, doc_ids: Sequence[str]) -> list[int]:
        unknown = [pid for pid in doc_ids if pid not in self.row_of]
        if unknown:
            raise ValueError(f"not in this corpus: {', '.join(unknown[:5])}")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("a document appears twice in the prompt")
        if len(doc_ids) > 100:
            raise ValueError(f"the prompt holds at most 100 documents (got {len(doc_ids)})")
        return [self.row_of[pid] for pid in doc_ids]

    def rerank_with_prompt(self, result: QueryResult, doc_ids: Sequence[str] | None = None) -> QueryResult:
        """Reruns E2Rank for ``result`` with exactly ``doc_ids`` in the prompt, in that order.

        Only the prompt is embedded again; the candidates keep their cached vectors, and
        the first stage and the other rerankers are unchanged.

        Args:
            result: A result of :meth:`search` on this session.
            doc_ids: Passage ids for the prompt (any in the corpus, e.g. pinned judged
                documents); ``None`` resets to the first-stage top-k, the paper's setting.

        Returns:
            A new :class:`QueryResult` with the new ``e2rank`` ranking, prompt and ``prompt_ids``.
        """
        reranker = self._e2rank(result)
        doc_ids = list(result.candidates.ids[: reranker.k] if doc_ids is None else doc_ids)
        rows = self._prompt_rows(doc_ids)
        candidates = result.candidates
        timer = StageTimer()
        ranking = reranker.rerank(
            result.query,
            result.query_vector,
            candidates,
            self.vectors[candidates.rows],
            [],
            timer,
            prompt_texts=[self.texts[r] for r in rows],
            prompt_tokens=self.prompt_tokens(rows),
        )
        stages = {k: v for k, v in result.timings.stages.items() if not k.startswith("e2rank.")}
        stages.update({f"e2rank.{k}": v for k, v in timer.stages.items()})
        reused = {k: v for k, v in result.timings.reused.items() if not k.startswith("e2rank.")}  # a fresh pass now
        return dataclasses.replace(
            result,
            reranked={**result.reranked, "e2rank": ranking},
            prompt=ranking.prompt,
            prompt_ids=doc_ids,
            timings=dataclasses.replace(result.timings, stages=stages, reused=reused),
        )

    def prompt_influence(
        self,
        result: QueryResult,
        relevance: Mapping[str, int] | None = None,
        batch_size: int = 1,
        *,
        reuse_vectors: bool = False,
    ) -> Influence:
        """Leave-one-out influence of each document in the prompt of ``result`` (see ``prompt_lab.leave_one_out``).

        Args:
            result: A result with an E2Rank ranking (from :meth:`search` or :meth:`rerank_with_prompt`).
            relevance: Judgments ``{passage id: grade}`` for this query (nDCG@10 and relevant ranks).
            batch_size: Prompts per forward pass.
            reuse_vectors: Take the vector of a leave-one-out prompt identical to one encoded before (by any
                session of this model) instead of its forward pass (:mod:`~e2rank_demo.models.vector_memo`);
                the influence is the same. Off where its time is measured.
        """
        if result.prompt is None:
            raise ValueError("this result has no listwise prompt (run the e2rank reranker)")
        rows = self._prompt_rows(result.prompt_ids)
        with reusing(reuse_vectors):
            return leave_one_out(
                self._e2rank(result),
                result.query,
                result.query_vector,
                result.prompt_ids,
                [self.texts[r] for r in rows],
                result.prompt.vector,
                result.candidates.ids,
                self.vectors[result.candidates.rows],
                relevance,
                batch_size,
                self.prompt_tokens(rows),
            )

    def prompt_provenance(self, result: QueryResult) -> Provenance:
        """Cosines of the pseudo-query to the query and each prompt document, next to Rocchio's."""
        if result.prompt is None:
            raise ValueError("this result has no listwise prompt (run the e2rank reranker)")
        return provenance(
            result.prompt_ids,
            result.prompt.vector,
            result.query_vector,
            self.vectors[self._prompt_rows(result.prompt_ids)],
            result.settings.rocchio_alpha,
            result.settings.rocchio_beta,
        )

    def compare_pooling(
        self, result: QueryResult, other: PromptPooling | None = None, relevance: Mapping[str, int] | None = None
    ) -> PoolingComparison:
        """``result``'s prompt pooled with its own pooling and with ``other`` (by default mean against query,
        a decoder's last token against query): both pseudo-queries, both rankings of the same candidates.

        Args:
            result: A result with an E2Rank ranking (from :meth:`search` or :meth:`rerank_with_prompt`).
            other: The pooling to compare with (:data:`~e2rank_demo.prompt_lab.OTHER_POOLING` by default).
            relevance: Judgments ``{passage id: grade}`` for this query (nDCG@10 of both rankings).
        """
        if result.prompt is None:
            raise ValueError("this result has no listwise prompt (run the e2rank reranker)")
        rows = self._prompt_rows(result.prompt_ids)
        return compare_pooling(
            self._e2rank(result),
            result.query,
            result.query_vector,
            [self.texts[r] for r in rows],
            result.candidates.ids,
            self.vectors[result.candidates.rows],
            other,
            relevance,
            self.prompt_tokens(rows),
        )
