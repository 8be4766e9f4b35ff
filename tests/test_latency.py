"""Latency: every system and stage measured, document encoding apart, scaling against N."""

from __future__ import annotations

import threading
from unittest.mock import patch

import numpy as np
import pytest

from e2rank_demo.latency import (
    REPORTED_LATENCY,
    SCALING_SYSTEMS,
    STAGES,
    SYSTEMS,
    MeasurementCancelled,
    measure_latency,
    run_cancellable,
    scaling_run,
)
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Document

DOCS = [Document(f"d{i}", f"Doc {i}", f"Passage {i} about bread, yeast and dough number {i}.") for i in range(12)]
SETTINGS = SearchSettings(candidates=8, prompt_docs=3)


@pytest.fixture(scope="module")
def session(tiny_decoder) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(DOCS, tiny_decoder)


def test_measure_latency_reports_every_system_and_stage(session: SearchSession) -> None:
    """Each system has positive measured stages; only the no-cache variant encodes candidates."""
    report = measure_latency(session, "why does bread rise", SETTINGS, repeats=2)
    assert [s.system for s in report.systems] == list(SYSTEMS)
    assert (report.n_candidates, report.prompt_docs, report.repeats, report.n_documents) == (8, 3, 2, 12)
    for system in report.systems:
        assert set(system.stages) <= set(STAGES)
        assert {"query_encoding", "first_stage"} <= set(system.stages)
        assert all(v > 0 for v in system.stages.values()) and system.total > 0
    assert set(report.system("first_stage").stages) == {"query_encoding", "first_stage"}
    assert {"prompt_build", "prompt_encoding", "scoring"} <= set(report.system("e2rank").stages)
    assert "candidate_encoding" not in report.system("e2rank").stages
    assert report.system("e2rank_nocache").stages["candidate_encoding"] > 0
    pointwise = report.system("pointwise")
    assert "pair_encoding" in pointwise.stages and not pointwise.ranks and "no ranking" in pointwise.label
    assert report.doc_encoding_s > 0 and not report.doc_encoding_cached
    assert [row[0] for row in report.as_rows()] == [s.label for s in report.systems]


def test_measure_latency_rejects_an_empty_query(session: SearchSession) -> None:
    """A blank query is a clear error, not a timing of nothing."""
    with pytest.raises(ValueError, match="empty"):
        measure_latency(session, "   ", SETTINGS)


def test_scaling_run_returns_points_for_requested_ns(session: SearchSession) -> None:
    """One point per requested N and system; N past the corpus is capped and reported."""
    calls: list[tuple[int, int]] = []
    result = scaling_run(session, "why does bread rise", ns=(2, 5, 50), settings=SETTINGS,
                         progress=lambda done, total: calls.append((done, total)))
    assert [(p.n_requested, p.system) for p in result.points] == [
        (n, s) for n in (2, 5, 50) for s in SCALING_SYSTEMS]
    assert {p.n_requested: p.n_used for p in result.points} == {2: 2, 5: 5, 50: 12}
    assert all(p.seconds > 0 for p in result.points)
    assert calls[-1] == (9, 9) and len(calls) == 9
    assert "50" in result.capped_note and "12" in result.capped_note
    assert [n for n, _ in result.series("e2rank")] == [2, 5, 12]


def test_reported_latency_is_the_papers_table() -> None:
    """The A100 figures are kept as data, apart from anything measured."""
    e2rank_06 = REPORTED_LATENCY[0]
    assert (e2rank_06.model, e2rank_06.doc_encoding_s, e2rank_06.other_s, e2rank_06.total_s) == (
        "E2Rank-0.6B", 0.50, 0.13, 0.63)
    assert [r.total_s for r in REPORTED_LATENCY[3:]] == [4.58, 11.25, 16.93]


MANY = [Document(f"m{i}", f"Doc {i}", "bread yeast dough " * (1 + i % 7)) for i in range(40)]


@pytest.fixture(scope="module")
def big_session(tiny_decoder) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(MANY, tiny_decoder)


def test_slow_baselines_are_estimated_from_a_subsample(big_session: SearchSession,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The growing stages run on n of N candidates only, and the report says "estimated from n of N"."""
    embedder = big_session.embedder
    sizes: list[int] = []
    real_docs, real_pairs = embedder.embed_documents, embedder.embed_pairs
    monkeypatch.setattr(embedder, "embed_documents", lambda texts, **kw: sizes.append(len(texts)) or real_docs(texts, **kw))
    monkeypatch.setattr(embedder, "embed_pairs", lambda q, texts, **kw: sizes.append(len(texts)) or real_pairs(q, texts, **kw))
    report = measure_latency(big_session, "why does bread rise", SearchSettings(candidates=40, prompt_docs=3),
                             subsample=8)
    assert sorted(sizes) == [4, 4, 8, 8]  # never all 40
    for name, stage in (("e2rank_nocache", "candidate_encoding"), ("pointwise", "pair_encoding")):
        system = report.system(name)
        assert (system.estimated_from, system.n_total) == (8, 40)
        assert [n for n, _ in system.measured_points] == [4, 8]
        assert system.stages[stage] >= max(sec for _, sec in system.measured_points)
        assert "estimated from 8 of 40" in system.note
    assert not report.system("e2rank").estimated and report.system("e2rank").note == ""
    nocache, e2rank = report.system("e2rank_nocache").stages, report.system("e2rank").stages
    assert nocache["prompt_encoding"] == e2rank["prompt_encoding"]  # E2Rank's own stages, shared
    assert "estimated from 8 of 40" in report.as_rows()[3][0] and "estimated from 8 of 40" in report.method_note
    assert "cut to" in report.method_note


def test_full_measurement_reports_progress_and_can_be_cancelled(big_session: SearchSession) -> None:
    """subsample=None times all N with progress; setting the cancel event stops it with a clear exception."""
    settings = SearchSettings(candidates=40, prompt_docs=3)
    calls: list[tuple[int, int]] = []
    report = measure_latency(big_session, "bread", settings, subsample=None,
                             progress=lambda done, total: calls.append((done, total)))
    assert not report.estimated and calls[-1] == (80, 80)
    cancel = threading.Event()

    def stop(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(MeasurementCancelled):
        measure_latency(big_session, "bread", settings, subsample=None, progress=stop, cancel=cancel)


def test_a_full_measurement_checks_cancel_after_every_batch(big_session: SearchSession,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-encoding the N candidates reports (and checks the cancel) per batch of 32, not once at its end,
    and a cancel stops the work before the next batch: no pointwise pass starts."""
    pairs: list[int] = []
    real_pairs = big_session.embedder.embed_pairs
    monkeypatch.setattr(big_session.embedder, "embed_pairs",
                        lambda q, texts, **kw: pairs.append(len(texts)) or real_pairs(q, texts, **kw))
    cancel, seen = threading.Event(), []

    def stop_at_the_first_batch(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()

    with pytest.raises(MeasurementCancelled):
        measure_latency(big_session, "bread", SearchSettings(candidates=40, prompt_docs=3), subsample=None,
                        progress=stop_at_the_first_batch, cancel=cancel)
    assert seen == [(32, 80)] and pairs == []  # 32 of the 40 re-encoded, then stopped


def test_run_cancellable_returns_while_the_work_is_still_in_a_batch() -> None:
    """A cancel does not wait for the batch in flight: the call returns, the work ends on its own later."""
    cancel, in_batch, release = threading.Event(), threading.Event(), threading.Event()

    def one_long_batch() -> str:
        in_batch.set()
        release.wait(30)
        return "done"

    cancel.set()
    with pytest.raises(MeasurementCancelled):
        run_cancellable(cancel, one_long_batch)
    assert in_batch.wait(30) and not release.is_set()  # it returned while the batch was still running
    release.set()
    assert run_cancellable(threading.Event(), lambda: "next") == "next"  # queued behind it, then run


def test_pointwise_pairs_are_cut_and_batched_like_documents(minilm) -> None:  # noqa: ANN001
    """A fair baseline: each (query, document) input is cut to the documents' budget, batches sorted by length."""
    seen: list[tuple[int, int]] = []
    real = minilm._forward

    def forward(batch, *rest, **options):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(tuple(batch["input_ids"].shape))
        return real(batch, *rest, **options)

    docs = ["short"] * 3 + ["word " * 600] * 3
    # patch.object, not monkeypatch: monkeypatch would leave the bound method on the shared instance,
    # shadowing later class-level patches of _forward.
    with patch.object(minilm, "_forward", forward):
        out = minilm.embed_pairs("why does bread rise", docs, batch_size=3)
    assert out.shape == (6, minilm.dim) and np.allclose(out[0], out[1])
    assert seen[0] == (3, minilm.doc_max_tokens) and seen[1][1] < 20  # long ones first, cut; then short ones
