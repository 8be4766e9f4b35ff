"""The Embedding map and Latency tabs' callbacks (``e2rank_demo.ui.visuals``), called as the app calls them.

Searches go through the app's own ``callbacks.search``, so the session state is exactly
what the page would hold. A fresh :class:`MapProjector` in a temp folder stands in for the
process-wide one, so fit counts start at zero.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from unittest.mock import MagicMock, patch

import gradio as gr
import numpy as np
import pytest

from e2rank_demo import projection
from e2rank_demo.pipeline import SearchSession
from e2rank_demo.projection import MapProjector
from e2rank_demo.records import Document
from e2rank_demo.ui import build_demo, callbacks, visuals
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession

umap = pytest.importorskip("umap")

ATTACK = "<img src=x onerror=alert(1)>"
DOCS = [Document("evil", ATTACK, "Bread <script>alert(2)</script> rises because yeast makes gas.")] + [
    Document(f"d{i}", f"Topic {i}", f"Passage {i}: yeast, dough, ovens, tides and planets, item {i}.")
    for i in range(23)
]
CORPUS = Corpus("test corpus", DOCS)
VIEW = ("corpus", "rank", False)


@pytest.fixture(scope="module")
def index(tiny_decoder) -> SearchSession:  # noqa: ANN001
    return SearchSession.from_documents(DOCS, tiny_decoder)


@pytest.fixture
def projector(tmp_path, monkeypatch: pytest.MonkeyPatch) -> MapProjector:  # noqa: ANN001
    """A fresh process-wide projector (empty memory and disk cache) for this test."""
    fresh = MapProjector(tmp_path)
    monkeypatch.setattr(projection, "_default", fresh)
    return fresh


def loaded(index: SearchSession) -> UISession:
    state = UISession()
    state.install(CORPUS, index, IndexConfig("tiny", True, 200, 40))
    return state


def search(state: UISession, query: str = "why does bread rise", candidates: int = 16, k: int = 6,
           rocchio: bool = False) -> None:
    """The app's search callback with the sidebar's other defaults."""
    callbacks.search(query, "dense", candidates, k, "web", "", "", 0.0, "official", rocchio, False, state)
    assert state.result is not None


def spec(value: Any) -> dict[str, Any]:
    """The plotly JSON a ``gr.Plot`` output carries."""
    assert value is not None and value.type == "plotly"
    return json.loads(value.plot)


def trace_names(value: Any) -> list[str]:
    return [trace.get("name") for trace in spec(value)["data"]]


def n_points(trace: dict[str, Any]) -> int:
    """Points in a trace, also when plotly sent its coordinates as a typed binary array."""
    x = trace["x"]
    if isinstance(x, dict):
        return len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
    return len(x)


def is_skip(value: Any) -> bool:
    return isinstance(value, type(gr.skip()))


def counting() -> Any:
    """Counts real ``UMAP.fit`` and ``UMAP.transform`` calls (from any thread)."""
    fit = patch.object(umap.UMAP, "fit", autospec=True, side_effect=umap.UMAP.fit)
    transform = patch.object(umap.UMAP, "transform", autospec=True, side_effect=umap.UMAP.transform)
    return fit, transform


def wait_for_fit(projector: MapProjector, state: UISession) -> None:
    assert state.index is not None
    projector.fitted(visuals.corpus_key(state.index), state.index.vectors, wait=None)


# --------------------------------------------------------------------- refusals


def test_map_and_latency_refuse_politely_without_a_corpus_or_a_search(index: SearchSession,
                                                                      projector: MapProjector) -> None:
    """No corpus, then no search: an inline notice and a plain warning, no figure, no polling."""
    empty = UISession()
    out = visuals.show_map(*VIEW, empty)
    assert "No corpus loaded yet" in out[0] and out[1] is None and out[-1].active is False
    with pytest.warns(UserWarning, match="No corpus loaded yet"):
        visuals.refresh_map(*VIEW, empty)
    with pytest.warns(UserWarning, match="No corpus loaded yet"):
        info, *rest = visuals.measure_query(1, empty)
    assert "No corpus loaded yet" in info and all(is_skip(v) for v in rest)

    state = loaded(index)
    with pytest.warns(UserWarning, match="Search first"):
        info, *rest = visuals.scaling_run([4, 8], 1, state)
    assert "Search first" in info and all(is_skip(v) for v in rest)
    assert "Search first" in visuals.show_map(*VIEW, state)[0]

    state.indexing = True
    with pytest.warns(UserWarning, match="Indexing is still running"):
        visuals.measure_query(1, state)
    assert state.index is index and state.corpus is CORPUS  # nothing was lost


def test_scaling_run_needs_at_least_one_n(index: SearchSession) -> None:
    state = loaded(index)
    search(state)
    with pytest.warns(UserWarning, match="at least one candidate count"):
        out = visuals.scaling_run([], 1, state)
    assert all(is_skip(v) for v in out)


# --------------------------------------------------------------------- the map


def test_map_shows_pca_first_then_umap_with_table_and_charts(index: SearchSession, projector: MapProjector) -> None:
    """PCA at once with the notice and polling on; once the fit ends, a tick draws UMAP and stops polling."""
    state = loaded(index)
    search(state)
    out = visuals.show_map(*VIEW, state)
    info, plot, caption, cos_label, cos_table, shift, shift_caption, scores, scores_caption, timer = out
    assert "UMAP is still fitting — showing PCA" in info and "press Refresh" in info
    assert "PCA" in info and timer.active is True and state.map_view.waiting

    figure = spec(plot)
    names = trace_names(plot)
    assert {"Query", "E2Rank pseudo-query", "Rocchio query"} <= set(names)
    assert "in the listwise prompt (top-6)" in names and "top 10" in names
    assert figure["layout"]["xaxis"]["title"]["text"] == "PC 1" and figure["layout"]["title"]["text"]
    assert figure["config"]["toImageButtonOptions"] == {"format": "png", "filename": "e2rank-embedding-map",
                                                        "scale": 2}
    arrows = [note for note in figure["layout"]["annotations"] if note.get("showarrow")]
    assert len(arrows) == 2  # to the pseudo-query and the Rocchio query (the other notes label the markers)
    assert "e2r-caption" in caption and "cosine table" in caption
    assert "Rocchio query = query + 0.5" in info  # computed for the map only
    assert "rocchio" not in state.result.reranked  # the session's own result is untouched

    # The cosine table: one column per query vector, the top-k stand in while nothing is judged.
    assert "stand-in" in cos_label and "top-6" in cos_label
    assert "<th></th><th>Query</th><th>E2Rank pseudo-query</th><th>Rocchio query</th>" in cos_table
    assert "<tr><th>to top-k</th>" in cos_table and "<tr><th>to the rest</th>" in cos_table
    assert "<tr><th>Δ to top-k</th><td>+0.0000</td>" in cos_table  # the query vs itself
    assert "First stage" in json.dumps(spec(shift)["layout"]) and "e2r-caption" in shift_caption
    assert set(trace_names(scores)) == {"Query", "E2Rank pseudo-query", "Rocchio query"}
    assert scores_caption

    # Nothing is ready yet: a tick keeps polling without redrawing.
    with patch.object(visuals, "umap_status", return_value="fitting"):
        tick = visuals.poll_map(*VIEW, state)
    assert all(is_skip(v) for v in tick[:-1]) and tick[-1].active is True

    wait_for_fit(projector, state)
    info, plot, *rest, timer = visuals.poll_map(*VIEW, state)
    assert "UMAP (cosine" in info and "seed 42" in info and "still fitting" not in info
    assert spec(plot)["layout"]["xaxis"]["title"]["text"] == "UMAP 1" and timer.active is False
    assert all(is_skip(v) for v in rest[1:7])  # same search and judgments: table and charts stay
    assert not state.map_view.waiting
    # Polling has stopped: a late tick changes nothing.
    assert all(is_skip(v) for v in visuals.poll_map(*VIEW, state)[:-1])


def test_second_query_on_the_same_corpus_does_not_refit_umap(index: SearchSession, projector: MapProjector) -> None:
    """Through the app's callbacks: one fit per corpus and model, one transform per query."""
    fit_patch, transform_patch = counting()
    with fit_patch as fit, transform_patch as transform:
        state = loaded(index)
        cleared = visuals.after_indexing(state)  # what the app runs after indexing: starts the fit
        assert len(cleared) == len(visuals.MAP_OUTPUTS) + 1 and cleared[1] is None and "Search first" in cleared[0]
        search(state, "why does bread rise")
        visuals.show_map(*VIEW, state)
        wait_for_fit(projector, state)
        assert visuals.refresh_map(*VIEW, state)[1] is not None
        assert (fit.call_count, transform.call_count) == (1, 1)

        # View toggles and re-opening the tab reuse the query's placement.
        visuals.show_map("candidates", "relevance", True, state)
        visuals.show_map(*VIEW, state)
        assert transform.call_count == 1

        search(state, "what causes the tides")
        info, plot, *_ = visuals.show_map(*VIEW, state)
        assert "UMAP" in info and spec(plot)["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
        assert (fit.call_count, transform.call_count) == (1, 2)

        # The same corpus with another model (or texts) is another map.
        other = loaded(SearchSession.from_documents(DOCS[:-1], index.embedder))
        search(other, "why does bread rise")
        visuals.show_map(*VIEW, other)
        wait_for_fit(projector, other)
        assert fit.call_count == 2


def test_view_options_candidates_relevance_and_animation(index: SearchSession, projector: MapProjector) -> None:
    """Candidates only, colours from the session's judgments, inline animation frames."""
    state = loaded(index)
    search(state, candidates=12, k=4, rocchio=True)
    assert state.result is not None
    ids = state.result.first_stage.ids
    state.set_relevant(state.result.query, ids[:5], [ids[0], ids[2]])

    out = visuals.show_map("candidates", "relevance", True, state)
    figure = spec(out[1])
    names = trace_names(out[1])
    assert {"judged relevant", "not judged"} <= set(names)  # unticked documents lose their judgment
    assert sum(n_points(t) for t in figure["data"]
               if t["name"] in ("judged relevant", "judged not relevant", "not judged")) == 12
    assert "Showing only the 12 candidates" in out[0] and "Rocchio query =" not in out[0]
    assert "judged relevant (2 of the candidates)" in out[3]

    # Gradio's renderer drops plotly frames: the Play button and slider carry them inline.
    assert "frames" not in figure
    play = figure["layout"]["updatemenus"][0]["buttons"][0]
    assert play["method"] == "animate" and len(play["args"][0]) == 12
    assert all(frame["traces"] == play["args"][0][0]["traces"] for frame in play["args"][0])
    step = figure["layout"]["sliders"][0]["steps"][-1]
    assert step["args"][0][0]["name"] == step["label"]

    # User text reaches plotly escaped (the whole corpus is shown, so the hostile title is on the map).
    text = json.dumps(spec(visuals.show_map("corpus", "rank", False, state)[1]), ensure_ascii=False)
    assert ATTACK not in text and "<script>" not in text and "&lt;img src=x" in text


def test_errors_become_plain_warnings_and_keep_the_corpus(index: SearchSession, projector: MapProjector) -> None:
    state = loaded(index)
    search(state)
    result = state.result
    with patch.object(visuals.plots, "embedding_map", side_effect=RuntimeError("boom\nTraceback")), \
         pytest.warns(UserWarning, match=r"Something went wrong \(RuntimeError\)") as caught:
        out = visuals.show_map(*VIEW, state)
    assert all(is_skip(v) for v in out[:-1]) and out[-1].active is False
    assert "Traceback" not in str(caught[0].message)
    assert state.index is index and state.result is result and state.corpus is CORPUS


def test_the_search_never_waits_for_umap(index: SearchSession) -> None:
    """The search callback does not touch the projector at all."""
    state = loaded(index)
    with patch.object(projection, "default_projector", side_effect=AssertionError("search used the map")):
        search(state)


# --------------------------------------------------------------------- latency


def test_measure_this_query_returns_bars_caption_and_table(index: SearchSession) -> None:
    state = loaded(index)
    search(state, candidates=8, k=3)
    info, plot, caption, table = visuals.measure_query(1, state)
    assert "Measured just now on cpu" in info and "N = 8, k = 3" in info
    figure = spec(plot)
    assert "Measured latency" in figure["layout"]["title"]["text"]
    assert figure["config"]["toImageButtonOptions"]["filename"] == "e2rank-latency"
    assert "document encoding (once per corpus)" in trace_names(plot)
    assert "measured just now" in caption
    rows = table.value["data"]
    assert [row[0] for row in rows][:2] == ["First stage only", "E2Rank"]
    assert rows[-1][0].startswith("Document encoding, once per corpus") and table.value["headers"][-1].startswith(
        "total")


def test_measure_this_query_estimates_the_slow_baselines_and_in_full_can_be_cancelled(index: SearchSession) -> None:
    """Default: "estimated from n of N"; in full: all N, with a progress bar; Cancel stops it, keeping the last."""
    state = loaded(index)
    search(state, candidates=24, k=3)
    with patch.object(visuals.latency, "DEFAULT_SUBSAMPLE", 8):
        info, _, caption, table = visuals.measure_query(1, state)
    assert "estimated from 8 of 24" in info and "estimated from 8 of 24" in caption
    assert any("estimated from 8 of 24" in row[0] for row in table.value["data"])
    progress = MagicMock()
    info, *_ = visuals.measure_query_in_full(1, state, progress=progress)
    assert "every system on all N candidates" in info and "estimated" not in info
    assert progress.call_args_list[-1].args[0] == (48, 48)  # 24 re-encoded + 24 pairs

    def cancel_at_once(value: Any, **kwargs: Any) -> None:
        if isinstance(value, tuple):
            visuals.cancel_measurement(state)

    info, *rest = visuals.measure_query_in_full(1, state, progress=cancel_at_once)
    assert "cancelled" in info and all(isinstance(v, type(gr.skip())) for v in rest)


def test_shipped_vectors_are_worded_alike_in_the_corpus_panel_latency_chart_table_and_report(
        index: SearchSession) -> None:
    """One fact, one wording: the latency chart and table said "read from the cache" of a sample's shipped vectors."""
    from e2rank_demo.report import timing_rows

    shipped = SearchSession(index.embedder, index.passages, vectors=index.vectors, vectors_origin="sample")
    state = UISession()
    state.install(CORPUS, shipped, IndexConfig("tiny", True, 200, 40))
    search(state, candidates=8, k=3)
    said = "precomputed (shipped with the sample)"
    assert shipped.encode_stats.describe() == shipped.encode_stats.source == said  # the corpus panel's line
    _, plot, _, table = visuals.measure_query(1, state)
    doc_bar = next(trace for trace in spec(plot)["data"] if trace.get("name") == "document encoding (once per corpus)")
    assert doc_bar["y"][0].endswith(said) and table.value["data"][-1][0].endswith(said)
    assert timing_rows(state.result)[-1][0] == f"document encoding, once per corpus: {said}"
    assert "cache" not in doc_bar["y"][0] + table.value["data"][-1][0]


def test_only_cancel_can_be_pressed_while_a_measurement_runs() -> None:
    """Measure this query, Measure in full and Scaling run are off while a measurement runs; Cancel only then."""
    state = UISession()
    busy = [button.interactive for button in visuals.arm_measurement(state)]
    assert busy == [False, False, False, True] and state.measure_cancel is not None
    assert [button.interactive for button in visuals.scaling_busy()] == [False, False, False, False]
    assert [button.interactive for button in visuals.latency_idle()] == [True, True, True, False]
    visuals.cancel_measurement(state)
    assert state.measure_cancel.is_set()


def test_scaling_run_reports_progress_and_a_log_log_chart(index: SearchSession) -> None:
    state = loaded(index)
    search(state, candidates=8, k=3)
    progress = MagicMock()
    info, plot, caption = visuals.scaling_run(["4", 8, 50], 1, state, progress=progress)
    layout = spec(plot)["layout"]
    assert layout["xaxis"]["type"] == layout["yaxis"]["type"] == "log"
    assert "50 capped at 24" in info and "measured" in caption
    assert progress.call_args_list[-1].args[0] == (9, 9)  # 3 distinct N x 3 systems
    assert {"E2Rank", "E2Rank without cached embeddings"} <= set(trace_names(plot))


# --------------------------------------------------------------------- wiring


def test_app_wires_the_tabs_and_warms_up_umap() -> None:
    """The page has the map and latency events; the background warm-up also compiles UMAP."""
    demo = build_demo()
    names = {getattr(fn.fn, "__name__", "") for fn in demo.fns.values()}
    assert {"show_map", "refresh_map", "poll_map", "after_indexing", "measure_query", "scaling_run"} <= names
    timers = [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]
    assert len(timers) == 1 and timers[0].active is False

    called = threading.Event()
    with patch.object(callbacks, "load_embedder"), \
         patch.object(projection, "warm_up", side_effect=lambda *a: called.set()):
        callbacks.warm_up_in_background().join(timeout=60)
    assert called.is_set()


def test_a_class_s_frequent_events_queue_in_their_own_groups() -> None:
    """Searches, corpus loads, maps and the prompt-lab charts each queue in their own group with its own limit, so a class's
    map and chart requests never hold up a search (serving.GROUPS, measured in ``bench --class``)."""
    from e2rank_demo.serving import GROUPS

    demo = build_demo()
    by_api = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    expected = {"search": "search", "edit_prompt": "search", "load_sample": "corpus", "upload": "corpus",
                "paste": "corpus", "open_index": "corpus", "reindex": "corpus", "map": "map",
                "prompt_influence": "charts", "compare_pooling": "charts"}
    for api_name, group in expected.items():
        fn = by_api[api_name]
        assert (fn.concurrency_id, fn.concurrency_limit) == (f"e2rank-{group}", GROUPS[group]), api_name
    # Everything else keeps its own queue at the app's default limit (or its own explicit group).
    assert by_api["export"].concurrency_id not in {f"e2rank-{g}" for g in GROUPS}
