"""The Evaluate tab: per-query comparison helpers, the chart, and its callbacks on the bundled samples."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from e2rank_demo.collections import UPLOAD, check_upload_zip, collections, find_collection, prepare
from e2rank_demo.corpus import load_beir
from e2rank_demo.eval_plots import win_tie_loss_chart
from e2rank_demo.evaluation import (
    REPORTED_LABEL,
    QueryDelta,
    helped_hurt,
    query_deltas,
    reported_ndcg10,
    win_tie_loss,
)
from e2rank_demo.metrics import evaluate_run
from e2rank_demo.samples import SAMPLES_DIR
from e2rank_demo.ui import evaluate as tab
from e2rank_demo.ui.common import embedding_cache
from e2rank_demo.ui.state import UISession

SKIP = type(gr.skip())
N_GENERAL = 10  # queries of the General sample evaluated (of 24): keeps the module fast on a busy CPU


def _d(qid: str, base: float, ours: float, text: str = "") -> QueryDelta:
    return QueryDelta(qid, text or f"query {qid}", base, ours)


class Progress:
    """Records what a callback reports to ``gr.Progress``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str | None]] = []

    def __call__(self, value: Any, desc: str | None = None, **_: Any) -> None:
        self.calls.append((value, desc))


# ------------------------------------------------------------------ pure helpers


def test_win_tie_loss_counts_with_the_tie_tolerance() -> None:
    """|delta| < 1e-9 is a tie; anything else counts as a win or a loss."""
    deltas = [_d("a", 0.5, 0.75), _d("b", 0.5, 0.5), _d("c", 0.5, 0.5 + 5e-10), _d("d", 0.5, 0.5 - 5e-10),
              _d("e", 0.5, 0.5 + 2e-9), _d("f", 1.0, 0.0), _d("g", 0.25, 0.125)]
    assert win_tie_loss(deltas) == {"win": 2, "tie": 3, "loss": 2}
    assert win_tie_loss([]) == {"win": 0, "tie": 0, "loss": 0}
    assert [d.outcome() for d in deltas] == ["win", "tie", "tie", "tie", "win", "loss", "loss"]


def test_helped_and_hurt_are_ordered_by_size_then_id() -> None:
    """Largest gains first, largest losses first, ties excluded, equal deltas by query id, at most n each."""
    deltas = [_d("q1", 0.2, 0.3), _d("q2", 0.0, 0.5), _d("q3", 0.5, 0.0), _d("q4", 0.4, 0.4), _d("q5", 0.6, 0.5),
              _d("q0", 0.0, 0.5), _d("q6", 0.9, 0.4), _d("q7", 0.3, 0.55)]
    helped, hurt = helped_hurt(deltas, n=2)
    assert [d.qid for d in helped] == ["q0", "q2"]
    assert [d.qid for d in hurt] == ["q3", "q6"]
    helped, hurt = helped_hurt(deltas, n=5)
    assert [(d.qid, round(d.delta, 6)) for d in helped] == [("q0", 0.5), ("q2", 0.5), ("q7", 0.25), ("q1", 0.1)]
    assert [(d.qid, round(d.delta, 6)) for d in hurt] == [("q3", -0.5), ("q6", -0.5), ("q5", -0.1)]


def test_query_deltas_pair_the_systems_per_query() -> None:
    """Only queries scored by both systems; texts attached; id order."""
    per_query = {
        "first_stage": {"b": {"ndcg@10": 0.5}, "a": {"ndcg@10": 1.0}, "z": {"ndcg@10": 0.2}},
        "e2rank": {"a": {"ndcg@10": 0.25}, "b": {"ndcg@10": 0.75}},
    }
    deltas = query_deltas(per_query, texts={"a": "alpha"})
    assert deltas == [QueryDelta("a", "alpha", 1.0, 0.25), QueryDelta("b", "", 0.5, 0.75)]
    assert [d.delta for d in deltas] == [-0.75, 0.25]
    assert query_deltas(per_query, system="rocchio") == []


def test_reported_figures_only_for_the_full_collections() -> None:
    """DL19 and SciFact have the paper's BM25 / E2Rank-0.6B / E2Rank-8B; others have none."""
    assert reported_ndcg10("trec-dl-2019") == {"BM25": 50.58, "E2Rank-0.6B": 70.84, "E2Rank-8B": 72.95}
    assert reported_ndcg10("DL19") == reported_ndcg10("trec-dl-2019")
    assert reported_ndcg10("scifact") == {"BM25": 67.89, "E2Rank-0.6B": 73.43, "E2Rank-8B": 77.49}
    assert reported_ndcg10("general") is None and reported_ndcg10("nfcorpus") is None
    assert REPORTED_LABEL == "reported (E2Rank-0.6B/8B, BM25 top-100)"
    # The lookup hands out copies: the table cannot be changed through it.
    reported_ndcg10("scifact")["BM25"] = 0.0  # type: ignore[index]
    assert reported_ndcg10("scifact")["BM25"] == 67.89  # type: ignore[index]
    # Samples are subsets, not the paper's collections.
    assert all(c.reported is None for c in collections()[0] if c.sample is not None)


def test_win_tie_loss_chart_is_labelled_and_escaped() -> None:
    """Title, axis labels, legend counts, and query text escaped in the hover."""
    chart = win_tie_loss_chart([_d("q1", 0.2, 0.5, "<img src=x onerror=alert(1)> claim"), _d("q2", 0.4, 0.4),
                                _d("q3", 0.9, 0.1), _d("q4", 0.1, 0.3)])
    fig = chart.fig
    assert [t.name for t in fig.data] == ["E2Rank better: 2", "tie: 1", "E2Rank worse: 1"]
    title = fig.layout.title.text
    assert "E2Rank vs first stage" in title and "2 better, 1 tied, 1 worse of 4" in title
    assert fig.layout.xaxis.title.text == "queries, sorted by change (1 to 4)"
    assert fig.layout.yaxis.title.text.startswith("Δ nDCG@10")
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == pytest.approx([0.3, 0.2])
    assert list(fig.data[1].x) == [3] and list(fig.data[2].x) == [4]
    hover = json.dumps(fig.to_plotly_json()["data"])
    assert "<img" not in hover and "&lt;img src=x onerror=alert(1)&gt;" in hover
    assert "ties" in chart.caption and chart.config["toImageButtonOptions"]["filename"] == "win-tie-loss"


def test_collections_say_plainly_when_shared_data_is_absent(tmp_path: Path) -> None:
    """Without ../shared/data only samples and upload are offered, with a note; with it, both full collections."""
    offered, note = collections(shared=tmp_path / "missing")
    assert [c.label for c in offered] == ["SciFact sample", "General", "Upload a BEIR zip"]
    assert note is not None and "not beside the repository" in note
    for name in ("scifact", "trec-dl-2019"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "queries.jsonl").write_text("")
    offered, note = collections(shared=tmp_path)
    labels = {c.label: c for c in offered}
    assert note is None
    assert labels["SciFact test (full, ../shared/data)"].reported == "scifact"
    dl19 = labels["TREC DL 2019 (../shared/data, BM25 top-100 run)"]
    assert dl19.has_run and dl19.default_first_stage == "run" and dl19.reported == "trec-dl-2019"
    assert [v for _, v in tab.stage_choices(dl19)] == ["dense", "bm25", "run"]
    assert [v for _, v in tab.stage_choices(labels["SciFact sample"])] == ["dense", "bm25"]


def test_upload_zip_size_check_counts_gzipped_members(tmp_path: Path) -> None:
    """A small zip whose gzipped corpus inflates past the limit is refused before it is parsed."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("corpus.jsonl.gz", gzip.compress(b" " * 300_000))
    check_upload_zip(path, 400_000)
    with pytest.raises(ValueError, match="unpacks to more than"):
        check_upload_zip(path, 200_000)
    (tmp_path / "not.zip").write_text("plain text")
    with pytest.raises(ValueError, match="not a zip"):
        check_upload_zip(tmp_path / "not.zip", 1000)


# ------------------------------------------------------------------ callbacks on the bundled General sample


@pytest.fixture(scope="module")
def general_run(minilm) -> tuple[tuple[Any, ...], UISession, tab.EvalView, Progress]:  # noqa: ANN001
    """One evaluation of the General sample through the tab's callback (a seeded sample of 10 of its 24 queries)."""
    state, view, progress = UISession(), tab.EvalView(), Progress()
    outputs = tab.run_evaluation("sample:general", None, "minilm", "dense", ["e2rank", "rocchio", "dense"], "sample",
                                 N_GENERAL, 0, state, view, progress)
    yield outputs, state, view, progress
    state.close()


def test_evaluation_callback_on_the_general_sample(general_run) -> None:  # noqa: ANN001
    """The table matches the downloaded runs scored again; progress goes embedding corpus -> queries."""
    outputs, state, view, progress = general_run
    summary, metrics, plot, caption, helped, hurt, files, message, baseline = outputs
    assert len(outputs) == len(tab.RUN_OUTPUTS) and not view.running
    paths = {Path(p).name: Path(p) for p in files}
    assert set(paths) == {"evaluation.json", "trec-runs.zip"}
    assert all(p.parent.parent == state.private_dir() for p in paths.values())
    with zipfile.ZipFile(paths["trec-runs.zip"]) as zf:
        assert sorted(zf.namelist()) == ["dense.trec", "e2rank.trec", "first_stage.trec", "rocchio.trec"]
        runs = {Path(name).stem: zf.read(name).decode().splitlines() for name in zf.namelist()}
    assert all(len(lines) == N_GENERAL * 100 and all(len(line.split()) == 6 for line in lines)
               for lines in runs.values())
    qrels = load_beir(SAMPLES_DIR / "general").qrels["test"]
    for system, lines in runs.items():
        run: dict[str, dict[str, float]] = {}
        for line in lines:
            qid, _, doc, rank, _, _ = line.split()
            run.setdefault(qid, {})[doc] = 1000.0 - int(rank)
        expected = evaluate_run(qrels, run)
        for metric in ("ndcg@10", "mrr@10", "recall@100"):
            cell = f'data-system="{system}" data-metric="{metric}"'
            shown = metrics.split(cell, 1)[1].split(">", 1)[1].split("<", 1)[0]
            assert float(shown) == pytest.approx(expected[metric], abs=5e-5), (system, metric)
    assert "no reported figure" in metrics and REPORTED_LABEL in metrics
    assert f"{N_GENERAL} of 24 judged test queries (seeded sample, seed 0)" in summary
    assert "precomputed" in summary and "never trained on listwise prompts" in summary

    descriptions = [desc or "" for _, desc in progress.calls]
    first_embed = next(i for i, d in enumerate(descriptions) if d.startswith("Embedding corpus"))
    first_query = next(i for i, d in enumerate(descriptions) if d == "Queries")
    assert first_embed < first_query
    assert progress.calls[first_embed][0] == (102, 102) and progress.calls[-1] == ((N_GENERAL, N_GENERAL), "Queries")

    data = json.loads(paths["evaluation.json"].read_text())
    assert data["n_queries"] == N_GENERAL
    assert set(data["per_query"]) == {"first_stage", "e2rank", "rocchio", "dense"}
    assert len(data["per_query"]["e2rank"]) == N_GENERAL and len(data["query_texts"]) == N_GENERAL
    assert data["e2rank_vs_first_stage_ndcg@10"] == {
        **win_tie_loss(query_deltas(data["per_query"], texts=data["query_texts"])), "tie_epsilon": 1e-9}
    # The chart compares with the plain query's dense rerank by default (the paper's claim).
    assert baseline.value == "dense" and baseline.choices[0] == ("dense rerank of the plain query (default)", "dense")
    assert {v for _, v in baseline.choices} == {"dense", "first_stage", "rocchio"}
    deltas = query_deltas(data["per_query"], baseline="dense", texts=data["query_texts"])
    counts = win_tie_loss(deltas)
    assert plot.visible and f"worse on {counts['loss']} of {N_GENERAL} queries" in caption
    spec = json.loads(plot.value["plot"]) if isinstance(plot.value, dict) else json.loads(plot.value.plot)
    assert [t["name"] for t in spec["data"]] == [f"E2Rank better: {counts['win']}", f"tie: {counts['tie']}",
                                                 f"E2Rank worse: {counts['loss']}"]
    assert spec["config"]["toImageButtonOptions"]["filename"] == "win-tie-loss"
    best, worst = helped_hurt(deltas, 5)
    assert [h.qid for h in view.helped] == [d.qid for d in best]
    assert [h.qid for h in view.hurt] == [d.qid for d in worst]
    if best:
        assert helped.choices[0] == (f"{best[0].delta:+.3f} · {best[0].text} ({best[0].baseline:.3f} → "
                                     f"{best[0].system:.3f})", "0")
    assert [v for _, v in hurt.choices] == [str(i) for i in range(len(worst))] and len(worst) <= 5
    assert view.sample == "general"


def test_the_per_query_chart_compares_with_any_system_of_the_run(general_run) -> None:  # noqa: ANN001
    """Choosing another system redraws the chart and the helped / hurt lists against it, from the same run."""
    outputs, _, view, _ = general_run
    report = view.report
    for system, label in (("first_stage", "first stage (dense cosine)"), ("rocchio", "Rocchio PRF")):
        chart, caption, helped, hurt, message = tab.compare_with(system, view)
        deltas = query_deltas(report.per_query, baseline=system, texts=report.query_texts)
        counts = win_tie_loss(deltas)
        assert view.baseline == system and f"worse on {counts['loss']} of {N_GENERAL} queries" in caption
        spec = json.loads(chart.value["plot"]) if isinstance(chart.value, dict) else json.loads(chart.value.plot)
        assert f"E2Rank vs {label}, per query" in spec["layout"]["title"]["text"]
        best, worst = helped_hurt(deltas, 5)
        assert [h.qid for h in view.helped] == [d.qid for d in best] and f"({label} → E2Rank)" in helped.info
    tab.compare_with("e2rank", view)  # not a system to compare with: the default
    assert view.baseline == "dense"
    assert all(isinstance(o, SKIP) for o in tab.compare_with("rocchio", tab.EvalView()))


def test_a_second_evaluation_in_the_same_session_is_refused_politely() -> None:
    """While one evaluation runs, another of the same session changes nothing and warns."""
    view = tab.EvalView(running=True)
    with pytest.warns(UserWarning, match="already running"):
        outputs = tab.run_evaluation("sample:general", None, "minilm", "dense", ["e2rank"], "sample", 5, 0,
                                     UISession(), view, Progress())
    assert len(outputs) == len(tab.RUN_OUTPUTS) and all(isinstance(o, SKIP) for o in outputs)
    assert view.running


def _general_view() -> tab.EvalView:
    """What the tab remembers after evaluating the General sample (two of its real queries)."""
    queries = load_beir(SAMPLES_DIR / "general").queries
    first, second = sorted(queries)[:2]
    return tab.EvalView(collection="sample:general", label="General", sample="general", first_stage="bm25",
                        helped=[tab.EvalHit(first, queries[first], 0.5, 0.25, 0.75)],
                        hurt=[tab.EvalHit(second, queries[second], -0.5, 1.0, 0.5)])


def test_open_query_loads_the_sample_then_searches(minilm) -> None:  # noqa: ANN001
    """A helped query opens in the Search tab; the sample is loaded first when another corpus is loaded."""
    view, state = _general_view(), UISession()
    out = tab.open_helped(0, "minilm", state, view, Progress())
    tabs, query, message, go, stage, *index_outputs = out
    assert go is True and query == view.helped[0].text and tabs.selected == "search" and stage == "bm25"
    assert "loaded General first" in message and state.corpus is not None and state.corpus.sample == "general"
    assert len(index_outputs) == tab.callbacks.n_index_outputs() and "General knowledge" in index_outputs[0]
    # Already loaded: nothing is re-indexed.
    index = state.index
    out = tab.open_hurt("0", "minilm", state, view, Progress())
    assert out[3] is True and out[1] == view.hurt[0].text and state.index is index
    assert "loaded" not in out[2] and all(isinstance(o, SKIP) for o in out[5:])
    # Then the app's own search runs it.
    from e2rank_demo.prompts import TASKS

    first, e2rank, *_, info = tab.search_if(True, out[1], "bm25", 100, 20, "web", TASKS["web"].query,
                                            TASKS["web"].rerank, 0.0, "official", False, False, state)
    assert "e2r-hit" in first and "candidates" in info and state.result is not None
    assert all(isinstance(o, SKIP) for o in tab.search_if(False, "x"))
    state.close()


def test_open_query_says_why_it_cannot() -> None:
    """A query from a collection the Search tab cannot load is not opened; the reason is shown."""
    view = _general_view()
    other = tab.EvalView(collection="shared:scifact", label="SciFact test (full, ../shared/data)", sample=None,
                         helped=view.helped)
    state = UISession()
    tabs, query, message, go, *_ = tab.open_helped(0, "minilm", state, other, Progress())
    assert go is False and isinstance(tabs, SKIP) and isinstance(query, SKIP)
    assert "cannot load" in message and "SciFact test (full" in message and state.corpus is None
    skipped = tab.open_helped(7, "minilm", state, other, Progress())
    assert len(skipped) == len(tab.OPEN_OUTPUTS) + tab.callbacks.n_index_outputs()
    assert all(isinstance(o, SKIP) for o in skipped)
    busy = UISession(indexing=True)
    out = dict(zip(tab.OPEN_OUTPUTS.names, tab.open_helped(0, "minilm", busy, view, Progress())))
    assert out["go"] is False and "indexing" in out["open_message"] and busy.corpus is None
    assert isinstance(out["tabs"], SKIP) and isinstance(out["sidebar_first_stage"], SKIP)


def _beir_zip(queries: dict[str, str], with_run: bool) -> bytes:
    docs = {"d1": "Sourdough bread rises because wild yeast makes gas.", "d2": "Tides follow the Moon's gravity.",
            "d3": "Bats sleep through winter in caves.", "d4": "Solar panels turn sunlight into electricity."}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("toy/corpus.jsonl", "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                                for k, v in docs.items()))
        zf.writestr("toy/queries.jsonl", "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
        zf.writestr("toy/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
        if with_run:
            zf.writestr("toy/runs/bm25.trec", "q1 Q0 d2 1 9.0 bm25\nq1 Q0 d1 2 8.0 bm25\nq2 Q0 d3 1 5.0 bm25\n")
    return buf.getvalue()


def test_uploaded_zip_with_a_run(tmp_path: Path, minilm) -> None:  # noqa: ANN001
    """An uploaded BEIR zip evaluates its shipped run; markup in its texts stays text."""
    path = tmp_path / "toy.zip"
    hostile = "<script>alert(1)</script> why does bread rise"
    path.write_bytes(_beir_zip({"q1": hostile, "q2": "where do bats spend the winter"}, with_run=True))
    state, view = UISession(), tab.EvalView()
    summary, metrics, _, _, helped, hurt, files, _, _ = tab.run_evaluation(
        "upload", str(path), "minilm", "run", ["e2rank"], "sample", 50, 0, state, view, Progress())
    assert "toy (uploaded)" in metrics and "TREC run bm25" in metrics and "no reported figure" in metrics
    assert "<script>" not in summary + metrics and "cache" not in summary.split("Corpus embeddings:")[1].split(".")[0]
    assert view.sample is None and len(files) == 2
    assert "all 2 judged test queries (the sample size 50 covers them all)" in summary
    labels = [label for label, _ in helped.choices + hurt.choices]
    assert any(hostile in label for label in labels)  # raw text in a radio label: Gradio renders it as text
    # Runs are optional in a zip: asking for its run without one falls back to Dense and says so.
    path.write_bytes(_beir_zip({"q1": "bread", "q2": "bats"}, with_run=False))
    summary, metrics, *_ = tab.run_evaluation("upload", str(path), "minilm", "run", ["e2rank"], "all", 50, 0,
                                              state, view, Progress())
    assert tab.NO_RUN_NOTE in summary and "First stage: dense cosine" in summary
    assert "TREC run" not in metrics and not view.running
    with pytest.warns(UserWarning, match="Choose a BEIR"):
        tab.run_evaluation("upload", None, "minilm", "dense", ["e2rank"], "all", 50, 0, state, view, Progress())
    state.close()


def test_an_uploaded_zip_is_embedded_afresh_for_another_session(tmp_path: Path, minilm) -> None:  # noqa: ANN001
    """Uploads are cached in the uploader's scope: a second session embeds the same zip as if nobody had
    (same note, same model work), while the uploader's own second run reads its cache."""
    import uuid

    path = tmp_path / "toy.zip"
    path.write_bytes(_beir_zip({"q1": f"bread {uuid.uuid4().hex}", "q2": "bats"}, with_run=False))
    upload = find_collection(UPLOAD)
    cache = embedding_cache()
    first, second = UISession().upload_scope(), UISession().upload_scope()
    mine, _ = prepare(upload, minilm, str(path), lambda done, total: None, first, cache)
    again, _ = prepare(upload, minilm, str(path), lambda done, total: None, first, cache)
    theirs, _ = prepare(upload, minilm, str(path), lambda done, total: None, second, cache)
    encoded = [(p.session.encode_stats.n_encoded, p.session.encode_stats.n_cached) for p in (mine, again, theirs)]
    assert encoded == [(4, 0), (0, 4), (4, 0)]
    strip = re.compile(r"[\d.]+ s\b")
    assert strip.sub("", mine.embeddings) == strip.sub("", theirs.embeddings)


def test_upload_offers_the_zips_run_only_when_it_has_one(tmp_path: Path) -> None:
    """Choosing "Upload a BEIR zip" selects Dense; a zip with runs/ then selects its run, one without says why."""
    _, _, stage = tab.choose_collection("upload")
    assert stage.value == "dense" and "run" not in [v for _, v in stage.choices]
    with_run, without = tmp_path / "with.zip", tmp_path / "without.zip"
    with_run.write_bytes(_beir_zip({"q1": "bread"}, with_run=True))
    without.write_bytes(_beir_zip({"q1": "bread"}, with_run=False))
    note, stage = tab.choose_zip(str(with_run))
    assert stage.value == "run" and "run" in [v for _, v in stage.choices] and "TREC run" in note
    note, stage = tab.choose_zip(str(without))
    assert stage.value == "dense" and "run" not in [v for _, v in stage.choices]
    assert tab.NO_RUN_NOTE in note
    assert tab.choose_zip(None)[1].value == "dense"
    assert not tab.zip_has_run(tmp_path / "missing.zip")


def test_the_tab_is_part_of_the_app() -> None:
    """build_demo has an Evaluate tab with a public /evaluate endpoint."""
    from e2rank_demo.ui import build_demo

    demo = build_demo()
    config = demo.get_config_file()
    names = {d.get("api_name") for d in config["dependencies"]}
    assert "evaluate" in names
    labels = [c["props"].get("label") for c in config["components"] if c.get("type") == "tabitem"]
    assert "Evaluate" in labels
    # Opening a helped query in the Search tab is wired by OPEN_OUTPUTS' names.
    opened = next(f for f in demo.fns.values() if f.fn is tab.open_helped)
    by_name = dict(zip(tab.OPEN_OUTPUTS.names, opened.outputs))
    assert isinstance(by_name["tabs"], gr.Tabs) and by_name["query"].elem_id == "query"
    assert by_name["open_message"].elem_id == "eval-open-message" and isinstance(by_name["go"], gr.State)
    stage = by_name["sidebar_first_stage"]
    assert isinstance(stage, gr.Radio) and stage.label == "First stage"
    assert len(opened.outputs) == len(tab.OPEN_OUTPUTS) + tab.callbacks.n_index_outputs()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_other_tabs_keep_working_while_an_evaluation_runs(minilm, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa
    """One session: while its evaluation is held mid-run, it loads a sample and searches; a second run is refused."""
    import threading

    gradio_client = pytest.importorskip("gradio_client")
    from e2rank_demo.prompts import TASKS
    from e2rank_demo.ui import build_demo, launch_options

    started, release, calls = threading.Event(), threading.Event(), []
    real = tab.evaluate

    def held(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        started.set()
        assert release.wait(120), "the test never released the evaluation"
        return real(*args, **kwargs)

    monkeypatch.setattr(tab, "evaluate", held)
    demo = build_demo()
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(), quiet=True,
                            **launch_options())
    try:
        client = gradio_client.Client(url, verbose=False, download_files=False)
        job = client.submit("sample:general", None, "minilm", "dense", ["e2rank"], "sample", 3, 0,
                            api_name="/evaluate")
        assert started.wait(120)
        client.predict("general", "minilm", api_name="/load_sample")
        first, e2rank, *_, info = client.predict(
            "why is the sea salty", "dense", 100, 20, "web", TASKS["web"].query, TASKS["web"].rerank, 0.0, "official",
            False, False, api_name="/search")
        assert "e2r-hit" in first and "candidates" in info and not job.done()
        client.predict("sample:general", None, "minilm", "dense", ["e2rank"], "sample", 3, 0, api_name="/evaluate")
        assert len(calls) == 1  # refused: the session's evaluation is still running
        release.set()
        summary, metrics, *_ = job.result(timeout=300)
        assert "3 of 24 judged test queries" in summary and 'data-system="e2rank"' in metrics
    finally:
        release.set()
        demo.close()


def test_trec_dl_tables_and_exports_state_the_binary_relevance_level(minilm) -> None:  # noqa: ANN001
    """An evaluation of a TREC DL collection scores MRR/Recall at rel >= 2 and says so in the table and the JSON."""
    from e2rank_demo.corpus import BeirDataset
    from e2rank_demo.evaluation import evaluate
    from e2rank_demo.records import Document

    docs = [Document("d1", "", "Sourdough bread rises because wild yeast makes gas."),
            Document("d2", "", "Bread dough is kneaded and baked."), Document("d3", "", "Tides follow the Moon.")]
    qrels = {"test": {"q1": {"d1": 1, "d2": 2}}}
    for name, level in (("trec-dl-toy", 2), ("toy", 1)):
        report = evaluate(BeirDataset(name, docs, {"q1": "why does bread rise"}, qrels), minilm, "dense")
        assert report.binary_rel == level and report.to_json()["binary_rel"] == level
        table = tab.metrics_view(report, name, None)
        assert ("MRR@10 (rel ≥ 2)" in table and "Recall@100 (rel ≥ 2)" in table) == (level == 2)
        rank_of_d2 = [d for d, _ in report.runs["first_stage"]["q1"]].index("d2") + 1
        expected = 1 / rank_of_d2 if level == 2 else 1.0 / min(rank_of_d2, 1 + [d for d, _ in report.runs[
            "first_stage"]["q1"]].index("d1"))
        assert report.metrics["first_stage"]["mrr@10"] == pytest.approx(expected)
