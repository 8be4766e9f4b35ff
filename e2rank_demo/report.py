"""A one-file HTML report of one search that opens offline in any browser.

:func:`build_report_html` turns a :class:`~e2rank_demo.pipeline.SearchSession` and one
:class:`~e2rank_demo.query_result.QueryResult` into a single self-contained HTML page: the
query, the settings, per-stage timings, the model (name, identity, package versions),
the date, both result lists with titles, snippets and rank-change badges, the listwise
prompt as the model saw it, and the plotly figures of :mod:`e2rank_demo.plots` (embedding
map with its query → pseudo-query animation, rank shift, score curves and, when a
:class:`~e2rank_demo.latency.LatencyReport` is given, measured latency beside the
paper's reported A100 table). plotly.js is written into the page itself
(``include_plotlyjs=True``), never loaded from a CDN, so the file needs no network.

Every piece of user text (queries, titles, snippets, instructions, the prompt) is
HTML-escaped; plotly serialises figure data with ``<``, ``>`` and ``/`` escaped, so no
string can close the page's ``<script>`` elements.

The same code serves the app ("Export report"), notebooks and scripts:

    >>> from e2rank_demo.records import Document
    >>> from e2rank_demo import SearchSession, SearchSettings, load_embedder  # doctest: +SKIP
    >>> session = SearchSession.from_documents(docs, load_embedder("minilm").embedder)  # doctest: +SKIP
    >>> result = session.search("why does bread rise", SearchSettings(candidates=20, prompt_docs=5))  # doctest: +SKIP
    >>> write_report(session, result, "report.html")  # doctest: +SKIP
    PosixPath('report.html')

Example:
    >>> badge(2, 5), badge(4, 23), badge(3, 3)
    ('▲3', 'new in top-10', '=')
"""

from __future__ import annotations

import datetime as _dt
import html
import importlib.metadata
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2rank_demo.highlight import highlight, query_terms, rank_change, snippet
from e2rank_demo.metrics import ranking_metrics
from e2rank_demo.rerank import RERANKERS, label_of

if TYPE_CHECKING:
    from e2rank_demo.latency import LatencyReport
    from e2rank_demo.models import Embedder
    from e2rank_demo.pipeline import SearchSession
    from e2rank_demo.plots import Figure
    from e2rank_demo.projection import Projection
    from e2rank_demo.query_result import QueryResult

TOP = 10
SNIPPET_WORDS = 32
STAGE_TITLES = {
    "query_encoding": "query encoding",
    "first_stage": "first-stage search",
    "prompt_build": "prompt build",
    "prompt_encoding": "prompt encoding",
    "scoring": "scoring",
    "candidate_encoding": "candidate encoding",
}
SETTING_TITLES = {
    "first_stage": "first stage",
    "candidates": "candidates N",
    "prompt_docs": "prompt documents k",
    "task": "task preset",
    "query_instruction": "retrieval instruction",
    "rerank_instruction": "listwise instruction",
    "interpolation": "λ (share of cos(query, doc))",
    "prompt_order": "prompt order",
    "prompt_pooling": "prompt pooling (how the prompt becomes one vector)",
    "rerankers": "rerankers",
    "rocchio_alpha": "Rocchio α",
    "rocchio_beta": "Rocchio β",
    "rocchio_k": "Rocchio feedback documents",
}

CSS = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #0f172a;
  margin: 0; background: #f8fafc; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.9rem; margin: 0 0 4px; } h1 span { font-weight: 400; color: #475569; font-size: 1.1rem; }
h2 { font-size: 1.35rem; margin: 34px 0 8px; border-bottom: 2px solid #e2e8f0; padding-bottom: 4px; }
h3 { font-size: 1.1rem; margin: 0 0 2px; }
.query { font-size: 1.5rem; font-weight: 600; background: #eef2ff; border-left: 6px solid #4f46e5;
  padding: 10px 16px; border-radius: 6px; margin: 12px 0; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
.meta dt { color: #475569; } .meta dd { margin: 0; overflow-wrap: anywhere; }
.note { background: #fef3c7; color: #713f12; padding: 8px 12px; border-radius: 6px; }
.hint { color: #475569; font-size: 0.95rem; }
table.t { border-collapse: collapse; margin: 6px 0 10px; font-size: 0.95rem; }
table.t th, table.t td { border-bottom: 1px solid #e2e8f0; padding: 3px 12px; text-align: left; vertical-align: top; }
table.t td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 18px; }
.col { background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; padding: 12px 14px; }
.col .sub { color: #475569; margin: 0 0 6px; font-size: 0.92rem; }
.col ol { list-style: none; padding: 0; margin: 0; }
.hit { display: grid; grid-template-columns: 2.2em 1fr; gap: 4px; padding: 7px 0 7px 8px;
       border-top: 1px solid #f1f5f9; }
.hit.rel { box-shadow: inset 4px 0 0 #16a34a; }
.rank { font-weight: 700; color: #4f46e5; font-size: 1.05rem; }
.title { font-weight: 600; } .snip { color: #334155; font-size: 0.93rem; }
.score { color: #64748b; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
mark { background: #fde68a; color: inherit; border-radius: 2px; padding: 0 1px; }
.badge { display: inline-block; font-size: 0.8rem; font-weight: 700; border-radius: 999px; padding: 0 8px;
  margin-left: 6px; }
.badge.up { background: #dcfce7; color: #14532d; } .badge.down { background: #fee2e2; color: #7f1d1d; }
.badge.same { background: #e2e8f0; color: #334155; } .badge.new { background: #dbeafe; color: #1e3a8a; }
.badge.relv { background: #16a34a; color: #fff; }
.metrics { font-size: 0.92rem; margin: 2px 0 6px; } .metrics b { font-variant-numeric: tabular-nums; }
pre.prompt { white-space: pre-wrap; overflow-wrap: anywhere; background: #0f172a; color: #e2e8f0; padding: 14px;
  border-radius: 8px; font-size: 0.9rem; max-height: 560px; overflow: auto; }
.fig { background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; padding: 8px; margin: 10px 0 4px; }
.fig-tools { margin: 2px 0 14px; } .fig-tools button { font: inherit; font-size: 0.9rem; padding: 2px 10px; }
footer { margin-top: 40px; color: #64748b; font-size: 0.9rem; }
@media print { body { background: #fff; } .fig-tools { display: none; } .col, .fig { break-inside: avoid; } }
"""

SVG_SCRIPT = """
document.querySelectorAll('.fig-tools button[data-fig]').forEach(function (button) {
  button.addEventListener('click', function () {
    var gd = document.getElementById(button.dataset.fig);
    if (window.Plotly && gd) Plotly.downloadImage(gd, {format: button.dataset.format, filename: button.dataset.name});
  });
});
"""


def esc(value: object) -> str:
    """Escapes any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def badge(rank: int, before: int, top: int = TOP) -> str:
    """Plain text of a rank-change badge (as in the app's E2Rank column)."""
    return rank_change(rank, before, top)[1]


def _badge_html(rank: int, before: int, top: int) -> str:
    kind, text = rank_change(rank, before, top)
    return f'<span class="badge {kind}" title="first stage #{before}">{esc(text)}</span>'


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def package_versions() -> dict[str, str]:
    """Versions of this package and the libraries that shaped the report."""
    from e2rank_demo import __version__

    return {
        "e2rank_demo": __version__,
        "plotly": _version("plotly"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
    }


def _metrics_line(values: Mapping[str, float] | None, baseline: Mapping[str, float] | None, recall_at: int) -> str:
    if values is None:
        return ""
    parts = []
    for key, label in (("ndcg@10", "nDCG@10"), ("mrr@10", "MRR@10"), (f"recall@{recall_at}", f"Recall@{recall_at}")):
        value = values.get(key, 0.0)
        diff = ""
        if baseline is not None and key in baseline and baseline is not values:
            diff = f" ({value - baseline[key]:+.3f})".replace("-", "\u2212")
        parts.append(f"{label} <b>{value:.3f}</b>{diff}")
    return f'<p class="metrics">{" · ".join(parts)}</p>'


def _grade(relevance: Mapping[str, int], session: SearchSession, pid: str) -> int:
    grade = relevance.get(pid)
    if grade is None:
        grade = relevance.get(session.passage(pid).doc_id, 0)
    return int(grade)


def result_list_html(
    session: SearchSession,
    result: QueryResult,
    system: str,
    *,
    top: int = TOP,
    relevance: Mapping[str, int] | None = None,
) -> str:
    """One ranked list (``first_stage`` or a reranker) as an HTML column."""
    ranking = result.first_stage if system == "first_stage" else result.reranked[system]
    relevance = relevance or {}
    terms = query_terms(result.query)
    before = result.first_stage.rank_of()
    recall_at = len(result.first_stage.ids)
    values = ranking_metrics(relevance, ranking, recall_at)
    base = ranking_metrics(relevance, result.first_stage, recall_at) if system != "first_stage" else None
    rows = []
    for rank, (pid, score) in enumerate(ranking.top(top), start=1):
        passage = session.passage(pid)
        tag = _badge_html(rank, before[pid], top) if system != "first_stage" and pid in before else ""
        grade = _grade(relevance, session, pid)
        rel = '<span class="badge relv">✓ relevant</span>' if grade > 0 else ""
        rows.append(
            f'<li class="hit{" rel" if grade > 0 else ""}" data-pid="{esc(pid)}"><span class="rank">{rank}</span>'
            f'<div><span class="title">{highlight(passage.title or passage.doc_id, terms)}</span>{tag}{rel}'
            f'<div class="snip">{snippet(passage.text, terms, SNIPPET_WORDS)}</div>'
            f'<div class="score">{esc(pid)} · score {score:.4f}</div></div></li>'
        )
    stage = "BM25" if result.candidates.stage == "bm25" else "dense cosine similarity"
    spec = RERANKERS.get(system)
    sub = (
        f"Top {len(ranking.ids)} by {stage}"
        if system == "first_stage"
        else f"{spec.describe(result)}; badges: change against the first stage"
        if spec is not None
        else ""
    )
    return (
        f'<section class="col" data-system="{esc(system)}"><h3>{esc(label_of(system))}</h3>'
        f'<p class="sub">{esc(sub)}</p>{_metrics_line(values, base, recall_at)}<ol>{"".join(rows)}</ol>'
        f"</section>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def settings_rows(result: QueryResult, embedder: Embedder | None = None) -> list[tuple[str, str]]:
    """``(setting, value)`` pairs of the settings the search ran with (instructions in force included).

    With ``embedder``, k and the prompt pooling say whether they are the model's defaults.

    Example:
        >>> from types import SimpleNamespace
        >>> from e2rank_demo.rerank import SearchSettings
        >>> model = SimpleNamespace(prompt_docs=5, prompt_pooling="query")
        >>> rows = dict(settings_rows(SimpleNamespace(settings=SearchSettings(prompt_docs=5, prompt_pooling="mean")),
        ...                           model))
        >>> rows["prompt documents k"], rows["prompt pooling (how the prompt becomes one vector)"]
        ("5 (the model's default)", "mean (the model's default: query)")
    """
    from e2rank_demo.prompts import TASKS

    settings = result.settings.as_dict()
    task = TASKS.get(str(settings.get("task")))
    if task is not None:
        settings["query_instruction"] = settings.get("query_instruction") or f"{task.query} (task preset)"
        settings["rerank_instruction"] = settings.get("rerank_instruction") or f"{task.rerank} (task preset)"
    if embedder is not None:
        for key, default in (("prompt_docs", embedder.prompt_docs), ("prompt_pooling", embedder.prompt_pooling)):
            if key in settings:
                same = settings[key] == default
                settings[key] = f"{settings[key]} (the model's default{'' if same else f': {default}'})"
    rows = []
    for key, value in settings.items():
        shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        rows.append((SETTING_TITLES.get(key, key), str(shown)))
    return rows


def timing_rows(result: QueryResult) -> list[tuple[str, str]]:
    """``(stage, seconds)`` pairs of the search, plus the total and the once-per-corpus encoding."""
    rows = []
    for name, seconds in result.timings.stages.items():
        system, _, stage = name.rpartition(".")
        label = STAGE_TITLES.get(stage, stage)
        reused = result.timings.reused.get(name)
        if reused is not None:
            label += f" (the vector of an identical earlier prompt, reused; its forward pass took {reused:.4f} s)"
        rows.append((f"{label_of(system)}: {label}" if system else label, f"{seconds:.4f}"))
    rows.append(("total per query", f"{result.timings.query_total:.4f}"))
    how = result.timings.doc_encoding_source or "model time"
    rows.append((f"document encoding, once per corpus: {how}", f"{result.timings.doc_encoding:.4f}"))
    return rows


def prompt_html(session: SearchSession, result: QueryResult) -> str:
    """The listwise prompt as the model saw it, with each document's token counts."""
    prompt = result.prompt
    if prompt is None:
        return '<p class="hint">E2Rank did not run in this search, so there is no listwise prompt.</p>'
    ids = result.prompt_ids or result.first_stage.ids[: len(prompt.doc_tokens_kept)]
    cut = sum(1 for kept, full in zip(prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=True) if kept < full)
    edited = (
        (
            "<p><b>Edited prompt</b> (Prompt lab): the documents below were chosen by hand, in this order, "
            "instead of the first-stage top-k: " + esc(", ".join(ids)) + ".</p>"
        )
        if result.prompt_edited
        else ""
    )
    rows = [
        (f"[{i}]", session.passage(pid).title or pid, kept, full, "cut to fit" if kept < full else "")
        for i, (pid, kept, full) in enumerate(zip(ids, prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=False), 1)
    ]
    return (
        f"{edited}<p><b>{prompt.n_tokens}</b> tokens of a {prompt.max_tokens}-token window; "
        f"{len(prompt.doc_tokens_kept)} documents, {cut} of them cut to fit. Embedding this one prompt is "
        "the only extra model call reranking needs.</p>"
        + _table(["#", "document", "tokens kept", "tokens full", ""], rows, numeric=(2, 3))
        + f'<pre class="prompt">{esc(prompt.text)}</pre>'
    )


def _figure_html(figure: Figure, div_id: str, *, first: bool) -> str:
    import plotly.io as pio

    plot = pio.to_html(
        figure.fig, full_html=False, include_plotlyjs=first, config=figure.config, div_id=div_id, auto_play=False
    )
    name = str(figure.config.get("toImageButtonOptions", {}).get("filename", div_id))
    tools = (
        f'<div class="fig-tools"><span class="hint">Save: camera icon in the toolbar (PNG) or </span>'
        f'<button type="button" data-fig="{esc(div_id)}" data-format="svg" data-name="{esc(name)}">SVG</button>'
        f'<button type="button" data-fig="{esc(div_id)}" data-format="png" data-name="{esc(name)}">PNG</button>'
        f"</div>"
    )
    return f'<div class="fig">{plot}</div><p class="hint">{esc(figure.caption)}</p>{tools}'


def _default_projection(session: SearchSession, result: QueryResult, wait: float | None) -> Projection:
    from e2rank_demo.projection import default_projector

    return default_projector().project_result(session, result, wait=wait)


def build_report_html(
    session: SearchSession,
    result: QueryResult,
    *,
    relevance: Mapping[str, int] | None = None,
    latency: LatencyReport | None = None,
    projection: Projection | None = None,
    include_map: bool = True,
    map_wait: float | None = 20.0,
    model_name: str | None = None,
    corpus_label: str | None = None,
    title: str = "E2Rank demo report",
    created: _dt.datetime | None = None,
    top: int = TOP,
    notes: Sequence[str] = (),
) -> str:
    """The whole report as one HTML string (plotly.js inline: it opens offline).

    Args:
        session: The session that was searched (texts, titles, vectors, model).
        result: The search to report.
        relevance: Judgments for this query (passage or document id -> grade): marks
            relevant rows and adds nDCG@10, MRR@10 and Recall@N to each list.
        latency: A measurement from :func:`~e2rank_demo.latency.measure_latency`; adds the
            measured latency chart (beside the paper's reported A100 table).
        projection: The 2-D map to draw; by default the session's UMAP map (waiting up to
            ``map_wait`` seconds for a fit in progress), else PCA.
        include_map: Set False to leave the embedding map out.
        map_wait: Seconds to wait for the UMAP fit (``None``: until it ends).
        model_name: The preset asked for (shown beside the model actually used).
        corpus_label: What to call the corpus (default: its size).
        title: The page title.
        created: Timestamp to print (default: now, UTC).
        top: Rows per result list.
        notes: Extra plain-text lines shown under the header.

    Returns:
        A complete HTML document.
    """
    from e2rank_demo import plots

    created = created or _dt.datetime.now(_dt.UTC)
    embedder = session.embedder
    relevance = dict(relevance or {})
    systems = ["first_stage", *[s for s in RERANKERS if s in result.reranked]]
    n_docs = len({p.doc_id for p in session.passages})
    corpus = corpus_label or "corpus"
    # A document store's session holds only the last candidates; its size is the store's.
    counts = (
        f"{n_docs:,} documents, {len(session.passages):,} passages"
        if session.holds_corpus
        else f"{session.size:,} passages in a document store"
    )
    identity = getattr(embedder, "identity", "")
    doc_identity = getattr(embedder, "document_identity", identity)
    meta = [
        ("date", created.isoformat(timespec="seconds")),
        ("corpus", f"{corpus}: {counts}"),
        (
            "model",
            f"{getattr(embedder, 'label', embedder.name)}"
            + (f" (asked for: {model_name})" if model_name and model_name != embedder.name else ""),
        ),
        ("model identity", identity + (f" (documents: {doc_identity})" if doc_identity != identity else "")),
        ("device", str(getattr(embedder, "device", ""))),
        ("packages", ", ".join(f"{k} {v}" for k, v in package_versions().items())),
    ]
    header = (
        f"<h1>{esc(title)} <span>dense retrieval vs E2Rank listwise reranking</span></h1>"
        f'<div class="query">{esc(result.query)}</div>'
        f'<dl class="meta">{"".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta)}</dl>'
        + "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    )

    lists = "".join(result_list_html(session, result, s, top=top, relevance=relevance) for s in systems)
    judged = (
        "Rows marked ✓ are judged relevant for this query; metrics use those judgments."
        if any(g > 0 for g in relevance.values())
        else "Nothing is judged for this query, so no metrics."
    )
    parts = [
        header,
        "<h2>Results</h2>",
        f'<p class="hint">Top {top} of each list. {esc(judged)}</p>',
        f'<div class="cols">{lists}</div>',
    ]

    figures: list[tuple[str, Figure]] = []
    if include_map and len(result.candidates):
        try:
            proj = projection or _default_projection(session, result, map_wait)
            figures.append(
                ("map", plots.embedding_map(proj, session, result, relevance=relevance or None, animate=True))
            )
        except Exception as exc:  # noqa: BLE001 - the rest of the report is still worth having
            parts.append(f'<p class="note">The embedding map could not be drawn ({esc(type(exc).__name__)}).</p>')
    if "e2rank" in result.reranked:
        figures.append(("shift", plots.rank_shift(result, session, relevance=relevance or None)))
    if len(result.candidates):
        figures.append(("scores", plots.score_distribution(result, session)))
    if latency is not None:
        figures.append(("latency", plots.latency_bars(latency)))

    parts.append("<h2>Charts</h2>")
    parts.append(
        '<p class="hint">Interactive: hover for details, drag to zoom, double-click to reset; the map\'s '
        "▶ Play button moves the query to the E2Rank pseudo-query.</p>"
    )
    parts += [_figure_html(fig, f"fig-{key}", first=i == 0) for i, (key, fig) in enumerate(figures)]
    if latency is not None:
        from e2rank_demo.latency import REPORTED_HEADERS, REPORTED_SOURCE

        parts.append(
            "<h3>Reported in the paper (A100) — not measured here</h3>"
            + _table(REPORTED_HEADERS, plots.reported_latency_rows(), numeric=(1, 2, 3))
            + f'<p class="hint">{esc(REPORTED_SOURCE)}</p>'
        )

    parts += [
        "<h2>Listwise prompt sent to the model</h2>",
        prompt_html(session, result),
        "<h2>Settings</h2>",
        _table(["setting", "value"], settings_rows(result, embedder)),
        "<h2>Timings (measured for this search)</h2>",
        _table(["stage", "seconds"], timing_rows(result), numeric=(1,)),
    ]
    footer = (
        f"<footer>Generated {esc(created.isoformat(timespec='seconds'))} by e2rank_demo "
        f"{esc(package_versions()['e2rank_demo'])}. E2Rank: Liu et al. 2025, arXiv:2510.22733. "
        "This file is self-contained (plotly.js is included) and opens without a network.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}: {esc(result.query[:80])}</title><style>{CSS}</style></head><body><main>"
        + "\n".join(parts)
        + footer
        + f"</main><script>{SVG_SCRIPT}</script></body></html>\n"
    )


def report_filename(result: QueryResult, created: _dt.datetime | None = None) -> str:
    """``e2rank-report-<query words>-<UTC time>.html`` (only safe characters).

    Example:
        >>> from types import SimpleNamespace
        >>> report_filename(SimpleNamespace(query="Why does <b>bread</b> rise?"),
        ...                 _dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=_dt.timezone.utc))
        'e2rank-report-why-does-b-bread-b-rise-20250102-030405.html'
    """
    created = created or _dt.datetime.now(_dt.UTC)
    slug = "-".join(re.findall(r"[a-z0-9]+", result.query.lower()))[:48].strip("-") or "query"
    return f"e2rank-report-{slug}-{created.strftime('%Y%m%d-%H%M%S')}.html"


def write_report(session: SearchSession, result: QueryResult, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Writes :func:`build_report_html` to ``path`` (a folder gets :func:`report_filename` inside it).

    Returns:
        The written file.
    """
    target = Path(path)
    if target.is_dir():
        target = target / report_filename(result, kwargs.get("created"))
    target.write_text(build_report_html(session, result, **kwargs), encoding="utf-8")
    return target


__all__ = ["build_report_html", "report_filename", "result_list_html", "write_report"]
