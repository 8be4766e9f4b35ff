"""Splitting documents into overlapping passages for indexing."""

from __future__ import annotations

from collections.abc import Sequence

from e2rank_demo.records import Document, Passage


def split_passages(documents: Sequence[Document], max_words: int = 200, overlap: int = 40) -> list[Passage]:
    """Splits long documents into overlapping word windows.

    A document of at most ``max_words`` whitespace-separated words stays one passage
    with the document's id; a longer one becomes windows of ``max_words`` words, each
    sharing ``overlap`` words with the previous, with ids ``f"{doc_id}#{position}"``.

    Args:
        documents: Documents to split (not modified).
        max_words: Words per passage, at least 10.
        overlap: Words shared by consecutive windows, ``0 <= overlap < max_words``.

    Returns:
        Passages in document order.

    Raises:
        ValueError: If the window arguments are invalid.
    """
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 10:
        raise ValueError(f"max_words must be a whole number of at least 10, got {max_words!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < max_words:
        raise ValueError(f"overlap must be a whole number from 0 to max_words - 1 ({max_words - 1}), got {overlap!r}")
    step = max_words - overlap
    passages: list[Passage] = []
    for doc in documents:
        words = doc.text.split()
        if len(words) <= max_words:
            passages.append(Passage.from_document(doc))
            continue
        for position, start in enumerate(range(0, len(words), step)):
            passages.append(
                Passage(
                    id=f"{doc.id}#{position}",
                    doc_id=doc.id,
                    title=doc.title,
                    text=" ".join(words[start : start + max_words]),
                    position=position,
                    source=doc.source,
                )
            )
            if start + max_words >= len(words):
                break
    return passages


# -------------------------------------------------------------------------- BEIR
