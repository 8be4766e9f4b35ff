"""Small typed records that flow between pipeline stages.

Every stage of the pipeline (ingestion, first stage, reranking, evaluation) hands
one of these to the next, so the UI, the CLI and the tests all see the same shapes.

Example:
    >>> from e2rank_demo.records import Document, Passage
    >>> doc = Document(id="d1", title="Aspirin", text="Aspirin reduces fever.")
    >>> Passage.from_document(doc).id
    'd1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

FirstStageName = Literal["dense", "bm25", "run"]
PromptOrder = Literal["official", "query_first"]
PromptPooling = Literal["query", "mean", "last"]
"""How a listwise prompt's hidden states become its vector: ``query`` (mean over the query's own
tokens inside the prompt), ``mean`` (all tokens) or ``last`` (the last token, as E2Rank's decoders)."""
PROMPT_POOLINGS: tuple[PromptPooling, ...] = ("query", "mean", "last")


@dataclass(frozen=True)
class Document:
    """A document as the user gave it (one file, one row, one BEIR record).

    Attributes:
        id: Stable identifier, unique within a corpus.
        title: Optional title; may be empty.
        text: The body text.
        source: Where it came from (file name, ``"paste"``, ``"beir:scifact"``).
    """

    id: str
    title: str
    text: str
    source: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR/MTEB encode documents."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Passage:
    """The unit that is embedded, indexed and ranked.

    Short documents are one passage whose ``id`` equals the document id; long ones are
    split and each piece keeps its document id and position.

    Attributes:
        id: Unique passage id (``doc_id`` or ``doc_id#position``).
        doc_id: Id of the document it came from.
        title: Title of the parent document.
        text: Passage body.
        position: 0-based index of the passage within its document.
        source: Source of the parent document.
    """

    id: str
    doc_id: str
    title: str
    text: str
    position: int = 0
    source: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined, as embedded."""
        return f"{self.title} {self.text}".strip() if self.title else self.text

    @classmethod
    def from_document(cls, doc: Document) -> Passage:
        """Wraps an unsplit document as a single passage."""
        return cls(id=doc.id, doc_id=doc.id, title=doc.title, text=doc.text, source=doc.source)


@dataclass
class Candidates:
    """First-stage output: the top-N passages for one query.

    Attributes:
        ids: Passage ids, best first.
        scores: First-stage scores aligned with ``ids``.
        rows: Row of each passage in the corpus embedding matrix.
        stage: Which first stage produced them.
        vectors: Their embeddings, when the first stage returned them (a document store);
            otherwise the rerankers read ``rows`` of the session's matrix.
        texts: Their full texts, likewise.
    """

    ids: list[str]
    scores: np.ndarray
    rows: np.ndarray
    stage: FirstStageName = "dense"
    vectors: np.ndarray | None = None
    texts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Ranking:
    """A full ordering of the candidates produced by one system.

    Attributes:
        system: System name (``first_stage``, ``e2rank``, ``rocchio``, ``dense``).
        ids: Passage ids, best first.
        scores: Scores aligned with ``ids``.
        vectors: The query-side vectors the system scored with (e.g. ``{"prompt": v}``).
        prompt: The listwise prompt, for systems that built one.
    """

    system: str
    ids: list[str]
    scores: np.ndarray
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    prompt: ListwisePrompt | None = None

    def rank_of(self) -> dict[str, int]:
        """Maps passage id to its 1-based rank."""
        return {pid: i + 1 for i, pid in enumerate(self.ids)}

    def top(self, k: int) -> list[tuple[str, float]]:
        """The first ``k`` (id, score) pairs."""
        return [(pid, float(s)) for pid, s in zip(self.ids[:k], self.scores[:k], strict=False)]

    def deltas_against(self, base: Ranking) -> dict[str, int]:
        """Rank change of each id vs ``base`` (positive = moved up)."""
        base_rank = base.rank_of()
        return {pid: base_rank[pid] - (i + 1) for i, pid in enumerate(self.ids) if pid in base_rank}


@dataclass
class ListwisePrompt:
    """What was actually sent to the model for listwise reranking.

    Attributes:
        text: The prompt as the model saw it (after the chat template for decoders; for
            encoders the truncated documents are shown as kept).
        vector: The L2-normalised prompt embedding.
        n_tokens: Number of tokens in the model input.
        doc_tokens_kept: Tokens each prompt document kept (its own length when nothing was cut).
        doc_tokens_full: Tokens each prompt document had before any cut.
        max_tokens: Context limit the prompt had to fit.
        pooling: How the vector was pooled (see :data:`PromptPooling`).
        pooled_tokens: Number of token positions the vector was pooled over.
        reused_s: ``None`` when this call ran the forward pass; else the vector is an identical earlier
            prompt's, reused (:mod:`e2rank_demo.models.vector_memo`), and this is the seconds its forward
            pass took then.
    """

    text: str
    vector: np.ndarray
    n_tokens: int
    doc_tokens_kept: list[int]
    doc_tokens_full: list[int]
    max_tokens: int
    pooling: PromptPooling = "mean"
    pooled_tokens: int = 0
    reused_s: float | None = None


class BuiltPrompt(NamedTuple):
    """A listwise prompt fitted into the model's window, before its forward pass.

    Attributes:
        text: The exact model input text (after any chat template).
        doc_tokens_kept: Tokens each prompt document kept.
        doc_tokens_full: Tokens each prompt document had before any cut.
        query_span: ``(start, end)`` character offsets of the query inside ``text``, known from
            how the prompt was assembled (never found by searching the text).
    """

    text: str
    doc_tokens_kept: list[int]
    doc_tokens_full: list[int]
    query_span: tuple[int, int]


@dataclass
class Timings:
    """Measured wall-clock seconds per pipeline stage for one query.

    ``doc_encoding`` is the once-per-corpus cost, reported separately (amortised), as the
    paper does; the others are paid per query.
    """

    stages: dict[str, float] = field(default_factory=dict)
    doc_encoding: float = 0.0
    doc_encoding_cached: bool = False
    doc_encoding_source: str = ""
    """Where the corpus vectors came from (:attr:`~e2rank_demo.index.EncodeStats.source`)."""
    reused: dict[str, float] = field(default_factory=dict)
    """Stages answered by reusing the vector of an identical earlier input (``query_encoding``,
    ``e2rank.prompt_encoding``; their time in :attr:`stages` is the lookup), each with the seconds that
    vector's forward pass took when it was computed."""

    @property
    def query_total(self) -> float:
        """Seconds paid at query time (all stages)."""
        return float(sum(self.stages.values()))
