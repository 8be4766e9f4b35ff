"""IR metrics through ``ir-measures`` (trec_eval conventions via pytrec_eval).

nDCG@10 uses the graded judgments. The binary measures (MRR@10, Recall@N) count a
document as relevant from a collection's binary relevance level on: 1 by default, 2 for
TREC DL passage ranking, whose grade 1 means "related" but not relevant (the official
TREC DL convention; :func:`binary_relevance_level`).

Example:
    >>> qrels = {"q1": {"d1": 1, "d3": 2}}
    >>> run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}}
    >>> round(evaluate_run(qrels, run)["mrr@10"], 3)
    1.0
    >>> round(evaluate_run(qrels, run, binary_rel=2)["mrr@10"], 3)
    0.333
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ir_measures import Measure

    from e2rank_demo.records import Ranking

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

_TREC_DL = re.compile(r"(^|[^a-z])(trec[-_ ]?dl|dl[-_ ]?(19|20)|msmarco[-_ ]passage[/_-]trec[-_]dl)", re.I)


def binary_relevance_level(collection: str) -> int:
    """The lowest grade the binary measures count as relevant for a collection (by its name).

    Example:
        >>> binary_relevance_level("trec-dl-2019"), binary_relevance_level("DL19"), binary_relevance_level("scifact")
        (2, 2, 1)
    """
    return 2 if _TREC_DL.search(collection.strip()) else 1


def binary_label(binary_rel: int) -> str:
    """How tables and exports state the level: ``""`` for the default 1, else ``"rel ≥ 2"``."""
    return f"rel ≥ {binary_rel}" if binary_rel != 1 else ""


def _measures(recall_at: int, binary_rel: int = 1) -> dict[str, Measure]:
    from ir_measures import RR, R, nDCG  # imported on use: collections read their level without it

    if binary_rel == 1:
        return {"ndcg@10": nDCG @ 10, "mrr@10": RR @ 10, f"recall@{recall_at}": R @ recall_at}
    return {
        "ndcg@10": nDCG @ 10,
        "mrr@10": RR(rel=binary_rel) @ 10,
        f"recall@{recall_at}": R(rel=binary_rel) @ recall_at,
    }


def evaluate_run(qrels: Qrels, run: Run, recall_at: int = 100, binary_rel: int = 1) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and Recall@``recall_at`` over the queries in ``run`` that have judgements.

    Queries in ``run`` without any judgement are ignored, as trec_eval does. ``binary_rel``
    is the lowest grade MRR and Recall count as relevant (nDCG stays graded).
    """
    names = _measures(recall_at, binary_rel)
    judged = {q: dict(d) for q, d in qrels.items() if q in run}
    scored = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged}
    if not scored:
        return dict.fromkeys(names, 0.0)
    import ir_measures

    agg = ir_measures.calc_aggregate(list(names.values()), judged, scored)
    return {name: float(agg[m]) for name, m in names.items()}


def per_query(qrels: Qrels, run: Run, recall_at: int = 100, binary_rel: int = 1) -> dict[str, dict[str, float]]:
    """Per-query values of the same measures: ``{qid: {"ndcg@10": ...}}``."""
    names = _measures(recall_at, binary_rel)
    lookup = {str(m): name for name, m in names.items()}
    judged = {q: dict(d) for q, d in qrels.items() if q in run}
    scored = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged}
    out: dict[str, dict[str, float]] = {q: dict.fromkeys(names, 0.0) for q in scored}
    import ir_measures

    for metric in ir_measures.iter_calc(list(names.values()), judged, scored):
        out[metric.query_id][lookup[str(metric.measure)]] = float(metric.value)
    return out


def ranking_metrics(relevance: Mapping[str, int], ranking: Ranking | None, recall_at: int) -> dict[str, float] | None:
    """nDCG@10, MRR@10 and Recall@``recall_at`` of one shown ranking; ``None`` when nothing is judged relevant.

    The app's columns, the walkthrough and the HTML report all use this. Rank-derived
    scores make the metrics follow the displayed order exactly (no tie effects).
    """
    if ranking is None or not any(grade > 0 for grade in relevance.values()):
        return None
    run = {pid: float(len(ranking.ids) - i) for i, pid in enumerate(ranking.ids)}
    return evaluate_run({"q": dict(relevance)}, {"q": run}, recall_at=recall_at)
