"""Prompt lab: edited prompts, pinned judged documents, leave-one-out influence, provenance."""

from __future__ import annotations

import numpy as np
import pytest

from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.prompt_lab import compose_prompt
from e2rank_demo.records import Document

DOCS = [
    Document("bread", "Bread", "Yeast ferments sugar and carbon dioxide makes bread dough rise in the oven."),
    Document("tides", "Tides", "The gravity of the Moon pulls on the oceans and causes high and low tides."),
    Document("phone", "Telephone", "Alexander Graham Bell patented the telephone in 1876."),
    Document("sourdough", "Sourdough", "Sourdough bread uses wild yeast and lactic acid bacteria."),
    Document("mars", "Mars", "Mars is the fourth planet from the Sun and has two small moons."),
    Document("oven", "Ovens", "A hot oven sets the crumb of a loaf once the dough has risen."),
]
SETTINGS = SearchSettings(candidates=6, prompt_docs=4)


@pytest.fixture(scope="module", params=["encoder", "decoder"])
def session(request: pytest.FixtureRequest) -> SearchSession:
    embedder = request.getfixturevalue("minilm" if request.param == "encoder" else "tiny_decoder")
    return SearchSession.from_documents(DOCS, embedder)


def test_removing_a_document_equals_building_the_prompt_without_it(session: SearchSession) -> None:
    """Dropping one id from the prompt gives the prompt (and ranking) built from the other texts."""
    result = session.search("why does bread rise", SETTINGS)
    assert result.prompt_ids == result.first_stage.ids[:4] and not result.prompt_edited
    edited = session.rerank_with_prompt(result, result.prompt_ids[1:])
    texts = [session.passage(pid).full_text for pid in result.prompt_ids[1:]]
    direct = session.embedder.embed_listwise(result.query, texts, SETTINGS.header, SETTINGS.prompt_order)
    assert edited.prompt is not None and edited.prompt.text == direct.text
    np.testing.assert_allclose(edited.prompt.vector, direct.vector, atol=1e-5)
    scores = session.vectors[result.candidates.rows] @ direct.vector
    assert edited.reranked["e2rank"].ids == [result.candidates.ids[i] for i in np.argsort(-scores, kind="stable")]
    assert edited.prompt_ids == result.prompt_ids[1:] and edited.prompt_edited
    # The first stage and the other rerankers are untouched; the original result is not mutated.
    assert edited.first_stage is result.first_stage and edited.reranked["rocchio"] is result.reranked["rocchio"]
    assert result.prompt_ids == result.first_stage.ids[:4]
    assert session.rerank_with_prompt(edited, None).prompt.text == result.prompt.text  # reset to top-k


def test_pinned_judged_documents_come_first_in_the_chosen_order(session: SearchSession) -> None:
    """Pinned ids lead the prompt in the user's order, even ones outside the first-stage top-k."""
    result = session.search("why does bread rise", SETTINGS)
    outside = result.first_stage.ids[-1]
    ids = compose_prompt(result.first_stage.ids, 4, pinned=[outside, result.first_stage.ids[2]])
    assert ids[:2] == [outside, result.first_stage.ids[2]] and len(ids) == 4 and len(set(ids)) == 4
    edited = session.rerank_with_prompt(result, ids)
    body = edited.prompt.text
    positions = [body.index(session.passage(pid).text) for pid in ids]
    assert positions == sorted(positions)
    assert body.index(f"[1] {session.passage(outside).full_text}") >= 0


def test_influence_equals_independently_recomputed_cosine_distances(session: SearchSession) -> None:
    """Each leave-one-out distance is 1 - cos(full prompt, prompt embedded alone without that document)."""
    result = session.search("why does bread rise", SETTINGS)
    relevance = {"bread": 2, "sourdough": 1}
    influence = session.prompt_influence(result, relevance)
    assert [item.doc_id for item in influence.items] == result.prompt_ids
    texts = [session.passage(pid).full_text for pid in result.prompt_ids]
    for i, item in enumerate(influence.items):
        alone = session.embedder.embed_listwise(result.query, texts[:i] + texts[i + 1:], SETTINGS.header)
        assert item.distance == pytest.approx(1.0 - float(alone.vector @ result.prompt.vector), abs=1e-5)
        without = session.rerank_with_prompt(result, result.prompt_ids[:i] + result.prompt_ids[i + 1:])
        ranks, base = without.reranked["e2rank"].rank_of(), result.reranked["e2rank"].rank_of()
        assert item.rank_changes == {pid: ranks[pid] - base[pid] for pid in relevance}
        assert item.ndcg_delta is not None
    assert influence.ndcg is not None and 0.0 < influence.ndcg <= 1.0
    assert [i.distance for i in influence.ranked()] == sorted((i.distance for i in influence.items), reverse=True)


def test_influence_without_judgments_and_bad_prompts(session: SearchSession) -> None:
    """No judgments: no nDCG; unknown or repeated ids give a plain message."""
    result = session.search("ocean tides", SETTINGS)
    influence = session.prompt_influence(result)
    assert influence.ndcg is None and all(i.ndcg_delta is None and i.rank_changes == {} for i in influence.items)
    with pytest.raises(ValueError, match="not in this corpus"):
        session.rerank_with_prompt(result, ["nope"])
    with pytest.raises(ValueError, match="twice"):
        session.rerank_with_prompt(result, ["tides", "tides"])


def test_provenance_matches_direct_cosines(session: SearchSession) -> None:
    """The pseudo-query's cosines to its sources, and Rocchio's over the same documents."""
    result = session.search("why does bread rise", SETTINGS)
    prov = session.prompt_provenance(result)
    docs = session.vectors[[session.row_of[pid] for pid in result.prompt_ids]]
    assert prov.doc_ids == result.prompt_ids
    assert prov.prompt_to_query == pytest.approx(float(result.prompt.vector @ result.query_vector), abs=1e-6)
    np.testing.assert_allclose(prov.prompt_to_docs, docs @ result.prompt.vector, atol=1e-6)
    rocchio = result.query_vector + 0.5 * docs.mean(axis=0)
    rocchio /= np.linalg.norm(rocchio)
    assert prov.rocchio_to_query == pytest.approx(float(rocchio @ result.query_vector), abs=1e-5)


def test_batched_prompts_equal_single_passes(session: SearchSession) -> None:
    """Padding in a batch of prompts of different lengths does not change any vector."""
    texts = [session.passage(d.id).full_text for d in DOCS]
    built = [session.embedder.build_listwise("bread", texts[:n]) for n in (1, 3, 6)]
    batched = session.embedder.encode_prompts(built)
    for one, b in zip(built, batched):
        single = session.embedder.encode_prompt(one)
        np.testing.assert_allclose(b.vector, single.vector, atol=1e-5)
        assert b.n_tokens == single.n_tokens


def test_flipping_the_pooling_ranks_with_the_other_pseudo_query(session: SearchSession) -> None:
    """The same prompt pooled the other way gives the vector and ranking of a search run with that pooling;
    the comparison's ranks, moves, shared top and cosines are what those two rankings say."""
    result = session.search("why does bread rise", SETTINGS)
    current = result.prompt.pooling
    flipped = session.compare_pooling(result, relevance={"bread": 1, "sourdough": 1})
    other = {"query": "mean", "mean": "query", "last": "query"}[current]
    assert flipped.poolings == (current, other)
    np.testing.assert_allclose(flipped.vectors[0], result.prompt.vector, atol=1e-5)
    direct = session.search("why does bread rise", SETTINGS.replace(prompt_pooling=other))
    np.testing.assert_allclose(flipped.vectors[1], direct.prompt.vector, atol=1e-5)
    for ranks, ranking in zip(flipped.ranks, (result.reranked["e2rank"], direct.reranked["e2rank"])):
        assert sorted(ranks, key=ranks.__getitem__) == ranking.ids
    assert flipped.cosine == pytest.approx(float(flipped.vectors[0] @ flipped.vectors[1]), abs=1e-6)
    assert flipped.to_query[1] == pytest.approx(float(direct.prompt.vector @ result.query_vector), abs=1e-5)
    assert flipped.pooled_tokens[0] == result.prompt.pooled_tokens and flipped.n_tokens == result.prompt.n_tokens
    moves = flipped.moves(top=3)
    assert all(a <= 3 or b <= 3 for _, a, b in moves)
    assert [abs(b - a) for _, a, b in moves] == sorted((abs(b - a) for _, a, b in moves), reverse=True)
    assert flipped.shared_top(6) == 6 and flipped.ndcg is not None and len(flipped.ndcg) == 2
    chosen = session.compare_pooling(result, "mean" if current != "mean" else "last")
    assert chosen.poolings[1] == ("mean" if current != "mean" else "last")
