"""Plots: titles, axis labels, legends, captions, escaped user text, animation, measured vs reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2rank_demo.latency import LatencyReport, ScalingPoint, ScalingResult, SystemLatency
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.plots import (
    Figure,
    embedding_map,
    escape,
    latency_bars,
    rank_shift,
    reported_latency_rows,
    reported_latency_table,
    scaling_chart,
    score_distribution,
)
from e2rank_demo.projection import MapProjector, pca_projection, special_vectors
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Document

ATTACK = "<img src=x onerror=alert(1)>"
DOCS = [Document("evil", ATTACK, "Bread <script>alert(2)</script> rises because yeast makes gas.")] + [
    Document(f"d{i}", f"Topic {i}", f"Passage {i}: yeast, dough, ovens, tides and planets, item {i}.")
    for i in range(23)
]
QUERY = "why does bread <b>rise</b>"


@pytest.fixture(scope="module")
def session(tiny_decoder) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(DOCS, tiny_decoder)


@pytest.fixture(scope="module")
def result(session: SearchSession) -> QueryResult:
    return session.search(QUERY, SearchSettings(candidates=16, prompt_docs=12))


def decoded(figure: Figure) -> str:
    """The figure's JSON with plotly's own \\u003c escapes undone, so only our escaping counts."""
    return json.dumps(json.loads(figure.fig.to_json()), ensure_ascii=False)


def assert_readable(figure: Figure, x_title: str | None = None) -> None:
    layout = figure.fig.layout
    assert layout.title.text and layout.showlegend is not False
    assert any(trace.name for trace in figure.fig.data)
    if x_title is not None:
        assert x_title in (layout.xaxis.title.text or "") and layout.yaxis.title.text
    assert figure.caption.endswith(".") and figure.caption.count(". ") == 0  # one sentence
    assert figure.config["toImageButtonOptions"]["format"] == "png"


def test_escape_blocks_markup() -> None:
    """Tags and ampersands are escaped; quotes are left for plotly, which cannot decode &quot;."""
    assert escape(ATTACK) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape('a "b" & c', limit=4) == 'a "…'


def test_embedding_map_escapes_user_text_and_draws_the_three_vectors(session: SearchSession,
                                                                     result: QueryResult) -> None:
    """Hover text and title carry only escaped user strings; query, pseudo-query, Rocchio and two arrows."""
    projection = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    figure = embedding_map(projection, session, result)
    assert_readable(figure)
    assert figure.fig.layout.xaxis.title.text == "PC 1" and figure.fig.layout.yaxis.title.text == "PC 2"
    text = decoded(figure)
    assert "<img" not in text and "<script" not in text and "<b>rise" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;b&gt;rise&lt;/b&gt;" in text
    names = [trace.name for trace in figure.fig.data]
    assert {"Query", "E2Rank pseudo-query", "Rocchio query", "in the listwise prompt (top-12)"} <= set(names)
    assert {"top 10", "11–12", "13–16", "not a candidate"} <= set(names)
    assert len([a for a in figure.fig.layout.annotations if a.showarrow]) == 2
    hover = next(t for t in figure.fig.data if t.name == "top 10").hovertext[0]
    assert "first-stage rank" in hover and "E2Rank rank" in hover and "Rocchio query" in hover


def test_embedding_map_animation_and_relevance_colours(session: SearchSession, result: QueryResult,
                                                      tmp_path: Path) -> None:
    """On a real UMAP map: frames move the query to the pseudo-query; relevance classes form the legend."""
    projection = MapProjector(tmp_path).project_result(session, result, wait=None)
    assert projection.method == "umap"
    figure = embedding_map(projection, session, result, relevance={"evil": 2, "d0": 0},
                           color_by="relevance", animate=True)
    assert figure.fig.layout.xaxis.title.text == "UMAP 1"
    frames = figure.fig.frames
    assert len(frames) > 2 and figure.fig.layout.sliders and figure.fig.layout.updatemenus
    assert list(frames[-1].data[0].x) == pytest.approx([projection.special["prompt"][0]])
    assert {"judged relevant", "judged not relevant", "not judged"} <= {t.name for t in figure.fig.data}
    assert "<img" not in decoded(figure)


def test_rank_shift_covers_top_of_either_list(session: SearchSession, result: QueryResult) -> None:
    """One line per document in the top of either list, ranks reversed, escaped labels."""
    figure = rank_shift(result, session, top=5)
    assert_readable(figure, "Ranking")
    shown = set(result.first_stage.ids[:5]) | set(result.reranked["e2rank"].ids[:5])
    assert len(figure.fig.data) == len(shown)
    assert figure.fig.layout.yaxis.autorange == "reversed"
    assert "<img" not in decoded(figure)
    with pytest.raises(ValueError, match="no 'missing' ranking"):
        rank_shift(result, session, reranker="missing")


def test_score_distribution_has_one_sorted_curve_per_vector(session: SearchSession, result: QueryResult) -> None:
    """Query, pseudo-query and Rocchio curves, each sorted high to low over the N candidates."""
    figure = score_distribution(result, session)
    assert_readable(figure, "Position after sorting")
    assert [t.name for t in figure.fig.data] == ["Query", "E2Rank pseudo-query", "Rocchio query"]
    for trace in figure.fig.data:
        assert len(trace.y) == 16 and list(trace.y) == sorted(trace.y, reverse=True)


def make_report() -> LatencyReport:
    stages = {"query_encoding": 0.01, "first_stage": 0.001}
    systems = [SystemLatency("first_stage", "First stage only", stages),
               SystemLatency("e2rank", "E2Rank", stages | {"prompt_build": 0.002, "prompt_encoding": 0.05,
                                                            "scoring": 0.0001}),
               SystemLatency("pointwise", "Pointwise", stages | {"pair_encoding": 0.4}, ranks=False)]
    return LatencyReport("q <i>", "model", "cpu", 100, 20, 3, systems, 3.5, 100, False)


def test_latency_bars_stack_stages_and_keep_document_encoding_apart() -> None:
    """One trace per stage used, plus a separate document-encoding bar in its own panel."""
    figure = latency_bars(make_report())
    assert_readable(figure, "Seconds per query")
    names = [t.name for t in figure.fig.data]
    assert names[:-1] == ["query encoding", "first-stage search", "prompt build (Rocchio: feedback centroid)",
                          "prompt encoding", "joint query-document passes", "scoring"]
    doc = figure.fig.data[-1]
    assert doc.name == "document encoding (once per corpus)" and doc.yaxis == "y2" and list(doc.x) == [3.5]
    assert figure.fig.layout.barmode == "stack" and "<i>" not in decoded(figure)


def test_scaling_chart_is_log_scale_with_one_line_per_system() -> None:
    """Lines+markers per system over the N used, log axes, capped N noted."""
    points = [ScalingPoint(s, n, min(n, 50), 0.01 * min(n, 50) * (i + 1))
              for n in (10, 20, 50, 100) for i, s in enumerate(("e2rank", "e2rank_nocache", "pointwise"))]
    figure = scaling_chart(ScalingResult("q", "model", 50, 1, points))
    assert_readable(figure, "Candidates reranked (N")
    assert figure.fig.layout.yaxis.type == figure.fig.layout.xaxis.type == "log"
    assert all(t.mode == "lines+markers" and list(t.x) == [10, 20, 50] for t in figure.fig.data)
    assert "capped at 50" in figure.fig.layout.title.text


def test_reported_latency_table_is_labelled_as_reported() -> None:
    """The paper's A100 numbers come as their own labelled table, never as measured bars."""
    figure = reported_latency_table()
    assert "Reported in the paper (A100)" in figure.fig.layout.title.text
    assert figure.fig.data[0].type == "table" and "never mixed" in figure.caption
    assert reported_latency_rows()[0] == ["E2Rank-0.6B", "0.50", "0.13", "0.63"]
    assert reported_latency_rows()[-1] == ["RankQwen3-8B", "", "", "16.93"]


def test_influence_chart_sorted_escaped_and_clickable(session: SearchSession, result: QueryResult) -> None:
    """Bars sorted by influence (largest on top), ids in customdata, user text escaped, one-sentence caption."""
    from e2rank_demo.plots import influence_chart

    edited = session.rerank_with_prompt(result, ["evil", *[p for p in result.prompt_ids if p != "evil"][:5]])
    relevance = {"evil": 1, result.first_stage.ids[1]: 2}
    influence = session.prompt_influence(edited, relevance)
    figure = influence_chart(influence, session)
    assert_readable(figure, "Cosine distance the pseudo-query moves without this document")
    shown = {pid: x for trace in figure.fig.data for pid, x in zip(trace.customdata, trace.x)}
    assert shown == {item.doc_id: pytest.approx(item.distance) for item in influence.items}
    top_label = figure.fig.layout.yaxis.categoryarray[-1]  # the last category is drawn at the top
    assert top_label.startswith(f"[{influence.ranked()[0].position}]")
    assert ATTACK not in decoded(figure) and "&lt;img" in decoded(figure)
    assert "click a bar" in figure.caption and figure.caption.count(". ") == 0
    plain = influence_chart(session.prompt_influence(result), session)
    assert "not measured" in plain.fig.layout.title.text and "green" not in plain.caption
    # The map circles exactly the edited prompt's documents.
    projection = pca_projection(session.vectors, session.ids, special_vectors(edited), edited.candidates.rows)
    circled = next(t for t in embedding_map(projection, session, edited).fig.data
                   if t.name == "in the edited listwise prompt")
    assert len(circled.x) == sum(pid in edited.prompt_ids for pid in projection.ids) == 6
