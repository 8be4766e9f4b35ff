"""The figure of one listwise prompt pooled two ways: both pseudo-queries on the embedding map.

Like :mod:`e2rank_demo.plots`, :func:`pooling_map` returns a :class:`~e2rank_demo.plots.Figure`
(title, axis labels, legend, a one-sentence caption, a PNG config) and escapes every title.
The points come from :meth:`~e2rank_demo.projection.MapProjector.project` with the query and
both pseudo-queries as its special vectors (keys :data:`POINTS`).

Example:
    >>> pooling_label("query"), pooling_label("last")
    ('query tokens', 'last token')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from e2rank_demo.plots import (
    DIRECTION_COLORS,
    SPECIAL_STYLE,
    Figure,
    _go,
    _title,
    _wrapped,
    escape,
    new_figure,
    png_config,
)

if TYPE_CHECKING:
    from e2rank_demo.pipeline import SearchSession
    from e2rank_demo.projection import Projection
    from e2rank_demo.prompt_lab import PoolingComparison

POINTS = ("query", "first", "second")
"""Keys of the projection's special points: the query, the search's pseudo-query, the flipped one."""
PSEUDO_COLORS = {"first": "#d62728", "second": "#ff7f0e"}
POOLING_LABELS = {"query": "query tokens", "mean": "all tokens", "last": "last token"}
TOP = 10


def pooling_label(pooling: str) -> str:
    """What a pooling averages, in words."""
    return POOLING_LABELS.get(pooling, pooling)


def pooling_map(projection: Projection, session: SearchSession, comparison: PoolingComparison) -> Figure:
    """Documents, the query and the two pseudo-queries of one prompt on one 2-D map.

    Candidates are coloured by how their rank changes from the first pooling to the second;
    the ones in either top 10 are drawn larger. The view is zoomed on those and the three
    vectors (the toolbar's autoscale shows the whole corpus).

    Args:
        projection: A projection whose ``special`` holds :data:`POINTS`.
        session: The session searched (titles, texts).
        comparison: From :meth:`~e2rank_demo.pipeline.SearchSession.compare_pooling`.
    """
    go = _go()
    a, b = comparison.poolings
    first, second = comparison.ranks
    ids = list(projection.ids)
    moved = {
        "moved up": f"moves up with {pooling_label(b)}",
        "moved down": f"moves down with {pooling_label(b)}",
        "unchanged": "same rank",
    }
    groups: dict[str, list[int]] = {"other": []}
    for i, pid in enumerate(ids):
        if pid not in first:
            groups["other"].append(i)
            continue
        key = "moved up" if second[pid] < first[pid] else "moved down" if second[pid] > first[pid] else "unchanged"
        groups.setdefault(key, []).append(i)
    fig = new_figure()
    for key, rows in groups.items():
        if not rows:
            continue
        hover, sizes = [], []
        for i in rows:
            pid = ids[i]
            passage = session.passage(pid)
            ranks = (
                f"rank {first[pid]} with {escape(a)} pooling → {second[pid]} with {escape(b)} pooling"
                if pid in first
                else "not a candidate"
            )
            hover.append(f"<b>{escape(passage.title or pid, 100)}</b><br>{_wrapped(passage.text)}<br>{ranks}")
            sizes.append(11 if pid in first and min(first[pid], second[pid]) <= TOP else 6 if pid in first else 4)
        fig.add_trace(
            go.Scatter(
                x=projection.coords[rows, 0],
                y=projection.coords[rows, 1],
                mode="markers",
                name="other documents" if key == "other" else moved[key],
                hovertext=hover,
                hoverinfo="text",
                marker={
                    "size": sizes,
                    "color": "#cbd5e1" if key == "other" else DIRECTION_COLORS[key],
                    "opacity": 0.85,
                },
            )
        )
    query_text = escape(comparison.query, 80)
    names = {
        "query": "Query",
        "first": f"pseudo-query, {pooling_label(a)} (this search)",
        "second": f"pseudo-query, {pooling_label(b)} (flipped)",
    }
    origin = projection.special["query"]
    for key in ("first", "second"):
        tip = projection.special[key]
        fig.add_annotation(
            x=tip[0],
            y=tip[1],
            ax=origin[0],
            ay=origin[1],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=2,
            arrowcolor=PSEUDO_COLORS[key],
            text="",
        )
    for key in POINTS:
        xy = projection.special[key]
        style = (
            {"symbol": SPECIAL_STYLE["query"]["symbol"], "color": SPECIAL_STYLE["query"]["color"]}
            if key == "query"
            else {"symbol": "diamond", "color": PSEUDO_COLORS[key]}
        )
        fig.add_trace(
            go.Scatter(
                x=[xy[0]],
                y=[xy[1]],
                mode="markers",
                name=names[key],
                hoverinfo="text",
                hovertext=[f"<b>{escape(names[key])}</b><br>for: {query_text}"],
                marker={"size": 18, **style, "line": {"width": 1.5, "color": "white"}},
            )
        )
    x_label, y_label = projection.axis_labels
    top = [i for i, pid in enumerate(ids) if pid in first and min(first[pid], second[pid]) <= TOP]
    focus = np.vstack([projection.coords[top], *(projection.special[key][None] for key in POINTS)])
    low, high = focus.min(axis=0), focus.max(axis=0)
    pad = np.maximum((high - low) * 0.12, 1e-3)
    fig.update_layout(
        title=_title(
            f"One prompt, two poolings: {escape(pooling_label(a))} vs {escape(pooling_label(b))}",
            escape(projection.method_note),
            escape(projection.notice or ""),
        ),
        xaxis={"title": {"text": x_label}, "range": [float(low[0] - pad[0]), float(high[0] + pad[0])]},
        yaxis={"title": {"text": y_label}, "range": [float(low[1] - pad[1]), float(high[1] + pad[1])]},
        legend_title_text="Documents and queries",
        showlegend=True,
        height=560,
        margin={"t": 110},
    )
    caption = (
        f"The same prompt embedded twice: the red diamond pools {pooling_label(a)} (this search), the orange "
        f"one {pooling_label(b)}; arrows lead from the query (star) to each. Coloured dots are the candidates, "
        f"green when they rank higher with {pooling_label(b)}, red when lower, larger when in either top "
        f"{TOP}; the view is zoomed on those (the toolbar's autoscale shows the whole corpus). Distances in 2-D "
        "are approximate; the cosines above are exact."
    )
    return Figure(fig, caption, png_config("e2rank-pooling-flip"))
