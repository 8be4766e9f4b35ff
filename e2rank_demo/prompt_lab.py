"""Prompt lab: choose the listwise prompt's documents and measure what each one does.

E2Rank's listwise prompt works like pseudo-relevance feedback: the documents in it pull
the query's embedding (the *pseudo-query*) toward what they share. This module makes
that measurable:

* :func:`compose_prompt` builds a prompt list from the first stage, with documents the
  user judged relevant pinned first (true relevance feedback instead of pseudo).
* :func:`leave_one_out` embeds the k prompts that each miss one document, one forward
  pass each, and reports, per document, how far the pseudo-query moves without it
  (cosine distance) and what that does to nDCG@10 and to the relevant documents' ranks.
* :func:`provenance` gives the pseudo-query's cosine to the query and to each prompt
  document, next to the same numbers for Rocchio's vector over the same documents.
* :func:`compare_pooling` embeds the same prompt with two poolings (e.g. ``mean`` over all
  its tokens against ``query``, the query's own tokens inside it) and reports how the
  pseudo-query and the ranking change.

:class:`~e2rank_demo.pipeline.SearchSession` wraps these for a search result
(``rerank_with_prompt``, ``prompt_influence``, ``prompt_provenance``, ``compare_pooling``).

Example:
    >>> compose_prompt(["a", "b", "c", "d"], k=3, pinned=["d", "b"])
    ['d', 'b', 'a']
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from e2rank_demo.metrics import per_query
from e2rank_demo.models import TokenIds, bulk
from e2rank_demo.records import PromptPooling
from e2rank_demo.rerank import E2RankReranker, rocchio_vector


def compose_prompt(ranked_ids: Sequence[str], k: int, pinned: Sequence[str] = ()) -> list[str]:
    """The prompt's passage ids: ``pinned`` first in the given order, then the best others.

    Args:
        ranked_ids: First-stage ids, best first.
        k: Documents in the prompt (more only when more are pinned).
        pinned: Ids to put first (e.g. the documents the user marked relevant).

    Returns:
        ``max(k, len(pinned))`` ids at most, without repeats.
    """
    chosen = list(dict.fromkeys(pinned))
    taken = set(chosen)
    return chosen + [pid for pid in ranked_ids if pid not in taken][: max(k - len(chosen), 0)]


@dataclass(frozen=True)
class DocInfluence:
    """What one prompt document does to the pseudo-query and the ranking.

    Attributes:
        doc_id: The passage id.
        position: Its 1-based place in the prompt.
        distance: ``1 - cos(pseudo-query, pseudo-query without this document)``.
        ndcg_delta: nDCG@10 without it minus nDCG@10 with it (negative: it helped), or
            ``None`` without judgments.
        rank_changes: For each judged-relevant candidate, its rank without this document
            minus its rank with it (positive: it falls when the document leaves).
    """

    doc_id: str
    position: int
    distance: float
    ndcg_delta: float | None
    rank_changes: dict[str, int]


@dataclass(frozen=True)
class Influence:
    """Leave-one-out influence of every prompt document for one query.

    Attributes:
        query: The query.
        items: One entry per prompt document, in prompt order.
        ndcg: nDCG@10 of the reranked list with the full prompt (``None`` without judgments).
        seconds: Wall-clock time of the k prompt builds, their forward passes and the scoring.
        reused: Leave-one-out prompts whose vector was an identical earlier prompt's, reused instead of
            a forward pass (:mod:`~e2rank_demo.models.vector_memo`).
    """

    query: str
    items: list[DocInfluence]
    ndcg: float | None
    seconds: float
    reused: int = 0

    def ranked(self) -> list[DocInfluence]:
        """The items by decreasing cosine distance (most influential first)."""
        return sorted(self.items, key=lambda item: -item.distance)


def _ranks(ids: Sequence[str], scores: np.ndarray) -> dict[str, int]:
    order = np.argsort(-scores, kind="stable")
    return {ids[i]: rank for rank, i in enumerate(order, start=1)}


def leave_one_out(
    reranker: E2RankReranker,
    query: str,
    query_vector: np.ndarray,
    prompt_ids: Sequence[str],
    prompt_texts: Sequence[str],
    full_vector: np.ndarray,
    candidate_ids: Sequence[str],
    doc_vectors: np.ndarray,
    relevance: Mapping[str, int] | None = None,
    batch_size: int = 1,
    prompt_tokens: Sequence[TokenIds | None] | None = None,
) -> Influence:
    """Leave-one-out influence of each prompt document: k forward passes, one per prompt by default.

    One prompt per pass is as fast on a CPU as one batch of k (0.54 s either way for k = 5 on two
    cores), and between passes the shared model serves other visitors' searches first (bulk work).

    Args:
        reranker: The E2Rank reranker in force (model, header, order, interpolation).
        query: The query text.
        query_vector: The embedded query (for interpolation).
        prompt_ids: Passage ids in the prompt, in order.
        prompt_texts: Their texts, aligned with ``prompt_ids``.
        full_vector: The pseudo-query with every document in the prompt.
        candidate_ids: The candidates being reranked.
        doc_vectors: Their cached embeddings, aligned with ``candidate_ids``.
        relevance: Graded judgments ``{passage id: grade}`` for this query, if any.
        batch_size: Prompts per forward pass (k <= ``batch_size`` is one pass).
        prompt_tokens: The prompt documents' token ids from indexing, aligned with ``prompt_texts``
            (``None``: tokenise them; the prompts are the same).

    Returns:
        The :class:`Influence`, items in prompt order.
    """
    start = time.perf_counter()
    embedder = reranker.embedder
    built = embedder.build_leave_one_out(query, prompt_texts, reranker.header, reranker.order, prompt_tokens)
    with bulk():  # other visitors' searches go first, between these passes
        prompts = embedder.encode_prompts(built, batch_size, reranker.pooling)
    without = np.stack([p.vector for p in prompts]) if prompts else np.zeros((0, len(full_vector)), dtype=np.float32)
    distances = 1.0 - without @ full_vector
    full_scores = reranker.score(full_vector, query_vector, doc_vectors)
    scores = reranker.score(without, query_vector, doc_vectors)
    judged = {pid: int(g) for pid, g in (relevance or {}).items()}
    relevant = [pid for pid in candidate_ids if judged.get(pid, 0) > 0]
    ndcg: float | None = None
    deltas: list[float | None] = [None] * len(built)
    if judged:
        run = {str(i): dict(zip(candidate_ids, map(float, row), strict=False)) for i, row in enumerate(scores)}
        run["full"] = dict(zip(candidate_ids, map(float, full_scores), strict=False))
        values = per_query(dict.fromkeys(run, judged), run)
        ndcg = values["full"]["ndcg@10"]
        deltas = [values[str(i)]["ndcg@10"] - ndcg for i in range(len(built))]
    base = _ranks(candidate_ids, full_scores)
    items = []
    for i, pid in enumerate(prompt_ids):
        ranks = _ranks(candidate_ids, scores[i])
        items.append(
            DocInfluence(pid, i + 1, float(distances[i]), deltas[i], {r: ranks[r] - base[r] for r in relevant})
        )
    reused = sum(p.reused_s is not None for p in prompts)
    return Influence(query, items, ndcg, time.perf_counter() - start, reused)


@dataclass(frozen=True)
class Provenance:
    """Where the pseudo-query comes from, in cosines, next to Rocchio's.

    Attributes:
        doc_ids: The prompt documents, in prompt order.
        prompt_to_query: cos(pseudo-query, query).
        prompt_to_docs: cos(pseudo-query, each prompt document).
        rocchio_to_query: cos(Rocchio vector, query), Rocchio over the same documents.
        rocchio_to_docs: cos(Rocchio vector, each prompt document).
        prompt_to_rocchio: cos(pseudo-query, Rocchio vector).
    """

    doc_ids: list[str]
    prompt_to_query: float
    prompt_to_docs: list[float]
    rocchio_to_query: float
    rocchio_to_docs: list[float]
    prompt_to_rocchio: float


def provenance(
    doc_ids: Sequence[str],
    prompt_vector: np.ndarray,
    query_vector: np.ndarray,
    doc_vectors: np.ndarray,
    alpha: float = 1.0,
    beta: float = 0.5,
) -> Provenance:
    """Cosines of the pseudo-query and of Rocchio's ``alpha*q + beta*mean(docs)`` to their sources.

    Args:
        doc_ids: The prompt documents.
        prompt_vector: The pseudo-query (listwise-prompt embedding).
        query_vector: The embedded query.
        doc_vectors: The prompt documents' embeddings, aligned with ``doc_ids``.
        alpha: Rocchio's query weight.
        beta: Rocchio's feedback weight.

    Example:
        >>> q, d = np.array([1.0, 0.0]), np.array([[0.0, 1.0]])
        >>> round(provenance(["a"], d[0], q, d).rocchio_to_query, 3)
        0.894
    """
    rocchio = rocchio_vector(query_vector, doc_vectors, alpha, beta)
    return Provenance(
        doc_ids=list(doc_ids),
        prompt_to_query=float(prompt_vector @ query_vector),
        prompt_to_docs=[float(v) for v in doc_vectors @ prompt_vector],
        rocchio_to_query=float(rocchio @ query_vector),
        rocchio_to_docs=[float(v) for v in doc_vectors @ rocchio],
        prompt_to_rocchio=float(prompt_vector @ rocchio),
    )


# --------------------------------------------------------------------------- pooling flip
OTHER_POOLING: dict[str, PromptPooling] = {"query": "mean", "mean": "query", "last": "query"}
"""The pooling a flip compares with: mean and query with each other, a decoder's last token with query."""


@dataclass(frozen=True)
class PoolingComparison:
    """One listwise prompt pooled two ways, and what that changes.

    Attributes:
        query: The query.
        poolings: The search's pooling, then the other one.
        vectors: The pseudo-query under each pooling, aligned with ``poolings``.
        pooled_tokens: Token positions each pooling averaged (1 for ``last``).
        n_tokens: Tokens in the prompt.
        candidate_ids: The candidates, in first-stage order.
        ranks: For each pooling, the rank of every candidate (1 = best).
        to_query: cos(each pseudo-query, the query).
        cosine: cos between the two pseudo-queries.
        ndcg: nDCG@10 of each ranking (``None`` without judgments).
    """

    query: str
    poolings: tuple[PromptPooling, PromptPooling]
    vectors: tuple[np.ndarray, np.ndarray]
    pooled_tokens: tuple[int, int]
    n_tokens: int
    candidate_ids: list[str]
    ranks: tuple[dict[str, int], dict[str, int]]
    to_query: tuple[float, float]
    cosine: float
    ndcg: tuple[float, float] | None

    def moves(self, top: int = 10) -> list[tuple[str, int, int]]:
        """``(id, rank under the first pooling, rank under the second)`` for the documents in either top
        ``top``, largest move first (ties: better first rank first)."""
        first, second = self.ranks
        shown = [pid for pid in self.candidate_ids if first[pid] <= top or second[pid] <= top]
        rows = [(pid, first[pid], second[pid]) for pid in shown]
        return sorted(rows, key=lambda row: (-abs(row[2] - row[1]), row[1]))

    def shared_top(self, top: int = 10) -> int:
        """Documents both rankings put in their top ``top``."""
        first, second = self.ranks
        return sum(1 for pid in self.candidate_ids if first[pid] <= top and second[pid] <= top)


def compare_pooling(
    reranker: E2RankReranker,
    query: str,
    query_vector: np.ndarray,
    prompt_texts: Sequence[str],
    candidate_ids: Sequence[str],
    doc_vectors: np.ndarray,
    other: PromptPooling | None = None,
    relevance: Mapping[str, int] | None = None,
    prompt_tokens: Sequence[TokenIds | None] | None = None,
) -> PoolingComparison:
    """Embeds one prompt with the reranker's pooling and with ``other``, and ranks the candidates with each.

    Args:
        reranker: The E2Rank reranker in force (model, header, order, pooling, interpolation).
        query: The query text.
        query_vector: The embedded query.
        prompt_texts: The prompt documents' texts, in prompt order.
        candidate_ids: The candidates, in first-stage order.
        doc_vectors: Their cached embeddings, aligned with ``candidate_ids``.
        other: The pooling to compare with; default :data:`OTHER_POOLING` of the reranker's.
        relevance: Graded judgments ``{passage id: grade}`` for this query, if any.
        prompt_tokens: The prompt documents' token ids from indexing, aligned with ``prompt_texts``
            (``None``: tokenise them; the prompt is the same).

    Returns:
        Both pseudo-queries, both rankings and what they share.
    """
    embedder = reranker.embedder
    current: PromptPooling = reranker.pooling or embedder.prompt_pooling
    other = other or OTHER_POOLING[current]
    built = embedder.build_listwise(query, list(prompt_texts), reranker.header, reranker.order, prompt_tokens)
    with bulk():
        prompts = [embedder.encode_prompt(built, pooling) for pooling in (current, other)]
    scores = [reranker.score(p.vector, query_vector, doc_vectors) for p in prompts]
    ids = list(candidate_ids)
    ndcg = None
    judged = {pid: int(g) for pid, g in (relevance or {}).items()}
    if judged:
        run = {str(i): dict(zip(ids, map(float, s), strict=False)) for i, s in enumerate(scores)}
        values = per_query(dict.fromkeys(run, judged), run)
        ndcg = (values["0"]["ndcg@10"], values["1"]["ndcg@10"])
    return PoolingComparison(
        query=query,
        poolings=(current, other),
        vectors=(prompts[0].vector, prompts[1].vector),
        pooled_tokens=(prompts[0].pooled_tokens, prompts[1].pooled_tokens),
        n_tokens=prompts[0].n_tokens,
        candidate_ids=ids,
        ranks=(_ranks(ids, scores[0]), _ranks(ids, scores[1])),
        to_query=(float(prompts[0].vector @ query_vector), float(prompts[1].vector @ query_vector)),
        cosine=float(prompts[0].vector @ prompts[1].vector),
        ndcg=ndcg,
    )
