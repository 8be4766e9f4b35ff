"""The "Embedding map" and "Latency" tabs: their components and thin callbacks.

The work happens in :mod:`e2rank_demo.projection` (UMAP fitted once per corpus and
model, PCA until it is ready, the full-space cosine table), :mod:`e2rank_demo.plots`
(figures with captions) and :mod:`e2rank_demo.latency` (live measurements); this module
only reads the session, calls them and formats what they return.

Hooks elsewhere, kept small so other tabs can change independently:

* ``layout.build_demo`` calls :func:`build_map_tab` and :func:`build_latency_tab` inside
  the two tabs, :func:`wire_indexed` on each indexing event and :func:`wire` at the end.
* ``callbacks.warm_up_in_background`` also calls :func:`e2rank_demo.projection.warm_up`,
  so numba compiles UMAP while the page is already served.
* ``state.UISession.map_view`` (a :class:`~e2rank_demo.ui.state.MapView`) remembers what
  the map shows and whether a PCA stand-in waits for UMAP.

The search never waits for UMAP. Indexing a corpus starts its map fit in the
background; opening the map tab draws UMAP when it is ready, else PCA at once, and a
``gr.Timer`` then polls until UMAP is ready and redraws (a Refresh button does the same).

Figures go to ``gr.Plot`` as :class:`~gradio.components.plot.PlotData` built here, so
they keep their plotly ``config`` (PNG file name and scale for the mode bar's camera
button). Gradio's plotly renderer drops ``frames``, so the map animation carries its
frames inline in the Play button and slider (``Plotly.animate`` accepts frame objects;
see :func:`e2rank_demo.ui.common.inline_frames`).

Example:
    >>> caption_html("a <b> caption")
    '<p class="e2r-hint e2r-caption">a &lt;b&gt; caption</p>'
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from e2rank_demo import cosines, latency, plots, projection
from e2rank_demo.pipeline import SearchSession
from e2rank_demo.query_result import QueryResult
from e2rank_demo.serving import concurrency
from e2rank_demo.ui import render
from e2rank_demo.ui.common import Outputs, on_gpu, plot_value, warn_on_error
from e2rank_demo.ui.state import UISession

logger = logging.getLogger(__name__)

SCOPES = [("All documents", "corpus"), ("Only the N candidates", "candidates")]
COLOURS = [("First-stage rank", "rank"), ("Relevance (your judgments)", "relevance")]
SCALING_NS = list(latency.DEFAULT_NS)
DEFAULT_SCALING_NS = [n for n in SCALING_NS if n <= 100]
POLL_SECONDS = 2.0
POLL_GIVE_UP_S = 600.0
"""After this long with PCA shown, polling stops (Refresh still works)."""
WAITING_FOR_UMAP = (
    "UMAP is still fitting — showing PCA for now; the map updates by itself when UMAP is ready (or press Refresh)."
)
LATENCY_CONCURRENCY = "e2rank-latency"
"""One measurement at a time, across sessions: two overlapping runs would slow each other down."""


# --------------------------------------------------------------------- charts under the map


@dataclass(frozen=True)
class MapChart:
    """One chart under the embedding map.

    Attributes:
        key: Names its outputs (``<key>_plot``, ``<key>_caption``) and element ids (``<key>-plot``).
        label: The plot's label.
        draw: ``draw(result, full, session, judged)``: the figure (a :mod:`e2rank_demo.plots`
            function), or a plain message when this search has nothing to show. ``full`` is
            the result with a Rocchio ranking added for the map.
    """

    key: str
    label: str
    draw: Callable[[QueryResult, QueryResult, SearchSession, dict[str, int]], plots.Figure | str]


MAP_CHARTS: tuple[MapChart, ...] = (
    MapChart(
        "shift",
        "Rank shift",
        lambda result, full, index, judged: (
            plots.rank_shift(result, index, relevance=judged or None)
            if "e2rank" in result.reranked
            else "No E2Rank ranking in this search, so there is no rank shift to show."
        ),
    ),
    MapChart("scores", "Score curves", lambda result, full, index, judged: plots.score_distribution(full, index)),
)
"""The charts under the map, in order; a new one is a :mod:`~e2rank_demo.plots` function and an entry here."""

MAP_OUTPUTS = Outputs(
    "info",
    "plot",
    "caption",
    "cosine_label",
    "cosine",
    *(f"{c.key}_{part}" for c in MAP_CHARTS for part in ("plot", "caption")),
    "timer",
)
MEASURE_OUTPUTS = Outputs("info", "bars", "bars_caption", "bars_table")
SCALING_OUTPUTS = Outputs("info", "scaling", "scaling_caption")


# --------------------------------------------------------------------- components


@dataclass
class MapTab:
    """Components of the Embedding map tab."""

    info: gr.HTML
    scope: gr.Radio
    color_by: gr.Radio
    animate: gr.Checkbox
    refresh: gr.Button
    plot: gr.Plot
    caption: gr.HTML
    cosine_label: gr.HTML
    cosine: gr.HTML
    charts: dict[str, Any]
    """``<key>_plot`` and ``<key>_caption`` components of each :data:`MAP_CHARTS` entry."""
    timer: gr.Timer

    @property
    def inputs(self) -> list[Any]:
        """View options, in the order the map callbacks take them (the state follows)."""
        return [self.scope, self.color_by, self.animate]

    @property
    def outputs(self) -> list[Any]:
        """What the map callbacks return, in :data:`MAP_OUTPUTS` order."""
        return [self.charts[name] if name in self.charts else getattr(self, name) for name in MAP_OUTPUTS.names]


@dataclass
class LatencyTab:
    """Components of the Latency tab."""

    info: gr.HTML
    repeats: gr.Slider
    measure: gr.Button
    measure_full: gr.Button
    cancel: gr.Button
    bars: gr.Plot
    bars_caption: gr.HTML
    bars_table: gr.Dataframe
    ns: gr.CheckboxGroup
    scale: gr.Button
    scaling: gr.Plot
    scaling_caption: gr.HTML


def caption_html(text: str) -> str:
    """A figure caption (escaped)."""
    return f'<p class="e2r-hint e2r-caption">{render.esc(text)}</p>' if text else ""


def build_map_tab() -> MapTab:
    """The Embedding map tab's components (call inside its ``gr.Tab``)."""
    gr.Markdown(
        "Where the query, the E2Rank pseudo-query (the listwise prompt's embedding) and the Rocchio "
        "query sit among the documents of the last search. Distances on a 2-D map are approximate; the "
        "table with the map gives the exact cosines in the full embedding space.",
        elem_classes="e2r-hint",
    )
    info = gr.HTML(
        render.notice("Search first: the map shows the last query's documents."), elem_id="map-info", label="Map status"
    )
    with gr.Row(elem_id="map-controls"):
        scope = gr.Radio(SCOPES, value="corpus", label="Show", elem_id="map-scope", scale=1)
        color_by = gr.Radio(COLOURS, value="rank", label="Colour documents by", elem_id="map-colour", scale=1)
        with gr.Column(scale=0, min_width=240):
            animate = gr.Checkbox(False, label="Animate query → pseudo-query", elem_id="map-animate")
            refresh = gr.Button("Refresh", size="md", elem_id="map-refresh")
    # The table wraps under the map unless the map keeps 900 px beside it (a wide screen), so at
    # 1280 px the map takes the whole width, and grows when the sidebar is folded.
    with gr.Row(elem_id="map-row"):
        with gr.Column(scale=4, min_width=900):
            plot = gr.Plot(label="Embedding map", elem_id="map-plot")
            caption = gr.HTML(elem_id="map-caption", label="Map caption")
        with gr.Column(scale=2, min_width=320):
            cosine = gr.HTML(elem_id="cosine-table", label="Cosine table")
            cosine_label = gr.HTML(elem_id="cosine-label", label="Cosine table note")
    charts: dict[str, Any] = {}
    with gr.Accordion("Charts: rank shift and score curves", open=True, elem_id="map-charts"):
        for chart in MAP_CHARTS:
            charts[f"{chart.key}_plot"] = gr.Plot(label=chart.label, elem_id=f"{chart.key}-plot")
            charts[f"{chart.key}_caption"] = gr.HTML(elem_id=f"{chart.key}-caption", label=f"{chart.label} caption")
    timer = gr.Timer(POLL_SECONDS, active=False)
    return MapTab(info, scope, color_by, animate, refresh, plot, caption, cosine_label, cosine, charts, timer)


def build_latency_tab() -> LatencyTab:
    """The Latency tab's components (call inside its ``gr.Tab``)."""
    gr.Markdown(
        "Every chart here is **measured live on this machine** for the last search's query, N and k. "
        "The paper's own A100 numbers sit in a separate table at the bottom, labelled as reported.",
        elem_classes="e2r-hint",
    )
    info = gr.HTML(render.notice("Search first: the measurements use the last query."), elem_id="latency-info")
    with gr.Row():
        measure = gr.Button("Measure this query", variant="primary", elem_id="measure-btn", scale=0, min_width=300)
        repeats = gr.Slider(
            1, 5, value=1, step=1, label="Timed runs per measurement (median)", scale=1, elem_id="latency-repeats"
        )
    with gr.Row():
        measure_full = gr.Button(
            "Measure in full (slow baselines on all N candidates)", elem_id="measure-full-btn", scale=0, min_width=300
        )
        cancel = gr.Button(
            "Cancel", elem_id="measure-cancel-btn", scale=0, min_width=120, variant="stop", interactive=False
        )
    gr.Markdown(
        f"*Measure this query* times the two baselines that grow with N (E2Rank without cached embeddings, "
        f"pointwise) on {latency.DEFAULT_SUBSAMPLE // 2} and {latency.DEFAULT_SUBSAMPLE} evenly spread "
        'candidates and extrapolates linearly to N (labelled "estimated from n of N"); *Measure in full* '
        "times them on all N.",
        elem_classes="e2r-hint",
    )
    bars = gr.Plot(label="Latency per stage", elem_id="latency-plot")
    bars_caption = gr.HTML(elem_id="latency-caption")
    with gr.Accordion("Measured seconds per stage (table)", open=False):
        bars_table = gr.Dataframe(
            value=[],
            headers=["system", "total per query (s)"],
            datatype="str",
            interactive=False,
            elem_id="latency-table",
            wrap=True,
        )
    with gr.Row():
        scale = gr.Button("Scaling run", elem_id="scaling-btn", scale=0, min_width=300)
        ns = gr.CheckboxGroup(
            SCALING_NS,
            value=DEFAULT_SCALING_NS,
            label="Candidate counts N (capped at the corpus size)",
            elem_id="scaling-ns",
            scale=1,
        )
    scaling = gr.Plot(label="Rerank latency vs N", elem_id="scaling-plot")
    scaling_caption = gr.HTML(elem_id="scaling-caption")
    gr.Markdown("### Reported in the paper (A100) — not measured here")
    gr.Dataframe(
        value=plots.reported_latency_rows(),
        headers=list(latency.REPORTED_HEADERS),
        datatype="str",
        interactive=False,
        wrap=True,
        elem_id="reported-latency",
        label="Reported by Liu et al. 2025, not measured here",
    )
    gr.HTML(
        caption_html(
            f"Source: {latency.REPORTED_SOURCE} When E2Rank is also the retriever, only the "
            '"other" column is paid per query.'
        )
    )
    return LatencyTab(
        info,
        repeats,
        measure,
        measure_full,
        cancel,
        bars,
        bars_caption,
        bars_table,
        ns,
        scale,
        scaling,
        scaling_caption,
    )


def wire_indexed(indexed: Any, state: gr.State, map_ui: MapTab, latency_ui: LatencyTab) -> None:
    """After an indexing event succeeds: clears the old corpus's map and starts the new one's UMAP fit."""
    indexed.success(
        after_indexing, state, [*map_ui.outputs, latency_ui.info], show_progress="hidden", api_visibility="private"
    )


def wire(state: gr.State, map_tab: gr.Tab, map_ui: MapTab, latency_tab: gr.Tab, latency_ui: LatencyTab) -> None:
    """Connects the two tabs' events (call inside ``gr.Blocks`` after building them).

    Args:
        state: The session's ``gr.State`` holding a :class:`UISession`.
        map_tab: The Embedding map ``gr.Tab`` (drawn when selected).
        map_ui: From :func:`build_map_tab`.
        latency_tab: The Latency ``gr.Tab`` (its line is brought up to date when selected).
        latency_ui: From :func:`build_latency_tab`.
    """
    private: dict[str, Any] = {"api_visibility": "private"}
    inputs = [*map_ui.inputs, state]
    map_group = concurrency("map")
    map_tab.select(show_map, inputs, map_ui.outputs, show_progress="hidden", api_name="map", **map_group)
    gr.on(
        [map_ui.scope.change, map_ui.color_by.change, map_ui.animate.change],
        show_map,
        inputs,
        map_ui.outputs,
        show_progress="minimal",
        **map_group,
        **private,
    )
    map_ui.refresh.click(refresh_map, inputs, map_ui.outputs, show_progress="minimal", **map_group, **private)
    map_ui.timer.tick(poll_map, inputs, map_ui.outputs, show_progress="hidden", trigger_mode="once", **private)
    latency_tab.select(latency_status, state, latency_ui.info, show_progress="hidden", **private)
    measure_outputs = MEASURE_OUTPUTS.components(latency_ui)
    # While one runs, the three buttons that start a measurement are off and Cancel is on (queue=False: at once).
    buttons = [latency_ui.measure, latency_ui.measure_full, latency_ui.scale, latency_ui.cancel]
    quick: dict[str, Any] = {"queue": False, "show_progress": "hidden", **private}
    for button, measure in ((latency_ui.measure, measure_query), (latency_ui.measure_full, measure_query_in_full)):
        button.click(arm_measurement, state, buttons, **quick).then(
            measure,
            [latency_ui.repeats, state],
            measure_outputs,
            concurrency_id=LATENCY_CONCURRENCY,
            concurrency_limit=1,
            show_progress_on=latency_ui.bars,
            **private,
        ).then(latency_idle, None, buttons, **quick)
    latency_ui.cancel.click(cancel_measurement, state, None, **quick)
    latency_ui.scale.click(scaling_busy, None, buttons, **quick).then(
        scaling_run,
        [latency_ui.ns, latency_ui.repeats, state],
        SCALING_OUTPUTS.components(latency_ui),
        concurrency_id=LATENCY_CONCURRENCY,
        concurrency_limit=1,
        show_progress_on=latency_ui.scaling,
        **private,
    ).then(latency_idle, None, buttons, **quick)


# --------------------------------------------------------------------- helpers


def refusal(state: UISession, what: str) -> str | None:
    """Why ``what`` cannot be shown now (no corpus, no search, indexing), or ``None``."""
    if state.indexing:
        return f"Indexing is still running; the {what} appears once it has finished and you have searched."
    if state.index is None:
        return (
            f"No corpus loaded yet: load a sample, upload files or paste text, then search; "
            f"the {what} uses the last query."
        )
    if state.corpus is not None and state.corpus.store is not None:
        return (
            f"The {what} needs the whole corpus in memory, and an opened index keeps its passages in the store: "
            "it is not available here. Search, the prompt lab, judgments and exports work."
        )
    if state.result is None:
        return f"Search first: the {what} uses the last query's results."
    if not len(state.result.candidates):
        return f"The last search found no candidates, so there is no {what} to show; try another query."
    return None


_KEYS: weakref.WeakKeyDictionary[SearchSession, str] = weakref.WeakKeyDictionary()


def corpus_key(index: SearchSession) -> str:
    """:func:`projection.session_key`, computed once per index (it hashes every text)."""
    key = _KEYS.get(index)
    if key is None:
        key = _KEYS[index] = projection.session_key(index)
    return key


def umap_status(index: SearchSession) -> str:
    """``ready``, ``fitting`` (a background fit runs or was just started), ``too small`` or ``failed``."""
    if len(index.ids) < projection.MIN_UMAP_POINTS:
        return "too small"
    try:
        fitted = projection.default_projector().fitted(corpus_key(index), index.vectors, wait=0.0)
    except Exception:  # noqa: BLE001 - the fit's failure is shown as the projection's notice
        return "failed"
    return "ready" if fitted is not None else "fitting"


def only_candidates(proj: projection.Projection, rows: np.ndarray) -> projection.Projection:
    """The projection restricted to the candidates' rows."""
    keep = np.isin(proj.rows, rows)
    return dataclasses.replace(
        proj,
        ids=[pid for pid, k in zip(proj.ids, keep, strict=True) if k],
        rows=proj.rows[keep],
        coords=proj.coords[keep],
    )


def _number(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def cosine_outputs(table: cosines.CosineTable) -> tuple[str, str]:
    """The group label and a compact HTML table: one column per query vector, one row per measure."""
    if table.stand_in:
        label = (
            f"Relevant group: the top-{table.n_relevant} in the listwise prompt (a stand-in: nothing is "
            f"judged for this query); the rest: the other {table.n_rest} candidates. Tick relevant "
            "documents in the Search tab to use your own judgments."
        )
    else:
        label = (
            f"Relevant group: judged relevant ({table.n_relevant} of the candidates); the rest: the other "
            f"{table.n_rest} candidates."
        )
    group = "top-k" if table.stand_in else "relevant"
    measures = [
        (f"to {group}", "to_relevant", False),
        ("to the rest", "to_rest", False),
        ("gap", "gap", False),
        (f"Δ to {group}", "change_relevant", True),
        ("Δ to the rest", "change_rest", True),
    ]
    head = "".join(f"<th>{render.esc(r.label)}</th>" for r in table.rows)
    body = "".join(
        f"<tr><th>{render.esc(name)}</th>"
        + "".join(f"<td>{_number(getattr(r, attr), signed)}</td>" for r in table.rows)
        + "</tr>"
        for name, attr, signed in measures
    )
    # Compact enough for the narrow column beside the map (app.css: .e2r-cosine); it scrolls, visibly, below that.
    html_table = (
        f'<p class="e2r-hint"><b>Mean cosine in the full embedding space</b> (exact; the map only '
        f"approximates it). Gap: {group} minus the rest; Δ: change against the query.</p>"
        f'<div class="e2r-cosine-wrap"><table class="e2r-table e2r-cosine" '
        f'data-group="{"stand-in" if table.stand_in else "judged"}">'
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
    return render.notice(label), html_table


# --------------------------------------------------------------------- map callbacks


def _map_failed() -> tuple[Any, ...]:
    return MAP_OUTPUTS.values(timer=gr.Timer(active=False))


def _empty_map(message: str, kind: str = "warn") -> tuple[Any, ...]:
    charts = {f"{c.key}_{part}": value for c in MAP_CHARTS for part, value in (("plot", None), ("caption", ""))}
    return MAP_OUTPUTS.values(
        info=render.notice(message, kind),
        plot=None,
        caption="",
        cosine_label="",
        cosine="",
        **charts,
        timer=gr.Timer(active=False),
    )


def map_outputs(
    scope: str, color_by: str, animate: bool, state: UISession, *, force: bool = False, warn: bool = False
) -> tuple[Any, ...]:
    """Draws the map, the cosine table and the charts for the last search (:data:`MAP_OUTPUTS`).

    Unchanged views are skipped unless ``force``; the timer output turns polling on while
    PCA stands in for a UMAP map that is still fitting, and off otherwise.
    """
    why = refusal(state, "map")
    if why is not None:
        if warn:
            gr.Warning(why)
        state.map_view.waiting = False
        return _empty_map(why)
    index, result = state.index, state.result
    assert index is not None and result is not None
    judged = state.judgments_for(result.query)
    view = state.map_view
    options = (scope, color_by, bool(animate), tuple(sorted(judged.items())))
    same_search = view.result is result and view.options[-1:] == options[-1:]
    if not force and same_search and view.options == options and not view.waiting:
        return _map_failed()

    # The map's third marker: Rocchio costs no model call, so it is added when the search did not run it.
    full, rocchio_added = index.add_reranker(result, "rocchio")
    placed = view.placed if view.result is result else None
    status = "ready"
    if isinstance(placed, projection.Projection):
        proj = placed  # a query is placed on its UMAP map once; view toggles reuse the placement
    else:
        status = umap_status(index)  # before projecting: a fit ending in between shows UMAP, not a stuck PCA
        proj = projection.default_projector().project_result(index, full, wait=0.0)
    waiting = proj.method == "pca" and status == "fitting"
    shown = proj if scope != "candidates" else only_candidates(proj, result.candidates.rows)
    fig = plots.embedding_map(
        shown,
        index,
        full,
        relevance=judged,
        color_by="relevance" if color_by == "relevance" else "rank",
        animate=bool(animate),
    )

    lines = [f"{proj.method_note}."]
    kind = "info"
    if waiting:
        lines.insert(0, WAITING_FOR_UMAP)
        kind = "warn"
    elif proj.notice:
        lines.insert(0, proj.notice)
        kind = "warn"
    if proj.subsample_note:
        lines.append(proj.subsample_note)
    if scope == "candidates":
        lines.append(f"Showing only the {len(result.candidates)} candidates of this search.")
    if rocchio_added:
        s = result.settings
        lines.append(
            f"Rocchio query = query + {s.rocchio_beta} × mean of the top {s.rocchio_k}, computed for this "
            "map (turn on Rocchio in Search settings to see its ranking)."
        )
    if color_by == "relevance" and not judged:
        lines.append("Nothing is judged for this query yet: tick relevant documents in the Search tab.")

    charts: dict[str, Any] = {}
    if not same_search:  # the cosine table and charts depend only on the search and its judgments
        charts["cosine_label"], charts["cosine"] = cosine_outputs(cosines.cosine_table_for(index, full, judged))
        for chart in MAP_CHARTS:
            drawn = chart.draw(result, full, index, judged)
            figure = None if isinstance(drawn, str) else drawn
            charts[f"{chart.key}_plot"] = plot_value(figure) if figure is not None else None
            charts[f"{chart.key}_caption"] = caption_html(drawn if isinstance(drawn, str) else drawn.caption)

    if waiting and not view.waiting:
        view.since = time.monotonic()
    view.result, view.options, view.waiting = result, options, waiting
    view.placed = proj if proj.method == "umap" else None
    return MAP_OUTPUTS.values(
        info=render.notice("\n".join(lines), kind),
        plot=plot_value(fig),
        caption=caption_html(fig.caption),
        **charts,
        timer=gr.Timer(active=waiting),
    )


@warn_on_error(_map_failed)
def show_map(scope: str, color_by: str, animate: bool, state: UISession) -> tuple[Any, ...]:
    """Tab opened or a view option changed: draws the map (PCA at once if UMAP is not ready)."""
    return map_outputs(scope, color_by, animate, state)


@warn_on_error(_map_failed)
def refresh_map(scope: str, color_by: str, animate: bool, state: UISession) -> tuple[Any, ...]:
    """The Refresh button: redraws, showing UMAP if it has become ready."""
    return map_outputs(scope, color_by, animate, state, force=True, warn=True)


@warn_on_error(_map_failed)
def poll_map(scope: str, color_by: str, animate: bool, state: UISession) -> tuple[Any, ...]:
    """Timer tick while PCA is shown: redraws once UMAP is ready (or has failed), then stops polling."""
    view = state.map_view
    if not view.waiting or state.index is None or view.result is not state.result:
        view.waiting = False
        return _map_failed()
    if umap_status(state.index) == "fitting":
        if time.monotonic() - view.since > POLL_GIVE_UP_S:
            view.waiting = False
            return MAP_OUTPUTS.values(
                info=render.notice("UMAP is taking long on this corpus; press Refresh later to try again.", "warn"),
                timer=gr.Timer(active=False),
            )
        return MAP_OUTPUTS.values(timer=gr.Timer(active=True))
    return map_outputs(scope, color_by, animate, state, force=True)


def prefetch_map(state: UISession) -> None:
    """Starts the corpus's UMAP fit in the background (returns at once)."""
    if state.index is not None:
        try:
            umap_status(state.index)
        except Exception:  # the map tab reports problems when it is opened
            logger.exception("could not start the UMAP fit")


def after_indexing(state: UISession) -> tuple[Any, ...]:
    """A new corpus is in: starts its map fit and clears what showed the old one (map outputs, latency line)."""
    prefetch_map(state)
    return (
        *_empty_map("Search first: the map shows the last query's documents.", "info"),
        render.notice("Search first: the measurements use the last query."),
    )


# --------------------------------------------------------------------- latency callbacks


_measure = on_gpu(latency.measure_latency)
_scale = on_gpu(latency.scaling_run)


def _refuse(state: UISession, what: str, outputs: Outputs) -> tuple[Any, ...] | None:
    why = refusal(state, what)
    if why is None:
        return None
    gr.Warning(why)
    return outputs.values(info=render.notice(why, "warn"))


def latency_status(state: UISession) -> Any:
    """The Latency tab's line when the tab is opened: what a measurement would time now.

    Any search path (the Search tab, an example, a shared link, the Evaluate tab) leads here,
    so the line never says "Search first" once a search exists. A line reporting a
    measurement of the current search is left alone.
    """
    why = refusal(state, "measurement")
    if why is not None:
        return render.notice(why)
    result = state.result
    assert result is not None
    if state.measured is result:
        return gr.skip()
    s = result.settings
    earlier = " The charts below are from an earlier query." if state.measured is not None else ""
    query = result.query if len(result.query) <= 80 else result.query[:79] + "…"
    return render.notice(
        f"Ready to time the last query, “{query}” (N = {s.candidates}, k = {s.prompt_docs}): "
        f"press “Measure this query”.{earlier}"
    )


def _measure_outputs(state: UISession, repeats: float, progress: gr.Progress, subsample: int | None) -> tuple[Any, ...]:
    refused = _refuse(state, "measurement", MEASURE_OUTPUTS)
    if refused is not None:
        return refused
    index, result = state.index, state.result
    assert index is not None and result is not None
    # Armed by the click (arm_measurement), so a Cancel pressed before the run began counts too.
    cancel = state.measure_cancel = state.measure_cancel or threading.Event()

    def report(done: int, total: int) -> None:
        progress((done, total), desc="Timing the baselines that grow with N (Cancel stops it)", unit="passes")

    progress(0.0, desc="Timing every system on the last query…")
    try:
        measured = latency.run_cancellable(
            cancel,
            _measure,
            index,
            result.query,
            result.settings,
            repeats=int(repeats),
            subsample=subsample,
            progress=report,
            cancel=cancel,
        )
    except latency.MeasurementCancelled:
        kept = (
            "the chart below is still the last completed measurement"
            if state.measured is not None
            else "nothing was measured, so no chart is shown"
        )
        gr.Info("Measurement cancelled.")
        return MEASURE_OUTPUTS.values(info=render.notice(f"Measurement cancelled: {kept}."))
    finally:
        state.measure_cancel = None
    state.measured = result
    return latency_outputs(measured)


def latency_outputs(report: latency.LatencyReport) -> tuple[Any, ...]:
    """The Latency tab's info line, chart, caption and table for one measurement."""
    fig = plots.latency_bars(report)
    headers = ["system", *(latency.STAGE_LABELS[s] + " (s)" for s in latency.STAGES), "total per query (s)"]
    rows = [[str(cell) if isinstance(cell, str) else f"{cell:.4f}" for cell in row] for row in report.as_rows()]
    rows.append(
        [
            f"Document encoding, once per corpus ({report.n_documents:,} passages): "
            f"{report.doc_encoding_source or 'model time'}",
            *("" for _ in latency.STAGES),
            f"{report.doc_encoding_s:.4f}",
        ]
    )
    how = "the slow baselines estimated from a subsample" if report.estimated else "every system on all N candidates"
    info = render.notice(
        f"Measured just now on {report.device}: {report.model}, N = {report.n_candidates}, "
        f"k = {report.prompt_docs}, median of {report.repeats} run(s), {how}. "
        f"{report.method_note}"
    )
    return MEASURE_OUTPUTS.values(
        info=info,
        bars=plot_value(fig),
        bars_caption=caption_html(fig.caption),
        bars_table=gr.Dataframe(value=rows, headers=headers),
    )


@warn_on_error(MEASURE_OUTPUTS.skip)
def measure_query(repeats: float, state: UISession, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """ "Measure this query": times every system on the last query (slow baselines on a subsample)."""
    return _measure_outputs(state, repeats, progress, latency.DEFAULT_SUBSAMPLE)


@warn_on_error(MEASURE_OUTPUTS.skip)
def measure_query_in_full(repeats: float, state: UISession, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """ "Measure in full": as :func:`measure_query`, the slow baselines on all N candidates."""
    return _measure_outputs(state, repeats, progress, None)


def cancel_measurement(state: UISession) -> None:
    """ "Cancel": the measurement's callback returns at once (:func:`~e2rank_demo.latency.run_cancellable`);
    the work stops after the batch in flight."""
    if state.measure_cancel is not None:
        state.measure_cancel.set()


def _buttons(idle: bool, cancellable: bool = False) -> tuple[Any, ...]:
    """Measure this query, Measure in full, Scaling run (usable when ``idle``), and Cancel."""
    return (*(gr.Button(interactive=idle) for _ in range(3)), gr.Button(interactive=cancellable))


def arm_measurement(state: UISession) -> tuple[Any, ...]:
    """A measurement was asked for: its cancel event exists from now on; no other run can be started."""
    state.measure_cancel = threading.Event()
    return _buttons(idle=False, cancellable=True)


def scaling_busy() -> tuple[Any, ...]:
    """A scaling run was asked for: nothing else can be started (it has no Cancel)."""
    return _buttons(idle=False)


def latency_idle() -> tuple[Any, ...]:
    """The run ended (done, cancelled or refused): the buttons are back."""
    return _buttons(idle=True)


@warn_on_error(SCALING_OUTPUTS.skip)
def scaling_run(
    ns: Sequence[int | str] | None, repeats: float, state: UISession, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """ "Scaling run": rerank latency against N for E2Rank, E2Rank without cache and pointwise."""
    refused = _refuse(state, "scaling run", SCALING_OUTPUTS)
    if refused is not None:
        return refused
    chosen = sorted({int(n) for n in ns or []})
    if not chosen:
        gr.Warning("Tick at least one candidate count N first.")
        return SCALING_OUTPUTS.skip()
    index, result = state.index, state.result
    assert index is not None and result is not None

    def report(done: int, total: int) -> None:
        progress((done, total), desc="Timing the rerankers at each N", unit="runs")

    progress(0.0, desc="Warming up…")
    measured = _scale(index, result.query, chosen, settings=result.settings, repeats=int(repeats), progress=report)
    fig = plots.scaling_chart(measured)
    state.measured = result
    info = render.notice(
        f"Scaling run measured just now: {measured.model}, N = "
        f"{', '.join(str(n) for n in sorted({p.n_used for p in measured.points}))}, median of "
        f"{measured.repeats} run(s) per point." + (f" {measured.capped_note}" if measured.capped_note else "")
    )
    return SCALING_OUTPUTS.values(info=info, scaling=plot_value(fig), scaling_caption=caption_html(fig.caption))
