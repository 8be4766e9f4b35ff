"""Rerankers: E2Rank (listwise prompt), Rocchio PRF and plain dense cosine, and their registry.

All rerankers score the candidates with the document embeddings already computed for
retrieval (``doc_vectors``); none re-encodes a document, except the explicit
``reencode=True`` variant of E2Rank used to show what a system without that reuse pays.

:data:`RERANKERS` maps each reranker's name to a :class:`RerankerSpec`: how to build it
from the search settings and how every view names and describes it. The pipeline, the
CLI, the plots, the HTML report, the Evaluate tab and the Search tab's columns all read
it, so a new reranker is its class plus one :func:`register` call.

Example:
    >>> import numpy as np
    >>> from e2rank_demo.records import Candidates
    >>> from e2rank_demo.rerank import RocchioReranker
    >>> docs = np.eye(3, dtype=np.float32)
    >>> cands = Candidates(["a", "b", "c"], np.array([.9, .5, .1]), np.arange(3))
    >>> RocchioReranker(k=1).rerank("q", np.array([0, 1, 0], np.float32), cands, docs, []).ids
    ['b', 'a', 'c']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from e2rank_demo.models import Embedder, TokenIds
from e2rank_demo.prompts import TASKS
from e2rank_demo.records import Candidates, PromptOrder, PromptPooling, Ranking
from e2rank_demo.timing import StageTimer

if TYPE_CHECKING:
    from e2rank_demo.pipeline import SearchSettings
    from e2rank_demo.records import QueryResult


class Reranker(Protocol):
    """Reorders first-stage candidates for one query."""

    name: str

    def rerank(
        self,
        query: str,
        query_vector: np.ndarray,
        candidates: Candidates,
        doc_vectors: np.ndarray,
        doc_texts: Sequence[str],
        timer: StageTimer | None = None,
        doc_tokens: Sequence[TokenIds | None] | None = None,
    ) -> Ranking:
        """Returns all candidates in the new order.

        Args:
            query: Query text.
            query_vector: The embedded query.
            candidates: First-stage candidates, best first.
            doc_vectors: Embeddings of the candidates, aligned with ``candidates.ids``.
            doc_texts: Texts of the candidates, aligned with ``candidates.ids``.
            timer: Receives the stage times, when given.
            doc_tokens: The candidates' prompt token ids from indexing, aligned with ``candidates.ids``
                (``None``: not known, e.g. a document store's candidates); only a prompt uses them.
        """
        ...


def rank_by(system: str, candidates: Candidates, scores: np.ndarray, **extra: object) -> Ranking:
    """Sorts candidates by descending score; ties keep the first-stage order."""
    order = np.argsort(-scores, kind="stable")
    return Ranking(system, [candidates.ids[i] for i in order], scores[order].astype(np.float32), **extra)


def rocchio_vector(query_vector: np.ndarray, feedback: np.ndarray, alpha: float = 1.0,
                   beta: float = 0.5) -> np.ndarray:
    """``normalise(alpha*q + beta*mean(feedback))``; the query alone when there is no feedback."""
    centroid = feedback.mean(axis=0) if len(feedback) else 0.0
    vector = alpha * query_vector + beta * centroid
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


@dataclass
class DenseReranker:
    """Cosine between the query and each candidate (the natural reranker for BM25)."""

    name: str = "dense"

    def rerank(self, query: str, query_vector: np.ndarray, candidates: Candidates, doc_vectors: np.ndarray,
               doc_texts: Sequence[str], timer: StageTimer | None = None,
               doc_tokens: Sequence[TokenIds | None] | None = None) -> Ranking:
        timer = timer or StageTimer()
        with timer.stage("scoring"):
            scores = doc_vectors @ query_vector
        return rank_by(self.name, candidates, scores, vectors={"query": query_vector})


@dataclass
class RocchioReranker:
    """Vector pseudo-relevance feedback: ``normalise(alpha*q + beta*mean(top-k docs))``.

    The training-free baseline E2Rank is "akin to". Defaults (``beta=0.5``, ``k=5``) are
    the calibration in the project's reference notes.
    """

    alpha: float = 1.0
    beta: float = 0.5
    k: int = 5
    name: str = "rocchio"

    def rerank(self, query: str, query_vector: np.ndarray, candidates: Candidates, doc_vectors: np.ndarray,
               doc_texts: Sequence[str], timer: StageTimer | None = None,
               doc_tokens: Sequence[TokenIds | None] | None = None) -> Ranking:
        timer = timer or StageTimer()
        with timer.stage("prompt_build"):
            vector = rocchio_vector(query_vector, doc_vectors[: self.k], self.alpha, self.beta)
        with timer.stage("scoring"):
            scores = doc_vectors @ vector
        return rank_by(self.name, candidates, scores, vectors={"rocchio": vector})


@dataclass
class E2RankReranker:
    """E2Rank: embed a listwise prompt of the top-k candidates, rescore all candidates.

    Attributes:
        embedder: The same model that embedded the documents.
        k: Documents in the prompt (the paper uses 20).
        header: First line of the prompt (rerank instruction).
        order: ``"official"`` (query last) or ``"query_first"``.
        interpolation: ``lambda`` in ``lambda*cos(q,d) + (1-lambda)*cos(prompt,d)``;
            0 is the paper's method.
        reencode: Re-embed the candidates instead of reusing cached vectors (only to
            measure what a system without embedding reuse pays).
        pooling: The prompt's pooling; ``None``: the model's default.
    """

    embedder: Embedder
    k: int = 20
    header: str = TASKS["web"].rerank
    order: PromptOrder = "official"
    interpolation: float = 0.0
    reencode: bool = False
    name: str = "e2rank"
    pooling: PromptPooling | None = None

    def rerank(self, query: str, query_vector: np.ndarray, candidates: Candidates, doc_vectors: np.ndarray,
               doc_texts: Sequence[str], timer: StageTimer | None = None,
               doc_tokens: Sequence[TokenIds | None] | None = None, prompt_texts: Sequence[str] | None = None,
               prompt_tokens: Sequence[TokenIds | None] | None = None) -> Ranking:
        """Reranks with the top-k candidates in the prompt, or exactly ``prompt_texts`` when given.

        Token ids from indexing (``doc_tokens`` for the candidates, ``prompt_tokens`` for ``prompt_texts``)
        spare the prompt tokenising its documents; the prompt is the same without them.
        """
        timer = timer or StageTimer()
        if self.reencode:
            with timer.stage("candidate_encoding"):
                doc_vectors = self.embedder.embed_documents(doc_texts)
        with timer.stage("prompt_build"):
            if prompt_texts is None:
                prompt_texts, prompt_tokens = doc_texts[: self.k], None if doc_tokens is None else doc_tokens[: self.k]
            built = self.embedder.build_listwise(query, list(prompt_texts), self.header, self.order, prompt_tokens)
        with timer.stage("prompt_encoding"):
            prompt = self.embedder.encode_prompt(built, self.pooling)
        with timer.stage("scoring"):
            scores = self.score(prompt.vector, query_vector, doc_vectors)
        return rank_by(self.name, candidates, scores, vectors={"prompt": prompt.vector}, prompt=prompt)

    def score(self, prompt_vectors: np.ndarray, query_vector: np.ndarray, doc_vectors: np.ndarray) -> np.ndarray:
        """Candidate scores for one prompt vector ``(d,)`` or several ``(m, d)`` (then ``(m, n)``)."""
        scores = prompt_vectors @ doc_vectors.T
        if self.interpolation:
            scores = self.interpolation * (doc_vectors @ query_vector) + (1 - self.interpolation) * scores
        return scores


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class RerankerSpec:
    """One registered reranker: how to build it and how every view names it.

    Attributes:
        name: Its key in ``QueryResult.reranked``, ``SearchSettings.rerankers``, the CLI's
            ``--rerankers`` and exported file names.
        label: Heading of its results column (Search tab, HTML report) and its choice in Evaluate.
        title: Short name in charts, metric tables and legends.
        build: Makes the reranker from the search settings and the session's embedder.
        reads: The :class:`~e2rank_demo.pipeline.SearchSettings` fields ``build`` reads.
        describe: One line under its heading saying how it scored this result.
        search_toggle: Label of its "also run" checkbox in the Search tab's settings (its
            column then sits in an accordion below the results); ``None`` keeps it out of
            the Search tab. E2Rank is the tab's main column and always runs there.
    """

    name: str
    label: str
    title: str
    build: Callable[[SearchSettings, Embedder], Reranker]
    reads: tuple[str, ...]
    describe: Callable[[QueryResult], str]
    search_toggle: str | None = None


RERANKERS: dict[str, RerankerSpec] = {}
"""Every reranker by name, in the order views list them."""

MAIN = "e2rank"
"""The reranker the demo is about: the Search tab's second column, always run there."""


def register(spec: RerankerSpec) -> RerankerSpec:
    """Adds (or replaces) a reranker; every view picks it up from :data:`RERANKERS`.

    Example:
        >>> spec = register(RerankerSpec("negated", "Negated dense", "Negated", lambda settings, embedder:
        ...                              DenseReranker(name="negated"), (), lambda result: "a toy"))
        >>> label_of("negated"), title_of("negated")
        ('Negated dense', 'Negated')
        >>> del RERANKERS["negated"]
    """
    RERANKERS[spec.name] = spec
    return spec


def title_of(name: str) -> str:
    """The short title of a reranker, ``First stage`` for the first stage, else the name itself."""
    if name == "first_stage":
        return "First stage"
    spec = RERANKERS.get(name)
    return spec.title if spec is not None else name


def label_of(name: str) -> str:
    """The column heading of a reranker, ``First stage`` for the first stage, else the name itself."""
    if name == "first_stage":
        return "First stage"
    spec = RERANKERS.get(name)
    return spec.label if spec is not None else name


def search_toggles() -> list[RerankerSpec]:
    """The rerankers the Search tab offers as "also run" checkboxes, in registry order."""
    return [spec for spec in RERANKERS.values() if spec.search_toggle is not None]


def _prompt_docs(result: QueryResult) -> int:
    return len(result.prompt.doc_tokens_kept) if result.prompt is not None else 0


register(RerankerSpec(
    "e2rank", "E2Rank (listwise reranked)", "E2Rank",
    lambda s, embedder: E2RankReranker(embedder, k=s.prompt_docs or embedder.prompt_docs, header=s.header,
                                       order=s.prompt_order, interpolation=s.interpolation,
                                       pooling=s.prompt_pooling),
    ("prompt_docs", "task", "rerank_instruction", "prompt_order", "interpolation", "prompt_pooling"),
    lambda result: (f"cos(prompt, doc); {_prompt_docs(result)} edited documents in the prompt" if result.prompt_edited
                    else f"cos(prompt, doc); top {_prompt_docs(result)} in the prompt"),
))
register(RerankerSpec(
    "rocchio", "Rocchio PRF", "Rocchio PRF",
    lambda s, embedder: RocchioReranker(s.rocchio_alpha, s.rocchio_beta, s.rocchio_k),
    ("rocchio_alpha", "rocchio_beta", "rocchio_k"),
    lambda result: (f"query + {result.settings['rocchio_beta']} × mean of the top {result.settings['rocchio_k']} "
                    "(a baseline)"),
    search_toggle="Also run Rocchio PRF (baseline)",
))
register(RerankerSpec(
    "dense", "Dense rerank cos(q, d)", "Dense rerank",
    lambda s, embedder: DenseReranker(), (),
    lambda result: "cos(query, doc) over the candidates",
))
