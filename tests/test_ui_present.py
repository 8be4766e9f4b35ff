"""The Present tab's callbacks (``e2rank_demo.ui.present``) on the bundled general sample with real MiniLM.

The map step gets a PCA projection (no UMAP fit in the test process); the latency step
times N = 10 candidates.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr
import pytest

from e2rank_demo import projection
from e2rank_demo.records import ListwisePrompt
from e2rank_demo.ui import present, render, share
from e2rank_demo.ui.state import UISession

SKIP = type(gr.skip())
QUERY = "how do bats find food in the dark"


class PcaProjector:
    """Stands in for the process-wide UMAP projector: PCA at once, no background fit."""

    def project_result(self, session: Any, result: Any, *, wait: float | None = 0.0) -> projection.Projection:
        return projection.pca_projection(session.vectors, session.ids, projection.special_vectors(result),
                                         result.candidates.rows)

    def project(self, key: str, vectors: Any, ids: Any, special: Any, include_rows: Any = (), *,
                wait: float | None = 0.0) -> projection.Projection:
        return projection.pca_projection(vectors, ids, special, include_rows)


@pytest.fixture
def walkthrough(minilm, monkeypatch: pytest.MonkeyPatch) -> present.PresentState:  # noqa: ANN001
    monkeypatch.setattr(projection, "default_projector", lambda: PcaProjector())
    monkeypatch.setattr(present, "_prefetch_map", lambda index: None)
    monkeypatch.setattr(present.visuals, "umap_status", lambda index: "ready")
    ps = present.PresentState()
    out = present.begin(ps, "general", QUERY, "minilm", "dense", 10, 4, 0.0, "official", UISession())
    assert ps.step == 1 and len(out) == len(present.STEP_OUTPUTS)
    return ps


def test_the_seven_steps(walkthrough: present.PresentState) -> None:
    ps = walkthrough
    steps, head, body, plot, extra, back, nxt = present.render_step(ps)
    assert 'data-step="1"' in steps and "Step 1 of 7" in head and QUERY in body
    assert body.count('class="e2r-hit') == 10 and "✓ relevant" in body  # the sample's judgments
    assert plot.visible is False and back.interactive is False and nxt.interactive is True

    ps.step = 2
    _, head, body, plot, *_ = present.render_step(ps)
    assert "listwise prompt" in head and body.count('class="pp-doc"') == 4 and "[4]" in body
    assert f'data-tokens="{ps.result.prompt.n_tokens}"' in body and 'class="pp-query"' in body

    ps.step = 3
    _, _, body, plot, extra, *_ = present.render_step(ps)
    assert plot.visible is True and body == "" and "ringed dots" in extra
    spec = json.loads(plot.value["plot"])
    names = [trace.get("name") for trace in spec["data"]]
    assert "query → pseudo-query (animated)" in names and "E2Rank pseudo-query" in names
    play = spec["layout"]["updatemenus"][0]["buttons"][0]
    assert play["method"] == "animate" and len(play["args"][0]) == 12  # the frames travel inline

    ps.step = 4
    _, _, body, *_ = present.render_step(ps)
    assert body.count('data-system="e2rank"') == 1 and body.count("e2r-badge") == 10

    ps.step = 5
    _, _, body, plot, extra, *_ = present.render_step(ps)
    assert plot.visible is True and "click a bar" in extra and body == ""
    drawn = ps.influence_value
    assert drawn is not None and present.render_step(ps)[3] is not None and ps.influence_value is drawn  # reused

    ps.step = 6
    _, head, body, plot, *_ = present.render_step(ps)
    opening = {"query": "This model pools at the query", "mean": "This model pools over all",
               "last": "This model is a decoder"}[ps.result.prompt.pooling]
    assert "read at the query" in head and opening in body  # the model's own pooling, explained
    assert 'id="pooling-moves"' in body or "changes rank" in body
    names = [trace.get("name") for trace in json.loads(plot.value["plot"])["data"]]
    assert plot.visible is True and any("flipped" in str(n) for n in names)
    assert present.render_step(ps)[2] is ps.pooling_note  # measured once, reused on Back / Next

    ps.step = 7
    assert ps.latency_job is not None
    ps.latency_job.result(timeout=300)  # started in the background at Start
    _, _, body, plot, extra, back, nxt = present.render_step(ps)
    assert ps.latency is not None and ps.latency.n_candidates == 10
    assert plot.visible is True and "Reported in the paper (A100) — not measured here" in extra and "0.63" in extra
    assert back.interactive is True and nxt.interactive is False and nxt.value == "End"


def test_next_and_back_stay_in_range(walkthrough: present.PresentState) -> None:
    ps = walkthrough
    present.back_step(ps)
    assert ps.step == 1
    present.next_step(ps)
    present.next_step(ps)
    assert ps.step == 3


def test_link_and_report_of_the_walkthrough(walkthrough: present.PresentState, tmp_path) -> None:  # noqa: ANN001
    qs, _ = present.walkthrough_link(walkthrough)
    view, problems = share.parse_query_params(dict(parse_qsl(qs[1:])),
                                              samples=["general"], models=["minilm"])
    assert problems == [] and view.present and view.corpus == "general" and view.query == QUERY
    assert view.candidates == 10 and view.prompt_docs == 4
    state = UISession(export_dir=str(tmp_path))
    path = present.export_report(walkthrough, state)
    page = open(path, encoding="utf-8").read()
    assert QUERY in page and "General knowledge" in page and "Plotly.newPlot(" in page


def test_refusals_are_plain_warnings() -> None:
    ps = present.PresentState()
    with pytest.warns(UserWarning, match="Press Start first"):
        assert all(isinstance(o, SKIP) for o in present.next_step(ps))
    with pytest.warns(UserWarning, match="bundled corpus"):
        present.start("../etc", QUERY, "minilm", "dense", 10, 4, 0.0, "official", ps, UISession())
    with pytest.warns(UserWarning, match="example query"):
        present.start("general", "  ", "minilm", "dense", 10, 4, 0.0, "official", ps, UISession())
    assert present.walkthrough_link(ps)[0] == ""
    assert all(isinstance(o, SKIP) for o in present.start_pending(None, "minilm", "dense", 10, 4, 0.0, "official",
                                                                  ps, UISession()))


def test_start_next_and_back_are_wired_by_output_name() -> None:
    """Each of Start, Next and Back updates the components STEP_OUTPUTS names, in its order."""
    from e2rank_demo.ui import build_demo

    wired = [f for f in build_demo().fns.values() if f.fn in (present.start, present.next_step, present.back_step)]
    assert len(wired) == 3
    for f in wired:
        assert [o.elem_id for o in f.outputs] == [f"present-{name}" for name in present.STEP_OUTPUTS.names]


def test_the_intro_lists_every_step() -> None:
    """Before Start, the intro names the steps from STEPS itself, so a new step is never left out."""
    intro = present.heading_html(0)
    assert f"in {present.N_STEPS} steps" in intro
    assert re.findall(r"<li>(.*?)</li>", intro) == [render.esc(title) for title, _, _ in present.STEPS]
    assert re.findall(r'<li class="[^"]*" title="([^"]*)"', present.steps_html(0)) == re.findall(r"<li>(.*?)</li>",
                                                                                               intro)


def test_corpus_picker_offers_its_example_queries() -> None:
    dropdown = present.pick_corpus("scifact")
    assert dropdown.value == dropdown.choices[0][0] and len(dropdown.choices) > 5
    assert present.pick_corpus("nope").value is None


def test_split_prompt_and_escaping(minilm) -> None:  # noqa: ANN001
    text = "Rerank:\nDocuments:\n[1] <b>a</b>\n[2] b & c\nSearch Query: <q>"
    assert present.split_prompt(text, 2) == ("Rerank:\nDocuments:\n", ["[1] <b>a</b>", "[2] b & c"],
                                             "\nSearch Query: <q>")
    assert present.split_prompt("no documents here", 2) is None
    prompt = ListwisePrompt(text=text, vector=None, n_tokens=20, doc_tokens_kept=[3, 3], doc_tokens_full=[3, 9],
                            max_tokens=512)

    class Session:
        def passage(self, pid: str) -> Any:
            return type("P", (), {"title": "<img src=x onerror=alert(1)>"})()

    out = present.prompt_html(prompt, ["a", "b"], Session(), "<q>")
    assert "<b>a</b>" not in out and "&lt;b&gt;a&lt;/b&gt;" in out and "<img" not in out
    assert '<mark class="pp-query">&lt;q&gt;</mark>' in out and "3/9 tokens" in out and "1 cut to fit" in out


def test_the_latency_step_never_blocks_on_the_measurement(minilm, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """While the background measurement runs, step 7 says so at once; it shows the result when done, cached."""
    import threading

    release = threading.Event()
    real = present._measure
    calls: list[str] = []

    def slow(index, query, settings):  # noqa: ANN001, ANN202
        calls.append(query)
        release.wait(timeout=300)
        return real(index, query, settings)

    monkeypatch.setattr(present, "_measure", slow)
    monkeypatch.setattr(present, "LATENCY_WAIT_S", 0.05)
    monkeypatch.setattr(present, "_prefetch_map", lambda index: None)
    monkeypatch.setattr(present, "_latency_jobs", type(present._latency_jobs)())
    ps = present.PresentState()
    present.begin(ps, "general", QUERY, "minilm", "dense", 10, 4, 0.0, "official", UISession())
    ps.step = 6
    _, _, body, plot, _, _, nxt = present.next_step(ps)
    assert ps.step == 7 and plot.visible is False and "measured in the background" in body
    assert nxt.interactive is True and "Show latency" in nxt.value
    release.set()
    ps.latency_job.result(timeout=300)
    _, _, _, plot, extra, _, nxt = present.next_step(ps)  # ⟳ Show latency
    assert plot.visible is True and ps.latency is not None and nxt.value == "End"

    again = present.PresentState()  # the same query once more: the earlier measurement, not a new one
    present.begin(again, "general", QUERY, "minilm", "dense", 10, 4, 0.0, "official", UISession())
    assert again.latency_job is ps.latency_job and calls == [QUERY]


@pytest.mark.parametrize(("pooling", "start"), [
    ("query", "This model pools at the query: its pseudo-query is the mean of the 7 token states"),
    ("mean", "This model pools over all 400 tokens of the prompt (its own mean pooling), so the 7-token query is only about 2%"),
    ("last", "This model is a decoder and pools its last token"),
])
def test_the_pooling_step_explains_the_models_own_pooling(pooling: str, start: str) -> None:
    """Step 6's text follows the pooling the model used and the token counts measured on this prompt."""
    from e2rank_demo.prompt_lab import PoolingComparison

    pooled = {"query": (7, 400), "mean": (400, 7), "last": (1, 7)}[pooling]
    other = {"query": "mean", "mean": "query", "last": "query"}[pooling]
    comparison = PoolingComparison("q", (pooling, other), (None, None), pooled, 400, [], ({}, {}), (0.9, 0.5), 0.6,
                                   None)
    text = present.pooling_explanation(comparison)
    assert text.startswith(start)
    assert ("query's own tokens instead (7 of the 400 here)" in text) == (pooling == "last")
