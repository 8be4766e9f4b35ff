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

import functools
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
    from e2rank_demo.query_result import QueryResult

ColorBy = Literal["rank", "relevance"]

INK = "#111111"
"""The query marker's colour on a light chart; :func:`theme_meta` swaps it for a light ink on a dark one."""
THEMES: dict[str, tuple[str, str]] = {"light": ("plotly_white", INK), "dark": ("plotly_dark", "#f8fafc")}
# plotly_dark leaves a pressed menu button light grey under its light text; this one keeps it readable.
_DARK_ACTIVE_BUTTON = "#334155"
"""Plotly template and ink colour of each page theme (every figure here is built in the light one)."""
SPECIAL_STYLE: dict[str, dict[str, Any]] = {
    "query": {"symbol": "star", "color": INK, "size": 20, "tag": "Query"},
    "prompt": {"symbol": "diamond", "color": "#d62728", "size": 25, "tag": "E2Rank"},
    "rocchio": {"symbol": "square", "color": "#9467bd", "size": 29, "tag": "Rocchio"},
}
# Largest first, the query last: three markers on one spot still show as a square, a diamond inside
# it and the star on top (each with a white outline), so none hides another.
DRAW_ORDER = ("rocchio", "prompt", "query")
PROMPT_RING = "#64748b"
"""Ring around the prompt's documents: a mid slate that reads on light and dark chart backgrounds."""
RELEVANCE_COLORS = {"judged relevant": "#2ca02c", "judged not relevant": "#d62728", "not judged": "#7f7f7f"}
DIRECTION_COLORS = {"moved up": "#2ca02c", "moved down": "#d62728", "unchanged": "#7f7f7f"}
STAGE_COLORS = {
    "query_encoding": "#1f77b4",
    "first_stage": "#aec7e8",
    "prompt_build": "#ffbb78",
    "prompt_encoding": "#ff7f0e",
    "candidate_encoding": "#d62728",
    "pair_encoding": "#9467bd",
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


@functools.lru_cache(maxsize=8192)  # every map of a corpus wraps the same passages: 2/3 of a map's time uncached
def _wrapped(text: str, width: int = 70, limit: int = 280) -> str:
    """Escaped, cut and wrapped to hover-box lines (wrapped before escaping, so no entity splits)."""
    s = " ".join(text.split())
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(s, width)) or ""


def theme_meta(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What the page needs to redraw a figure in its light or dark theme, as ``layout.meta`` entries.

    The server cannot know whether a browser shows Gradio's dark mode, so each figure
    carries both themes and the page applies the one it shows (``static/app.js``):
    ``e2rThemes`` maps ``light`` and ``dark`` to a plotly template (trimmed to the
    figure's trace types) and an ink colour, ``e2rInk`` maps ``marker.color`` and
    ``line.color`` to the traces drawn in ink, and ``e2rTheme`` names the theme the figure
    is in now.

    Args:
        spec: The figure as plotly JSON (``{"data": [...], "layout": {...}}``), in the light theme.

    Example:
        >>> meta = theme_meta({"data": [{"type": "scatter", "marker": {"color": INK}}, {"type": "bar"},
        ...                             {"line": {"color": INK}}]})
        >>> meta["e2rInk"], sorted(meta["e2rThemes"]["dark"]["template"]["data"]), meta["e2rTheme"]
        ({'marker.color': [0], 'line.color': [2]}, ['bar', 'scatter'], 'light')
    """
    import plotly.io as pio

    traces = spec.get("data", [])
    kinds = {t.get("type", "scatter") for t in traces}
    themes = {}
    for name, (template, ink) in THEMES.items():
        full = pio.templates[template].to_plotly_json()
        if name == "dark":
            full["layout"]["updatemenudefaults"] = {
                **full["layout"].get("updatemenudefaults", {}),
                "activecolor": _DARK_ACTIVE_BUTTON,
            }
        themes[name] = {
            "template": {"layout": full["layout"], "data": {k: v for k, v in full["data"].items() if k in kinds}},
            "ink": ink,
        }
    ink_paths = {
        f"{part}.color": [i for i, t in enumerate(traces) if (t.get(part) or {}).get("color") == INK]
        for part in ("marker", "line")
    }
    inked = {path: found for path, found in ink_paths.items() if found}
    return {"e2rThemes": themes, "e2rInk": inked, "e2rTheme": "light"}


def png_config(filename: str) -> dict[str, Any]:
    """Plotly config whose mode-bar camera button saves ``filename.png`` at twice the size."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


# Plotly never wraps a title: lines are broken here, at widths that fit a plot about 560 px wide
# (17 px title type, 12 px notes); :func:`_top` makes the top margin as tall as the lines need.
TITLE_CHARS = 62
NOTE_CHARS = 92
_LINE_PX = 23  # a note line is as tall as a title line (they are one text element)
_TITLE_TOP_PX = 44  # Gradio draws the plot's label over the figure's top-left corner
_TITLE_GAP_PX = 12
_FIRST_LINE_PX = 15  # plotly anchors a top-anchored title at about the middle of its first line


def _lines(text: str, width: int) -> list[str]:
    """``text`` broken at spaces into lines of at most ``width`` characters (words are never split,
    so an escaped entity such as ``&amp;`` stays whole)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]


def _title(main: str, *notes: str | None, height: int | None = None) -> dict[str, Any]:
    """Title wrapped to lines, with optional smaller note lines (all already escaped).

    Args:
        main: The title.
        notes: Smaller lines under it (empty ones are left out).
        height: The figure's height in pixels: the title's first line then starts
            :data:`_TITLE_TOP_PX` below the top, under Gradio's label (plotly ignores the
            padding of a title placed on the figure, and its default place suits one line).

    Example:
        >>> t = _title("A long title " * 8, "a note", height=400)
        >>> t["text"].count("<br>"), t["y"], _top(t), _top(t, below=40)
        (2, 0.8525, 125, 165)
    """
    lines = _lines(main, TITLE_CHARS)
    lines += [f"<span style='font-size:12px'>{line}</span>" for n in notes if n for line in _lines(n, NOTE_CHARS)]
    title: dict[str, Any] = {"text": "<br>".join(lines), "x": 0.01, "xanchor": "left"}
    if height:
        title |= {"yref": "container", "y": round(1 - (_TITLE_TOP_PX + _FIRST_LINE_PX) / height, 4), "yanchor": "top"}
    return title


def _top(title: dict[str, Any], below: int = 0) -> int:
    """Top margin that holds ``title`` (from :func:`_title`) and ``below`` more pixels under it (at least
    Gradio's 100 px, which it gives every titled plot).

    Computed, not left to plotly's title ``automargin``, which left the plot drawn at its
    first size when other elements also moved the margins.
    """
    return max(100, _TITLE_TOP_PX + _TITLE_GAP_PX + _LINE_PX * (title["text"].count("<br>") + 1) + below)


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def new_figure(*data: Any, **kwargs: Any) -> go.Figure:
    """A plotly figure in the light theme's template (:data:`THEMES`), which every figure here is built in.

    The template is plotly's default, applied when the figure is serialised: plotly takes its default
    as validated, while a template named on a figure is deep-copied and validated again (12 of a small
    figure's 15 ms, GIL-bound work that slowed other visitors' forward passes in a class).

    Example:
        >>> new_figure().to_dict()["layout"]["template"]["layout"]["plot_bgcolor"]
        'white'
    """
    import plotly.io as pio

    if pio.templates.default != THEMES["light"][0]:  # setting it validates the template too
        pio.templates.default = THEMES["light"][0]
    return _go().Figure(*data, **kwargs)


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
MAP_HEIGHT = 740
# Pixels below the plot area, past the tick labels and axis title: one row of buttons (Play/Pause on
# the left, the view switch on the right), then the animation slider; the legend sits under both.
_BUTTON_ROW_PAD = 58
_SLIDER_PAD = 100
_LABEL_SIDES = 8  # a label sits in one of eight directions around its marker (45° steps)


def _rank_buckets(n: int, k: int) -> list[tuple[str, int, int, str]]:
    """``(label, first rank, last rank, colour)`` for the first-stage rank buckets."""
    buckets = [("top 10", 1, min(10, n), "#1f77b4")]
    if k > 10:
        buckets.append((f"11–{min(k, n)}", 11, min(k, n), "#17becf"))
    lo = max(10, k) + 1
    if n >= lo:
        buckets.append((f"{lo}–{n}", lo, n, "#bcbd22"))
    return [b for b in buckets if b[1] <= b[2]]


def focus_ranges(
    focus: np.ndarray, extent: np.ndarray, *, pad: float = 0.08, min_share: float = 0.12
) -> tuple[list[float], list[float]]:
    """Axis ranges that frame the ``focus`` points: their bounding box, padded on every side.

    Each axis spans at least ``min_share`` of the whole map (``extent``), so points that
    coincide are not blown up to fill the plot.

    Args:
        focus: ``(m, 2)`` points to frame.
        extent: ``(n, 2)`` points of the whole map.
        pad: Margin on each side, as a share of the framed span.
        min_share: Smallest framed span, as a share of the whole map's span.

    Example:
        >>> whole = np.array([[0.0, 0.0], [10.0, 10.0]])
        >>> focus_ranges(np.array([[1.0, 1.0], [3.0, 2.0]]), whole, pad=0.0, min_share=0.0)
        ([1.0, 3.0], [1.0, 2.0])
        >>> focus_ranges(np.array([[5.0, 5.0]]), whole, pad=0.0)
        ([4.4, 5.6], [4.4, 5.6])
    """
    full = np.ptp(np.asarray(extent, dtype=np.float64), axis=0)
    lo, hi = np.min(focus, axis=0).astype(np.float64), np.max(focus, axis=0).astype(np.float64)
    half = np.maximum(hi - lo, min_share * full) * (0.5 + pad)
    centre = (lo + hi) / 2
    return (
        [round(float(centre[0] - half[0]), 6), round(float(centre[0] + half[0]), 6)],
        [round(float(centre[1] - half[1]), 6), round(float(centre[1] + half[1]), 6)],
    )


@dataclass(frozen=True)
class CloseUp:
    """The map's first view: axis ranges and what they frame.

    Attributes:
        x: x-axis range.
        y: y-axis range.
        n_prompt_shown: Prompt documents inside the ranges.
        n_prompt: Prompt documents on the map.
        n_relevant: Judged relevant documents (all inside the ranges).
    """

    x: list[float]
    y: list[float]
    n_prompt_shown: int
    n_prompt: int
    n_relevant: int

    def describe(self) -> str:
        """One line for the figure's title.

        Example:
            >>> CloseUp([0.0, 1.0], [0.0, 1.0], 4, 5, 1).describe()
            'Close-up: query, rewrites, 1 judged relevant and 4 of 5 prompt documents. “Whole map”: every document.'
        """
        parts = ["query", "rewrites"]
        if self.n_relevant:
            parts.append(f"{self.n_relevant} judged relevant")
        if self.n_prompt:
            parts.append(
                f"{self.n_prompt_shown} of {self.n_prompt} prompt documents"
                if self.n_prompt_shown < self.n_prompt
                else f"all {self.n_prompt} prompt documents"
            )
        return f"Close-up: {_and(parts)}. “Whole map”: every document."


CLOSE_UP_MIN_DOCS = 50
"""Maps of fewer documents open whole: they never crowd the query's neighbourhood."""


def close_up(
    coords: np.ndarray,
    special: Mapping[str, np.ndarray],
    in_prompt: np.ndarray,
    relevant: np.ndarray,
    *,
    whole_share: float = 0.9,
) -> CloseUp | None:
    """The close-up that frames the query, its rewrites, the judged relevant documents and the
    prompt documents nearest the query (at least half of them).

    A prompt document far from the query would widen the view until the query's move is
    a few pixels long, so the farther half may fall outside (:meth:`CloseUp.describe`
    counts them); the judged relevant documents are always inside.

    Args:
        coords: ``(n, 2)`` document points.
        special: Query-side points by key of :data:`SPECIAL_LABELS` (``query`` among them).
        in_prompt: ``n`` flags: in the listwise prompt.
        relevant: ``n`` flags: judged relevant.
        whole_share: No close-up when it would span this share of the whole map on both axes.

    Returns:
        The close-up, or ``None`` when the map holds fewer than :data:`CLOSE_UP_MIN_DOCS`
        documents or the close-up would show about the whole map anyway.
    """
    if len(coords) < CLOSE_UP_MIN_DOCS:
        return None
    points = list(special.values())
    extent = np.vstack([coords, *points]) if points else np.asarray(coords)
    whole = np.maximum(np.ptp(extent, axis=0), 1e-12)
    prompt = coords[in_prompt]
    nearest = prompt
    if len(prompt) and "query" in special:
        distance = np.linalg.norm((prompt - special["query"]) / whole, axis=1)
        nearest = prompt[distance <= np.median(distance)]
    focus = np.vstack([nearest, coords[relevant], *points])
    if not len(focus):
        return None
    x, y = focus_ranges(focus, extent)
    if np.ptp(x) >= whole_share * whole[0] and np.ptp(y) >= whole_share * whole[1]:
        return None
    inside = (prompt[:, 0] >= x[0]) & (prompt[:, 0] <= x[1]) & (prompt[:, 1] >= y[0]) & (prompt[:, 1] <= y[1])
    return CloseUp(x, y, int(inside.sum()), len(prompt), int(np.count_nonzero(relevant)))


def label_sides(special: Mapping[str, np.ndarray], scale: np.ndarray) -> dict[str, int]:
    """Which side of its marker each query-side label goes, as a direction ``0..7`` (45° steps from the right).

    Each rewrite's label goes beyond the end of its arrow, the query's opposite the
    rewrites, and no two labels take the same or a neighbouring side, so labels of
    markers on one spot stay apart.

    Args:
        special: 2-D points by key of :data:`SPECIAL_LABELS`.
        scale: Width and height of the view, so a direction means the same on screen.

    Example:
        >>> label_sides({"query": np.zeros(2), "prompt": np.array([1.0, 0.0]), "rocchio": np.array([1.0, 0.1])},
        ...             np.ones(2))
        {'prompt': 0, 'rocchio': 2, 'query': 4}
    """

    def side(v: np.ndarray) -> int | None:
        if not np.any(np.abs(v) > 1e-12):
            return None
        return round(float(np.arctan2(v[1], v[0])) / (np.pi / 4)) % _LABEL_SIDES

    def free(wanted: int, taken: list[int]) -> int:
        # The nearest side to the one wanted that keeps a side's gap to every label placed already.
        for step in (0, 1, -1, 2, -2, 3, -3, 4):
            candidate = (wanted + step) % _LABEL_SIDES
            if all(min((candidate - t) % _LABEL_SIDES, (t - candidate) % _LABEL_SIDES) >= 2 for t in taken):
                return candidate
        return wanted

    origin = special.get("query")
    out: dict[str, int] = {}
    moves = {
        k: (np.asarray(special[k], np.float64) - origin) / scale
        for k in ("prompt", "rocchio")
        if k in special and origin is not None
    }
    for key, default in (("prompt", 0), ("rocchio", 6)):
        if key in special:
            wanted = side(moves[key]) if key in moves else None
            out[key] = free(default if wanted is None else wanted, list(out.values()))
    if "query" in special:
        away = side(-np.sum(list(moves.values()), axis=0)) if moves else None
        out["query"] = free(2 if away is None else away, list(out.values()))
    return out


def _marker_label(key: str, xy: np.ndarray, side: int) -> dict[str, Any]:
    """A text label just outside the marker of ``key``, on ``side`` (the marker itself never moves)."""
    angle = side * np.pi / 4
    dx, dy = float(np.cos(angle)), float(np.sin(angle))
    gap = SPECIAL_STYLE[key]["size"] / 2 + 2
    return {
        "x": float(xy[0]),
        "y": float(xy[1]),
        "xref": "x",
        "yref": "y",
        "showarrow": False,
        "text": f"<b>{SPECIAL_STYLE[key]['tag']}</b>",
        "font": {"size": 15},
        "xanchor": "left" if dx > 0.3 else "right" if dx < -0.3 else "center",
        "yanchor": "bottom" if dy > 0.3 else "top" if dy < -0.3 else "middle",
        "xshift": round(dx * gap, 1),
        "yshift": round(dy * gap, 1),
    }


def _move_arrow(key: str, origin: np.ndarray, tip: np.ndarray) -> dict[str, Any]:
    """An arrow from the query to a rewrite; annotations are drawn above every marker, and the head
    stops at the edge of the rewrite's marker, so it is never hidden under a point."""
    return {
        "x": float(tip[0]),
        "y": float(tip[1]),
        "ax": float(origin[0]),
        "ay": float(origin[1]),
        "xref": "x",
        "yref": "y",
        "axref": "x",
        "ayref": "y",
        "showarrow": True,
        "text": "",
        "arrowhead": 2,
        "arrowsize": 1.1,
        "arrowwidth": 3,
        "arrowcolor": SPECIAL_STYLE[key]["color"],
        "standoff": SPECIAL_STYLE[key]["size"] / 2,
        "startstandoff": SPECIAL_STYLE["query"]["size"] / 2 - 3,
    }


def _view_buttons(view: CloseUp) -> dict[str, Any]:
    """Two buttons under the plot's right corner: the close-up (shown first) and the whole map."""
    return {
        "type": "buttons",
        "direction": "left",
        "showactive": True,
        "active": 0,
        "x": 1.0,
        "xanchor": "right",
        "y": 0.0,
        "yanchor": "top",
        "pad": {"t": _BUTTON_ROW_PAD},
        "buttons": [
            {"label": "Close-up", "method": "relayout", "args": [{"xaxis.range": view.x, "yaxis.range": view.y}]},
            {"label": "Whole map", "method": "relayout", "args": [{"xaxis.autorange": True, "yaxis.autorange": True}]},
        ],
    }


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

    The first view is a close-up that frames the query, its rewrites, the prompt's
    documents and the documents judged relevant (see :func:`focus_ranges`); a button
    under the plot shows the whole map. Points are never moved: markers that land on
    one spot are drawn nested (largest first) and labelled on different sides.

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
        ranks = f"first-stage rank {r0} · {title_of(reranker)} rank {r1}" if r0 is not None else "not a candidate"
        cos = " · ".join(f"{SPECIAL_LABELS[key]} {cosines[key][i]:.3f}" for key in cosines)
        hover.append(f"<b>{escape(title, 100)}</b><br>{_wrapped(passage.text)}<br>{ranks}<br>cosine to: {cos}")
    hover_arr = np.array(hover, dtype=object)
    classes = [_relevance_class(_grade(relevance, session, pid)) for pid in projection.ids]
    relevant = np.array([c == "judged relevant" for c in classes], dtype=bool)

    if color_by == "relevance":
        groups = [(label, np.array([c == label for c in classes]), color) for label, color in RELEVANCE_COLORS.items()][
            ::-1
        ]
    else:
        ranks0 = np.array([first_rank.get(pid, 0) for pid in projection.ids])
        groups = [("not a candidate", ranks0 == 0, "#c7c7c7")]
        groups += [
            (label, (ranks0 >= lo) & (ranks0 <= hi), color) for label, lo, hi, color in reversed(_rank_buckets(n, k))
        ]

    fig = new_figure()
    for label, mask, color in groups:
        if not mask.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=projection.coords[mask, 0],
                y=projection.coords[mask, 1],
                mode="markers",
                name=label,
                marker={"size": 7 if label != "not a candidate" else 5, "color": color, "opacity": 0.85},
                hovertext=hover_arr[mask],
                hoverinfo="text",
            )
        )
    in_prompt = np.zeros(len(projection.ids), dtype=bool)
    if k:
        prompt_ids = set(result.prompt_ids or result.first_stage.ids[:k])
        in_prompt = np.array([pid in prompt_ids for pid in projection.ids], dtype=bool)
        fig.add_trace(
            go.Scatter(
                x=projection.coords[in_prompt, 0],
                y=projection.coords[in_prompt, 1],
                mode="markers",
                name="in the edited listwise prompt" if result.prompt_edited else f"in the listwise prompt (top-{k})",
                hoverinfo="skip",
                marker={"size": 13, "symbol": "circle-open", "color": PROMPT_RING, "line": {"width": 2}},
            )
        )
    if color_by != "relevance" and relevant.any():
        # Coloured by rank, the judged relevant documents would be lost among the others: ring them.
        fig.add_trace(
            go.Scatter(
                x=projection.coords[relevant, 0],
                y=projection.coords[relevant, 1],
                mode="markers",
                name="judged relevant",
                hoverinfo="skip",
                marker={
                    "size": 19,
                    "symbol": "circle-open",
                    "color": RELEVANCE_COLORS["judged relevant"],
                    "line": {"width": 3},
                },
            )
        )

    query_text = escape(result.query, 80)
    special = {key: projection.special[key] for key in DRAW_ORDER if key in projection.special}
    for key, xy in special.items():
        style = SPECIAL_STYLE[key]
        fig.add_trace(
            go.Scatter(
                x=[xy[0]],
                y=[xy[1]],
                mode="markers",
                name=SPECIAL_LABELS[key],
                legendrank=DRAW_ORDER[::-1].index(key),
                marker={
                    "size": style["size"],
                    "symbol": style["symbol"],
                    "color": style["color"],
                    "line": {"width": 2, "color": "white"},
                },
                hovertext=[f"<b>{SPECIAL_LABELS[key]}</b><br>for: {query_text}"],
                hoverinfo="text",
            )
        )

    view = close_up(projection.coords, special, in_prompt, relevant)
    scale = (
        np.array([np.ptp(view.x), np.ptp(view.y)])
        if view is not None
        else np.maximum(np.ptp(np.vstack([projection.coords, *special.values()]), axis=0), 1e-12)
    )
    annotations: list[dict[str, Any]] = []
    notes = [view.describe()] if view is not None else []
    origin = special.get("query")
    if origin is not None:
        near = []
        for key in ("prompt", "rocchio"):
            if key in special:
                annotations.append(_move_arrow(key, origin, special[key]))
                if np.all(np.abs(special[key] - origin) < 0.015 * scale):
                    near.append(SPECIAL_LABELS[key])
        if near:
            notes.append(
                f"The {_and(near)} land{'s' if len(near) == 1 else ''} on the query in this view (nested "
                "markers); drag a box to zoom in."
            )
    annotations += [_marker_label(key, special[key], side) for key, side in label_sides(special, scale).items()]

    menus: list[dict[str, Any]] = []
    if animate and origin is not None and "prompt" in special:
        menus.append(_add_query_animation(fig, origin, special["prompt"]))
    if view is not None:
        menus.append(_view_buttons(view))

    x_label, y_label = projection.axis_labels
    heading = _title(
        f"Embedding map for “{query_text}”",
        escape(projection.method_note),
        escape(projection.subsample_note or ""),
        escape(projection.notice or ""),
        *notes,
        height=MAP_HEIGHT,
    )
    fig.update_layout(
        title=heading,
        xaxis={"title": {"text": x_label}, **({"range": view.x} if view is not None else {})},
        yaxis={"title": {"text": y_label}, **({"range": view.y} if view is not None else {})},
        # Under the plot, across it: a legend beside the plot took ~40 % of the panel's width. Anchored
        # to the figure's bottom, plotly reserves its height below whatever the buttons and slider need.
        legend={
            "orientation": "h",
            "xref": "container",
            "x": 0.01,
            "xanchor": "left",
            "yref": "container",
            "y": 0.0,
            "yanchor": "bottom",
            "entrywidth": 0.33,
            "entrywidthmode": "fraction",
            "itemsizing": "constant",
        },
        showlegend=True,
        height=MAP_HEIGHT,
        annotations=annotations,
        updatemenus=menus,
        margin={"t": _top(heading), "l": 60, "r": 20, "b": 10},
    )
    return Figure(
        fig, map_caption(fig, "UMAP" if projection.method == "umap" else "PCA"), png_config("e2rank-embedding-map")
    )


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
        clauses.append(
            "the arrow shows where the rewrite moves the query"
            if arrows == 1
            else "the arrows show where each rewrite moves the query"
        )
    # The clauses hold "and"s of their own, so three of them take a serial comma.
    joined = _and(clauses) if len(clauses) < 3 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]
    return joined + "; 2-D distances are approximate, so read the cosine table for the true full-dimensional numbers."


def _and(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _add_query_animation(fig: go.Figure, start: np.ndarray, end: np.ndarray, steps: int = 12) -> dict[str, Any]:
    """A marker sliding from the query to the pseudo-query (straight line in 2-D), with its slider.

    Returns:
        The Play/Pause menu, for the caller to place in ``layout.updatemenus`` (first, so
        scripts that press the first menu button start the animation).
    """
    go = _go()
    fig.add_trace(
        go.Scatter(
            x=[start[0]],
            y=[start[1]],
            mode="markers",
            name="query → pseudo-query (animated)",
            marker={"size": 16, "symbol": "star-open", "color": SPECIAL_STYLE["prompt"]["color"], "line": {"width": 2}},
            hoverinfo="skip",
        )
    )
    index = len(fig.data) - 1
    fractions = np.linspace(0.0, 1.0, steps)
    names = [f"{t:.2f}" for t in fractions]
    fig.frames = [
        go.Frame(
            name=name,
            traces=[index],
            data=[go.Scatter(x=[start[0] + t * (end[0] - start[0])], y=[start[1] + t * (end[1] - start[1])])],
        )
        for name, t in zip(names, fractions, strict=True)
    ]
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    fig.update_layout(
        # Under the x-axis title, on the buttons' row, then the slider on its own line (nothing overlaps).
        sliders=[
            {
                "active": 0,
                "x": 0.0,
                "y": 0.0,
                "len": 1.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": _SLIDER_PAD},
                "currentvalue": {"prefix": "query → pseudo-query: "},
                "steps": [{"label": name, "method": "animate", "args": [[name], still]} for name in names],
            }
        ],
    )
    return {
        "type": "buttons",
        "showactive": False,
        "direction": "left",
        "x": 0.0,
        "y": 0.0,
        "xanchor": "left",
        "yanchor": "top",
        "pad": {"t": _BUTTON_ROW_PAD, "r": 10},
        "buttons": [
            {
                "label": "▶ Play",
                "method": "animate",
                "args": [
                    None,
                    {"frame": {"duration": 120, "redraw": False}, "transition": {"duration": 60}, "fromcurrent": True},
                ],
            },
            {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]},
        ],
    }


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

    fig = new_figure()
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
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[r if r <= top else floor for r in (r0, r1)],
                mode="lines+markers+text",
                name=group,
                legendgroup=group,
                showlegend=group not in legend_seen,
                line={"color": palette[group], "width": 2},
                marker={"size": 8, "color": palette[group]},
                text=[label if r0 <= top else "", label if r1 <= top else ""],
                textposition=["middle left", "middle right"],
                textfont={"size": 10},
                hovertext=[f"<b>{escape(title, 100)}</b><br>first stage {r0} → {name} {r1} ({r0 - r1:+d})"] * 2,
                hoverinfo="text",
            )
        )
        legend_seen.add(group)
    ticks = [*list(range(1, top + 1, 2 if top > 10 else 1)), floor]
    height = max(420, 26 * len(shown) + 160)
    heading = _title(
        f"Rank shift: first stage → {name}",
        f"documents in the top {top} of either list; query “{escape(result.query, 80)}”",
        height=height,
    )
    fig.update_layout(
        title=heading,
        xaxis={
            "title": {"text": "Ranking"},
            "tickvals": [0, 1],
            "ticktext": ["First stage", name],
            "range": [-0.9, 1.9],
            "zeroline": False,
            "showgrid": False,
        },
        yaxis={
            "title": {"text": "Rank (1 = best)"},
            "autorange": "reversed",
            "tickvals": ticks,
            "ticktext": [str(t) for t in ticks[:-1]] + [f"> {top}"],
        },
        legend_title_text="Colour",
        showlegend=True,
        height=height,
        margin={"t": _top(heading)},
    )
    colour = "relevance" if relevance else "direction of the move"
    caption = (
        f"Each line joins a document's first-stage rank (left) to its {name} rank (right), coloured by "
        f"{colour}: lines rising to the right are documents the reranker promoted, falling ones demoted."
    )
    return Figure(fig, caption, png_config(f"rank-shift-{reranker}"))


# --------------------------------------------------------------------------- prompt influence
INFLUENCE_COLORS = {"helped": "#2ca02c", "hurt": "#d62728", "no change": "#7f7f7f", "influence": "#ff7f0e"}


def _influence_group(item: DocInfluence) -> str:
    if item.ndcg_delta is None:
        return "influence"
    return "helped" if item.ndcg_delta < -1e-9 else "hurt" if item.ndcg_delta > 1e-9 else "no change"


def _reused_note(reused: int) -> str:
    """How many leave-one-out prompts took an identical earlier prompt's vector (nothing when none did)."""
    return f" ({reused} of them reused from identical earlier prompts)" if reused else ""


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
    fig = new_figure()
    for group, color in INFLUENCE_COLORS.items():
        chosen = [item for item in items if _influence_group(item) == group]
        if not chosen:
            continue
        hover = []
        for item in chosen:
            title = session.passage(item.doc_id).title or item.doc_id
            lines = [
                f"<b>[{item.position}] {escape(title, 100)}</b>",
                f"pseudo-query moves by cosine distance {item.distance:.5f} without it",
            ]
            if item.ndcg_delta is not None and influence.ndcg is not None:  # deltas exist only with an nDCG
                lines.append(f"nDCG@10 without it: {influence.ndcg + item.ndcg_delta:.4f} ({item.ndcg_delta:+.4f})")
            lines += [
                f"relevant {escape(pid, 40)}: rank {change:+d} without it"
                for pid, change in list(item.rank_changes.items())[:5]
            ]
            hover.append("<br>".join(lines))
        fig.add_trace(
            go.Bar(
                x=[item.distance for item in chosen],
                orientation="h",
                name=group,
                marker={"color": color},
                y=[
                    f"[{item.position}] {escape(session.passage(item.doc_id).title or item.doc_id, 40)}"
                    for item in chosen
                ],
                customdata=[item.doc_id for item in chosen],
                hovertext=hover,
                hoverinfo="text",
            )
        )
    order = [f"[{i.position}] {escape(session.passage(i.doc_id).title or i.doc_id, 40)}" for i in items]
    note = (
        f"nDCG@10 with the full prompt {influence.ndcg:.4f}; colour: what removing it does to nDCG@10"
        if influence.ndcg is not None
        else "no judgments for this query: nDCG@10 not measured"
    )
    height = max(360, 24 * len(items) + 170)
    heading = _title(
        f"Which prompt documents pull the pseudo-query (“{escape(influence.query, 60)}”)",
        f"{len(items)} leave-one-out prompts embedded in {influence.seconds:.2f} s{_reused_note(influence.reused)}; "
        f"{note}",
        height=height,
    )
    fig.update_layout(
        title=heading,
        xaxis_title="Cosine distance the pseudo-query moves without this document",
        yaxis={
            "title": {"text": "Prompt document ([position] title)"},
            "categoryorder": "array",
            "categoryarray": order,
        },
        legend_title_text="Removing it",
        showlegend=influence.ndcg is not None,
        height=height,
        margin={"t": _top(heading)},
    )
    colour = "; green: without it nDCG@10 drops, so it helped; red: it hurt" if influence.ndcg is not None else ""
    caption = (
        f"Each bar is one prompt document, longer the further leaving it out of the listwise prompt moves "
        f"the pseudo-query{colour}; click a bar to open that document."
    )
    return Figure(fig, caption, png_config("e2rank-prompt-influence"))


# --------------------------------------------------------------------------- score curves
def score_distribution(result: QueryResult, session: SearchSession) -> Figure:
    """Sorted cosine scores of the candidates under the query, pseudo-query and Rocchio vector.

    Scores are recomputed from the vectors (cosine), so a BM25 first stage is compared
    on the same scale.
    """
    go = _go()
    doc_vectors = session.vectors[result.candidates.rows]
    fig = new_figure()
    for key, vector in special_vectors(result).items():
        scores = np.sort(doc_vectors @ vector)[::-1]
        fig.add_trace(
            go.Scatter(
                x=np.arange(1, len(scores) + 1),
                y=scores,
                mode="lines+markers",
                name=SPECIAL_LABELS[key],
                line={"color": SPECIAL_STYLE[key]["color"], "width": 2},
                marker={"size": 4},
                hovertemplate=f"{SPECIAL_LABELS[key]}<br>position %{{x}}<br>cosine %{{y:.4f}}<extra></extra>",
            )
        )
    title = _title(
        "Candidate scores under each query vector, sorted",
        f"N = {len(result.candidates)} candidates; query “{escape(result.query, 80)}”",
        height=460,
    )
    fig.update_layout(
        title=title,
        margin={"t": _top(title)},
        xaxis_title="Position after sorting (1 = highest score)",
        yaxis_title="Cosine similarity",
        legend_title_text="Scored with",
        showlegend=True,
        height=460,
    )
    caption = (
        "Each curve sorts the N candidates' cosine scores under one query vector from highest to "
        "lowest: the further a curve's head stands above its tail, the more sharply that vector "
        "separates its top candidates from the rest (compare the paper's Figure 3)."
    )
    return Figure(fig, caption, png_config("e2rank-score-distribution"))


# --------------------------------------------------------------------------- latency
def latency_bars(report: LatencyReport) -> Figure:
    """Stacked per-stage seconds per system, with document encoding in its own panel."""
    go = _go()
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.75, 0.25],
        vertical_spacing=0.24,
        subplot_titles=("Per query (measured now)", "Once per corpus (amortised over all queries)"),
    )
    systems = list(reversed(report.systems))  # horizontal bars list bottom-up; keep the first on top
    labels = [
        "<br>".join(
            textwrap.wrap(s.label + (f" (estimated from {s.estimated_from} of {s.n_total})" if s.estimated else ""), 34)
        )
        for s in systems
    ]
    for stage in STAGES:
        values = [s.stages.get(stage, 0.0) for s in systems]
        if not any(values):
            continue
        fig.add_trace(
            go.Bar(
                y=labels,
                x=values,
                orientation="h",
                name=STAGE_LABELS[stage],
                marker_color=STAGE_COLORS[stage],
                hovertemplate=f"%{{y}}<br>{STAGE_LABELS[stage]}: %{{x:.4f}} s<extra></extra>",
            ),
            row=1,
            col=1,
        )
    # Totals at the bar ends: the cheap systems' bars are too short to read otherwise.
    longest = max((s.total for s in systems), default=0.0) or 1.0
    for label, system in zip(labels, systems, strict=True):
        fig.add_annotation(
            x=system.total,
            y=label,
            xref="x",
            yref="y",
            text=f"{system.total:.3f} s",
            showarrow=False,
            xanchor="left",
            xshift=4,
            font={"size": 11},
        )
    fig.update_xaxes(range=[0, longest * 1.18], row=1, col=1)
    what = "Document embeddings" if report.doc_encoding_cached else "Document encoding"
    doc_label = f"{what} ({report.n_documents:,} passages):<br>{escape(report.doc_encoding_source or 'model time')}"
    fig.add_trace(
        go.Bar(
            y=[doc_label],
            x=[report.doc_encoding_s],
            orientation="h",
            name="document encoding (once per corpus)",
            marker_color="#8c564b",
            text=[f"{report.doc_encoding_s:.3f} s"],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>%{x:.3f} s once per corpus<extra></extra>",
        ),
        row=2,
        col=1,
    )
    title = _title(
        f"Measured latency: {escape(report.model)} on {escape(report.device)}",
        f"N = {report.n_candidates}, k = {report.prompt_docs}, median of {report.repeats} run(s); "
        f"query “{escape(report.query, 60)}”",
        height=600,
    )
    fig.update_layout(
        barmode="stack",
        title=title,
        legend_title_text="Stage",
        legend_traceorder="normal",
        showlegend=True,
        height=600,
        margin={"t": _top(title, below=10), "l": 20},
    )
    fig.update_xaxes(title_text="Seconds per query (measured on this machine)", row=1, col=1)
    fig.update_xaxes(title_text="Seconds, once per corpus", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="System", row=1, col=1)
    caption = (
        f"Each bar stacks the seconds one system spent per stage on this query, measured just now on this "
        f"machine (median of {report.repeats} run(s)); document encoding, paid once per corpus, sits in the "
        "lower panel and is in none of the per-query bars." + (f" {report.method_note}" if report.method_note else "")
    )
    return Figure(fig, caption, png_config("e2rank-latency"))


def scaling_chart(result: ScalingResult) -> Figure:
    """Rerank latency against N, one line per system, both axes log-scale."""
    go = _go()
    fig = new_figure()
    for system in SCALING_SYSTEMS:
        series = result.series(system)
        if not series:
            continue
        ns, seconds = zip(*series, strict=True)
        fig.add_trace(
            go.Scatter(
                x=list(ns),
                y=list(seconds),
                mode="lines+markers",
                name=SYSTEM_LABELS[system],
                line={"color": SYSTEM_COLORS[system], "width": 2},
                marker={"size": 8},
                hovertemplate=f"{SYSTEM_LABELS[system]}<br>N = %{{x}}<br>%{{y:.4f}} s<extra></extra>",
            )
        )
    used = sorted({p.n_used for p in result.points})
    title = _title(
        f"Rerank latency vs N (measured, {escape(result.model)})",
        f"first stage excluded; median of {result.repeats} run(s)",
        escape(result.capped_note or ""),
        height=460,
    )
    fig.update_layout(
        title=title,
        margin={"t": _top(title)},
        # Ns are roughly log-spaced (10 ... 200); a linear axis would squash the small ones together.
        xaxis={"title": {"text": "Candidates reranked (N, log scale)"}, "type": "log", "tickvals": used},
        # Plain numbers at 1, 2 and 5 per decade (plotly otherwise labels sub-decade ticks "2 3 … 9").
        yaxis={"title": {"text": "Rerank seconds (log scale)"}, "type": "log", "tickformat": ".2~g", "dtick": "D2"},
        legend_title_text="System",
        showlegend=True,
        height=460,
    )
    caption = (
        "Each line is one system's measured time to rerank the top-N candidates (first stage excluded, "
        "log scale): a flat line means the cost barely depends on N, as with E2Rank's single prompt pass "
        "over cached embeddings, while a rising one pays a model pass per candidate."
    )
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
    fig = new_figure(
        go.Table(
            header={"values": [f"<b>{h}</b>" for h in REPORTED_HEADERS], "align": "left", "fill_color": "#eeeeee"},
            cells={"values": [list(col) for col in zip(*rows, strict=True)], "align": "left"},
        )
    )
    title = _title(
        "Reported in the paper (A100) — not measured here",
        "E2Rank, Liu et al. 2025: reranking BM25 top-100 on TREC-COVID, one A100 80G, vLLM, ~350-token documents",
        height=330,
    )
    fig.update_layout(
        title=title,
        height=330,
        margin={"t": _top(title), "b": 10},
    )
    caption = (
        "These are the paper's own A100/vLLM seconds for reranking BM25 top-100 on TREC-COVID, shown for "
        "reference only and never mixed into the measured charts; when E2Rank is also the retriever only "
        'the "other" column is paid per query.'
    )
    return Figure(fig, caption, png_config("e2rank-reported-latency-a100"))
