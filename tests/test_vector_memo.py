"""Reusing identical queries' and listwise prompts' vectors: equal to a fresh pass, said so, never where time is
measured."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from e2rank_demo.latency import measure_latency
from e2rank_demo.models import Embedder, VectorMemo
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.report import timing_rows
from e2rank_demo.ui import render

SETTINGS = SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",))


@pytest.fixture
def passes(minilm, monkeypatch: pytest.MonkeyPatch) -> list[int]:  # noqa: ANN001
    """A fresh memo for the shared model, and a list that grows by the prompts of each listwise forward pass."""
    monkeypatch.setattr(minilm, "_prompt_memo", VectorMemo())
    monkeypatch.setattr(minilm, "_query_memo", VectorMemo())
    counted: list[int] = []
    encode = Embedder._encode_prompts

    def counting(self: Embedder, built, batch_size, pooling):  # noqa: ANN001, ANN202
        counted.append(len(built))
        return encode(self, built, batch_size, pooling)

    monkeypatch.setattr(Embedder, "_encode_prompts", counting)
    return counted


@pytest.fixture
def session(minilm, small_docs) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(small_docs, minilm)


def test_an_identical_prompt_reuses_the_vector_a_fresh_pass_gives(session: SearchSession, passes: list[int]) -> None:
    fresh = session.search("how do ocean tides work", SETTINGS, reuse_vectors=True)
    again = session.search("how do ocean tides work", SETTINGS, reuse_vectors=True)
    assert passes == [1]
    assert fresh.prompt is not None and again.prompt is not None
    assert fresh.prompt.reused_s is None and fresh.timings.reused == {}
    assert again.prompt.reused_s is not None and again.prompt.reused_s > 0
    assert again.timings.reused.keys() == {"query_encoding", "e2rank.prompt_encoding"}
    assert again.timings.reused["e2rank.prompt_encoding"] == again.prompt.reused_s
    np.testing.assert_array_equal(again.prompt.vector, fresh.prompt.vector)
    np.testing.assert_array_equal(again.query_vector, fresh.query_vector)
    assert again.reranked["e2rank"].ids == fresh.reranked["e2rank"].ids
    assert again.prompt.text == fresh.prompt.text and again.prompt.n_tokens == fresh.prompt.n_tokens
    # A fresh pass without reuse gives the same vector: the reused one is not an approximation.
    plain = session.search("how do ocean tides work", SETTINGS)
    np.testing.assert_allclose(plain.prompt.vector, fresh.prompt.vector, atol=1e-6)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "other",
    [
        SearchSettings(candidates=5, prompt_docs=2, rerankers=("e2rank",)),
        SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",), prompt_pooling="last"),
        SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",), rerank_instruction="Rank the passages."),
        SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",), prompt_order="query_first"),
    ],
    ids=["k", "pooling", "instruction", "order"],
)
def test_any_change_to_the_model_input_is_a_new_pass(
    session: SearchSession, passes: list[int], other: SearchSettings
) -> None:
    first = session.search("why does bread rise", SETTINGS, reuse_vectors=True)
    changed = session.search("why does bread rise", other, reuse_vectors=True)
    assert passes == [1, 1]
    assert changed.prompt is not None and changed.prompt.reused_s is None
    assert changed.prompt.text != first.prompt.text or changed.prompt.pooling != first.prompt.pooling  # type: ignore[union-attr]


def test_without_opting_in_every_search_and_every_measurement_runs_the_pass(
    session: SearchSession, passes: list[int]
) -> None:
    session.search("who invented the telephone", SETTINGS, reuse_vectors=True)
    passes.clear()
    session.search("who invented the telephone", SETTINGS)
    assert passes == [1]
    report = measure_latency(session, "who invented the telephone", SETTINGS, warmup=False, subsample=2)
    assert len(passes) >= 2  # the latency panel's E2Rank run, and more, each timed with its own pass
    assert report.system("e2rank").stages["prompt_encoding"] > 0


def test_a_class_sending_one_prompt_at_once_gets_one_forward_pass(session: SearchSession, passes: list[int]) -> None:
    start = threading.Barrier(6)
    results = []

    def visitor() -> None:
        start.wait()
        results.append(session.search("what moons does mars have", SETTINGS, reuse_vectors=True))

    threads = [threading.Thread(target=visitor) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passes == [1]
    assert sum(r.prompt.reused_s is None for r in results) == 1  # type: ignore[union-attr]
    assert len({tuple(r.reranked["e2rank"].ids) for r in results}) == 1


def test_the_search_line_and_the_report_say_a_vector_was_reused(session: SearchSession, passes: list[int]) -> None:
    fresh = session.search("sourdough wild yeast", SETTINGS, reuse_vectors=True)
    again = session.search("sourdough wild yeast", SETTINGS, reuse_vectors=True)
    assert "reused" not in render.search_line(5, session.size, fresh.timings)
    line = render.search_line(5, session.size, again.timings)
    assert f">5 candidates from {session.size} passages in " in line and "s (vectors reused).</p>" in line
    assert f"listwise prompt vector ({again.timings.reused['e2rank.prompt_encoding']:.3f} s then)" in line
    assert f"query vector ({again.timings.reused['query_encoding']:.3f} s then)" in line
    reused_rows = [label for label, _ in timing_rows(again) if "reused" in label]
    assert len(reused_rows) == 2 and any(label.startswith("E2Rank") for label in reused_rows)
    assert not [label for label, _ in timing_rows(fresh) if "reused" in label]


def test_the_memo_keeps_the_most_recently_used() -> None:
    memo: VectorMemo[str] = VectorMemo(size=2)
    memo.put("a", "A", 0.1)
    memo.put("b", "B", 0.2)
    assert memo.get("a") == ("A", 0.1)  # "a" is now the most recent
    memo.put("c", "C", 0.3)
    assert memo.get("b") is None and memo.get("a") is not None and len(memo) == 2


def test_an_edited_prompt_after_a_reused_search_is_not_called_reused(session: SearchSession, passes: list[int]) -> None:
    session.search("why does bread rise", SETTINGS, reuse_vectors=True)
    again = session.search("why does bread rise", SETTINGS, reuse_vectors=True)
    edited = session.rerank_with_prompt(again, list(again.candidates.ids[:2]))
    assert "e2rank.prompt_encoding" in again.timings.reused
    assert "e2rank.prompt_encoding" not in edited.timings.reused and "query_encoding" in edited.timings.reused


def test_a_second_influence_chart_of_the_same_prompt_reuses_its_passes_and_says_so(
    session: SearchSession, passes: list[int]
) -> None:
    from e2rank_demo.plots import influence_chart

    result = session.search("why does bread rise", SETTINGS, reuse_vectors=True)
    passes.clear()
    first = session.prompt_influence(result, reuse_vectors=True)
    second = session.prompt_influence(result, reuse_vectors=True)
    measured = session.prompt_influence(result)
    assert passes == [1, 1, 1, 3]  # k = 3 prompts: one pass each, none the second time, all when measured
    assert (first.reused, second.reused, measured.reused) == (0, 3, 0)
    assert [i.distance for i in second.items] == [i.distance for i in first.items]
    assert "3 of them reused" in str(influence_chart(second, session).fig.layout.title.text)
    assert "reused" not in str(influence_chart(first, session).fig.layout.title.text)


def test_visitors_asking_at_once_wait_for_one_computation_and_a_failure_is_not_kept() -> None:
    """One computation serves everyone who asks while it runs (or after); when it fails, every visitor gets an
    error (those who waited, its own), and the next request computes again."""
    memo: VectorMemo[str] = VectorMemo()
    started, finish = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(value: str) -> str:
        calls.append(value)
        started.set()
        finish.wait(30)
        if value == "boom":
            raise ValueError("the model failed")
        return value

    for value in ("vector", "boom"):
        started.clear()
        finish.clear()
        answers: list[object] = []

        def ask(value: str = value) -> None:
            try:
                answers.append(memo.reuse(value, lambda: slow(value)))
            except ValueError as exc:
                answers.append(exc)

        first = threading.Thread(target=ask)
        first.start()
        assert started.wait(30)
        others = [threading.Thread(target=ask) for _ in range(4)]
        for thread in others:
            thread.start()
        finish.set()
        for thread in (first, *others):
            thread.join(timeout=30)
        assert len(answers) == 5
        if value == "vector":
            assert calls.count(value) == 1
            assert sum(a == ("vector", None) for a in answers) == 1  # type: ignore[comparison-overlap]
            assert all(isinstance(a, tuple) and a[0] == "vector" for a in answers)
        else:
            assert all(isinstance(a, ValueError) for a in answers)
    assert memo.get("boom") is None and memo.reuse("boom", lambda: "later")[0] == "later"  # a failure is not kept
