"""SearchSession: first stages, settings validation, results and timings."""

from __future__ import annotations

import pytest

from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Document



@pytest.fixture(scope="module")
def session(minilm, small_docs) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(small_docs, minilm)


def test_dense_search_finds_the_answer(session: SearchSession) -> None:
    """The real offline model puts the obvious answer first."""
    result = session.search("how do ocean tides work", SearchSettings(candidates=5, prompt_docs=3))
    assert result.first_stage.ids[0] == "tides"
    assert len(result.first_stage.ids) == 5
    assert set(result.reranked) == {"e2rank", "rocchio", "dense"}
    assert result.prompt is not None and result.prompt.n_tokens <= 512
    assert {"query_encoding", "first_stage", "e2rank.prompt_build", "e2rank.prompt_encoding",
            "e2rank.scoring"} <= set(result.timings.stages)


def test_bm25_first_stage(session: SearchSession) -> None:
    """BM25 returns only passages sharing a term, and rerankers still run on them."""
    result = session.search("telephone patent", SearchSettings(first_stage="bm25", candidates=5))
    assert result.first_stage.ids == ["phone"]
    assert result.reranked["e2rank"].ids == ["phone"]


def test_no_candidates_gives_empty_rankings(session: SearchSession) -> None:
    """A BM25 query matching nothing yields empty lists, not an error."""
    result = session.search("zyzzyva", SearchSettings(first_stage="bm25"))
    assert result.first_stage.ids == [] and result.reranked == {}


def test_dense_reranker_equals_dense_first_stage(session: SearchSession) -> None:
    """Reranking dense candidates by cos(q, d) reproduces the dense order."""
    result = session.search("planets and moons", SearchSettings(candidates=5))
    assert result.reranked["dense"].ids == result.first_stage.ids


def test_result_settings_are_the_typed_settings_resolved_for_the_model(session: SearchSession, minilm) -> None:  # noqa: ANN001
    """``QueryResult.settings`` is the SearchSettings the search ran with, k and pooling filled in from the model."""
    asked = SearchSettings(candidates=4, rerankers=("e2rank",))
    result = session.search("why does bread rise", asked)
    assert isinstance(result.settings, SearchSettings)
    assert result.settings == asked.for_model(minilm)
    assert (result.settings.prompt_docs, result.settings.prompt_pooling) == (minilm.prompt_docs, minilm.prompt_pooling)
    assert result.prompt_k == minilm.prompt_docs and not result.prompt_edited
    added, _ = session.add_reranker(result, "rocchio")
    assert added.settings is result.settings and added.reranked["rocchio"].ids


@pytest.mark.parametrize(("bad", "message"), [
    ({"candidates": 0}, "candidates N"), ({"prompt_docs": 500}, "prompt documents k"),
    ({"interpolation": 1.5}, "lambda"), ({"task": "nope"}, "unknown task"), ({"first_stage": "magic"}, "first stage"),
    ({"rerankers": ("e2rank", "colbert")}, "unknown reranker"), ({"prompt_order": "random"}, "prompt order"),
])
def test_settings_are_validated(bad: dict, message: str) -> None:
    """Out-of-range settings raise one plain ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        SearchSettings(**bad)


def test_empty_query_and_empty_corpus_are_refused(session: SearchSession, minilm) -> None:  # noqa: ANN001
    """Empty inputs give a plain message."""
    with pytest.raises(ValueError, match="query is empty"):
        session.search("   ")
    with pytest.raises(ValueError, match="corpus is empty"):
        SearchSession.from_documents([], minilm)


def test_split_passages_keep_document(minilm, small_docs) -> None:  # noqa: ANN001
    """Long documents become passages that keep their document id."""
    long_doc = Document("long", "Long", " ".join(f"word{i}" for i in range(450)))
    session = SearchSession.from_documents([long_doc, *small_docs], minilm, split=True, max_words=200, overlap=40)
    parts = [p for p in session.passages if p.doc_id == "long"]
    assert len(parts) >= 3 and parts[1].id == "long#1"
    stats = session.stats()
    assert stats.n_documents == 6 and stats.n_passages == len(session.passages) and stats.n_tokens > 450


def test_hnsw_index_agrees_on_small_corpus(minilm, small_docs) -> None:  # noqa: ANN001
    """The HNSW option returns the same top result as the exact index on a small corpus."""
    exact = SearchSession.from_documents(small_docs, minilm)
    approx = SearchSession.from_documents(small_docs, minilm, index_kind="hnsw")
    q = "yeast and bread"
    assert exact.search(q).first_stage.ids[:2] == approx.search(q).first_stage.ids[:2]


def test_query_length_limit(session: SearchSession) -> None:
    """An over-long query is refused with a message naming the limit and its value."""
    from e2rank_demo.pipeline import MAX_QUERY_CHARS

    with pytest.raises(ValueError, match=f"limit is {MAX_QUERY_CHARS:,}"):
        session.search("x" * (MAX_QUERY_CHARS + 1))


def test_corpus_token_count_tokenises_a_corpus_once_per_model(minilm, small_docs, monkeypatch) -> None:  # noqa: ANN001
    """The corpus panel's token total is the tokenizer's count, and a second session of the same corpus (the next
    visitor of a sample) reuses it instead of tokenising every passage again."""
    from e2rank_demo import pipeline

    texts = [f"{d.title} {d.text} (count test)" for d in small_docs]
    expected = sum(minilm.count_tokens(texts))
    calls = []
    original = type(minilm).count_tokens

    def counting(self, batch):  # noqa: ANN001, ANN202
        calls.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(type(minilm), "count_tokens", counting)
    assert pipeline.corpus_token_count(minilm, texts) == expected
    assert pipeline.corpus_token_count(minilm, list(texts)) == expected
    assert calls == [len(texts)]
    assert pipeline.corpus_token_count(minilm, [*texts[:-1], texts[-1] + " changed"]) != expected
    assert len(calls) == 2
