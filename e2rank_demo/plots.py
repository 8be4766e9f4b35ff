"""Plotly figures of one search: embedding map, rank shift, score curves and latency.

Each function returns a :class:`Figure`: the plotly figure (title, axis labels, legend),
a one-sentence ``caption`` saying how to read it, and a plotly ``config``.

PNG download: every figure keeps plotly's default mode bar, whose camera button saves
a PNG (Gradio's ``gr.Plot`` shows it as is). ``Figure.config`` additionally names the
file and doubles the resolution where the host accepts a config
(``fig.show(config=...)``, ``plotly.io.to_html(fig, config=...)``).

Plotly renders hover text, labels and titles as a subset of HTML, so every user-supplied
string (titles, snippets, queries) goes through :func:`escape` first.

Example:
    >>> escape("<b>bold</b> & co")
    '&lt;b&gt;bold&lt;/b&gt; &amp; co'
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2rank_demo.latency import (
    REPORTED_HEADERS,
    REPORTED_LATENCY,
    SCALING_SYSTEMS,
    STAGE_LABELS,
    STAGES,
    SYSTEM_LABELS,
    LatencyReport,
    ScalingResult,
)
from e2rank_demo.projection import SPECIAL_LABELS, Projection, special_vectors
from e2rank_demo.rerank import title_of

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from e2rank_demo.pipeline import SearchSession
    from e2rank_demo.prompt_lab import DocInfluence, Influence
    from e2rank_demo.records import QueryResult

ColorBy = Literal["rank", "relevance"]

SPECIAL_STYLE: dict[str, dict[str, Any]] = {
    "query": {"symbol": "star", "color": "#111111"},
    "prompt": {"symbol": "diamond", "color": "#d62728"},
    "rocchio": {"symbol": "square", "color": "#9467bd"},
}
RELEVANCE_COLORS = {"judged relevant": "#2ca02c", "judged not relevant": "#d62728", "not judged": "#7f7f7f"}
DIRECTION_COLORS = {"moved up": "#2ca02c", "moved down": "#d62728", "unchanged": "#7f7f7f"}
STAGE_COLORS = {
    "query_encoding": "#1f77b4", "first_stage": "#aec7e8", "prompt_build": "#ffbb78",
    "prompt_encoding": "#ff7f0e", "candidate_encoding": "#d62728", "pair_encoding": "#9467bd",
    "scoring": "#2ca02c",
}
SYSTEM_COLORS = {"e2rank": "#ff7f0e", "e2rank_nocache": "#d62728", "pointwise": "#9467bd"}


@dataclass
class Figure:
    """A figure ready to show.

    Attributes:
        fig: The ``plotly.graph_objects.Figure``.
        caption: One sentence on how to read it.
        config: Plotly config (PNG file name and scale for the mode bar's download button).
    """

    fig: go.Figure
    caption: str
    config: dict[str, Any] = field(default_factory=dict)


def escape(text: object, limit: int | None = None) -> str:
    """HTML-escapes a user string for plotly, optionally cut to ``limit`` characters.

    Quotes are left alone: plotly does not decode ``&quot;``, and without ``<`` no tag
    (so no attribute) can form.
    """
    s = str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return html.escape(s, quote=False)


def _wrapped(text: str, width: int = 70, limit: int = 280) -> str:
    """Escaped, cut and wrapped to hover-box lines (wrapped before escaping, so no entity splits)."""
    s = " ".join(text.split())
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(s, width)) or ""


def png_config(filename: str) -> dict[str, Any]:
    """Plotly config whose mode-bar camera button saves ``filename.png`` at twice the size."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def _title(main: str, *notes: str | None) -> dict[str, Any]:
    """Title with optional smaller note lines (notes must already be escaped)."""
    lines = [main, *(f"<span style='font-size:12px'>{n}</span>" for n in notes if n)]
    return {"text": "<br>".join(lines), "x": 0.01, "xanchor": "left"}


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _grade(relevance: Mapping[str, int] | None, session: SearchSession, pid: str) -> int | None:
    """Judgement of a passage, by passage id or else its document id."""
    if not relevance:
        return None
    grade = relevance.get(pid)
    return relevance.get(session.passage(pid).doc_id) if grade is None else grade


def _relevance_class(grade: int | None) -> str:
    if grade is None:
        return "not judged"
    return "judged relevant" if grade > 0 else "judged not relevant"


# --------------------------------------------------------------------------- embedding map
def _rank_buckets(n: int, k: int) -> list[tuple[str, int, int, str]]:
    """``(label, first rank, last rank, colour)`` for the first-stage rank buckets."""
    buckets = [("top 10", 1, min(10, n), "#1f77b4")]
    if k > 10:
        buckets.append((f"11–{min(k, n)}", 11, min(k, n), "#17becf"))
    lo = max(10, k) + 1
    if n >= lo:
        buckets.append((f"{lo}–{n}", lo, n, "#bcbd22"))
    return [b for b in buckets if b[1] <= b[2]]


def embedding_map(
    projection: Projection,
    session: SearchSession,
    result: QueryResult,
    *,
    relevance: Mapping[str, int] | None = None,
    color_by: ColorBy = "rank",
    reranker: str = "e2rank",
    animate: bool = False,
) -> Figure:
    """Documents, the query, the E2Rank pseudo-query and the Rocchio query on one 2-D map.

    Args:
        projection: From :meth:`~e2rank_demo.projection.MapProjector.project_result` (or PCA).
        session: The session searched (titles, texts, vectors).
        result: The search whose vectors and ranks are shown.
        relevance: Judgements for this query (passage or document id -> grade).
        color_by: ``"rank"`` (first-stage rank bucket) or ``"relevance"``.
        reranker: Whose rank the hover text shows beside the first-stage rank.
        animate: Add a play button and slider moving the query to the pseudo-query.
    """
    go = _go()
    rows = np.asarray(projection.rows)
    specials = special_vectors(result)
    doc_vectors = session.vectors[rows]
    cosines = {k: doc_vectors @ v for k, v in specials.items()}
    first_rank = result.first_stage.rank_of()
    reranked = result.reranked.get(reranker)
    new_rank = reranked.rank_of() if reranked is not None else {}
    k = len(result.prompt.doc_tokens_kept) if result.prompt is not None else 0
    n = len(result.candidates)

    hover = []
    for i, pid in enumerate(projection.ids):
        passage = session.passage(pid)
        title = passage.title or pid
        r0, r1 = first_rank.get(pid), new_rank.get(pid)
        ranks = (f"first-stage rank {r0} · {title_of(reranker)} rank {r1}"
                 if r0 is not None else "not a candidate")
        cos = " · ".join(f"{SPECIAL_LABELS[key]} {cosines[key][i]:.3f}" for key in cosines)
        hover.append(f"<b>{escape(title, 100)}</b><br>{_wrapped(passage.text)}<br>{ranks}<br>cosine to: {cos}")
    hover_arr = np.array(hover, dtype=object)

    if color_by == "relevance":
        classes = [_relevance_class(_grade(relevance, session, pid)) for pid in projection.ids]
        groups = [(label, np.array([c == label for c in classes]), color)
                  for label, color in RELEVANCE_COLORS.items()][::-1]
    else:
        ranks0 = np.array([first_rank.get(pid, 0) for pid in projection.ids])
        groups = [("not a candidate", ranks0 == 0, "#c7c7c7")]
        groups += [(label, (ranks0 >= lo) & (ranks0 <= hi), color)
                   for label, lo, hi, color in reversed(_rank_buckets(n, k))]

    fig = go.Figure()
    for label, mask, color in groups:
        if not mask.any():
            continue
        fig.add_trace(go.Scatter(
            x=projection.coords[mask, 0], y=projection.coords[mask, 1], mode="markers", name=label,
            marker={"size": 7 if label != "not a candidate" else 5, "color": color, "opacity": 0.85},
            hovertext=hover_arr[mask], hoverinfo="text",
        ))
    if k:
        prompt_ids = set(result.prompt_ids or result.first_stage.ids[:k])
        in_prompt = np.array([pid in prompt_ids for pid in projection.ids])
        fig.add_trace(go.Scatter(
            x=projection.coords[in_prompt, 0], y=projection.coords[in_prompt, 1], mode="markers",
            name="in the edited listwise prompt" if result.prompt_edited else f"in the listwise prompt (top-{k})",
            hoverinfo="skip",
            marker={"size": 13, "symbol": "circle-open", "color": "#111111", "line": {"width": 1.5}},
        ))

    query_text = escape(result.query, 80)
    for key, xy in projection.special.items():
        style = SPECIAL_STYLE[key]
        fig.add_trace(go.Scatter(
            x=[xy[0]], y=[xy[1]], mode="markers", name=SPECIAL_LABELS[key],
            marker={"size": 18, "symbol": style["symbol"], "color": style["color"],
                    "line": {"width": 1.5, "color": "white"}},
            hovertext=[f"<b>{SPECIAL_LABELS[key]}</b><br>for: {query_text}"], hoverinfo="text",
        ))
    origin = projection.special.get("query")
    if origin is not None:
        for key in ("prompt", "rocchio"):
            if key in projection.special:
                tip = projection.special[key]
                fig.add_annotation(x=tip[0], y=tip[1], ax=origin[0], ay=origin[1], xref="x", yref="y",
                                   axref="x", ayref="y", showarrow=True, arrowhead=3, arrowsize=1.2,
                                   arrowwidth=2, arrowcolor=SPECIAL_STYLE[key]["color"], text="")
    if animate and origin is not None and "prompt" in projection.special:
        _add_query_animation(fig, origin, projection.special["prompt"])

    x_label, y_label = projection.axis_labels
    fig.update_layout(
        title=_title(f"Embedding map for “{query_text}”", escape(projection.method_note),
                     escape(projection.subsample_note or ""), escape(projection.notice or "")),
        xaxis_title=x_label, yaxis_title=y_label, legend_title_text="Documents and queries",
        showlegend=True, height=640, template="plotly_white", margin={"t": 120},
    )
    return Figure(fig, map_caption(fig, "UMAP" if projection.method == "umap" else "PCA"),
                  png_config("e2rank-embedding-map"))


def map_caption(fig: go.Figure, how: str) -> str:
    """The embedding map's caption, naming only the markers and arrows ``fig`` draws.

    Read from the figure itself, so a search that ran no Rocchio (the Present tab, an HTML
    report of it) has no square in its caption either.

    Args:
        fig: A figure from :func:`embedding_map`.
        how: The projection's name (``"UMAP"`` or ``"PCA"``).

    Example:
        >>> import plotly.graph_objects as go
        >>> map_caption(go.Figure([go.Scatter(name="Query", marker={"symbol": "star"})]), "PCA")
        'Each dot is a document placed by PCA (hover for its title, ranks and cosines) and the star is your
        query; 2-D distances are approximate, so read the cosine table for the true full-dimensional numbers.'
    """
    key_of = {label: key for key, label in SPECIAL_LABELS.items()}
    drawn = {key_of[trace.name]: trace.marker.symbol for trace in fig.data if trace.name in key_of}
    markers: list[str] = []
    for key in (key for key in SPECIAL_LABELS if key in drawn):
        meaning = "your query" if key == "query" else f"the {SPECIAL_LABELS[key]}"
        markers.append(f"the {drawn[key]} {'' if markers else 'is '}{meaning}")  # "the star is ..., the diamond ..."
    clauses = [f"Each dot is a document placed by {how} (hover for its title, ranks and cosines)"]
    if markers:
        clauses.append(_and(markers))
    arrows = sum(1 for note in fig.layout.annotations if note.showarrow and not note.text)
    if arrows:
        clauses.append("the arrow shows where the rewrite moves the query" if arrows == 1
                       else "the arrows show where each rewrite moves the query")
    # The clauses hold "and"s of their own, so three of them take a serial comma.
    joined = _and(clauses) if len(clauses) < 3 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]
    return joined + "; 2-D distances are approximate, so read the cosine table for the true full-dimensional numbers."


def _and(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _add_query_animation(fig: go.Figure, start: np.ndarray, end: np.ndarray, steps: int = 12) -> None:
    """A marker sliding from the query to the pseudo-query (straight line in 2-D), with controls."""
    go = _go()
    fig.add_trace(go.Scatter(
        x=[start[0]], y=[start[1]], mode="markers", name="query → pseudo-query (animated)",
        marker={"size": 16, "symbol": "star-open", "color": SPECIAL_STYLE["prompt"]["color"], "line": {"width": 2}},
        hoverinfo="skip",
    ))
    index = len(fig.data) - 1
    fractions = np.linspace(0.0, 1.0, steps)
    names = [f"{t:.2f}" for t in fractions]
    fig.frames = [go.Frame(name=name, traces=[index],
                           data=[go.Scatter(x=[start[0] + t * (end[0] - start[0])],
                                            y=[start[1] + t * (end[1] - start[1])])])
                  for name, t in zip(names, fractions, strict=True)]
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    fig.update_layout(
        # Under the x-axis title: the buttons side by side, then the slider on its own line (nothing overlaps).
        margin={"b": 200},
        updatemenus=[{"type": "buttons", "showactive": False, "direction": "left", "x": 0.0, "y": 0.0,
                      "xanchor": "left", "yanchor": "top", "pad": {"t": 55, "r": 10},
                      "buttons": [{"label": "▶ Play", "method": "animate",
                                   "args": [None, {"frame": {"duration": 120, "redraw": False},
                                                   "transition": {"duration": 60}, "fromcurrent": True}]},
                                  {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]}]}],
        sliders=[{"active": 0, "x": 0.0, "y": 0.0, "len": 1.0, "xanchor": "left", "yanchor": "top",
                  "pad": {"t": 95},
                  "currentvalue": {"prefix": "query → pseudo-query: "},
                  "steps": [{"label": name, "method": "animate", "args": [[name], still]} for name in names]}],
    )


# --------------------------------------------------------------------------- rank shift
def rank_shift(
    result: QueryResult,
    session: SearchSession,
    *,
    reranker: str = "e2rank",
    top: int = 20,
    relevance: Mapping[str, int] | None = None,
) -> Figure:
    """Slope chart from first-stage rank to reranked rank for the top of either list.

    Lines are coloured by relevance when judgements are given, else by direction.
    Documents that leave the shown range are drawn at "> top" (hover gives the rank).

    Args:
        result: The search.
        session: The session searched (for titles).
        reranker: Which reranked list (``e2rank``, ``rocchio``, ``dense``).
        top: Documents in the top ``top`` of either list are shown.
        relevance: Judgements for this query (passage or document id -> grade).
    """
    go = _go()
    if reranker not in result.reranked:
        raise ValueError(f"the search has no {reranker!r} ranking (has: {', '.join(result.reranked) or 'none'})")
    name = title_of(reranker)
    before = result.first_stage.rank_of()
    after = result.reranked[reranker].rank_of()
    shown = sorted({*result.first_stage.ids[:top], *result.reranked[reranker].ids[:top]}, key=before.__getitem__)
    floor = top + 2

    fig = go.Figure()
    legend_seen: set[str] = set()
    for pid in shown:
        r0, r1 = before[pid], after[pid]
        if relevance:
            group, palette = _relevance_class(_grade(relevance, session, pid)), RELEVANCE_COLORS
        else:
            group = "moved up" if r1 < r0 else "moved down" if r1 > r0 else "unchanged"
            palette = DIRECTION_COLORS
        title = session.passage(pid).title or pid
        label = escape(title, 28)
        fig.add_trace(go.Scatter(
            x=[0, 1], y=[r if r <= top else floor for r in (r0, r1)], mode="lines+markers+text", name=group,
            legendgroup=group, showlegend=group not in legend_seen,
            line={"color": palette[group], "width": 2}, marker={"size": 8, "color": palette[group]},
            text=[label if r0 <= top else "", label if r1 <= top else ""],
            textposition=["middle left", "middle right"], textfont={"size": 10},
            hovertext=[f"<b>{escape(title, 100)}</b><br>first stage {r0} → {name} {r1} "
                       f"({r0 - r1:+d})"] * 2, hoverinfo="text",
        ))
        legend_seen.add(group)
    ticks = [*range(1, top + 1, 2 if top > 10 else 1), floor]
    fig.update_layout(
        title=_title(f"Rank shift: first stage → {name}", f"documents in the top {top} of either list; "
                     f"query “{escape(result.query, 80)}”"),
        xaxis={"title": {"text": "Ranking"}, "tickvals": [0, 1], "ticktext": ["First stage", name],
               "range": [-0.9, 1.9], "zeroline": False, "showgrid": False},
        yaxis={"title": {"text": "Rank (1 = best)"}, "autorange": "reversed", "tickvals": ticks,
               "ticktext": [str(t) for t in ticks[:-1]] + [f"> {top}"]},
        legend_title_text="Colour", showlegend=True, height=max(420, 26 * len(shown) + 160),
        template="plotly_white", margin={"t": 100},
    )
    colour = "relevance" if relevance else "direction of the move"
    caption = (f"Each line joins a document's first-stage rank (left) to its {name} rank (right), coloured by "
               f"{colour}: lines rising to the right are documents the reranker promoted, falling ones demoted.")
    return Figure(fig, caption, png_config(f"rank-shift-{reranker}"))


# --------------------------------------------------------------------------- prompt influence
INFLUENCE_COLORS = {"helped": "#2ca02c", "hurt": "#d62728", "no change": "#7f7f7f", "influence": "#ff7f0e"}


def _influence_group(item: DocInfluence) -> str:
    if item.ndcg_delta is None:
        return "influence"
    return "helped" if item.ndcg_delta < -1e-9 else "hurt" if item.ndcg_delta > 1e-9 else "no change"


def influence_chart(influence: Influence, session: SearchSession) -> Figure:
    """Leave-one-out influence of each prompt document, most influential at the top.

    Bars carry the passage id in ``customdata`` (the app opens that document on a click).
    With judgments, bars are coloured by what removing the document does to nDCG@10.

    Args:
        influence: From :meth:`~e2rank_demo.pipeline.SearchSession.prompt_influence`.
        session: The session searched (for titles).
    """
    go = _go()
    items = influence.ranked()[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure()
    for group, color in INFLUENCE_COLORS.items():
        chosen = [item for item in items if _influence_group(item) == group]
        if not chosen:
            continue
        hover = []
        for item in chosen:
            title = session.passage(item.doc_id).title or item.doc_id
            lines = [f"<b>[{item.position}] {escape(title, 100)}</b>",
                     f"pseudo-query moves by cosine distance {item.distance:.5f} without it"]
            if item.ndcg_delta is not None and influence.ndcg is not None:  # deltas exist only with an nDCG
                lines.append(f"nDCG@10 without it: {influence.ndcg + item.ndcg_delta:.4f} "
                             f"({item.ndcg_delta:+.4f})")
            lines += [f"relevant {escape(pid, 40)}: rank {change:+d} without it"
                      for pid, change in list(item.rank_changes.items())[:5]]
            hover.append("<br>".join(lines))
        fig.add_trace(go.Bar(
            x=[item.distance for item in chosen], orientation="h", name=group, marker={"color": color},
            y=[f"[{item.position}] {escape(session.passage(item.doc_id).title or item.doc_id, 40)}"
               for item in chosen],
            customdata=[item.doc_id for item in chosen], hovertext=hover, hoverinfo="text",
        ))
    order = [f"[{i.position}] {escape(session.passage(i.doc_id).title or i.doc_id, 40)}" for i in items]
    note = (f"nDCG@10 with the full prompt {influence.ndcg:.4f}; colour: what removing it does to nDCG@10"
            if influence.ndcg is not None else "no judgments for this query: nDCG@10 not measured")
    fig.update_layout(
        title=_title(f"Which prompt documents pull the pseudo-query (“{escape(influence.query, 60)}”)",
                     f"{len(items)} leave-one-out prompts embedded in {influence.seconds:.2f} s; {note}"),
        xaxis_title="Cosine distance the pseudo-query moves without this document",
        yaxis={"title": {"text": "Prompt document ([position] title)"}, "categoryorder": "array",
               "categoryarray": order},
        legend_title_text="Removing it", showlegend=influence.ndcg is not None, template="plotly_white",
        height=max(360, 24 * len(items) + 170), margin={"t": 100},
    )
    colour = ("; green: without it nDCG@10 drops, so it helped; red: it hurt" if influence.ndcg is not None
              else "")
    caption = (f"Each bar is one prompt document, longer the further leaving it out of the listwise prompt moves "
               f"the pseudo-query{colour}; click a bar to open that document.")
    return Figure(fig, caption, png_config("e2rank-prompt-influence"))


# --------------------------------------------------------------------------- score curves
def score_distribution(result: QueryResult, session: SearchSession) -> Figure:
    """Sorted cosine scores of the candidates under the query, pseudo-query and Rocchio vector.

    Scores are recomputed from the vectors (cosine), so a BM25 first stage is compared
    on the same scale.
    """
    go = _go()
    doc_vectors = session.vectors[result.candidates.rows]
    fig = go.Figure()
    for key, vector in special_vectors(result).items():
        scores = np.sort(doc_vectors @ vector)[::-1]
        fig.add_trace(go.Scatter(
            x=np.arange(1, len(scores) + 1), y=scores, mode="lines+markers", name=SPECIAL_LABELS[key],
            line={"color": SPECIAL_STYLE[key]["color"], "width": 2}, marker={"size": 4},
            hovertemplate=f"{SPECIAL_LABELS[key]}<br>position %{{x}}<br>cosine %{{y:.4f}}<extra></extra>",
        ))
    fig.update_layout(
        title=_title("Candidate scores under each query vector, sorted",
                     f"N = {len(result.candidates)} candidates; query “{escape(result.query, 80)}”"),
        xaxis_title="Position after sorting (1 = highest score)", yaxis_title="Cosine similarity",
        legend_title_text="Scored with", showlegend=True, template="plotly_white", height=460,
    )
    caption = ("Each curve sorts the N candidates' cosine scores under one query vector from highest to "
               "lowest: the further a curve's head stands above its tail, the more sharply that vector "
               "separates its top candidates from the rest (compare the paper's Figure 3).")
    return Figure(fig, caption, png_config("e2rank-score-distribution"))


# --------------------------------------------------------------------------- latency
def latency_bars(report: LatencyReport) -> Figure:
    """Stacked per-stage seconds per system, with document encoding in its own panel."""
    go = _go()
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, row_heights=[0.75, 0.25], vertical_spacing=0.24,
                        subplot_titles=("Per query (measured now)", "Once per corpus (amortised over all queries)"))
    systems = list(reversed(report.systems))  # horizontal bars list bottom-up; keep the first on top
    labels = ["<br>".join(textwrap.wrap(s.label + (f" (estimated from {s.estimated_from} of {s.n_total})"
                                                   if s.estimated else ""), 34)) for s in systems]
    for stage in STAGES:
        values = [s.stages.get(stage, 0.0) for s in systems]
        if not any(values):
            continue
        fig.add_trace(go.Bar(
            y=labels, x=values, orientation="h", name=STAGE_LABELS[stage], marker_color=STAGE_COLORS[stage],
            hovertemplate=f"%{{y}}<br>{STAGE_LABELS[stage]}: %{{x:.4f}} s<extra></extra>",
        ), row=1, col=1)
    # Totals at the bar ends: the cheap systems' bars are too short to read otherwise.
    longest = max((s.total for s in systems), default=0.0) or 1.0
    for label, system in zip(labels, systems, strict=True):
        fig.add_annotation(x=system.total, y=label, xref="x", yref="y", text=f"{system.total:.3f} s",
                           showarrow=False, xanchor="left", xshift=4, font={"size": 11})
    fig.update_xaxes(range=[0, longest * 1.18], row=1, col=1)
    if report.doc_encoding_cached:
        doc_label = f"Document embeddings ({report.n_documents:,} passages, read from the cache)"
    else:
        doc_label = f"Document encoding ({report.n_documents:,} passages)"
    fig.add_trace(go.Bar(
        y=[doc_label], x=[report.doc_encoding_s], orientation="h", name="document encoding (once per corpus)",
        marker_color="#8c564b", text=[f"{report.doc_encoding_s:.3f} s"], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}<br>%{x:.3f} s once per corpus<extra></extra>",
    ), row=2, col=1)
    fig.update_layout(
        barmode="stack",
        title=_title(f"Measured latency: {escape(report.model)} on {escape(report.device)}",
                     f"N = {report.n_candidates}, k = {report.prompt_docs}, median of {report.repeats} run(s); "
                     f"query “{escape(report.query, 60)}”"),
        legend_title_text="Stage", legend_traceorder="normal", showlegend=True, template="plotly_white",
        height=600, margin={"t": 110, "l": 20},
    )
    fig.update_xaxes(title_text="Seconds per query (measured on this machine)", row=1, col=1)
    fig.update_xaxes(title_text="Seconds, once per corpus", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="System", row=1, col=1)
    caption = (f"Each bar stacks the seconds one system spent per stage on this query, measured just now on this "
               f"machine (median of {report.repeats} run(s)); document encoding, paid once per corpus, sits in the "
               "lower panel and is in none of the per-query bars." + (f" {report.method_note}" if report.method_note
                                                                       else ""))
    return Figure(fig, caption, png_config("e2rank-latency"))


def scaling_chart(result: ScalingResult) -> Figure:
    """Rerank latency against N, one line per system, both axes log-scale."""
    go = _go()
    fig = go.Figure()
    for system in SCALING_SYSTEMS:
        series = result.series(system)
        if not series:
            continue
        ns, seconds = zip(*series, strict=True)
        fig.add_trace(go.Scatter(
            x=list(ns), y=list(seconds), mode="lines+markers", name=SYSTEM_LABELS[system],
            line={"color": SYSTEM_COLORS[system], "width": 2}, marker={"size": 8},
            hovertemplate=f"{SYSTEM_LABELS[system]}<br>N = %{{x}}<br>%{{y:.4f}} s<extra></extra>",
        ))
    used = sorted({p.n_used for p in result.points})
    fig.update_layout(
        title=_title(f"Rerank latency vs N (measured, {escape(result.model)})",
                     f"first stage excluded; median of {result.repeats} run(s)", escape(result.capped_note or "")),
        # Ns are roughly log-spaced (10 ... 200); a linear axis would squash the small ones together.
        xaxis={"title": {"text": "Candidates reranked (N, log scale)"}, "type": "log", "tickvals": used},
        # Plain numbers at 1, 2 and 5 per decade (plotly otherwise labels sub-decade ticks "2 3 … 9").
        yaxis={"title": {"text": "Rerank seconds (log scale)"}, "type": "log", "tickformat": ".2~g",
               "dtick": "D2"},
        legend_title_text="System", showlegend=True, template="plotly_white", height=460,
    )
    caption = ("Each line is one system's measured time to rerank the top-N candidates (first stage excluded, "
               "log scale): a flat line means the cost barely depends on N, as with E2Rank's single prompt pass "
               "over cached embeddings, while a rising one pays a model pass per candidate.")
    return Figure(fig, caption, png_config("e2rank-latency-vs-n"))


def reported_latency_rows() -> list[list[str]]:
    """The paper's latency table as strings (``""`` where it gives no value), under :data:`REPORTED_HEADERS`."""
    def cell(v: float | None) -> str:
        return "" if v is None else f"{v:.2f}"

    return [[r.model, cell(r.doc_encoding_s), cell(r.other_s), cell(r.total_s)] for r in REPORTED_LATENCY]


def reported_latency_table() -> Figure:
    """The paper's A100 latencies as a plotly table, labelled as reported, not measured."""
    go = _go()
    rows = reported_latency_rows()
    fig = go.Figure(go.Table(
        header={"values": [f"<b>{h}</b>" for h in REPORTED_HEADERS], "align": "left", "fill_color": "#eeeeee"},
        cells={"values": [list(col) for col in zip(*rows, strict=True)], "align": "left"},
    ))
    fig.update_layout(
        title=_title("Reported in the paper (A100) — not measured here",
                     "E2Rank, Liu et al. 2025: reranking BM25 top-100 on TREC-COVID, one A100 80G, vLLM, "
                     "~350-token documents"),
        height=330, margin={"t": 90, "b": 10},
    )
    caption = ("These are the paper's own A100/vLLM seconds for reranking BM25 top-100 on TREC-COVID, shown for "
               "reference only and never mixed into the measured charts; when E2Rank is also the retriever only "
               "the \"other\" column is paid per query.")
    return Figure(fig, caption, png_config("e2rank-reported-latency-a100"))

