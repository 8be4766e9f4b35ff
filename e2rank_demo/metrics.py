"""IR metrics through ``ir-measures`` (trec_eval conventions via pytrec_eval).

Example:
    >>> qrels = {"q1": {"d1": 1, "d3": 1}}
    >>> run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}}
    >>> round(evaluate_run(qrels, run)["mrr@10"], 3)
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping

import ir_measures
from ir_measures import R, RR, nDCG

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

MEASURES = {"ndcg@10": nDCG @ 10, "mrr@10": RR @ 10, "recall@100": R @ 100}


def _measures(recall_at: int) -> dict[str, object]:
    if recall_at == 100:
        return MEASURES
    return {"ndcg@10": nDCG @ 10, "mrr@10": RR @ 10, f"recall@{recall_at}": R @ recall_at}


def evaluate_run(qrels: Qrels, run: Run, recall_at: int = 100) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and Recall@``recall_at`` over the queries in ``run`` that have judgements.

    Queries in ``run`` without any judgement are ignored, as trec_eval does.
    """
    names = _measures(recall_at)
    judged = {q: dict(d) for q, d in qrels.items() if q in run}
    scored = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged}
    if not scored:
        return {name: 0.0 for name in names}
    agg = ir_measures.calc_aggregate(list(names.values()), judged, scored)
    return {name: float(agg[m]) for name, m in names.items()}


def per_query(qrels: Qrels, run: Run, recall_at: int = 100) -> dict[str, dict[str, float]]:
    """Per-query values of the same measures: ``{qid: {"ndcg@10": ...}}``."""
    names = _measures(recall_at)
    lookup = {str(m): name for name, m in names.items()}
    judged = {q: dict(d) for q, d in qrels.items() if q in run}
    scored = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in judged}
    out: dict[str, dict[str, float]] = {q: {name: 0.0 for name in names} for q in scored}
    for metric in ir_measures.iter_calc(list(names.values()), judged, scored):
        out[metric.query_id][lookup[str(metric.measure)]] = float(metric.value)
    return out
