"""Figures of an evaluation run: per-query wins, ties and losses of a reranker.

Like :mod:`e2rank_demo.plots`, each function returns a :class:`~e2rank_demo.plots.Figure`
(plotly figure with title and axis labels, a one-sentence caption, a PNG config), and
every query text is escaped before plotly sees it.

Example:
    >>> from e2rank_demo.evaluation import QueryDelta
    >>> chart = win_tie_loss_chart([QueryDelta("q1", "<b>x</b>", 0.2, 0.5), QueryDelta("q2", "y", 0.4, 0.4)])
    >>> [trace.name for trace in chart.fig.data]
    ['E2Rank better: 1', 'tie: 1', 'E2Rank worse: 0']
"""

from __future__ import annotations

from collections.abc import Sequence

from e2rank_demo.evaluation import TIE_EPSILON, QueryDelta, win_tie_loss
from e2rank_demo.plots import Figure, _go, _title, escape, new_figure, png_config

OUTCOME_COLORS = {"win": "#16a34a", "tie": "#94a3b8", "loss": "#dc2626"}
QUERY_HOVER_CHARS = 120


def win_tie_loss_chart(
    deltas: Sequence[QueryDelta],
    system_label: str = "E2Rank",
    baseline_label: str = "first stage",
    metric: str = "nDCG@10",
    eps: float = TIE_EPSILON,
) -> Figure:
    """One bar per query: the change in ``metric`` from the baseline to the system, sorted.

    Bars are coloured by outcome (win, tie within ``eps``, loss) and the legend carries the counts.

    Args:
        deltas: Per-query values (see :func:`~e2rank_demo.evaluation.query_deltas`).
        system_label: What the compared system is called.
        baseline_label: What the baseline is called.
        metric: Display name of the measure.
        eps: Tie tolerance.

    Returns:
        The figure and its caption.
    """
    go = _go()
    counts = win_tie_loss(list(deltas), eps)
    ordered = sorted(deltas, key=lambda d: (-d.delta, d.qid))
    names = {"win": f"{system_label} better", "tie": "tie", "loss": f"{system_label} worse"}
    fig = new_figure()
    for outcome in ("win", "tie", "loss"):
        rows = [(i, d) for i, d in enumerate(ordered, start=1) if d.outcome(eps) == outcome]
        common = {
            "x": [i for i, _ in rows],
            "name": f"{names[outcome]}: {counts[outcome]}",
            "customdata": [
                [escape(d.qid, 40), escape(" ".join(d.text.split()), QUERY_HOVER_CHARS), d.baseline, d.system]
                for _, d in rows
            ],
            "hovertemplate": (
                f"%{{customdata[1]}}<br>query %{{customdata[0]}}: {escape(baseline_label)} "
                f"%{{customdata[2]:.3f}} → {escape(system_label)} %{{customdata[3]:.3f}} "
                "(Δ %{y:+.3f})<extra></extra>"
            ),
        }
        if outcome == "tie":  # a zero-height bar would be invisible: ties are dots on the zero line
            fig.add_trace(
                go.Scatter(
                    y=[0.0] * len(rows), mode="markers", marker={"color": OUTCOME_COLORS[outcome], "size": 6}, **common
                )
            )
        else:
            fig.add_trace(
                go.Bar(
                    y=[d.delta for _, d in rows],
                    marker={"color": OUTCOME_COLORS[outcome], "line": {"width": 0}},
                    **common,
                )
            )
    n = len(ordered)
    fig.update_layout(
        title=_title(
            f"{escape(system_label)} vs {escape(baseline_label)}, per query ({escape(metric)})",
            f"{counts['win']} better, {counts['tie']} tied, {counts['loss']} worse of {n} queries",
        ),
        xaxis={
            "title": {"text": f"queries, sorted by change (1 to {n})" if n else "queries"},
            "range": [0.5, max(n, 1) + 0.5],
            "showgrid": False,
        },
        yaxis={
            "title": {"text": f"Δ {escape(metric)}"},
            "zeroline": True,
            "zerolinewidth": 2,
            "zerolinecolor": "#475569",
        },
        barmode="relative",
        bargap=0.15 if n < 60 else 0.0,
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0},
        margin={"l": 70, "r": 20, "t": 90, "b": 100},
        height=430,
    )
    caption = (
        f"Each bar is one query: Δ {escape(metric)} is {escape(system_label)}'s value minus that of the "
        f"{escape(baseline_label)} on the same candidates. Above zero (green) the reranker helped, "
        f"below zero (red) it hurt; grey dots are ties (a change smaller than {eps:g})."
    )
    return Figure(fig, caption, png_config("win-tie-loss"))
