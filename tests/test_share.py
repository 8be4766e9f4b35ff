"""Shareable links (``e2rank_demo.ui.share``): validation, round trips, uploads and opening a link.

The callbacks run as the app runs them, on a real :class:`UISession`; opening a link
loads the bundled general sample with the real offline MiniLM (shipped embeddings).
"""

from __future__ import annotations

import dataclasses

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import gradio as gr
import pytest

from e2rank_demo.pipeline import MAX_QUERY_CHARS, SearchSettings
from e2rank_demo.records import Document
from e2rank_demo.ui import callbacks, share
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession

SAMPLES = ["general", "scifact"]
MODELS = ["minilm", "minilm-e2rank", "e2rank-0.6b"]
SKIP = type(gr.skip())


def parse(params: dict[str, str]) -> tuple[share.SharedView, list[str]]:
    return share.parse_query_params(params, samples=SAMPLES, models=MODELS)


def test_a_full_link_is_accepted() -> None:
    view, problems = parse({"corpus": "scifact", "q": "  ADAR1 binds Dicer ", "model": "minilm-e2rank", "stage": "bm25",
                            "n": "50", "k": "5", "task": "scifact", "lambda": "0.25", "order": "query_first",
                            "rocchio": "1", "present": "true"})
    assert problems == []
    assert view == share.SharedView("scifact", "ADAR1 binds Dicer", "minilm-e2rank", "bm25", 50, 5, "scifact", 0.25,
                                    "query_first", True, True)


@pytest.mark.parametrize(("key", "value", "why"), [
    ("corpus", "../../etc", "not a bundled corpus"),
    ("corpus", "/tmp/x", "not a bundled corpus"),
    ("model", "/home/user/secret-model", "not a model this app offers"),
    ("model", "Alibaba-NLP/E2Rank-8B", "not a model this app offers"),
    ("stage", "run", "dense or bm25"),
    ("n", "5", "from 10 to 200"),
    ("n", "1e9", "from 10 to 200"),
    ("n", "50.5", "from 10 to 200"),
    ("k", "0", "from 1 to 50"),
    ("k", "nan", "from 1 to 50"),
    ("k", "-3", "from 1 to 50"),
    ("task", "evil", "not a task preset"),
    ("lambda", "1.5", "from 0 to 1"),
    ("lambda", "inf", "from 0 to 1"),
    ("lambda", "abc", "from 0 to 1"),
    ("order", "random", "official or query_first"),
    ("rocchio", "maybe", "1 or 0"),
    ("q", "   ", "empty"),
    ("q", "x" * (MAX_QUERY_CHARS + 1), "longer than"),
    ("rel", "a,,b", "passage ids separated by commas"),
    ("rel", "a,a", "passage ids separated by commas"),
    ("rel", "a:0", "its grade (:2 to :3)"),
    ("rel", "a:4", "its grade (:2 to :3)"),
    ("rel", ",".join(f"d{i}" for i in range(share.MAX_RELEVANT + 1)), "up to 200"),
])
def test_bad_values_are_ignored_with_a_reason(key: str, value: str, why: str) -> None:
    view, problems = parse({key: value, "k": "7"} if key != "k" else {key: value})
    assert len(problems) == 1 and why in problems[0] and problems[0].startswith(f"{key}=")
    assert len(problems[0]) < 200  # a huge value is cut, never echoed whole
    expected = share.SharedView(prompt_docs=7) if key != "k" else share.SharedView()
    assert view == expected


def test_unknown_parameters_are_ignored_silently() -> None:
    view, problems = parse({"__theme": "dark", "utm_source": "slides", "view": "api"})
    assert view.empty and problems == []


def test_control_characters_are_removed_from_the_query() -> None:
    view, _ = parse({"q": "bread\x00\nrise\x1b[31m"})
    assert view.query == "bread rise [31m"


def test_link_round_trip() -> None:
    view = share.SharedView("general", 'why does "bread" rise? & <how> #1 100%', "minilm", "dense", 100, 20, "web",
                            0.35, "official", False, True)
    query = share.link_query(view)
    assert query.startswith("?corpus=general&q=") and " " not in query and "<" not in query
    parsed, problems = parse(dict(parse_qsl(urlsplit(query).query)))
    assert problems == [] and parsed == view


@pytest.mark.parametrize("relevant", [(("gen-006", 1), ("gen-007", 2), ("doc:1", 1), ("a:b", 3)), ()])
def test_relevance_ticks_round_trip(relevant: tuple[tuple[str, int], ...]) -> None:
    """``rel`` keeps ids (a colon in one included), grades above 1, and "nothing is relevant" (an empty value)."""
    view = share.SharedView("general", "bread", relevant=relevant)
    query = share.link_query(view)
    assert ("&rel=" in query) and (query.endswith("&rel=") == (relevant == ()))
    parsed, problems = parse(dict(parse_qsl(urlsplit(query).query, keep_blank_values=True)))
    assert problems == [] and parsed == view


def loaded_state(sample: str | None, result: Any = None) -> UISession:
    documents = [Document("a", "Bread", "Yeast makes bread rise.")]
    state = UISession()
    state.corpus = Corpus("General knowledge" if sample else "notes.txt", documents, sample=sample)
    state.config = IndexConfig("minilm", sample is None, 0, 0)
    state.result = result
    return state


SIDEBAR = ("why does bread rise", "bm25", 60, 8, "web", "", "", 0.2, "query_first", True, "minilm")


def test_link_before_a_search_uses_the_sidebar_and_query_box() -> None:
    view, notes = share.view_for_link(loaded_state("general"), *SIDEBAR)
    assert view == share.SharedView("general", "why does bread rise", "minilm", "bm25", 60, 8, "web", 0.2,
                                    "query_first", True)
    assert any("Not searched yet" in n for n in notes)


def test_link_after_a_search_carries_that_search() -> None:
    result = SimpleNamespace(query="how do tides work", settings=SearchSettings(
        first_stage="dense", candidates=100, prompt_docs=20, task="web", interpolation=0.0,
        prompt_order="official", rerankers=("e2rank",), query_instruction="my own words"),
        prompt_edited=False, prompt_ids=[])
    view, notes = share.view_for_link(loaded_state("general", result), *SIDEBAR)
    assert view.query == "how do tides work" and view.first_stage == "dense" and view.rocchio is False
    assert any("Custom instruction" in n for n in notes)


def test_an_uploaded_corpus_is_never_put_in_a_link() -> None:
    state = loaded_state(None)
    qs, message = share.share_link(state, *SIDEBAR[:-1], "minilm")
    assert "corpus=" not in qs and "q=why%20does%20bread%20rise" in qs
    assert "cannot include uploaded documents" in message
    assert share.copy_button(state).value == share.UPLOAD_LABEL
    assert share.copy_button(loaded_state("general")).value == share.COPY_LABEL
    assert share.copy_button(UISession()).value == share.COPY_LABEL


def test_nothing_to_share_before_a_corpus() -> None:
    qs, message = share.share_link(UISession(), *SIDEBAR[:-1], "minilm")
    assert qs == "" and "Nothing to share yet" in message


# ------------------------------------------------------------------ opening a link

TARGETS = {name: name for name in ("sample_name", "model", "query", "first_stage", "candidates", "prompt_docs", "task",
                                   "interpolation", "prompt_order", "rocchio", "tabs", "present_corpus",
                                   "present_query")}
INDEX_OUTPUTS = ["stats", "status", "examples", "task", "reindex_note", "first", "e2rank", "rocchio", "picker",
                 "prompt", "search_line"]


def test_opening_a_link_loads_the_sample_and_runs_its_search(minilm) -> None:  # noqa: ANN001
    state = UISession()
    with pytest.warns(UserWarning, match=r"Ignored in this link: n=9000"):
        out = share.open_from_url({"corpus": "general", "q": "how do tides work", "k": "5", "n": "9000",
                                   "task": "scifact", "__theme": "dark"}, "minilm", state, INDEX_OUTPUTS, TARGETS)
    assert out["sample_name"] == "general" and out["query"] == "how do tides work" and out["prompt_docs"] == 5
    assert out["task"] == "scifact" and "candidates" not in out and "tabs" not in out
    assert "precomputed" in out["stats"] and state.corpus is not None and state.corpus.sample == "general"
    view = out["pending"]
    first, e2rank, *_, line = share.search_pending(view, "", "dense", 100, 20, "web", 0.0, "official", False, False,
                                                   state)
    assert "top 5 in the prompt" in e2rank and "100 candidates" in line
    assert state.result is not None and state.result.settings.task == "scifact"
    assert state.result.settings.prompt_docs == 5


def test_present_links_open_the_present_tab_without_searching(minilm) -> None:  # noqa: ANN001
    state = UISession()
    out = share.open_from_url({"corpus": "general", "present": "1"}, "minilm", state, INDEX_OUTPUTS, TARGETS)
    assert out["tabs"].selected == "present" and out["present_corpus"] == "general"
    assert out["present_query"].value == "why does bread rise"  # the sample's first example query
    skipped = share.search_pending(out["pending"], "q", "dense", 100, 20, "web", 0.0, "official", False, False, state)
    assert all(isinstance(o, SKIP) for o in skipped) and state.result is None


def test_an_empty_url_changes_nothing() -> None:
    assert share.open_from_url({}, "minilm", UISession(), INDEX_OUTPUTS, TARGETS) == {"pending": None}
    assert share.request_query_params(None) == {}
    request = SimpleNamespace(query_params={"corpus": "general", "k": "3"})
    assert share.request_query_params(request) == {"corpus": "general", "k": "3"}


def test_a_query_without_a_corpus_fills_the_box_and_warns() -> None:
    state = UISession()
    with pytest.warns(UserWarning, match="names no bundled corpus"):
        out = share.open_from_url({"q": "bread"}, "minilm", state, INDEX_OUTPUTS, TARGETS)
    assert out["query"] == "bread" and "sample_name" not in out and state.corpus is None


def test_link_whitelists_follow_the_app() -> None:
    assert set(share.sample_names()) >= {"general", "scifact"}
    assert share.model_names()[0] == "minilm" and "e2rank-0.6b" in share.model_names()
    assert callbacks.model_choices()[1] in share.model_names()


def test_report_refuses_before_a_search() -> None:
    with pytest.warns(UserWarning, match="Search first"):
        assert isinstance(share.export_report(False, UISession()), SKIP)


def _metrics(column: str) -> str:
    """A results column's metrics line (nDCG@10, MRR@10, Recall@N with their differences)."""
    return column.split('<p class="e2r-metrics', 1)[1].split("</p>", 1)[0]


def test_a_link_carries_the_relevance_ticks_so_the_recipient_sees_the_senders_metrics(minilm) -> None:  # noqa: ANN001
    """The sender unticks the sample's judgments and ticks another document: the link carries exactly those ticks
    and the recipient's columns show the sender's metrics (without ``rel`` they would differ); ids not in the
    corpus are ignored with a warning."""
    from urllib.parse import unquote

    sender = UISession()
    out = share.open_from_url({"corpus": "general", "q": "why does bread rise", "k": "5"}, "minilm", sender,
                              INDEX_OUTPUTS, TARGETS)
    share.search_pending(out["pending"], "", "dense", 100, 20, "web", 0.0, "official", False, False, sender)
    query, sample_marks = sender.result.query, sender.judgments_for(sender.result.query)
    ticked = sender.result.first_stage.ids[2]
    assert sample_marks and ticked not in sample_marks
    sender.set_relevant(query, shown=[*sample_marks, ticked], ticked=[ticked])
    first, e2rank, *_ = callbacks.results_outputs(sender, False)
    qs, _ = share.share_link(sender, *SIDEBAR[:-1], "minilm")
    assert qs.endswith(f"&rel={ticked}")
    params = {k: unquote(v) for k, v in (part.split("=", 1) for part in qs[1:].split("&"))}

    def opened(params: dict[str, str]) -> tuple[UISession, tuple[Any, ...]]:
        state = UISession()
        view = share.open_from_url(params, "minilm", state, INDEX_OUTPUTS, TARGETS)["pending"]
        return state, share.search_pending(view, "", "dense", 100, 20, "web", 0.0, "official", False, False, state)

    recipient, (first_seen, e2rank_seen, *_) = opened(params)
    assert recipient.judgments_for(query) == {ticked: 1}
    assert _metrics(first_seen) == _metrics(first) and _metrics(e2rank_seen) == _metrics(e2rank)
    _, (first_old, *_) = opened({k: v for k, v in params.items() if k != "rel"})  # a link made before ticks travelled
    assert _metrics(first_old) != _metrics(first)
    with pytest.warns(UserWarning, match="1 of the documents marked relevant are not in this corpus"):
        stranger, _ = opened({**params, "rel": f"{ticked},no-such-doc:2"})
    assert stranger.judgments_for(query) == {ticked: 1}


def test_a_link_reproduces_an_edited_prompt(minilm) -> None:  # noqa: ANN001
    """Prompt lab edits travel in ``prompt=`` and are applied after the link's search; bad ids are refused."""
    state = UISession()
    out = share.open_from_url({"corpus": "general", "q": "how do tides work", "k": "5"}, "minilm", state,
                              INDEX_OUTPUTS, TARGETS)
    share.search_pending(out["pending"], "", "dense", 100, 20, "web", 0.0, "official", False, False, state)
    edited_ids = state.result.prompt_ids[1:]
    state.result = state.index.rerank_with_prompt(state.result, edited_ids)
    qs, _ = share.share_link(state, *SIDEBAR[:-1], "minilm")
    assert "&prompt=" + "%2C".join(edited_ids) in qs
    params = dict(part.split("=", 1) for part in qs[1:].split("&"))
    from urllib.parse import unquote

    fresh = UISession()
    out = share.open_from_url({k: unquote(v) for k, v in params.items()}, "minilm", fresh, INDEX_OUTPUTS, TARGETS)
    assert out["pending"].prompt == tuple(edited_ids)
    _, e2rank, *_ = share.search_pending(out["pending"], "", "dense", 100, 20, "web", 0.0, "official", False, False,
                                         fresh)
    assert fresh.result.prompt_ids == edited_ids and "4 edited documents in the prompt" in e2rank
    assert fresh.result.reranked["e2rank"].ids == state.result.reranked["e2rank"].ids
    view, problems = share.parse_query_params({"prompt": "a,,b"}, samples=["general"], models=["minilm"])
    assert view.prompt is None and "passage ids" in problems[0]
    with pytest.warns(UserWarning, match="edited prompt"):
        share.search_pending(dataclasses.replace(out["pending"], prompt=("nope",)), "", "dense", 100, 20, "web", 0.0,
                             "official", False, False, fresh)
