"""Rerankers: one model call for E2Rank, no document re-encoding, Rocchio and dense maths."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest

from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Candidates
from e2rank_demo.rerank import DenseReranker, E2RankReranker, RocchioReranker, rank_by



@pytest.fixture(scope="module")
def decoder_session(tiny_decoder, small_docs) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(small_docs, tiny_decoder)


def test_e2rank_makes_exactly_one_model_call(decoder_session: SearchSession) -> None:
    """Reranking an indexed corpus runs the model once (the prompt); documents are not re-encoded."""
    embedder = decoder_session.embedder
    settings = SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",))
    query_vector = embedder.embed_queries(["why does bread rise"])[0]
    candidates = decoder_session.dense.search(query_vector, 5)
    with patch.object(embedder, "_forward", wraps=embedder._forward) as forward, \
         patch.object(embedder, "embed_documents", wraps=embedder.embed_documents) as embed_docs:
        ranking = settings.build_rerankers(embedder)["e2rank"].rerank(
            "why does bread rise", query_vector, candidates, decoder_session.vectors[candidates.rows],
            [decoder_session.texts[r] for r in candidates.rows])
    assert forward.call_count == 1
    assert embed_docs.call_count == 0
    assert sorted(ranking.ids) == sorted(candidates.ids)
    assert ranking.prompt is not None and ranking.prompt.text.count("[") >= 3


def test_full_search_runs_two_model_calls(decoder_session: SearchSession) -> None:
    """A whole search on an indexed corpus costs the query pass plus the prompt pass, nothing more."""
    embedder = decoder_session.embedder
    with patch.object(embedder, "_forward", wraps=embedder._forward) as forward:
        result = decoder_session.search("why does bread rise", SearchSettings(candidates=5, prompt_docs=3))
    assert forward.call_count == 2
    assert set(result.reranked) == {"e2rank", "rocchio", "dense"}


def test_prompts_are_built_from_the_indexed_token_ids(decoder_session: SearchSession) -> None:
    """A search, an edited prompt and the influence chart hand the prompt the ids computed at indexing: no passage
    is tokenised, and every prompt equals the one built by tokenising the texts."""
    import copy

    session, query = decoder_session, "why does bread rise"
    plain = copy.copy(session)
    plain.tokens = None  # what a session without ids (a document store's) does: tokenise the prompt documents
    settings = SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",))
    embedder = session.embedder
    with patch.object(embedder, "_document_ids", wraps=embedder._document_ids) as tokenise:
        result = session.search(query, settings)
        order = list(reversed(result.prompt_ids))
        edited = session.rerank_with_prompt(result, order)
        influence = session.prompt_influence(result)
    assert all(call.args[0] == [] for call in tokenise.call_args_list), "a passage was tokenised"
    expected = plain.search(query, settings)
    assert result.prompt.text == expected.prompt.text
    np.testing.assert_allclose(result.prompt.vector, expected.prompt.vector, atol=1e-5)
    assert edited.prompt.text == plain.rerank_with_prompt(expected, order).prompt.text
    np.testing.assert_allclose([item.distance for item in influence.items],
                               [item.distance for item in plain.prompt_influence(expected).items], atol=1e-5)


def test_e2rank_scores_are_cosines_with_prompt_vector(decoder_session: SearchSession) -> None:
    """E2Rank scores equal cos(prompt, cached document vector), and lambda interpolates with the query."""
    result = decoder_session.search("tides and the moon", SearchSettings(candidates=5, prompt_docs=2))
    prompt = result.prompt.vector
    ranking = result.reranked["e2rank"]
    for pid, score in ranking.top(5):
        np.testing.assert_allclose(score, decoder_session.vectors[decoder_session.row_of[pid]] @ prompt, atol=1e-5)
    mixed = decoder_session.search("tides and the moon",
                                   SearchSettings(candidates=5, prompt_docs=2, interpolation=0.5)).reranked["e2rank"]
    for pid, score in mixed.top(5):
        d = decoder_session.vectors[decoder_session.row_of[pid]]
        np.testing.assert_allclose(score, 0.5 * d @ result.query_vector + 0.5 * d @ prompt, atol=1e-5)


def test_reencode_variant_encodes_candidates(decoder_session: SearchSession) -> None:
    """The no-cache variant re-encodes every candidate (what systems without reuse pay) and agrees."""
    embedder = decoder_session.embedder
    q = embedder.embed_queries(["bread"])[0]
    cands = decoder_session.dense.search(q, 4)
    texts = [decoder_session.texts[r] for r in cands.rows]
    cached = E2RankReranker(embedder, k=2).rerank("bread", q, cands, decoder_session.vectors[cands.rows], texts)
    with patch.object(embedder, "embed_documents", wraps=embedder.embed_documents) as embed_docs:
        fresh = E2RankReranker(embedder, k=2, reencode=True).rerank("bread", q, cands, None, texts)
    assert embed_docs.call_count == 1
    assert fresh.ids == cached.ids


def test_rocchio_moves_query_toward_feedback_centroid() -> None:
    """Rocchio scores with normalise(alpha*q + beta*mean(top-k)) on a hand-made example."""
    docs = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    cands = Candidates(["a", "b", "c"], np.array([3.0, 2.0, 1.0]), np.arange(3))
    q = np.array([1.0, 0.0], dtype=np.float32)
    ranking = RocchioReranker(alpha=1.0, beta=1.0, k=2).rerank("q", q, cands, docs, [])
    expected = np.array([1.5, 0.5]) / np.linalg.norm([1.5, 0.5])
    np.testing.assert_allclose(ranking.vectors["rocchio"], expected, atol=1e-6)
    assert ranking.ids == ["a", "c", "b"]


def test_dense_reranker_and_stable_ties() -> None:
    """Dense rescoring sorts by cosine; equal scores keep first-stage order."""
    docs = np.array([[0, 1], [1, 0], [1, 0]], dtype=np.float32)
    cands = Candidates(["x", "y", "z"], np.zeros(3), np.arange(3))
    assert DenseReranker().rerank("q", np.array([1, 0], np.float32), cands, docs, []).ids == ["y", "z", "x"]
    assert rank_by("s", cands, np.array([1.0, 1.0, 2.0])).ids == ["z", "x", "y"]


def test_rank_deltas() -> None:
    """Rank deltas are positive for documents that moved up."""
    cands = Candidates(["a", "b", "c"], np.array([3.0, 2.0, 1.0]), np.arange(3))
    first = rank_by("first_stage", cands, np.array([3.0, 2.0, 1.0]))
    other = rank_by("x", cands, np.array([1.0, 2.0, 3.0]))
    assert other.deltas_against(first) == {"c": 2, "b": 0, "a": -2}
