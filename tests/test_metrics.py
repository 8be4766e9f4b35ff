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


def test_binary_measures_at_rel_2_skip_grade_1_and_ndcg_stays_graded() -> None:
    """TREC DL convention: MRR and Recall count grade >= 2 only; nDCG uses the grades unchanged."""
    qrels = {"q1": {"d1": 1, "d3": 2, "d9": 1}, "q2": {"d2": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}, "q2": {"d1": 0.9, "d2": 0.5}}
    graded, strict = evaluate_run(qrels, run), evaluate_run(qrels, run, binary_rel=2)
    assert strict["ndcg@10"] == pytest.approx(graded["ndcg@10"])
    # q1: its only grade-2 document is third; q2 is judged but has no grade-2 document, so it scores 0.
    assert strict["mrr@10"] == pytest.approx((1 / 3 + 0) / 2)
    assert strict["recall@100"] == pytest.approx((1 + 0) / 2)
    assert per_query(qrels, run, binary_rel=2)["q1"]["mrr@10"] == pytest.approx(1 / 3)


def test_the_binary_level_is_a_per_collection_setting() -> None:
    """TREC DL collections (by name, also as uploads) get level 2; others 1; a dataset can set its own."""
    from e2rank_demo.corpus import BeirDataset
    from e2rank_demo.metrics import binary_label, binary_relevance_level

    assert [binary_relevance_level(n) for n in ("trec-dl-2019", "TREC DL 2020", "dl19", "scifact", "general",
                                                "nfcorpus", "msmarco-passage/trec-dl-2019")] == [2, 2, 2, 1, 1, 1, 2]
    assert BeirDataset("trec-dl-2019", [], {}, {}).binary_rel == 2
    assert BeirDataset("scifact", [], {}, {}).binary_rel == 1
    assert BeirDataset("mine", [], {}, {}, binary_rel=2).binary_rel == 2
    assert (binary_label(1), binary_label(2)) == ("", "rel ≥ 2")


@pytest.mark.data
def test_bm25_on_dl19_at_the_trec_dl_convention(shared_data) -> None:  # noqa: ANN001
    """The official BM25 top-100 on TREC DL 2019: RR@10 0.7024 and R@100 0.4911 at rel >= 2 (0.8233 and
    0.4531 at rel >= 1), nDCG@10 0.5058, as ir-measures' RR(rel=2)@10 and R(rel=2)@100 give."""
    from e2rank_demo.corpus import load_beir

    dataset = load_beir(shared_data / "trec-dl-2019")
    run = {q: dict(ranked) for q, ranked in dataset.runs["bm25_top100"].items()}
    qrels = dataset.qrels["test"]
    assert dataset.binary_rel == 2
    strict = evaluate_run(qrels, run, binary_rel=dataset.binary_rel)
    loose = evaluate_run(qrels, run)
    assert strict["mrr@10"] == pytest.approx(0.7024, abs=5e-5)
    assert strict["recall@100"] == pytest.approx(0.4911, abs=1e-4)
    assert loose["mrr@10"] == pytest.approx(0.8233, abs=5e-5)
    assert loose["recall@100"] == pytest.approx(0.4531, abs=5e-5)
    assert strict["ndcg@10"] == loose["ndcg@10"] == pytest.approx(0.5058, abs=5e-5)
