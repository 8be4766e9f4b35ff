"""The Search tab's Prompt lab: choose the listwise prompt's documents and see what each does.

The panel sits under the results. Its multi-select holds the prompt's passages in prompt
order: removing one takes it out, adding one appends it (so removing and re-adding moves
a document to the end). *Pin marked-relevant first* puts the documents ticked relevant at
the front (true relevance feedback), *Reset to top-k* returns to the paper's setting, and
*Influence* draws the leave-one-out chart (one forward pass for each of the k prompts), and
*Flip the pooling* embeds the same prompt with the other pooling (mean over all its tokens
against the query's own tokens; a decoder's last token against the query's tokens) and shows
which documents move and both pseudo-queries on the map
(:meth:`~e2rank_demo.pipeline.SearchSession.compare_pooling`).

Every edit calls :meth:`~e2rank_demo.pipeline.SearchSession.rerank_with_prompt`, which
re-embeds only the prompt and rescores the cached candidate vectors; the result replaces
the session's last result, so the columns, badges, metrics, the prompt view, the share
link, the report and the Embedding map's pseudo-query all follow it.

Public API endpoints: ``edit_prompt`` (a list of passage ids, in prompt order) and ``compare_pooling``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from e2rank_demo import projection
from e2rank_demo.pipeline import SearchSession
from e2rank_demo.plots import Figure, influence_chart
from e2rank_demo.pooling_plots import pooling_label, pooling_map
from e2rank_demo.prompt_lab import PoolingComparison, compose_prompt
from e2rank_demo.query_result import QueryResult
from e2rank_demo.serving import concurrency
from e2rank_demo.ui import callbacks, render, visuals
from e2rank_demo.ui.common import plot_value
from e2rank_demo.ui.render import esc
from e2rank_demo.ui.state import UISession

FLIP_TOP = 10
"""The pooling flip lists the documents in either ranking's top this many."""
FLIP_MAP_WAIT_S = 2.0
"""Seconds the flip's map waits for the corpus's UMAP fit before showing PCA."""


@dataclass
class PromptPanel:
    """The Prompt lab's components."""

    docs: gr.Dropdown
    pin: gr.Button
    reset: gr.Button
    influence: gr.Button
    info: gr.HTML
    chart: gr.Plot
    caption: gr.Markdown
    flip: gr.Button
    flip_info: gr.HTML
    flip_chart: gr.Plot

    @property
    def outputs(self) -> list[Any]:
        """What a prompt edit refreshes in the panel (the chart is cleared: it was for the old prompt)."""
        return [self.docs, self.info, self.chart, self.caption]


def build_panel() -> PromptPanel:
    """The Prompt lab accordion (call inside the Search tab)."""
    with gr.Accordion("Prompt lab: choose the documents in the listwise prompt", open=True, elem_id="prompt-lab"):
        gr.Markdown(
            "The E2Rank column is scored with a listwise prompt of the top-k first-stage documents "
            "(pseudo-relevance feedback). Take documents out, add others (they go to the end), pin the "
            "ones you marked relevant, or reset; each edit embeds only the new prompt and rescores the "
            "cached document vectors. *Flip the pooling* embeds the same prompt pooled the other way and "
            "shows what moves.",
            elem_classes="e2r-hint",
        )
        docs = gr.Dropdown(
            [],
            value=[],
            multiselect=True,
            label="Documents in the prompt, in prompt order",
            elem_id="prompt-docs",
            interactive=True,
        )
        with gr.Row():
            pin = gr.Button("Pin marked-relevant first", elem_id="prompt-pin", scale=0, min_width=220)
            reset = gr.Button("Reset to top-k", elem_id="prompt-reset", scale=0, min_width=160)
            influence = gr.Button("Influence of each document", elem_id="prompt-influence-btn", scale=0, min_width=240)
            flip = gr.Button("Flip the pooling (mean ↔ query)", elem_id="prompt-flip-pooling", scale=0, min_width=240)
        info = gr.HTML(elem_id="prompt-lab-info", label="Prompt documents and cosines")
        chart = gr.Plot(visible=False, elem_id="prompt-influence", show_label=False, label="Influence chart")
        caption = gr.Markdown(visible=False, elem_classes="e2r-caption", label="Influence chart caption")
        flip_info = gr.HTML(elem_id="prompt-pooling-flip", label="The prompt pooled the other way")
        flip_chart = gr.Plot(
            visible=False, elem_id="prompt-pooling-map", show_label=False, label="Both pseudo-queries on the map"
        )
    return PromptPanel(docs, pin, reset, influence, info, chart, caption, flip, flip_info, flip_chart)


def panel_values(state: UISession) -> tuple[Any, ...]:
    """The panel for the session's last result: the picker, the prompt as text with its cosines.

    A notice about that result (``state.prompt_notice``, e.g. pinning replaced your edits) is
    shown above the prompt's documents, as a warning; it stays through the panel's refresh that
    follows every new E2Rank column and goes with the next result.
    """
    result, index = state.result, state.index
    hidden = (gr.Plot(value=None, visible=False), gr.Markdown(visible=False))
    if result is None or index is None or result.prompt is None:
        return (
            gr.Dropdown(choices=[], value=[], multiselect=True),
            render.notice("Search first; the prompt's documents appear here."),
            *hidden,
        )
    first_rank = result.first_stage.rank_of()
    ids = list(dict.fromkeys([*result.prompt_ids, *result.first_stage.ids]))
    choices = [(_label(first_rank.get(pid), index.passage(pid)), pid) for pid in ids]
    docs = gr.Dropdown(choices=choices, value=list(result.prompt_ids), multiselect=True)
    about, notice = state.prompt_notice or (None, "")
    return docs, (render.notice(notice, "warn") if about is result else "") + prompt_summary(state, result), *hidden


def _label(rank: int | None, passage: Any) -> str:
    return render.candidate_label(rank, passage) if rank else f"(not a candidate) {passage.title or passage.id}"


def prompt_summary(state: UISession, result: QueryResult) -> str:
    """The prompt's documents as text, with the pseudo-query's cosines next to Rocchio's."""
    index = state.index
    assert index is not None
    prov = index.prompt_provenance(result)
    k = result.prompt_k
    how = (
        f"edited: {len(result.prompt_ids)} documents chosen by you (“Pin marked-relevant first” and “Reset to "
        "top-k” start again from the first-stage top-k and replace these edits)"
        if result.prompt_edited
        else f"the paper's setting: the first-stage top {k}"
    )
    relevant = state.judgments_for(result.query)
    first_rank = result.first_stage.rank_of()
    rows = []
    triples = zip(prov.doc_ids, prov.prompt_to_docs, prov.rocchio_to_docs, strict=False)
    for i, (pid, cos_p, cos_r) in enumerate(triples, 1):
        passage = index.passage(pid)
        rank = first_rank.get(pid)
        mark = ' <span class="e2r-rel">✓ relevant</span>' if relevant.get(pid, 0) > 0 else ""
        # The results' row layout (position badge, then title and badges over the meta line): on a phone the
        # title keeps the row's width instead of sharing one flex line with the badge and the meta.
        rows.append(
            f'<li class="e2r-hit" data-pid="{esc(pid)}"><details><summary><span class="e2r-rank" title="prompt '
            f'position">{i}</span><span class="e2r-main"><span class="e2r-line"><span class="e2r-title">'
            f"{esc(passage.title or passage.doc_id)}</span>{mark}</span>"
            f'<span class="e2r-meta">first stage #{rank if rank else "–"} · cos to pseudo-query {cos_p:.3f} · '
            f"to Rocchio {cos_r:.3f}</span></span></summary>"
            f'<div class="e2r-full">{esc(passage.text)}</div></details></li>'
        )
    return (
        f'<div class="e2r-lab" data-edited="{int(result.prompt_edited)}">'
        f'<p class="e2r-lab-how">Prompt: {esc(how)}.</p>'
        f'<p class="e2r-lab-prov">Where the pseudo-query comes from: cos(pseudo-query, query) '
        f"<b>{prov.prompt_to_query:.3f}</b>, mean cos to the prompt documents "
        f"<b>{_mean(prov.prompt_to_docs):.3f}</b>; Rocchio over the same documents "
        f"(query + {result.settings.rocchio_beta} × their mean): "
        f"<b>{prov.rocchio_to_query:.3f}</b> and <b>{_mean(prov.rocchio_to_docs):.3f}</b>; "
        f"cos(pseudo-query, Rocchio) <b>{prov.prompt_to_rocchio:.3f}</b>. Measured now.</p>"
        f'<ol class="e2r-list e2r-lab-docs">{"".join(rows)}</ol></div>'
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _apply(state: UISession, ids: Sequence[str] | None, show_all: bool, notice: str = "") -> tuple[Any, ...]:
    if state.result is None or state.index is None or state.result.prompt is None:
        gr.Warning("Search first; then edit the prompt.")
        return tuple(gr.skip() for _ in range(callbacks.n_result_outputs() + 4))
    state.result = state.index.rerank_with_prompt(state.result, ids)
    state.prompt_notice = (state.result, notice) if notice else None
    return callbacks.results_outputs(state, show_all) + panel_values(state)


@callbacks.user_errors
def edit_prompt(ids: Sequence[str] | None, show_all: bool, state: UISession) -> tuple[Any, ...]:
    """Reranks with exactly ``ids`` in the prompt (in order); returns ``result_outputs`` and the panel."""
    return _apply(state, list(ids or []), show_all)


@callbacks.user_errors
def pin_relevant(show_all: bool, state: UISession) -> tuple[Any, ...]:
    """Puts the documents marked relevant first (best first-stage rank first), then the top-k others."""
    result = state.result
    if result is None:
        return _apply(state, None, show_all)
    relevant = state.judgments_for(result.query)
    first_rank = result.first_stage.rank_of()
    pinned = sorted(
        (pid for pid, grade in relevant.items() if grade > 0 and state.index is not None and pid in state.index.row_of),
        key=lambda pid: first_rank.get(pid, len(first_rank) + 1),
    )
    if not pinned:
        gr.Warning("No document is marked relevant for this query: tick some under “Mark relevant documents”.")
    k = result.prompt_k
    ids = compose_prompt(result.first_stage.ids, k, pinned)
    return _apply(state, ids, show_all, replaced_edits(state, result, ids, k))


def replaced_edits(state: UISession, result: QueryResult, new_ids: Sequence[str], k: int) -> str:
    """What pinning undoes of the user's own prompt edits, in one sentence (``""`` when it undoes nothing).

    Pinning rebuilds the prompt from the first-stage top-k: a document the user added (not in
    the top-k) leaves again unless pinned, and one the user took out of the top-k comes back
    (pinned or not).
    """
    if not result.prompt_edited or state.index is None:
        return ""
    default = compose_prompt(result.first_stage.ids, k)
    kept = set(new_ids)
    dropped = [pid for pid in result.prompt_ids if pid not in default and pid not in kept]
    before = set(result.prompt_ids)
    back = [pid for pid in default if pid not in before and pid in kept]
    parts = []
    if dropped:
        parts.append(f"took out {_titles(state, dropped)}, which you had added")
    if back:
        parts.append(f"put back {_titles(state, back)}, which you had taken out")
    if not parts:
        return ""
    return (
        f"Pinning rebuilt the prompt from the first-stage top {k} with the documents marked relevant first, "
        f"so it replaced your own edits: it {' and '.join(parts)}."
    )


def _titles(state: UISession, ids: Sequence[str], shown: int = 3) -> str:
    assert state.index is not None
    names = [f"“{state.index.passage(pid).title or pid}”" for pid in ids[:shown]]
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(names) + more


@callbacks.user_errors
def reset_prompt(show_all: bool, state: UISession) -> tuple[Any, ...]:
    """Back to the first-stage top-k (the paper's setting)."""
    return _apply(state, None, show_all)


@callbacks.user_errors
def show_influence(state: UISession) -> tuple[Any, Any]:
    """The leave-one-out influence chart of the current prompt, and its caption."""
    result, index = state.result, state.index
    if result is None or index is None or result.prompt is None:
        gr.Warning("Search first; then ask for the influence of each prompt document.")
        return gr.skip(), gr.skip()
    if not result.prompt_ids:
        gr.Warning("The prompt holds no document.")
        return gr.skip(), gr.skip()
    influence = index.prompt_influence(result, state.judgments_for(result.query), reuse_vectors=True)
    figure = influence_chart(influence, index)
    return gr.Plot(value=plot_value(figure), visible=True), gr.Markdown(figure.caption, visible=True)


def pooling_html(session: SearchSession, comparison: PoolingComparison, caption: str = "") -> str:
    """What flipping the pooling changes: tokens pooled, cosines, shared top 10, nDCG@10 and each rank move."""
    a, b = comparison.poolings
    ndcg = (
        f" nDCG@10 <b>{comparison.ndcg[0]:.3f}</b> with {esc(a)}, <b>{comparison.ndcg[1]:.3f}</b> with {esc(b)} "
        "(this query's judgments)."
        if comparison.ndcg is not None
        else ""
    )
    summary = (
        f'<p class="e2r-lab-how">The same prompt ({comparison.n_tokens} tokens) embedded twice: '
        f"<b>{esc(a)}</b> pooling "
        f"(this search's) takes {comparison.pooled_tokens[0]} of its tokens ({esc(pooling_label(a))}), "
        f"<b>{esc(b)}</b> pooling {comparison.pooled_tokens[1]} ({esc(pooling_label(b))}). "
        f"cos(pseudo-query, query): <b>{comparison.to_query[0]:.3f}</b> with {esc(a)}, "
        f"<b>{comparison.to_query[1]:.3f}</b> with {esc(b)}; cos between the two pseudo-queries "
        f"<b>{comparison.cosine:.3f}</b>. The two top {FLIP_TOP} share {comparison.shared_top(FLIP_TOP)} documents."
        f"{ndcg} Measured now.</p>"
    )
    moves = [(pid, r0, r1) for pid, r0, r1 in comparison.moves(FLIP_TOP) if r0 != r1]
    if not moves:
        table = f'<p class="e2r-hint">No document in either top {FLIP_TOP} changes rank.</p>'
    else:
        rows = "".join(
            f'<tr data-pid="{esc(pid)}"><td>{esc(session.passage(pid).title or pid)}</td><td>{r0}</td><td>{r1}</td>'
            f'<td><span class="e2r-diff {"up" if r1 < r0 else "down"}">{"▲" if r1 < r0 else "▼"}{abs(r1 - r0)}'
            "</span></td></tr>"
            for pid, r0, r1 in moves
        )
        table = (
            f'<table class="e2r-table" id="pooling-moves"><thead><tr><th>document</th><th>rank with {esc(a)}</th>'
            f"<th>rank with {esc(b)}</th><th>with {esc(b)}</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    note = f'<p class="e2r-caption">{esc(caption)}</p>' if caption else ""
    return f'<div class="e2r-lab e2r-pooling-flip">{summary}{table}{note}</div>'


@callbacks.user_errors
def flip_pooling(state: UISession) -> tuple[Any, Any]:
    """The current prompt pooled the other way: what changes in the ranking, and both pseudo-queries on a map."""
    result, index = state.result, state.index
    if result is None or index is None or result.prompt is None:
        gr.Warning("Search first; then flip the prompt's pooling.")
        return gr.skip(), gr.skip()
    comparison = index.compare_pooling(result, relevance=state.judgments_for(result.query) or None)
    why_not = visuals.refusal(state, "map of both pseudo-queries")
    if why_not is not None:
        return pooling_html(index, comparison) + render.notice(why_not), gr.Plot(value=None, visible=False)
    figure = pooling_figure(index, result, comparison)
    return pooling_html(index, comparison, figure.caption), gr.Plot(value=plot_value(figure), visible=True)


def pooling_figure(
    index: SearchSession, result: QueryResult, comparison: PoolingComparison, wait: float = FLIP_MAP_WAIT_S
) -> Figure:
    """Both pseudo-queries of ``comparison`` on the corpus map (UMAP when ready within ``wait`` s, else PCA)."""
    special = {"query": result.query_vector, "first": comparison.vectors[0], "second": comparison.vectors[1]}
    proj = projection.default_projector().project(
        visuals.corpus_key(index), index.vectors, index.ids, special, result.candidates.rows, wait=wait
    )
    return pooling_map(proj, index, comparison)


def clear_flip() -> tuple[str, Any]:
    """A new prompt or search: the flip shown was for the old one."""
    return "", gr.Plot(value=None, visible=False)


def wire(
    panel: PromptPanel, *, state: gr.State, show_all: gr.Checkbox, result_outputs: Sequence[Any], e2rank_column: gr.HTML
) -> None:
    """Connects the panel (call inside ``gr.Blocks`` after the result components exist)."""
    outputs = [*result_outputs, *panel.outputs]
    private: dict[str, Any] = {"api_visibility": "private"}
    search, charts = concurrency("search"), concurrency("charts")
    panel.docs.input(edit_prompt, [panel.docs, show_all, state], outputs, api_name="edit_prompt", **search)
    panel.pin.click(pin_relevant, [show_all, state], outputs, **search, **private)
    panel.reset.click(reset_prompt, [show_all, state], outputs, **search, **private)
    panel.influence.click(show_influence, state, [panel.chart, panel.caption], api_name="prompt_influence", **charts)
    panel.flip.click(
        flip_pooling,
        state,
        [panel.flip_info, panel.flip_chart],
        api_name="compare_pooling",
        show_progress_on=panel.flip_info,
        **charts,
    )
    e2rank_column.change(clear_flip, None, [panel.flip_info, panel.flip_chart], show_progress="hidden", **private)
    # A new search (or corpus) redraws the E2Rank column: the panel follows the new result.
    e2rank_column.change(panel_values, state, panel.outputs, show_progress="hidden", **private)
