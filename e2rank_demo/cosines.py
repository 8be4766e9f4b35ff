"""The full-space numbers behind the 2-D map: mean cosines of the query-side vectors.

The map (:mod:`e2rank_demo.projection`) is a picture whose 2-D distances are distorted;
:func:`cosine_table` says, in the full embedding space, whether the E2Rank pseudo-query
and the Rocchio vector move towards the relevant documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from e2rank_demo.projection import SPECIAL_LABELS, special_vectors, unit_rows

if TYPE_CHECKING:
    from e2rank_demo.pipeline import SearchSession
    from e2rank_demo.query_result import QueryResult


@dataclass(frozen=True)
class CosineRow:
    """Mean cosine of one query-side vector to two groups of candidates.

    Attributes:
        label: Display name of the vector.
        to_relevant: Mean cosine to the relevant group.
        to_rest: Mean cosine to the other candidates.
        change_relevant: ``to_relevant`` minus the query's (0 for the query itself).
        change_rest: ``to_rest`` minus the query's.
    """

    label: str
    to_relevant: float
    to_rest: float
    change_relevant: float
    change_rest: float

    @property
    def gap(self) -> float:
        """How much closer the vector is to the relevant group than to the rest."""
        return self.to_relevant - self.to_rest


@dataclass(frozen=True)
class CosineTable:
    """The full-space numbers behind the map.

    Attributes:
        rows: Query first, then the pseudo-query and Rocchio rows that were given.
        group_label: What the relevant group is (judged relevant, or the top-k stand-in).
        stand_in: True when nothing was judged and the top-k stand in for relevant.
        n_relevant: Documents in the relevant group.
        n_rest: Other documents.
    """

    rows: list[CosineRow]
    group_label: str
    stand_in: bool
    n_relevant: int
    n_rest: int

    HEADERS = (
        "vector",
        "mean cos to {group}",
        "mean cos to the rest",
        "gap",
        "change to {group} vs query",
        "change to the rest vs query",
    )

    def headers(self) -> list[str]:
        """Column titles for :meth:`as_rows`."""
        return [h.format(group=self.group_label) for h in self.HEADERS]

    def as_rows(self, digits: int = 4) -> list[list[str | float]]:
        """Rounded rows for a table component, aligned with :meth:`headers`."""
        return [
            [r.label, *(round(v, digits) for v in (r.to_relevant, r.to_rest, r.gap, r.change_relevant, r.change_rest))]
            for r in self.rows
        ]


def cosine_table(
    query: np.ndarray,
    prompt: np.ndarray | None,
    rocchio: np.ndarray | None,
    doc_vectors: np.ndarray,
    relevant_mask: Sequence[bool] | np.ndarray,
    *,
    stand_in: bool = False,
) -> CosineTable:
    """Mean cosine of the query, pseudo-query and Rocchio vectors to relevant vs other candidates.

    The truth the 2-D map only suggests: does the pseudo-query move towards the relevant
    documents (``change_relevant > 0``) more than towards the rest? A mean over an empty
    group is ``nan``.

    Args:
        query: The query embedding.
        prompt: The E2Rank pseudo-query embedding, or ``None`` if E2Rank did not run.
        rocchio: The Rocchio vector, or ``None``.
        doc_vectors: ``(N, d)`` embeddings of the candidates.
        relevant_mask: ``N`` flags: judged relevant, or (with ``stand_in``) in the top-k.
        stand_in: Nothing was judged and the mask marks the top-k instead; the table says so.

    Example:
        >>> docs = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> t = cosine_table(np.array([0.6, 0.8]), np.array([1.0, 0.0]), None, docs, [True, False])
        >>> [(r.label, r.to_relevant, r.to_rest) for r in t.rows]
        [('Query', 0.6, 0.8), ('E2Rank pseudo-query', 1.0, 0.0)]
        >>> round(t.rows[1].change_relevant, 6), round(t.rows[1].change_rest, 6)
        (0.4, -0.8)
    """
    mask = np.asarray(relevant_mask, dtype=bool)
    # float64: the table reports means to four digits; float32 rounding would show in exact cases.
    docs = unit_rows(doc_vectors, np.float64)
    if mask.shape != (len(docs),):
        raise ValueError(f"relevant_mask has {mask.size} flags for {len(docs)} documents")

    def means(vector: np.ndarray) -> tuple[float, float]:
        cos = docs @ unit_rows(vector, np.float64)
        return (
            float(cos[mask].mean()) if mask.any() else float("nan"),
            float(cos[~mask].mean()) if (~mask).any() else float("nan"),
        )

    base = means(query)
    rows = [CosineRow(SPECIAL_LABELS["query"], *base, 0.0, 0.0)]
    for key, vector in (("prompt", prompt), ("rocchio", rocchio)):
        if vector is not None:
            rel, rest = means(vector)
            rows.append(CosineRow(SPECIAL_LABELS[key], rel, rest, rel - base[0], rest - base[1]))
    n_rel = int(mask.sum())
    label = f"top-{n_rel} (stand-in: nothing judged)" if stand_in else "judged relevant"
    return CosineTable(rows, label, stand_in, n_rel, len(mask) - n_rel)


def cosine_table_for(
    session: SearchSession, result: QueryResult, relevance: Mapping[str, int] | None = None
) -> CosineTable:
    """:func:`cosine_table` for one search.

    Args:
        session: The session searched.
        result: Its result.
        relevance: Judgements for this query (passage or document id -> grade, > 0 is
            relevant). When none of the candidates is judged, the prompt's top-k stand in.
    """
    cands = result.candidates
    judged = relevance or {}
    grades = [judged.get(pid, judged.get(session.passage(pid).doc_id)) for pid in cands.ids]
    special = special_vectors(result)
    if any(g is not None for g in grades):
        mask, stand_in = np.array([bool(g and g > 0) for g in grades]), False
    else:
        k = len(result.prompt.doc_tokens_kept) if result.prompt is not None else result.prompt_k
        mask, stand_in = np.arange(len(cands)) < k, True
    return cosine_table(
        special["query"],
        special.get("prompt"),
        special.get("rocchio"),
        session.vectors[cands.rows],
        mask,
        stand_in=stand_in,
    )
