"""Plots: titles, axis labels, legends, captions, escaped user text, animation, measured vs reported."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from e2rank_demo.latency import LatencyReport, ScalingPoint, ScalingResult, SystemLatency
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo import plots
from e2rank_demo.plots import (
    CLOSE_UP_MIN_DOCS,
    INK,
    Figure,
    close_up,
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


def title(figure: Figure) -> str:
    """The figure's title as read: the lines it is wrapped to joined by spaces, without markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", figure.fig.layout.title.text).split())


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


def test_embedding_map_keeps_the_query_visible_and_frames_the_move(session: SearchSession, result: QueryResult,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Query markers drawn largest first with the query on top, each labelled on its own side; arrows stop at
    the rewrite's edge; the first view frames the query, its rewrites, the prompt's and the relevant documents."""
    monkeypatch.setattr(plots, "CLOSE_UP_MIN_DOCS", 10)  # the tiny corpus stands in for a crowded one
    projection = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    relevant = result.first_stage.ids[-1]  # the last candidate, outside the prompt
    figure = embedding_map(projection, session, result, relevance={relevant: 1})
    layout = figure.fig.layout
    specials = [t for t in figure.fig.data if t.name in ("Query", "E2Rank pseudo-query", "Rocchio query")]
    assert [t.name for t in specials] == ["Rocchio query", "E2Rank pseudo-query", "Query"]  # the query on top
    assert specials[0].marker.size > specials[1].marker.size > specials[2].marker.size
    assert all(t.marker.line.color == "white" for t in specials)
    assert sorted(t.legendrank for t in specials) == [0, 1, 2] and specials[-1].legendrank == 0
    arrows = [a for a in layout.annotations if a.showarrow]
    assert all(a.arrowhead and a.standoff >= 10 for a in arrows)
    labels = {a.text: a for a in layout.annotations if not a.showarrow}
    assert set(labels) == {"<b>Query</b>", "<b>E2Rank</b>", "<b>Rocchio</b>"}
    assert len({(a.xanchor, a.yanchor) for a in labels.values()}) == 3  # three different sides
    ring = next(t for t in figure.fig.data if t.name == "judged relevant")
    assert len(ring.x) == 1
    # The close-up holds every framed point, and is smaller than the whole map on some axis.
    x0, x1 = layout.xaxis.range
    y0, y1 = layout.yaxis.range
    framed = [*(np.asarray(v) for v in projection.special.values()), projection.coords[projection.ids.index(relevant)]]
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in framed)
    prompt = [projection.coords[projection.ids.index(pid)] for pid in result.prompt_ids]
    inside = sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in prompt)
    assert inside * 2 >= len(prompt) and f"{inside} of {len(prompt)} prompt documents" in title(figure).replace(
        f"all {len(prompt)}", f"{len(prompt)} of {len(prompt)}")
    view = layout.updatemenus[-1]
    assert [b.label for b in view.buttons] == ["Close-up", "Whole map"]
    assert view.buttons[1].args[0] == {"xaxis.autorange": True, "yaxis.autorange": True}
    assert "Close-up: query, rewrites" in title(figure)
    # The legend sits under the plot, across it, not beside it.
    assert layout.legend.orientation == "h" and layout.legend.y <= 0


def test_embedding_map_opens_whole_on_a_small_corpus(session: SearchSession, result: QueryResult) -> None:
    """A map of fewer than CLOSE_UP_MIN_DOCS documents never crowds: no close-up, no view buttons."""
    projection = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    figure = embedding_map(projection, session, result)
    assert figure.fig.layout.xaxis.range is None and not figure.fig.layout.updatemenus
    assert "Close-up" not in title(figure)


def test_close_up_frames_the_query_relevant_and_nearest_prompt_documents() -> None:
    """The nearest half of the prompt documents and every relevant one are inside; a far prompt document is not,
    and is counted; a close-up that would show the whole map is not made."""
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 10, size=(200, 2))
    coords[:4] = [[5.0, 5.0], [5.2, 5.1], [5.0, 5.1], [9.9, 0.1]]  # three prompt documents near, one far
    coords[4] = [6.0, 6.0]  # judged relevant
    in_prompt = np.zeros(200, dtype=bool)
    in_prompt[:4] = True
    relevant = np.zeros(200, dtype=bool)
    relevant[4] = True
    special = {"query": np.array([5.1, 5.0]), "prompt": np.array([5.3, 5.2])}
    view = close_up(coords, special, in_prompt, relevant)
    assert view is not None and (view.n_prompt_shown, view.n_prompt, view.n_relevant) == (3, 4, 1)
    for x, y in [*coords[[0, 1, 2, 4]], *special.values()]:
        assert view.x[0] <= x <= view.x[1] and view.y[0] <= y <= view.y[1]
    assert not view.x[0] <= 9.9 <= view.x[1]
    assert view.describe().startswith("Close-up: query, rewrites, 1 judged relevant and 3 of 4 prompt documents")
    relevant[:] = False
    relevant[[5, 6]] = True
    coords[5], coords[6] = [0.0, 0.0], [10.0, 10.0]  # relevant documents in two far corners: the whole map
    assert close_up(coords, special, in_prompt, relevant) is None
    assert close_up(coords[:CLOSE_UP_MIN_DOCS - 1], special, in_prompt[:CLOSE_UP_MIN_DOCS - 1],
                    relevant[:CLOSE_UP_MIN_DOCS - 1]) is None


def test_titles_wrap_and_figures_carry_both_themes(session: SearchSession, result: QueryResult) -> None:
    """Long titles are broken into lines (plotly never wraps); every app figure carries a light and a dark theme."""
    from e2rank_demo.plots import NOTE_CHARS, TITLE_CHARS
    from e2rank_demo.ui.common import plot_value

    long_query = "why does bread rise " * 6
    projection = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    result = dataclasses.replace(result, query=long_query)
    figure = embedding_map(projection, session, result)
    lines = [re.sub(r"<[^>]+>", "", line) for line in figure.fig.layout.title.text.split("<br>")]
    assert len(lines) >= 3 and all(len(line) <= max(TITLE_CHARS, NOTE_CHARS) for line in lines)
    spec = json.loads(plot_value(figure).plot)
    meta = spec["layout"]["meta"]
    assert meta["e2rTheme"] == "light" and set(meta["e2rThemes"]) == {"light", "dark"}
    dark = meta["e2rThemes"]["dark"]
    assert dark["template"]["layout"]["paper_bgcolor"] == "rgb(17,17,17)" and dark["ink"] != INK
    query_trace = next(i for i, t in enumerate(spec["data"]) if t["name"] == "Query")
    assert meta["e2rInk"] == {"marker.color": [query_trace]}
    scores = json.loads(plot_value(score_distribution(result, session)).plot)["layout"]["meta"]
    assert scores["e2rInk"] == {"line.color": [0]}  # the query's curve


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
    assert "capped at 50" in title(figure)


def test_reported_latency_table_is_labelled_as_reported() -> None:
    """The paper's A100 numbers come as their own labelled table, never as measured bars."""
    figure = reported_latency_table()
    assert "Reported in the paper (A100)" in title(figure)
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
    assert "not measured" in title(plain) and "green" not in plain.caption
    # The map circles exactly the edited prompt's documents.
    projection = pca_projection(session.vectors, session.ids, special_vectors(edited), edited.candidates.rows)
    circled = next(t for t in embedding_map(projection, session, edited).fig.data
                   if t.name == "in the edited listwise prompt")
    assert len(circled.x) == sum(pid in edited.prompt_ids for pid in projection.ids) == 6
