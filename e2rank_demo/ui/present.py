"""The Present tab: a guided, seven-step walkthrough of one query for lectures and talks.

Pick a bundled corpus and one of its example queries (no typing needed), press Start,
then Next / Back (or the arrow and Page keys of a presenter's clicker):

1. the query and the first-stage list;
2. the listwise prompt built from the top-k, documents numbered, with its token count;
3. the pseudo-query moving on the embedding map (animated, ``plots.embedding_map(animate=True)``);
4. the reranked list with rank-change badges (``ui/render.py`` rendering);
5. which prompt documents pull the pseudo-query (``plots.influence_chart``, leave-one-out);
6. why the pseudo-query is read at the query: the model's own prompt pooling, explained from what it
   is, and the same prompt pooled the other way (``SearchSession.compare_pooling``);
7. latency measured now (``latency.measure_latency``) beside the paper's reported A100 table.

The walkthrough has its own state (:class:`PresentState`), so it never replaces the
corpus, results or judgments of the Search tab; it reuses the Search tab's index when
that holds the same sample and model, and otherwise keeps a few sample sessions per
process. Start begins step 3's UMAP fit and step 7's latency measurement in the background,
so no step blocks navigation: step 3 waits briefly for the fit (PCA meanwhile), and step 7
shows the measurement when it is done (the same query's earlier one at once).
Fonts are large and scoped to the tab (:data:`CSS`).

Hooks elsewhere: ``layout.build_demo`` calls :func:`build_tab` inside the main tabs and
:func:`wire` at the end; ``layout.launch_options`` appends :data:`CSS`; ``?present=1``
links are applied by :mod:`e2rank_demo.ui.share`, whose page-open chain :func:`wire`
continues.

Example:
    >>> "present-step" in steps_html(2)
    True
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import itertools
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from e2rank_demo import latency, plots, projection
from e2rank_demo.collections import shared_sample_session
from e2rank_demo.highlight import query_terms
from e2rank_demo.latency import LatencyReport
from e2rank_demo.metrics import ranking_metrics
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.prompt_lab import PoolingComparison
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import ListwisePrompt
from e2rank_demo.rerank import MAIN, RERANKERS
from e2rank_demo.samples import available_samples, load_sample
from e2rank_demo.ui import prompt_panel, render, share, visuals
from e2rank_demo.ui.common import (
    Outputs,
    embedding_cache,
    on_gpu,
    plot_value,
    user_errors,
    warn_on_error,
)
from e2rank_demo.ui.content import model_note
from e2rank_demo.ui.prompt_settings import pooling_setting
from e2rank_demo.ui.state import UISession

logger = logging.getLogger(__name__)

CSS = (Path(__file__).parent / "static" / "present.css").read_text(encoding="utf-8")
"""Large type for the Present tab, every rule scoped to ``#present-tab``."""

STEPS: tuple[tuple[str, str, str], ...] = (
    (
        "Query and first stage",
        "Query",
        "The query is embedded once and compared by cosine similarity with every document embedding, computed ahead "
        "of time. The N best documents become the candidates; here are the top 10.",
    ),
    (
        "The listwise prompt",
        "Prompt",
        "E2Rank writes the top-k candidates, numbered, and the query into one prompt. Embedding this prompt is the "
        "only extra model call reranking needs.",
    ),
    (
        "The pseudo-query on the map",
        "Map",
        "Your query (star) moves to the embedding of the listwise prompt, the pseudo-query (diamond; ▶ Play runs it "
        "again). It leans towards what the top documents share, like pseudo-relevance feedback.",
    ),
    (
        "The reranked list",
        "Rerank",
        "Every candidate is re-scored by cosine with the pseudo-query, reusing the document embeddings already "
        "computed. Badges show each document's move against the first stage; ✓ marks known relevant documents.",
    ),
    (
        "Which documents pull the pseudo-query",
        "Influence",
        "Each bar is one prompt document: how far the pseudo-query moves when the prompt is embedded without it (the "
        "k leave-one-out prompts go through the model one after another); with known judgments, green bars helped "
        "nDCG@10 and red ones hurt it.",
    ),
    (
        "Why the pseudo-query is read at the query",
        "Pooling",
        "A prompt of hundreds of tokens becomes one vector, and which token states are averaged decides how much of "
        "the query is left in it. Below: what this model does, and the same prompt pooled the other way.",
    ),
    (
        "Latency",
        "Latency",
        "Measured now on this machine, stage by stage: E2Rank adds one prompt pass to the first stage, while "
        "re-encoding the candidates or a pointwise pass per document costs far more. Below: the paper's A100 numbers.",
    ),
)
N_STEPS = len(STEPS)
PCA_NOTICE = (
    "UMAP is still being prepared in the background, so this is PCA for now: go Back and Next again in a "
    "few seconds for the UMAP map."
)
MAP_CAPTION = (
    "Each dot is a document (hover for its title and ranks); ringed dots went into the listwise prompt. "
    "The star is the query, the diamond the E2Rank pseudo-query, and ▶ Play moves one to the other. "
    "Distances in 2-D are approximate."
)
STEP_OUTPUTS = Outputs("steps", "heading", "body", "plot", "extra", "back", "next")
"""What Start, Next and Back return, by :class:`PresentTab` component."""
MAP_WAIT_S = 2.0
"""Seconds step 3 waits for the corpus's UMAP fit before showing PCA."""
LATENCY_WAIT_S = 2.0
"""Seconds step 6 waits for its background measurement before saying it is still running."""
LATENCY_KEPT = 8
MEASURING_NOTICE = (
    "Latency is being measured in the background (it started with Start and takes a few seconds): "
    "press ⟳ Show latency in a moment, or go Back meanwhile."
)
SESSIONS_KEPT = 3

# Presenter clickers send PageDown / PageUp; arrow keys work too (never while typing in a field).
KEYS_JS = """
if (!window.e2rPresentKeys) {
  window.e2rPresentKeys = true;
  document.addEventListener("keydown", (event) => {
    const tab = document.getElementById("present-tab");
    if (!tab || tab.offsetParent === null || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target instanceof Element && event.target.closest("input, textarea, select, [contenteditable]")) return;
    const id = { ArrowRight: "present-next", PageDown: "present-next", ArrowLeft: "present-back",
                 PageUp: "present-back" }[event.key];
    const button = id && document.getElementById(id);
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });
}
"""
# The step pills: one row when it fits the step bar, else the fewest rows that do, all of them as full as can
# be (7 pills: 4 + 3, never 6 + 1); measured, so it follows the sidebar, the window and the number of steps.
PILLS_JS = """
const fitPills = () => {
  const list = element.querySelector(".present-step ol");
  if (!list) return;
  const n = list.children.length;
  for (let rows = 1; rows <= n; rows++) {
    list.style.setProperty("--cols", Math.ceil(n / rows));
    if (list.scrollWidth <= list.clientWidth + 1) break;
  }
};
new ResizeObserver(fitPills).observe(element);
watch("value", fitPills);  // every step redraws the pills
"""
# After each step: bring the step bar to the top of the window (the page header scrolls away), and
# on step 3 press the map's Play button once, so the pseudo-query moves by itself.
AFTER_STEP_JS = """() => {
  if (document.getElementById("present-tab")?.offsetParent == null) return;
  const top = () => {
    const nav = document.getElementById("present-nav");
    if (nav) window.scrollTo({top: Math.max(0, nav.getBoundingClientRect().top + window.scrollY - 6)});
  };
  top();
  setTimeout(top, 450);  // again once a folding sidebar or new content has settled
  const step = document.querySelector("#present-steps [data-step]")?.dataset.step;
  if (step !== "3") return;
  const play = () => {
    const button = document.querySelector("#present-plot .updatemenu-button");
    if (button) button.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    return Boolean(button);
  };
  let tries = 0;
  const timer = setInterval(() => { if (play() || ++tries > 20) clearInterval(timer); }, 250);
}"""
# Start hides the sidebar, so the slides get the whole width (only while the Present tab shows:
# the page-open chain runs this after every load).
FOLD_SIDEBAR_JS = """() => {
  if (document.getElementById("present-tab")?.offsetParent == null) return;
  const sidebar = document.getElementById("sidebar");
  if (sidebar?.classList.contains("open")) sidebar.querySelector("button")?.click();
}"""


@dataclass
class PresentState:
    """One browser session's walkthrough.

    Attributes:
        sample: Bundled sample name.
        model: Model preset asked for.
        session: The sample's index.
        result: The walkthrough's search.
        relevance: The sample's judgments for the query (passage id -> grade).
        step: Current step, 1 to :data:`N_STEPS` (0 before Start).
        map_value: The drawn map of step 3 (reused on Back / Next).
        map_method: ``umap`` or ``pca`` (a PCA map is redrawn once UMAP is ready).
        map_note: The map's caption and projection note.
        influence_value: The drawn influence chart of step 5 (reused on Back / Next).
        influence_note: Its caption.
        pooling_value: The drawn map of step 6, both pseudo-queries (reused on Back / Next).
        pooling_note: Step 6's text (what the model's pooling is, and the flip's measurements).
        latency: The measurement of step 6, once taken.
        latency_job: Step 6's measurement, running in the background since Start.
        notice: A model fallback notice, if any.
    """

    sample: str | None = None
    model: str | None = None
    session: SearchSession | None = None
    result: QueryResult | None = None
    relevance: dict[str, int] = field(default_factory=dict)
    step: int = 0
    map_value: Any = None
    map_method: str | None = None
    map_note: str = ""
    influence_value: Any = None
    influence_note: str = ""
    pooling_value: Any = None
    pooling_note: str = ""
    latency: LatencyReport | None = None
    latency_job: concurrent.futures.Future[LatencyReport] | None = None
    notice: str | None = None


@dataclass
class PresentTab:
    """Components of the Present tab."""

    corpus: gr.Dropdown
    query: gr.Dropdown
    start: gr.Button
    back: gr.Button
    steps: gr.HTML
    next: gr.Button
    heading: gr.HTML
    body: gr.HTML
    plot: gr.Plot
    extra: gr.HTML
    link_btn: gr.Button
    link: gr.Textbox
    link_message: gr.HTML
    report_btn: gr.Button
    report_file: gr.File
    state: gr.State


# --------------------------------------------------------------------- HTML pieces


def steps_html(step: int) -> str:
    """The step indicator: one numbered pill per step, the current one highlighted."""
    items = []
    for i, (title, short, _) in enumerate(STEPS, start=1):
        cls = "current" if i == step else "done" if i < step else ""
        current = ' aria-current="step"' if i == step else ""
        items.append(
            f'<li class="{cls}" title="{render.esc(title)}"{current}><span class="num">{i}</span> '
            f"{render.esc(short)}</li>"
        )
    return (
        f'<nav class="present-step" data-step="{step}" aria-label="Walkthrough steps" style="--cols: {N_STEPS}">'
        f"<ol>{''.join(items)}</ol></nav>"
    )


def heading_html(step: int, notice: str | None = None) -> str:
    """The step's title and caption."""
    warn = f'<p class="e2r-warn" role="alert">{render.esc(notice)}</p>' if notice else ""
    if step == 0:
        # The list is the steps themselves, so a step added to STEPS is announced here too.
        items = "".join(f"<li>{render.esc(title)}</li>" for title, _, _ in STEPS)
        return (
            f'<div class="present-head"><h2>Present E2Rank in {N_STEPS} steps</h2><p class="present-caption">'
            "Choose a bundled corpus and one of its example queries, then press Start. Next and Back (or the "
            "arrow keys, or a presenter's clicker) walk through one query:</p>"
            f'<ol class="present-intro">{items}</ol></div>'
        )
    title, _, caption = STEPS[step - 1]
    return (
        f'<div class="present-head" data-step="{step}"><h2>Step {step} of {N_STEPS}: {render.esc(title)}</h2>'
        f'<p class="present-caption">{render.esc(caption)}</p>{warn}</div>'
    )


def _context(ps: PresentState) -> render.RowContext:
    assert ps.session is not None and ps.result is not None
    return render.RowContext(
        session=ps.session,
        parts=dict(Counter(p.doc_id for p in ps.session.passages)),
        terms=query_terms(ps.result.query),
        relevant=ps.relevance,
        first_stage=ps.result.first_stage,
        reranked=ps.result.reranked.get("e2rank"),
        recall_at=len(ps.result.first_stage.ids),
        limit=render.TOP,
    )


def _first_column(ps: PresentState) -> str:
    assert ps.result is not None
    ctx = _context(ps)
    stage = "BM25" if ps.result.candidates.stage == "bm25" else "dense cosine similarity"
    column = render.Column(
        "first_stage",
        "First stage",
        f"Top {len(ps.result.first_stage.ids)} by {stage}",
        ps.result.first_stage,
        ranking_metrics(ps.relevance, ps.result.first_stage, ctx.recall_at),
    )
    return render.results_column(column, ctx)


def _e2rank_column(ps: PresentState) -> str:
    assert ps.result is not None and ps.session is not None
    e2rank = ps.result.reranked.get("e2rank")
    if e2rank is None:
        return render.placeholder_column(MAIN, RERANKERS[MAIN].label, "No candidates to rerank.")
    ctx = _context(ps)
    note = model_note(ps.session.embedder.name)
    column = render.Column(
        MAIN,
        RERANKERS[MAIN].label,
        RERANKERS[MAIN].describe(ps.result),
        e2rank,
        ranking_metrics(ps.relevance, e2rank, ctx.recall_at),
        ranking_metrics(ps.relevance, ps.result.first_stage, ctx.recall_at),
        note,
    )
    return render.results_column(column, ctx)


def query_html(ps: PresentState) -> str:
    """The query in large type, with what searched it."""
    assert ps.result is not None and ps.session is not None
    r = ps.result
    stage = "BM25" if r.candidates.stage == "bm25" else "dense cosine"
    line = (
        f"{len(r.first_stage.ids)} candidates from {len(ps.session.passages):,} documents · first stage: {stage} · "
        f"model: {ps.session.embedder.label}"
    )
    return (
        f'<div class="present-query"><span class="label">Query</span><q>{render.esc(r.query)}</q></div>'
        f'<p class="present-line">{render.esc(line)}</p>'
    )


def split_prompt(text: str, k: int) -> tuple[str, list[str], str] | None:
    """``(head, documents, tail)`` of a listwise prompt whose documents start lines ``[1] ``..``[k] ``.

    Example:
        >>> split_prompt("Rerank:\\nDocuments:\\n[1] a\\n[2] b\\nSearch Query: q", 2)
        ('Rerank:\\nDocuments:\\n', ['[1] a', '[2] b'], '\\nSearch Query: q')
    """
    starts, pos = [], 0
    for i in range(1, k + 1):
        found = text.find(f"\n[{i}] ", pos)
        if found < 0:
            return None
        starts.append(found + 1)
        pos = found + 1
    if not starts:
        return None
    end = text.find("\n", starts[-1])
    end = len(text) if end < 0 else end
    docs = [text[a : b - 1] for a, b in itertools.pairwise(starts)] + [text[starts[-1] : end]]
    return text[: starts[0]], docs, text[end:]


def prompt_html(prompt: ListwisePrompt, ids: Sequence[str], session: SearchSession, query: str) -> str:
    """Step 2: the prompt text with its numbered documents appearing one by one, and the token count."""
    k = len(prompt.doc_tokens_kept)
    cut = sum(1 for kept, full in zip(prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=True) if kept < full)
    summary = (
        f'<p class="present-big" data-tokens="{prompt.n_tokens}"><b>{prompt.n_tokens}</b> tokens '
        f"<span>in one prompt · {k} documents · {prompt.max_tokens}-token window"
        f"{f' · {cut} cut to fit' if cut else ''}</span></p>"
    )
    items = "".join(
        f'<li style="--i:{i}"><span class="num">[{i}]</span> {render.esc(session.passage(pid).title or pid)} '
        f'<span class="tok">{kept}{"/" + str(full) if kept < full else ""} tokens</span></li>'
        for i, (pid, kept, full) in enumerate(
            zip(ids, prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=False), start=1
        )
    )
    parts = split_prompt(prompt.text, k)
    if parts is None:
        text = render.esc(prompt.text)
    else:
        head, docs, tail = parts
        spans = []
        for i, doc in enumerate(docs, start=1):
            marker = f"[{i}]"
            spans.append(
                f'<span class="pp-doc" style="--i:{i}"><b class="pp-num">{marker}</b>'
                f"{render.esc(doc[len(marker) :])}</span>"
            )
        tail_html = render.esc(tail)
        needle = render.esc(query)
        if needle and needle in tail_html:
            tail_html = tail_html.replace(needle, f'<mark class="pp-query">{needle}</mark>', 1)
        text = render.esc(head) + "\n".join(spans) + f'<span class="pp-tail" style="--i:{k + 1}">{tail_html}</span>'
    return (
        f'{summary}<div class="present-prompt"><ol class="present-docs">{items}</ol>'
        f'<pre class="present-prompt-text">{text}</pre></div>'
    )


def reported_html() -> str:
    """The paper's A100 latency table, labelled as reported, not measured here."""
    head = "".join(f"<th>{render.esc(h)}</th>" for h in latency.REPORTED_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{render.esc(c)}</td>" for c in row) + "</tr>" for row in plots.reported_latency_rows()
    )
    return (
        '<div class="present-reported"><h3>Reported in the paper (A100) — not measured here</h3>'
        f'<table class="e2r-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f'<p class="e2r-hint">{render.esc(latency.REPORTED_SOURCE)}</p></div>'
    )


def figure_note(figure: plots.Figure) -> str:
    """A figure's caption with how to save it."""
    return (
        f'<p class="present-figcap">{render.esc(figure.caption)}</p><p class="e2r-hint">Save the chart: camera '
        "icon in its toolbar (PNG); the exported report's charts also save SVG.</p>"
    )


# --------------------------------------------------------------------- sessions


def sample_session(name: str, model: str, state: UISession | None = None) -> tuple[SearchSession, str | None]:
    """The index of a bundled sample for ``model`` and a model fallback notice (if any).

    Reuses the Search tab's index when it holds the same sample and model; otherwise
    keeps the last few per process (bundled samples are read-only).
    """
    if (
        state is not None
        and state.index is not None
        and not state.indexing
        and state.corpus is not None
        and state.corpus.sample == name
        and state.config is not None
        and state.config.model == model
    ):
        return state.index, None
    return shared_sample_session(name, model, embedding_cache(), keep=SESSIONS_KEPT)


def _search(index: SearchSession, query: str, settings: SearchSettings) -> QueryResult:
    return index.search(query, settings)


def _measure(index: SearchSession, query: str, settings: SearchSettings) -> latency.LatencyReport:
    return latency.measure_latency(index, query, settings)


# One measurement at a time for all walkthroughs (overlapping runs would slow each other down), and the
# last few results kept, so a rehearsed walkthrough shows its latency at once.
_latency_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="present-latency")
_latency_jobs: OrderedDict[tuple[object, ...], concurrent.futures.Future[latency.LatencyReport]] = OrderedDict()
_latency_lock = threading.Lock()


def start_latency(index: SearchSession, result: QueryResult) -> concurrent.futures.Future[latency.LatencyReport]:
    """Step 5's measurement, started in the background at Start (or the same query's earlier one)."""
    key = (visuals.corpus_key(index), index.embedder.identity, result.query, result.settings)
    with _latency_lock:
        job = _latency_jobs.get(key)
        if job is None or (job.done() and job.exception() is not None):
            job = _latency_jobs[key] = _latency_pool.submit(_measure, index, result.query, result.settings)
        _latency_jobs.move_to_end(key)
        while len(_latency_jobs) > LATENCY_KEPT:
            _latency_jobs.popitem(last=False)
    return job


_search = on_gpu(_search)
_measure = on_gpu(_measure)


# --------------------------------------------------------------------- steps


def _map_value(ps: PresentState) -> tuple[Any, str]:
    """Step 3's figure (UMAP when ready within :data:`MAP_WAIT_S`, else PCA) and its caption."""
    assert ps.session is not None and ps.result is not None
    if ps.map_value is None or ps.map_method != "umap":
        proj = projection.default_projector().project_result(ps.session, ps.result, wait=MAP_WAIT_S)
        if proj.notice and proj.method == "pca" and visuals.umap_status(ps.session) == "fitting":
            proj = dataclasses.replace(proj, notice=PCA_NOTICE)
        figure = plots.embedding_map(proj, ps.session, ps.result, relevance=ps.relevance or None, animate=True)
        figure.caption = MAP_CAPTION
        ps.map_value, ps.map_method = plot_value(figure), proj.method
        ps.map_note = figure_note(figure) + (render.notice(proj.notice, "warn") if proj.notice else "")
    return ps.map_value, ps.map_note


def render_step(ps: PresentState, progress: Any = None) -> tuple[Any, ...]:
    """The :data:`STEP_OUTPUTS` showing ``ps.step`` (computing the map or latency on first view)."""
    step = ps.step
    hidden_plot = gr.Plot(value=None, visible=False)
    back = gr.Button(interactive=step > 1)
    nxt = gr.Button(interactive=1 <= step < N_STEPS, value="Next ▶" if step < N_STEPS else "End")
    if step == 0 or ps.result is None or ps.session is None:
        return STEP_OUTPUTS.values(
            steps=steps_html(0),
            heading=heading_html(0),
            body="",
            plot=hidden_plot,
            extra="",
            back=gr.Button(interactive=False),
            next=gr.Button(interactive=False, value="Next ▶"),
        )
    head = heading_html(step, ps.notice)
    result = ps.result
    body, plot, extra = "", hidden_plot, ""
    if step == 1:
        body = query_html(ps) + f'<div class="present-cols one">{_first_column(ps)}</div>'
    elif step == 2:
        if result.prompt is None:
            body = render.notice("E2Rank did not run (no candidates), so there is no prompt.", "warn")
        else:
            k = len(result.prompt.doc_tokens_kept)
            body = prompt_html(result.prompt, result.prompt_ids or result.first_stage.ids[:k], ps.session, result.query)
    elif step == 3:
        if not len(result.candidates):
            body = render.notice("The first stage found no candidates, so there is no map to show.", "warn")
        else:
            value, extra = _map_value(ps)
            plot = gr.Plot(value=value, visible=True)
    elif step == 4:
        body = query_html(ps) + f'<div class="present-cols">{_first_column(ps)}{_e2rank_column(ps)}</div>'
    elif step == 5:
        if result.prompt is None or not result.prompt_ids:
            body = render.notice("E2Rank did not run (no candidates), so there is no prompt to take apart.", "warn")
        else:
            if ps.influence_value is None:
                figure = plots.influence_chart(ps.session.prompt_influence(result, ps.relevance or None), ps.session)
                ps.influence_value, ps.influence_note = visuals.plot_value(figure), figure_note(figure)
            plot, extra = gr.Plot(value=ps.influence_value, visible=True), ps.influence_note
    elif step == 6:
        if result.prompt is None:
            body = render.notice("E2Rank did not run (no candidates), so there is no prompt to pool.", "warn")
        else:
            if ps.pooling_value is None:
                comparison = ps.session.compare_pooling(result, relevance=ps.relevance or None)
                figure = prompt_panel.pooling_figure(ps.session, result, comparison, wait=MAP_WAIT_S)
                ps.pooling_value = plot_value(figure)
                ps.pooling_note = (
                    f'<p class="present-caption">{render.esc(pooling_explanation(comparison))}</p>'
                    + prompt_panel.pooling_html(ps.session, comparison, figure.caption)
                )
            body, plot = ps.pooling_note, gr.Plot(value=ps.pooling_value, visible=True)
    elif step == 7:
        if ps.latency is None and len(result.candidates):
            job = ps.latency_job or start_latency(ps.session, result)
            ps.latency_job = job
            if progress is not None and not job.done():
                progress(0.1, desc="Timing every system on this query (started at Start)…")
            with contextlib.suppress(concurrent.futures.TimeoutError):
                ps.latency = job.result(timeout=LATENCY_WAIT_S)
        if ps.latency is not None:
            figure = plots.latency_bars(ps.latency)
            plot = gr.Plot(value=plot_value(figure), visible=True)
            extra = figure_note(figure) + reported_html()
        elif len(result.candidates):
            body = render.notice(MEASURING_NOTICE) + reported_html()
            nxt = gr.Button(interactive=True, value="⟳ Show latency")
        else:
            body = render.notice("No candidates, so nothing to time.", "warn") + reported_html()
    return STEP_OUTPUTS.values(
        steps=steps_html(step), heading=head, body=body, plot=plot, extra=extra, back=back, next=nxt
    )


def pooling_explanation(comparison: PoolingComparison) -> str:
    """Step 6's explanation, from the pooling this model actually used and the token counts just measured.

    Example:
        >>> from e2rank_demo.prompt_lab import PoolingComparison
        >>> c = PoolingComparison("q", ("query", "mean"), (None, None), (6, 480), 480, [], ({}, {}), (0.9, 0.5),
        ...                       0.6, None)
        >>> pooling_explanation(c).startswith("This model pools at the query: its pseudo-query is the mean of the 6")
        True
    """
    pooling = comparison.poolings[0]
    n = comparison.n_tokens
    if pooling == "query":
        m = comparison.pooled_tokens[0]
        return (
            f"This model pools at the query: its pseudo-query is the mean of the {m} token states of the query's "
            f"own words inside the {n}-token prompt. A small bidirectional encoder reads the whole prompt in every "
            "layer, so those states already carry what the top documents add; averaging all "
            f"{n} tokens instead would leave the query about {m / max(n, 1):.0%} of the vector, drowned by the "
            "documents. E2Rank's large decoders get the same effect from their last token, which comes right "
            "after the query."
        )
    q = comparison.pooled_tokens[1]  # the other pooling is ``query``: the query's own tokens
    if pooling == "last":
        return (
            f"This model is a decoder and pools its last token, which comes right after the query and, reading "
            f"left to right, has seen every document before it: that is pooling at the query. A small "
            f"bidirectional encoder has no such token, so it averages the query's own tokens instead ({q} of the "
            f"{n} here)."
        )
    return (
        f"This model pools over all {n} tokens of the prompt (its own mean pooling), so the {q}-token query is "
        f"only about {q / max(n, 1):.0%} of the pseudo-query and the documents outweigh it. A small encoder "
        "trained for the listwise prompt pools at the query instead: the mean of the query's own token states, "
        "which attention has filled with what the documents share."
    )


def _failed() -> tuple[Any, ...]:
    return STEP_OUTPUTS.skip()


# Any failure becomes a plain warning; the walkthrough stays where it was.
guarded = warn_on_error(_failed, capitalise=False, unchanged="The walkthrough is unchanged.")


def begin(
    ps: PresentState,
    corpus: str | None,
    query: str | None,
    model: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float | None,
    interpolation: float,
    prompt_order: str,
    state: UISession | None,
    progress: Any = None,
    prompt_pooling: str | None = None,
) -> tuple[Any, ...]:
    """Loads the sample (or reuses it), searches and shows step 1.

    A ``prompt_docs`` of 0 or ``None`` and a ``prompt_pooling`` of ``None`` or ``"model"`` are the model's defaults.
    """
    names = share.sample_names()
    if corpus not in names:
        raise ValueError("Choose a bundled corpus first.")
    text = (query or "").strip()
    if not text:
        raise ValueError("Choose an example query first.")
    if progress is not None:
        progress(0.1, desc=f"Loading {corpus} with {model}…")
    index, notice = sample_session(corpus, model, state)
    task = load_sample(corpus).info.task
    settings = SearchSettings(
        first_stage=first_stage if first_stage in share.STAGES else "dense",  # type: ignore[arg-type]
        candidates=int(candidates),
        prompt_docs=int(prompt_docs) if prompt_docs else None,
        task=task,
        interpolation=float(interpolation),
        prompt_order=prompt_order if prompt_order in share.ORDERS else "official",  # type: ignore[arg-type]
        prompt_pooling=pooling_setting(prompt_pooling),
        rerankers=("e2rank",),
    )
    if progress is not None:
        progress(0.6, desc="Searching and reranking…")
    result = _search(index, text, settings)
    sample = load_sample(corpus)
    qid = sample.query_id(result.query)
    relevance = dict(sample.qrels.get(qid, {})) if qid else {}
    ps.sample, ps.model, ps.session, ps.result, ps.relevance = corpus, model, index, result, relevance
    ps.step, ps.map_value, ps.map_method, ps.latency, ps.notice = 1, None, None, None, notice
    ps.influence_value = ps.pooling_value = None
    _prefetch_map(index)
    ps.latency_job = start_latency(index, result) if len(result.candidates) else None
    return render_step(ps)


def _prefetch_map(index: SearchSession) -> None:
    """Starts the corpus's UMAP fit in the background, so step 3 can show it."""
    try:
        visuals.umap_status(index)
    except Exception:  # step 3 falls back to PCA
        logger.exception("could not start the UMAP fit")


@guarded
def start(
    corpus: str | None,
    query: str | None,
    model: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float,
    interpolation: float,
    prompt_order: str,
    ps: PresentState,
    state: UISession,
    prompt_pooling: str | None = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """The Start button (the sidebar's settings, its prompt pooling included)."""
    return begin(
        ps,
        corpus,
        query,
        model,
        first_stage,
        candidates,
        prompt_docs,
        interpolation,
        prompt_order,
        state,
        progress,
        prompt_pooling,
    )


@guarded
def start_pending(
    view: share.SharedView | None,
    model: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float,
    interpolation: float,
    prompt_order: str,
    ps: PresentState,
    state: UISession,
    prompt_pooling: str | None = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """After a ``?present=1`` link: starts the walkthrough on its corpus and query (first example if none);
    without ``k`` or ``pool`` in the link, with the model's defaults."""
    if view is None or not view.present or view.corpus is None:
        return _failed()
    query = view.query or next(iter(share.sample_queries(view.corpus)), None)
    return begin(
        ps,
        view.corpus,
        query,
        view.model or model,
        view.first_stage or first_stage,
        view.candidates or candidates,
        view.prompt_docs,
        view.interpolation if view.interpolation is not None else interpolation,
        view.prompt_order or prompt_order,
        state,
        progress,
        view.prompt_pooling or prompt_pooling,
    )


@guarded
def next_step(ps: PresentState, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Next ▶."""
    if ps.result is None:
        raise ValueError("Press Start first.")
    ps.step = min(N_STEPS, ps.step + 1)
    return render_step(ps, progress)


@guarded
def back_step(ps: PresentState) -> tuple[Any, ...]:
    """◀ Back."""
    if ps.result is None:
        raise ValueError("Press Start first.")
    ps.step = max(1, ps.step - 1)
    return render_step(ps)


def pick_corpus(name: str | None) -> gr.Dropdown:
    """The corpus picker changed: offer its example queries, the first one chosen."""
    queries = share.sample_queries(name)
    return gr.Dropdown(choices=queries, value=queries[0] if queries else None)


def walkthrough_link(ps: PresentState) -> tuple[str, str]:
    """The link that reopens this walkthrough (``present=1``), as a query string."""
    if ps.result is None or ps.sample is None:
        return "", render.notice("Press Start first; the link reopens the walkthrough's corpus and query.", "warn")
    s = ps.result.settings
    view = share.SharedView(
        corpus=ps.sample,
        query=ps.result.query,
        model=ps.model if ps.model in share.model_names() else None,
        first_stage=s.first_stage,
        candidates=s.candidates,
        prompt_docs=s.prompt_docs,
        interpolation=s.interpolation,
        prompt_order=s.prompt_order,
        present=True,
        prompt_pooling=s.prompt_pooling,
    )
    return share.link_query(view), render.notice("Link copied (where the browser allows it); it is also in the box.")


@user_errors
def export_report(ps: PresentState, state: UISession) -> Any:
    """A one-file report of the walkthrough's query (with its latency, once step 5 measured it)."""
    from e2rank_demo.report import write_report

    if ps.result is None or ps.session is None:
        gr.Warning("Press Start first; the report shows the walkthrough's query.")
        return gr.skip()
    title = next((i.title for i in available_samples() if i.name == ps.sample), ps.sample)
    path = write_report(
        ps.session,
        ps.result,
        state.private_dir(),
        relevance=ps.relevance,
        latency=ps.latency,
        map_wait=0.0,
        model_name=ps.model,
        corpus_label=title,
    )
    return str(path)


# --------------------------------------------------------------------- layout


def build_tab() -> PresentTab:
    """The Present tab (call inside the app's main ``gr.Tabs``)."""
    infos = available_samples()
    first = infos[0].name if infos else None
    queries = share.sample_queries(first)
    with gr.Tab("Present", id="present", elem_id="present-tab"):
        with gr.Row(equal_height=True, elem_id="present-setup"):
            corpus = gr.Dropdown(
                [(i.title, i.name) for i in infos],
                value=first,
                label="Bundled corpus",
                elem_id="present-corpus",
                scale=4,
                min_width=300,
            )
            query = gr.Dropdown(
                queries,
                value=queries[0] if queries else None,
                label="Example query",
                allow_custom_value=True,
                elem_id="present-query",
                scale=5,
                min_width=260,
            )
            start_btn = gr.Button("▶ Start", variant="primary", elem_id="present-start", scale=0, min_width=140)
        with gr.Row(equal_height=True, elem_id="present-nav"):
            back = gr.Button("◀ Back", interactive=False, elem_id="present-back", scale=0, min_width=130)
            steps = gr.HTML(steps_html(0), elem_id="present-steps", js_on_load=KEYS_JS + PILLS_JS)
            nxt = gr.Button(
                "Next ▶", variant="primary", interactive=False, elem_id="present-next", scale=0, min_width=130
            )
        heading = gr.HTML(heading_html(0), elem_id="present-heading", js_on_load=None)
        body = gr.HTML(elem_id="present-body", js_on_load=None)
        plot = gr.Plot(visible=False, show_label=False, elem_id="present-plot")
        extra = gr.HTML(elem_id="present-extra", js_on_load=None)
        with gr.Accordion("Share this walkthrough", open=False, elem_id="present-share"):
            with gr.Row(equal_height=True):
                link_btn = gr.Button(
                    "Copy link to this walkthrough", elem_id="present-copy-link", scale=0, min_width=280
                )
                link = gr.Textbox(
                    label="Link (opens the Present tab on this query)",
                    interactive=False,
                    buttons=["copy"],
                    elem_id="present-link",
                    scale=4,
                )
            link_message = gr.HTML(js_on_load=None)
            with gr.Row(equal_height=True):
                report_btn = gr.Button("Export report (HTML)", elem_id="present-report-btn", scale=0, min_width=280)
                report_file = gr.File(
                    interactive=False, label="One-file report (opens offline)", elem_id="present-report-file", scale=4
                )
        pstate = gr.State(PresentState())
    return PresentTab(
        corpus,
        query,
        start_btn,
        back,
        steps,
        nxt,
        heading,
        body,
        plot,
        extra,
        link_btn,
        link,
        link_message,
        report_btn,
        report_file,
        pstate,
    )


def wire(
    tab: PresentTab,
    *,
    state: gr.State,
    model: gr.Dropdown,
    settings: Sequence[Any],
    pooling: gr.Dropdown,
    url: share.UrlWiring | None = None,
) -> None:
    """Connects the tab (call inside ``gr.Blocks`` after :func:`share.wire`).

    Args:
        tab: From :func:`build_tab`.
        state: The Search tab's ``UISession`` (its index is reused when it matches).
        model: The sidebar's model dropdown.
        settings: The sidebar's first stage, N, k, λ and prompt order components.
        url: The page-open chain of :func:`share.wire` (for ``?present=1`` links).
        pooling: The sidebar's prompt-pooling control (before the Progress parameter of
            :func:`start`, so it is always wired).
    """
    private: dict[str, Any] = {"api_visibility": "private"}
    first_stage, candidates, prompt_docs, interpolation, prompt_order = settings
    common = [model, first_stage, candidates, prompt_docs, interpolation, prompt_order, tab.state, state, pooling]
    tab.corpus.input(pick_corpus, tab.corpus, tab.query, **private)
    tab.start.click(None, js=FOLD_SIDEBAR_JS, **private)
    outputs = STEP_OUTPUTS.components(tab)
    tab.start.click(start, [tab.corpus, tab.query, *common], outputs, show_progress_on=tab.body, **private).then(
        None, js=AFTER_STEP_JS, **private
    )
    tab.next.click(next_step, [tab.state], outputs, show_progress_on=tab.body, **private).then(
        None, js=AFTER_STEP_JS, **private
    )
    tab.back.click(back_step, [tab.state], outputs, show_progress="hidden", **private).then(
        None, js=AFTER_STEP_JS, **private
    )
    tab.link_btn.click(walkthrough_link, tab.state, [tab.link, tab.link_message], **private).then(
        None, tab.link, tab.link, js=share.COPY_JS, **private
    )
    tab.report_btn.click(
        export_report, [tab.state, state], tab.report_file, show_progress_on=tab.report_file, **private
    )
    if url is not None:
        url.opened.then(start_pending, [url.pending, *common], outputs, show_progress_on=tab.body, **private).then(
            None, js=FOLD_SIDEBAR_JS, **private
        ).then(None, js=AFTER_STEP_JS, **private)
