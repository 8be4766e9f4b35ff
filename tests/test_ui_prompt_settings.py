"""The sidebar's k and prompt pooling start from the chosen model's defaults; an explicit choice wins.

Callback level (the functions the page's events call), on the real offline MiniLM; a model
with other defaults is a folder holding an adapter record (``e2rank_adapter.json``), as a
retrained ``minilm-e2rank`` is.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from e2rank_demo.models import ADAPTER_SPEC_FILE
from e2rank_demo.models.loading import prompt_defaults
from e2rank_demo.ui import callbacks, prompt_settings, share
from e2rank_demo.ui.state import UISession
from tests.test_share import INDEX_OUTPUTS, TARGETS

SETTINGS = TARGETS | {"prompt_pooling": "prompt_pooling", "k_chosen": "k_chosen"}


@pytest.fixture()
def k5_model(tmp_path: Path) -> str:
    """A model name whose defaults are k = 5 and query pooling (read without loading it)."""
    folder = tmp_path / "k5-adapter"
    folder.mkdir()
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps({"base": "minilm", "prompt_docs": 5, "prompt_pooling": "query"}))
    return str(folder)


def test_the_k_slider_follows_the_model_until_the_user_sets_k(k5_model: str) -> None:
    """Switching model moves k to the new model's default and names its pooling; once k was set, k stays."""
    state = UISession()
    slider, pooling = prompt_settings.follow_model(k5_model, False, state)
    assert slider.value == 5 and "model's default, 5" in slider.info
    assert pooling.choices[0] == ("Default: query tokens", prompt_settings.MODEL_POOLING)
    assert "value" not in pooling.constructor_args  # only the labels change: the user's pooling choice stays
    slider, pooling = prompt_settings.follow_model("e2rank-0.6b", False, state)
    assert slider.value == 20 and pooling.choices[0][0] == "Default: last token"
    slider, _ = prompt_settings.follow_model("e2rank-0.6b", prompt_settings.k_set(), state)
    assert "value" not in slider.constructor_args and "a k you set stays" in slider.info  # the explicit k stays
    slider, pooling = prompt_settings.follow_model("some/hub-model", False, state)
    assert "value" not in slider.constructor_args  # known once loaded (then the corpus panel's change follows)
    assert pooling.choices[0][0] == "The model's default"


def test_after_indexing_the_loaded_model_decides(minilm) -> None:  # noqa: ANN001
    """The loaded index's model gives the defaults (a model that fell back to MiniLM shows MiniLM's)."""
    state = UISession()
    callbacks.load_sample_corpus("general", "minilm", state)
    own = state.index.embedder.prompt_docs
    state.index.embedder.prompt_docs = 7  # as a model that records k = 7 would
    try:
        slider, _ = prompt_settings.follow_model("minilm", False, state)
    finally:
        state.index.embedder.prompt_docs = own
    assert slider.value == 7


def test_search_uses_the_model_defaults_unless_k_or_pooling_is_given(minilm) -> None:  # noqa: ANN001
    """The pooling control's value reaches the search; "the model's default" and k = 0 resolve to the model's."""
    state = UISession()
    callbacks.load_sample_corpus("general", "minilm", state)
    args = ("why does bread rise", "dense", 30, 4, "web", "", "", 0.0, "official", False, False, state)
    callbacks.search(*args, "query")
    assert (state.result.settings.prompt_docs, state.result.settings.prompt_pooling) == (4, "query")
    assert state.result.prompt.pooling == "query"
    defaults = prompt_defaults("minilm")
    callbacks.search(*args[:3], 0, *args[4:], prompt_settings.MODEL_POOLING)
    assert (state.result.settings.prompt_docs, state.result.settings.prompt_pooling) == defaults
    other = "mean" if defaults.pooling != "mean" else "last"
    callbacks.search(*args, other)
    assert state.result.prompt.pooling == other
    callbacks.search(*args)  # an older API call without the pooling: the model's default
    assert state.result.settings.prompt_pooling == defaults.pooling
    with pytest.raises(Exception, match="prompt pooling must be"):
        callbacks.search(*args, "max")


def test_links_carry_the_pooling_and_k_round_trip(minilm) -> None:  # noqa: ANN001
    """A link made after a search carries its k and pooling; opening it sets both, marks k as chosen and
    searches with them; a link without them gets the model's defaults."""
    view, problems = share.parse_query_params({"pool": "query", "k": "3"}, samples=["general"], models=["minilm"])
    assert problems == [] and (view.prompt_pooling, view.prompt_docs) == ("query", 3)
    assert share.link_query(view) == "?k=3&pool=query"
    _, problems = share.parse_query_params({"pool": "max"}, samples=["general"], models=["minilm"])
    assert problems == ["pool=max: the prompt pooling must be query, mean, last"]

    state = UISession()
    out = share.open_from_url({"corpus": "general", "q": "how do tides work", "k": "3", "pool": "query"}, "minilm",
                              state, INDEX_OUTPUTS, SETTINGS)
    assert out["prompt_pooling"] == "query" and out["k_chosen"] is True and out["prompt_docs"] == 3
    share.search_pending(out["pending"], "", "dense", 100, 20, "web", 0.0, "official", False, False, state, "model")
    assert (state.result.settings.prompt_docs, state.result.settings.prompt_pooling) == (3, "query")
    qs, _ = share.share_link(state, "", "dense", 100, 3, "web", "", "", 0.0, "official", False, "minilm", "model")
    assert {"k": "3", "pool": "query"}.items() <= dict(parse_qsl(qs[1:])).items()

    fresh = UISession()
    out = share.open_from_url({"corpus": "general", "q": "how do tides work"}, "minilm", fresh, INDEX_OUTPUTS, SETTINGS)
    assert "k_chosen" not in out and "prompt_pooling" not in out
    share.search_pending(out["pending"], "", "dense", 100, 9, "web", 0.0, "official", False, False, fresh, "model")
    assert (fresh.result.settings.prompt_docs, fresh.result.settings.prompt_pooling) == prompt_defaults("minilm")

    before = UISession(corpus=state.corpus, config=state.config)  # no search yet: the sidebar's values
    view, _ = share.view_for_link(before, "q", "dense", 100, 8, "web", "", "", 0.0, "official", False, "minilm",
                                  prompt_settings.MODEL_POOLING)
    assert view.prompt_pooling is None and view.prompt_docs == 8
    view, _ = share.view_for_link(before, "q", "dense", 100, 8, "web", "", "", 0.0, "official", False, "minilm", "last")
    assert view.prompt_pooling == "last"


def test_the_page_wires_the_controls_to_the_model() -> None:
    """The slider and pooling control follow the model dropdown and the corpus panel; moving the slider sets k."""
    from e2rank_demo.ui import build_demo

    demo = build_demo()
    config = demo.get_config_file()
    ids = {c["id"]: c for c in config["components"]}

    def elem(component_id: int | None) -> str | None:  # None: a page-level trigger (load)
        return ids[component_id]["props"].get("elem_id") if component_id in ids else None

    follow = [d for d in config["dependencies"] if any(elem(o) == "prompt-pooling" for o in d["outputs"])]
    assert follow, "nothing updates the pooling control"
    triggers = {(elem(t[0]), t[1]) for d in follow for t in d["targets"]}
    assert {("model", "change"), ("corpus-stats", "change")} <= triggers
    assert any(elem(o) == "prompt-docs-k" for d in follow for o in d["outputs"])
    assert any((elem(t[0]), t[1]) == ("prompt-docs-k", "input") for d in config["dependencies"] for t in d["targets"])
