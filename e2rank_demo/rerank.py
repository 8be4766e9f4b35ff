"""Rerankers: E2Rank (listwise prompt), Rocchio PRF and plain dense cosine, their registry and settings.

All rerankers score the candidates with the document embeddings already computed for
retrieval (``doc_vectors``); none re-encodes a document, except the explicit
``reencode=True`` variant of E2Rank used to show what a system without that reuse pays.

:data:`RERANKERS` maps each reranker's name to a :class:`RerankerSpec`: how to build it
from the search settings and how every view names and describes it. The pipeline, the
CLI, the plots, the HTML report, the Evaluate tab and the Search tab's columns all read
it, so a new reranker is its class plus one :func:`register` call.

:class:`SearchSettings` (query-time settings) lives here too: it names rerankers from the
registry and every :class:`RerankerSpec` builds its reranker from it, so the two sit in one
module and nothing imports upward (:class:`~e2rank_demo.query_result.QueryResult` holds the
settings a search ran with; ``e2rank_demo.pipeline`` re-exports the class).

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

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from e2rank_demo.models import Embedder, TokenIds
from e2rank_demo.prompts import DEFAULT_TASK, TASKS
from e2rank_demo.records import PROMPT_POOLINGS, Candidates, ListwisePrompt, PromptOrder, PromptPooling, Ranking
from e2rank_demo.timing import StageTimer


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


def rank_by(
    system: str,
    candidates: Candidates,
    scores: np.ndarray,
    *,
    vectors: dict[str, np.ndarray] | None = None,
    prompt: ListwisePrompt | None = None,
) -> Ranking:
    """Sorts candidates by descending score; ties keep the first-stage order."""
    order = np.argsort(-scores, kind="stable")
    return Ranking(
        system,
        [candidates.ids[i] for i in order],
        scores[order].astype(np.float32),
        vectors={} if vectors is None else vectors,
        prompt=prompt,
    )


def rocchio_vector(query_vector: np.ndarray, feedback: np.ndarray, alpha: float = 1.0, beta: float = 0.5) -> np.ndarray:
    """``normalise(alpha*q + beta*mean(feedback))``; the query alone when there is no feedback."""
    centroid = feedback.mean(axis=0) if len(feedback) else 0.0
    vector = alpha * query_vector + beta * centroid
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


@dataclass
class DenseReranker:
    """Cosine between the query and each candidate (the natural reranker for BM25)."""

    name: str = "dense"

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

    def rerank(
        self,
        query: str,
        query_vector: np.ndarray,
        candidates: Candidates,
        doc_vectors: np.ndarray,
        doc_texts: Sequence[str],
        timer: StageTimer | None = None,
        doc_tokens: Sequence[TokenIds | None] | None = None,
        prompt_texts: Sequence[str] | None = None,
        prompt_tokens: Sequence[TokenIds | None] | None = None,
    ) -> Ranking:
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
class DescribedResult(Protocol):
    """What :attr:`RerankerSpec.describe` reads from a search result.

    A :class:`~e2rank_demo.query_result.QueryResult` is one; the protocol keeps this module
    below the result's, which holds :class:`SearchSettings`.
    """

    @property
    def settings(self) -> SearchSettings: ...

    @property
    def prompt(self) -> ListwisePrompt | None: ...

    @property
    def prompt_edited(self) -> bool: ...


@dataclass(frozen=True)
class RerankerSpec:
    """One registered reranker: how to build it and how every view names it.

    Attributes:
        name: Its key in ``QueryResult.reranked``, ``SearchSettings.rerankers``, the CLI's
            ``--rerankers`` and exported file names.
        label: Heading of its results column (Search tab, HTML report) and its choice in Evaluate.
        title: Short name in charts, metric tables and legends.
        build: Makes the reranker from the search settings and the session's embedder.
        reads: The :class:`SearchSettings` fields ``build`` reads.
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
    describe: Callable[[DescribedResult], str]
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


def _prompt_docs(result: DescribedResult) -> int:
    return len(result.prompt.doc_tokens_kept) if result.prompt is not None else 0


register(
    RerankerSpec(
        "e2rank",
        "E2Rank (listwise reranked)",
        "E2Rank",
        lambda s, embedder: E2RankReranker(
            embedder,
            k=s.prompt_docs or embedder.prompt_docs,
            header=s.header,
            order=s.prompt_order,
            interpolation=s.interpolation,
            pooling=s.prompt_pooling,
        ),
        ("prompt_docs", "task", "rerank_instruction", "prompt_order", "interpolation", "prompt_pooling"),
        lambda result: (
            f"cos(prompt, doc); {_prompt_docs(result)} edited documents in the prompt"
            if result.prompt_edited
            else f"cos(prompt, doc); top {_prompt_docs(result)} in the prompt"
        ),
    )
)
register(
    RerankerSpec(
        "rocchio",
        "Rocchio PRF",
        "Rocchio PRF",
        lambda s, embedder: RocchioReranker(s.rocchio_alpha, s.rocchio_beta, s.rocchio_k),
        ("rocchio_alpha", "rocchio_beta", "rocchio_k"),
        lambda result: (
            f"query + {result.settings.rocchio_beta} × mean of the top {result.settings.rocchio_k} (a baseline)"
        ),
        search_toggle="Also run Rocchio PRF (baseline)",
    )
)
register(
    RerankerSpec(
        "dense",
        "Dense rerank cos(q, d)",
        "Dense rerank",
        lambda s, embedder: DenseReranker(),
        (),
        lambda result: "cos(query, doc) over the candidates",
    )
)


# --------------------------------------------------------------------------- settings
MAX_INSTRUCTION_CHARS = int(os.environ.get("E2RANK_MAX_INSTRUCTION_CHARS", "2000"))


@dataclass(frozen=True)
class SearchSettings:
    """Query-time settings (none of them needs re-indexing).

    Attributes:
        first_stage: ``"dense"`` or ``"bm25"``.
        candidates: N, candidates reranked (the paper uses 100).
        prompt_docs: k, documents in the listwise prompt; ``None``: the model's default
            (:attr:`~e2rank_demo.models.Embedder.prompt_docs`: the paper's 20 for E2Rank).
        task: Preset in :data:`~e2rank_demo.prompts.TASKS`.
        query_instruction: Overrides the task's retrieval instruction.
        rerank_instruction: Overrides the task's listwise-prompt header.
        interpolation: lambda for ``lambda*cos(q,d) + (1-lambda)*cos(prompt,d)``.
        prompt_order: ``"official"`` or ``"query_first"``.
        prompt_pooling: ``"query"``, ``"mean"`` or ``"last"``; ``None``: the model's default
            (:attr:`~e2rank_demo.models.Embedder.prompt_pooling`).
        rerankers: Which rerankers to run, by name in :data:`RERANKERS` (default: all).
        rocchio_alpha: Weight of the query in Rocchio.
        rocchio_beta: Weight of the feedback centroid in Rocchio.
        rocchio_k: Feedback documents in Rocchio.
    """

    first_stage: Literal["dense", "bm25"] = "dense"
    candidates: int = 100
    prompt_docs: int | None = None
    task: str = DEFAULT_TASK
    query_instruction: str | None = None
    rerank_instruction: str | None = None
    interpolation: float = 0.0
    prompt_order: PromptOrder = "official"
    prompt_pooling: PromptPooling | None = None
    rerankers: tuple[str, ...] = field(default_factory=lambda: tuple(RERANKERS))
    rocchio_alpha: float = 1.0
    rocchio_beta: float = 0.5
    rocchio_k: int = 5

    def __post_init__(self) -> None:
        problems = []
        if self.first_stage not in ("dense", "bm25"):
            problems.append(f"first stage must be 'dense' or 'bm25', not {self.first_stage!r}")
        if not 1 <= self.candidates <= 1000:
            problems.append(f"candidates N must be between 1 and 1000 (got {self.candidates})")
        if self.prompt_docs is not None and not 1 <= self.prompt_docs <= 100:
            problems.append(f"prompt documents k must be between 1 and 100 (got {self.prompt_docs})")
        if not 0.0 <= self.interpolation <= 1.0:
            problems.append(f"interpolation lambda must be between 0 and 1 (got {self.interpolation})")
        if self.task not in TASKS:
            problems.append(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.prompt_order not in ("official", "query_first"):
            problems.append(f"prompt order must be 'official' or 'query_first', not {self.prompt_order!r}")
        if self.prompt_pooling is not None and self.prompt_pooling not in PROMPT_POOLINGS:
            problems.append(f"prompt pooling must be one of {', '.join(PROMPT_POOLINGS)}, not {self.prompt_pooling!r}")
        unknown = [r for r in self.rerankers if r not in RERANKERS]
        if unknown:
            problems.append(f"unknown reranker(s) {', '.join(unknown)}; choose from {', '.join(RERANKERS)}")
        for label, text in (("retrieval", self.query_instruction), ("listwise prompt", self.rerank_instruction)):
            if text is not None and len(text) > MAX_INSTRUCTION_CHARS:
                problems.append(
                    f"the {label} instruction has {len(text):,} characters; the limit is "
                    f"{MAX_INSTRUCTION_CHARS:,} (E2RANK_MAX_INSTRUCTION_CHARS)"
                )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def instruction(self) -> str:
        """The retrieval instruction in force."""
        return self.query_instruction or TASKS[self.task].query

    @property
    def header(self) -> str:
        """The listwise-prompt header in force."""
        return self.rerank_instruction or TASKS[self.task].rerank

    def as_dict(self) -> dict[str, object]:
        """The fields as plain values, e.g. for JSON.

        Example:
            >>> SearchSettings(candidates=7, rerankers=("dense",)).as_dict()["rerankers"]
            ('dense',)
        """
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> SearchSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def for_model(self, embedder: Embedder) -> SearchSettings:
        """These settings with k and the prompt pooling left to the model filled in from it.

        Example:
            >>> from e2rank_demo.models import load_embedder
            >>> filled = SearchSettings().for_model(load_embedder("minilm").embedder)
            >>> filled.prompt_docs is not None and filled.prompt_pooling is not None
            True
        """
        return dataclasses.replace(
            self,
            prompt_docs=self.prompt_docs or embedder.prompt_docs,
            prompt_pooling=self.prompt_pooling or embedder.prompt_pooling,
        )

    def build_rerankers(self, embedder: Embedder) -> dict[str, Reranker]:
        """The reranker objects these settings ask for, by name."""
        return {name: RERANKERS[name].build(self, embedder) for name in self.rerankers}
