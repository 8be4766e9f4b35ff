"""Latency: every system and stage measured, document encoding apart, scaling against N."""

from __future__ import annotations

import pytest

from e2rank_demo.latency import (
    REPORTED_LATENCY,
    SCALING_SYSTEMS,
    STAGES,
    SYSTEMS,
    measure_latency,
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
