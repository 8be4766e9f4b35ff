"""Metrics against hand-computed values (trec_eval conventions)."""

from __future__ import annotations

import math

import pytest

from e2rank_demo.metrics import evaluate_run, per_query


def test_hand_checked_example() -> None:
    """nDCG@10, MRR@10 and Recall@100 match values computed by hand."""
    qrels = {"q1": {"d1": 1, "d3": 2, "d9": 1}, "q2": {"d2": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}, "q2": {"d1": 0.9, "d2": 0.5}}
    dcg1 = 1 / math.log2(2) + 2 / math.log2(4)
    idcg1 = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    dcg2 = 1 / math.log2(3)
    values = evaluate_run(qrels, run)
    assert values["ndcg@10"] == pytest.approx((dcg1 / idcg1 + dcg2) / 2)
    assert values["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert values["recall@100"] == pytest.approx((2 / 3 + 1) / 2)
    assert per_query(qrels, run)["q2"]["mrr@10"] == pytest.approx(0.5)


def test_unjudged_queries_are_ignored() -> None:
    """Queries without judgements do not count, as in trec_eval."""
    values = evaluate_run({"q1": {"d1": 1}}, {"q1": {"d1": 1.0}, "q9": {"d1": 1.0}})
    assert values["ndcg@10"] == pytest.approx(1.0)


def test_query_with_no_relevant_retrieved_scores_zero() -> None:
    """A judged query whose run misses every relevant document scores 0."""
    assert evaluate_run({"q1": {"d1": 1}}, {"q1": {"d2": 1.0}})["ndcg@10"] == 0.0
