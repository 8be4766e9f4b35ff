"""The page: components, their arrangement and the events that connect them.

Output groups shared by several events (callbacks return tuples in this order):

* ``result_outputs``: first-stage column, E2Rank column, the first Search toggle's column
  (Rocchio), relevance picker, prompt view, then the other toggles' columns, one per
  :func:`~e2rank_demo.rerank.search_toggles` entry (``search`` adds the search line after them).
* ``index_outputs``: corpus stats, status line, example queries, task preset, re-index
  note, then ``result_outputs`` (cleared, since a new index invalidates old results) and the
  search line (the corpus's size: the last search's line spoke of the old corpus). The
  sidebar's loads add the query box, emptied when the corpus changed
  (:func:`~e2rank_demo.ui.callbacks.clearing_query`).

Public API endpoints (``gradio_client``): ``load_sample``, ``upload``, ``paste``, ``open_index``,
``reindex``, ``search``, ``set_relevant``, ``export``, ``report`` (``ui/share.py``), ``edit_prompt`` and
``prompt_influence`` (``ui/prompt_panel.py``), ``map`` (the Embedding map tab opened, ``ui/visuals.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from e2rank_demo.corpus import SUPPORTED_SUFFIXES, Limits
from e2rank_demo.pipeline import MAX_INSTRUCTION_CHARS, MAX_QUERY_CHARS
from e2rank_demo.prompts import DEFAULT_TASK, TASKS
from e2rank_demo.rerank import search_toggles
from e2rank_demo.samples import available_samples, default_sample
from e2rank_demo.serving import concurrency
from e2rank_demo.stores import STORE_FORMS
from e2rank_demo.stores.catalog import typed_uri_allowed
from e2rank_demo.ui import callbacks, content, present, prompt_panel, prompt_settings, render, share, visuals
from e2rank_demo.ui import evaluate as evaluate_tab
from e2rank_demo.ui.common import PAGE_READY, SCROLL_TO_RESULTS
from e2rank_demo.ui.state import UISession

STATIC = Path(__file__).parent / "static"
# The compact phone view is pure CSS (app.css), switched off by an attribute on #results; no server call.
TOGGLE_COMPACT = "(on) => { document.getElementById('results')?.setAttribute('data-lists', on ? 'compact' : 'full'); }"
FOLD_SIDEBAR_ON_PHONE = "() => window.e2rankFoldSidebarOnPhone?.()"
UPLOAD_TYPES = list(SUPPORTED_SUFFIXES)


def theme() -> gr.themes.Base:
    """A calm, high-contrast theme with large type (readable on a projector)."""
    return gr.themes.Soft(
        primary_hue="indigo",
        secondary_hue="emerald",
        neutral_hue="slate",
        text_size="lg",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
    )


def launch_options() -> dict[str, Any]:
    """Upload limit, theme, CSS and page script, which Gradio 6 takes in ``launch()``."""
    return {
        # Gradio refuses bigger uploads before they reach the disk; ingestion re-checks every limit.
        "max_file_size": Limits.from_env().max_file_bytes,
        "theme": theme(),
        "css": (STATIC / "app.css").read_text(encoding="utf-8") + present.CSS,
        "js": (STATIC / "app.js").read_text(encoding="utf-8"),
    }


def sample_card(name: str | None) -> str:
    """The description and licence of the chosen sample."""
    return render.sample_card(next((i for i in available_samples() if i.name == name), None))


def _sample_choices(value: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """``(title, name)`` of the samples present now (a sample still being written appears later), and the pick."""
    infos = available_samples()
    names = [i.name for i in infos]
    chosen = value if value in names else default_sample()
    return [(i.title, i.name) for i in infos], chosen


def sample_picker(value: str | None = None) -> gr.Radio:
    """The sample picker with the samples present now."""
    choices, chosen = _sample_choices(value)
    return gr.Radio(choices=choices, value=chosen)


def pick_example(sample: list[str]) -> str:
    """The query text of a clicked example."""
    return sample[0]


def build_demo() -> gr.Blocks:
    """Builds the whole app (nothing heavy is loaded here)."""
    model_list, default_model = callbacks.model_choices()
    initial_choices, initial_sample = _sample_choices()
    empty_first, empty_e2rank, *empty_toggled = callbacks.column_outputs(callbacks.cleared_results())
    toggle_specs = search_toggles()
    # delete_cache: uploads and exports older than an hour are removed (checked hourly).
    with gr.Blocks(title="E2Rank demo", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        state = gr.State(UISession(), delete_callback=UISession.close)
        with gr.Sidebar(width=360, elem_id="sidebar"):
            gr.Markdown("### Corpus")
            with gr.Tabs():
                with gr.Tab("Sample"):
                    sample_name = gr.Radio(
                        choices=initial_choices, value=initial_sample, label="Bundled corpus", elem_id="sample-name"
                    )
                    sample_info = gr.HTML(sample_card(initial_sample))
                    load_btn = gr.Button("Load sample", variant="primary", elem_id="load-sample")
                with gr.Tab("Upload"):
                    files = gr.File(
                        file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload-files", label="Files to index"
                    )
                    gr.Markdown(
                        "Accepted: .txt, .md, .pdf, .docx, .csv/.tsv, .json/.jsonl (also a BEIR "
                        "corpus.jsonl or a list of strings), optionally gzipped.",
                        elem_classes="e2r-hint",
                    )
                    text_column = gr.Dropdown(
                        [callbacks.AUTO_COLUMN],
                        value=callbacks.AUTO_COLUMN,
                        label="Text column (CSV/TSV) or JSON key",
                        allow_custom_value=True,
                        elem_id="text-column",
                    )
                    upload_btn = gr.Button("Index files", variant="primary", elem_id="index-files")
                with gr.Tab("Paste"):
                    pasted = gr.Textbox(
                        lines=8, label="Text (a blank line starts a new document)", elem_id="paste-text"
                    )
                    paste_btn = gr.Button("Index text", variant="primary", elem_id="index-text")
            status = gr.HTML(elem_id="status", label="Status")
            stats = gr.HTML(
                render.notice("No corpus loaded yet: load a sample, upload files or paste text."),
                elem_id="corpus-stats",
                label="Corpus statistics",
            )
            # An accordion, not a fourth tab: the narrow sidebar would push a fourth tab into an overflow menu.
            # Hidden where the server lists no index and takes no typed address (a default Space).
            store_list = callbacks.store_names()
            with gr.Accordion(
                "Open an index", open=False, elem_id="open-index-panel", visible=bool(store_list) or typed_uri_allowed()
            ):
                store_name = gr.Dropdown(
                    store_list,
                    value=store_list[0] if store_list else None,
                    label="Index on this server",
                    elem_id="store-name",
                )
                store_uri = gr.Textbox(
                    label="…or a store address",
                    placeholder=STORE_FORMS,
                    visible=typed_uri_allowed(),
                    elem_id="store-uri",
                )
                gr.Markdown(
                    "A store built with `python -m e2rank_demo index`, opened read-only: the first "
                    "stage is its dense top-N and E2Rank reranks the vectors it returns. See the "
                    "README's “Open an index”.",
                    elem_classes="e2r-hint",
                )
                open_btn = gr.Button("Open index", variant="primary", elem_id="open-index")
            with gr.Accordion("Model and passages", open=False, elem_id="index-settings"):
                model = gr.Dropdown(
                    model_list,
                    value=default_model,
                    label="Model",
                    elem_id="model",
                    info="Changing the model or the passages needs a re-index.",
                )
                max_words = gr.Slider(
                    50,
                    500,
                    value=200,
                    step=10,
                    label="Passage size (words)",
                    info="Long uploaded or pasted documents are split; samples are not.",
                )
                overlap = gr.Slider(0, 100, value=40, step=5, label="Passage overlap (words)")
                reindex_msg = gr.HTML(label="Re-index note")
                reindex_btn = gr.Button("Re-index", elem_id="reindex")
            with gr.Accordion("Search settings", open=False, elem_id="settings"):
                first_stage = gr.Radio(
                    [("Dense (cosine)", "dense"), ("BM25", "bm25")],
                    value="dense",
                    label="First stage",
                    info="These settings apply to the next search.",
                )
                candidates = gr.Slider(10, 200, value=100, step=1, label="Candidates N")
                prompt_docs = gr.Slider(
                    1,
                    50,
                    value=prompt_settings.initial_k(default_model),
                    step=1,
                    label="Prompt documents k",
                    elem_id="prompt-docs-k",
                    info=prompt_settings.k_info(prompt_settings.model_defaults(default_model)),
                )
                k_chosen = gr.State(False)  # True once the user (or a link) set k: it then stays across models
                task = gr.Dropdown(
                    [(t.label, name) for name, t in TASKS.items()], value=DEFAULT_TASK, label="Task preset"
                )
                query_instruction = gr.Textbox(
                    TASKS[DEFAULT_TASK].query,
                    lines=2,
                    max_length=MAX_INSTRUCTION_CHARS,
                    label="Retrieval instruction (used by E2Rank models)",
                )
                rerank_instruction = gr.Textbox(
                    TASKS[DEFAULT_TASK].rerank,
                    lines=2,
                    max_length=MAX_INSTRUCTION_CHARS,
                    label="Listwise prompt instruction",
                )
                interpolation = gr.Slider(
                    0, 1, value=0, step=0.05, label="λ: share of cos(query, doc) in the E2Rank score"
                )
                prompt_order = gr.Radio(
                    [("Official: query last", "official"), ("Query first", "query_first")],
                    value="official",
                    label="Prompt order",
                )
                prompt_pooling = gr.Dropdown(
                    prompt_settings.pooling_choices(default_model),
                    value=prompt_settings.MODEL_POOLING,
                    label="Prompt pooling",
                    info=prompt_settings.POOLING_HINT,
                    elem_id="prompt-pooling",
                )
                # The first toggle (Rocchio) keeps its place in the search API; the others follow the state.
                rocchio, *also_run = [gr.Checkbox(False, label=spec.search_toggle) for spec in toggle_specs]
        gr.HTML(content.HEADER)
        with gr.Tabs() as main_tabs:
            with gr.Tab("Search", id="search"):
                with gr.Row(equal_height=True):
                    query = gr.Textbox(
                        label="Query",
                        show_label=False,
                        scale=5,
                        elem_id="query",
                        placeholder="Type a query and press Enter",
                        max_length=MAX_QUERY_CHARS,
                    )
                    search_btn = gr.Button("Search", variant="primary", scale=1, min_width=110, elem_id="search-btn")
                examples = gr.Dataset(
                    components=[query],
                    samples=[],
                    visible=False,
                    samples_per_page=6,
                    label="Example queries (click to search)",
                    elem_id="examples",
                )
                with gr.Row(equal_height=True, elem_id="search-line"):
                    search_info = gr.HTML(elem_id="search-info", label="Search line")
                    show_all = gr.Checkbox(
                        False, label="Show all candidates", elem_id="show-all", scale=0, min_width=220
                    )
                    compact = gr.Checkbox(
                        True,
                        label="Compact side-by-side view",
                        elem_id="compact-view",
                        scale=0,
                        min_width=220,
                        info="Phones: titles and rank badges only",
                    )
                with gr.Row(equal_height=False, elem_id="results"):
                    with gr.Column(min_width=320):
                        first_html = gr.HTML(
                            empty_first, elem_id="col-first", js_on_load=None, label="First-stage results"
                        )
                    with gr.Column(min_width=320):
                        e2rank_html = gr.HTML(
                            empty_e2rank, elem_id="col-e2rank", js_on_load=None, label="E2Rank results"
                        )
                with gr.Accordion("Mark relevant documents (updates nDCG@10, MRR@10 and Recall@N live)", open=True):
                    relevance = gr.CheckboxGroup(
                        choices=[],
                        label="Relevant to this query",
                        elem_id="relevance",
                        info="Judgments stay with this query for the session. Bundled "
                        "samples start with their known judgments.",
                    )
                prompt_lab = prompt_panel.build_panel()
                toggled_html = []
                for spec, empty in zip(toggle_specs, empty_toggled, strict=False):
                    with gr.Accordion(f"{spec.label} baseline", open=False):
                        toggled_html.append(gr.HTML(empty, js_on_load=None, label=f"{spec.label} results"))
                with gr.Accordion("Listwise prompt sent to the model", open=False, elem_id="prompt-acc"):
                    prompt_html = gr.HTML(js_on_load=None, elem_id="prompt", label="Listwise prompt")
                with gr.Accordion("Export", open=False):
                    export_btn = gr.Button("Create export files", elem_id="export-btn")
                    export_out = gr.File(
                        file_count="multiple",
                        interactive=False,
                        elem_id="export-files",
                        label="Rankings (CSV, JSON, TREC runs), judgments (qrels), queries",
                    )
                share_ui = share.build_panel()
            with gr.Tab("Embedding map", id="map") as map_tab:
                map_ui = visuals.build_map_tab()
            with gr.Tab("Latency", id="latency") as latency_tab:
                latency_ui = visuals.build_latency_tab()
            eval_ui = evaluate_tab.build_tab()
            present_ui = present.build_tab()
            with gr.Tab("About", id="about"):
                gr.Markdown(content.about())

        result_columns = [first_html, e2rank_html, *toggled_html]
        result_outputs = [first_html, e2rank_html, *toggled_html[:1], relevance, prompt_html, *toggled_html[1:]]
        index_outputs = [stats, status, examples, task, reindex_msg, *result_outputs, search_info]
        search_inputs = [
            query,
            first_stage,
            candidates,
            prompt_docs,
            task,
            query_instruction,
            rerank_instruction,
            interpolation,
            prompt_order,
            rocchio,
            show_all,
            state,
            *also_run,
            prompt_pooling,
        ]

        page_loaded = demo.load(
            sample_picker, sample_name, sample_name, api_visibility="private", show_progress="hidden"
        )
        sample_name.change(sample_card, sample_name, sample_info, api_visibility="private")
        # Stores added to the server's folder since the page was built appear on the next page load.
        demo.load(callbacks.store_picker, None, store_name, api_visibility="private", show_progress="hidden")
        # Indexing shows its progress bar (passages embedded / total, ETA) on the corpus panel only,
        # then folds the sidebar away on a phone.
        for button, fn, inputs, api_name in (
            (load_btn, callbacks.load_sample_corpus, [sample_name, model, state], "load_sample"),
            (upload_btn, callbacks.upload_files, [files, text_column, max_words, overlap, model, state], "upload"),
            (paste_btn, callbacks.paste_text, [pasted, max_words, overlap, model, state], "paste"),
            (open_btn, callbacks.open_index, [store_name, store_uri, model, state], "open_index"),
            (reindex_btn, callbacks.reindex, [model, max_words, overlap, state], "reindex"),
        ):
            new_corpus = fn is not callbacks.reindex  # a re-index keeps the query; a new corpus empties it
            indexed = button.click(
                callbacks.clearing_query(fn) if new_corpus else fn,
                inputs,
                [*index_outputs, query] if new_corpus else index_outputs,
                api_name=api_name,
                show_progress_on=stats,
                **concurrency("corpus"),
            )
            indexed.success(None, js=FOLD_SIDEBAR_ON_PHONE)
            visuals.wire_indexed(indexed, state, map_ui, latency_ui)
        files.change(callbacks.csv_columns, files, text_column, api_visibility="private")
        gr.on(
            [model.change, max_words.change, overlap.change],
            callbacks.reindex_note,
            [model, max_words, overlap, state],
            reindex_msg,
            api_visibility="private",
        )
        task.change(
            callbacks.task_instructions, task, [query_instruction, rerank_instruction], api_visibility="private"
        )
        # k and the pooling start from the model's defaults; a k the user set stays (.input: user moves only).
        prompt_docs.input(prompt_settings.k_set, None, k_chosen, api_visibility="private", show_progress="hidden")
        gr.on(
            [model.change, stats.change],
            prompt_settings.follow_model,
            [model, k_chosen, state],
            [prompt_docs, prompt_pooling],
            api_visibility="private",
            show_progress="hidden",
        )
        gr.on(
            [search_btn.click, query.submit],
            callbacks.search,
            search_inputs,
            [*result_outputs, search_info],
            api_name="search",
            **concurrency("search"),
        ).then(None, js=SCROLL_TO_RESULTS)
        examples.click(pick_example, examples, query, api_visibility="private").then(
            callbacks.search,
            search_inputs,
            [*result_outputs, search_info],
            api_visibility="private",
            **concurrency("search"),
        ).then(None, js=SCROLL_TO_RESULTS)
        compact.change(None, compact, None, js=TOGGLE_COMPACT)
        show_all.change(callbacks.rerender, [show_all, state], result_outputs, api_visibility="private")
        # The picker is not an output here, so quick successive ticks are never overwritten.
        relevance.input(callbacks.mark_relevant, [relevance, show_all, state], result_columns, api_name="set_relevant")
        export_btn.click(callbacks.export_files, state, export_out, api_name="export")
        prompt_panel.wire(
            prompt_lab, state=state, show_all=show_all, result_outputs=result_outputs, e2rank_column=e2rank_html
        )
        visuals.wire(state, map_tab, map_ui, latency_tab, latency_ui)
        evaluate_tab.wire(
            eval_ui,
            model=model,
            state=state,
            tabs=main_tabs,
            query=query,
            sidebar_first_stage=first_stage,
            index_outputs=index_outputs,
            search_inputs=search_inputs,
            search_outputs=[*result_outputs, search_info],
        )
        # Links (?corpus=...&q=...) are applied after the first load; ?present=1 continues in the Present tab.
        shared = share.wire(
            share_ui,
            page_loaded=page_loaded,
            state=state,
            tabs=main_tabs,
            sample_name=sample_name,
            model=model,
            query=query,
            show_all=show_all,
            stats=stats,
            index_outputs=index_outputs,
            settings=[
                first_stage,
                candidates,
                prompt_docs,
                task,
                query_instruction,
                rerank_instruction,
                interpolation,
                prompt_order,
                rocchio,
            ],
            search_outputs=[*result_outputs, search_info],
            present_targets=[present_ui.corpus, present_ui.query],
            pooling=prompt_pooling,
            k_chosen=k_chosen,
        )
        present.wire(
            present_ui,
            state=state,
            model=model,
            url=shared,
            settings=[first_stage, candidates, prompt_docs, interpolation, prompt_order],
            pooling=prompt_pooling,
        )
        shared.opened.then(None, js=PAGE_READY, api_visibility="private")
    return demo
