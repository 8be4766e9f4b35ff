"""Prompt lab panel callbacks: edits rerank, reset, pins, influence chart, escaped text."""

from __future__ import annotations

import pytest

from e2rank_demo.ui import prompt_panel, share
from e2rank_demo.ui.render import esc
from e2rank_demo.ui.state import UISession
from tests.test_share import INDEX_OUTPUTS, TARGETS


@pytest.fixture()
def state(minilm) -> UISession:  # noqa: ANN001
    state = UISession()
    out = share.open_from_url({"corpus": "general", "q": "why does bread rise", "k": "5"}, "minilm", state,
                              INDEX_OUTPUTS, TARGETS)
    share.search_pending(out["pending"], "", "dense", 100, 20, "web", 0.0, "official", False, False, state)
    return state


def test_edit_reset_and_pin(state: UISession) -> None:
    """Removing the top document reranks and says so; reset restores the top-k; pins lead the prompt."""
    original = state.result
    top = original.prompt_ids[0]
    first, e2rank, _, _, prompt_view, docs, info, chart, _ = prompt_panel.edit_prompt(
        original.prompt_ids[1:], False, state)
    assert state.result.prompt_ids == original.prompt_ids[1:] and docs.value == original.prompt_ids[1:]
    assert "4 edited documents in the prompt" in e2rank and 'data-edited="1"' in info
    assert f"[1] {state.index.passage(top).full_text}" not in prompt_view and chart.visible is False
    *_, docs, info, _, _ = prompt_panel.reset_prompt(False, state)
    assert state.result.prompt_ids == original.prompt_ids and state.result.prompt.text == original.prompt.text
    assert state.result.reranked["e2rank"].ids == original.reranked["e2rank"].ids and 'data-edited="0"' in info
    last = original.first_stage.ids[-1]
    state.judgments[original.query] = {last: 1}
    prompt_panel.pin_relevant(False, state)
    assert state.result.prompt_ids[0] == last and len(state.result.prompt_ids) == 5


def test_pinning_names_the_edits_it_replaces(state: UISession) -> None:
    """The lab warns beforehand that pinning starts again from the top-k; after a manual add and remove, pinning
    names the document it took out again and the one it put back; with no edit of yours left it says nothing."""
    original = state.result
    removed, added = original.prompt_ids[0], original.first_stage.ids[-1]
    *_, info, _, _ = prompt_panel.edit_prompt([*original.prompt_ids[1:], added], False, state)
    assert "start again from the first-stage top-k and replace these edits" in info
    pinned = original.prompt_ids[1]
    state.judgments[original.query] = {pinned: 1}
    *_, info, _, _ = prompt_panel.pin_relevant(False, state)
    assert state.result.prompt_ids == [pinned, removed, *original.prompt_ids[2:]]
    title = {pid: esc(state.index.passage(pid).title) for pid in (added, removed)}
    assert '<p class="e2r-status warn">Pinning rebuilt the prompt from the first-stage top 5' in info
    assert f"it took out “{title[added]}”, which you had added and put back “{title[removed]}”" in info
    assert "Pinning rebuilt" in prompt_panel.panel_values(state)[1]  # the refresh after the new column keeps it
    *_, info, _, _ = prompt_panel.pin_relevant(False, state)
    assert "Pinning rebuilt" not in info


def test_influence_chart_and_bad_ids(state: UISession) -> None:
    """The chart appears with its caption; an unknown id is a plain message, the result is kept."""
    chart, caption = prompt_panel.show_influence(state)
    assert chart.visible and "click a bar" in caption.value
    before = state.result
    with pytest.raises(Exception, match="not in this corpus"):
        prompt_panel.edit_prompt(["<script>"], False, state)
    assert state.result is before


def test_nothing_searched_yet() -> None:
    """Before a search the panel says so, and edits only warn."""
    docs, info, *_ = prompt_panel.panel_values(UISession())
    assert docs.choices == [] and "Search first" in info
    with pytest.warns(UserWarning, match="Search first"):
        prompt_panel.reset_prompt(False, UISession())


def test_flipping_the_pooling_shows_the_rank_moves_and_both_pseudo_queries(state: UISession) -> None:
    """The flip lists every document of either top 10 whose rank changes, with both ranks, and draws the query
    and both pseudo-queries on the map; a new prompt clears it; before a search it only warns."""
    import json

    info, plot = prompt_panel.flip_pooling(state)
    expected = state.index.compare_pooling(state.result, relevance=state.judgments_for(state.result.query) or None)
    a, b = expected.poolings
    assert a == state.result.prompt.pooling and f"<b>{a}</b> pooling (this search's)" in info
    assert f"cos between the two pseudo-queries <b>{expected.cosine:.3f}</b>" in info
    moved = [(pid, r0, r1) for pid, r0, r1 in expected.moves(10) if r0 != r1]
    for pid, r0, r1 in moved:
        assert f'<tr data-pid="{pid}"><td>' in info and f"</td><td>{r0}</td><td>{r1}</td>" in info
    assert info.count("<tr data-pid=") == len(moved)
    assert plot.visible is True
    figure = json.loads(plot.value["plot"] if isinstance(plot.value, dict) else plot.value.plot)
    names = [trace.get("name") for trace in figure["data"]]
    assert "Query" in names and any(n.startswith("pseudo-query") and "this search" in n for n in names)
    assert any(n.startswith("pseudo-query") and "flipped" in n for n in names)
    assert prompt_panel.clear_flip()[0] == ""
    with pytest.warns(UserWarning, match="Search first"):
        prompt_panel.flip_pooling(UISession())
