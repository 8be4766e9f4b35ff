"""Task instructions and the E2Rank listwise prompt format.

The formats here are the contract with the official E2Rank evaluation (see
``shared/docs/e2rank-reference.md``): documents numbered from 1, joined by newlines,
the query last. The ``query_first`` order is offered because small encoders with short
windows may attend better to a query at the start.

Example:
    >>> from e2rank_demo.prompts import TASKS, build_listwise_text
    >>> print(build_listwise_text("what is e2rank", ["doc a", "doc b"], TASKS["web"].rerank))
    Given a web search query and some relevant documents, rerank the documents that answer the query:
    Documents:
    [1] doc a
    [2] doc b
    Search Query: what is e2rank
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from e2rank_demo.records import PromptOrder


@dataclass(frozen=True)
class Task:
    """The two instructions a task needs.

    Attributes:
        name: Preset key.
        label: Human-readable name.
        query: Retrieval instruction, used as ``Instruct: {query}\\nQuery:{text}`` by
            instruction-tuned decoders (E2Rank, Qwen3-Embedding).
        rerank: First line of the listwise prompt.
    """

    name: str
    label: str
    query: str
    rerank: str


TASKS: dict[str, Task] = {
    "web": Task(
        name="web",
        label="Web search (MS MARCO, TREC DL)",
        query="Given a web search query, retrieve relevant passages that answer the query",
        rerank=("Given a web search query and some relevant documents, rerank the documents that answer the query:"),
    ),
    "scifact": Task(
        name="scifact",
        label="Scientific claim verification (SciFact)",
        query="Given a scientific claim, retrieve documents that support or refute the claim",
        # The official evaluation's SciFact header (note "best").
        rerank=(
            "Given a scientific claim and some relevant documents, "
            "rerank the documents that best support or refute the claim:"
        ),
    ),
}
DEFAULT_TASK = "web"


def format_query(query: str, instruction: str) -> str:
    """Formats a retrieval query for an instruction-tuned decoder (without the EOS)."""
    return f"Instruct: {instruction}\nQuery:{query}"


QUERY_LABEL = "Search Query: "
"""What precedes the query in the listwise prompt (both orders)."""


def build_listwise_text(
    query: str,
    documents: Sequence[str],
    header: str,
    order: PromptOrder = "official",
) -> str:
    """Builds the listwise prompt body (before any chat template).

    Args:
        query: The user query.
        documents: Texts of the top-k candidates, best first.
        header: First line (the rerank instruction).
        order: ``"official"`` puts the query last, as in the paper; ``"query_first"``
            puts it right after the header.

    Returns:
        The prompt text.
    """
    doc_block = "\n".join(f"[{i}] {text}" for i, text in enumerate(documents, start=1))
    if order == "official":
        return f"{header}\nDocuments:\n{doc_block}\n{QUERY_LABEL}{query}"
    if order == "query_first":
        return f"{header}\n{QUERY_LABEL}{query}\nDocuments:\n{doc_block}"
    raise ValueError(f"unknown prompt order {order!r}; use 'official' or 'query_first'")


def query_span(query: str, header: str, order: PromptOrder, body_length: int) -> tuple[int, int]:
    """Character span of the query in a body built by :func:`build_listwise_text`.

    Computed from the layout (the query ends an ``official`` body and follows the header in a
    ``query_first`` one), so a document that contains the query text cannot move it.

    Example:
        >>> body = build_listwise_text("tides", ["tides are tidal"], "Rank:")
        >>> start, end = query_span("tides", "Rank:", "official", len(body))
        >>> body[start:end], start > body.index("tides")
        ('tides', True)
    """
    if order == "official":
        return body_length - len(query), body_length
    start = len(header) + 1 + len(QUERY_LABEL)
    return start, start + len(query)
