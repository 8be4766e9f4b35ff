"""HTML for the results columns, corpus stats, the prompt view and small notices.

Every piece of user text (document text and titles, ids, file names, queries,
instructions) goes through :func:`html.escape` before it reaches a template; query-term
highlighting runs on the escaped text and never matches inside an entity. Elements carry
``data-*`` attributes that the page script (``ui/static/app.js``) uses to link rows.

Example:
    >>> highlight('<b>Bread</b> & breadcrumbs', ["bread"])
    '&lt;b&gt;<mark>Bread</mark>&lt;/b&gt; &amp; <mark>breadcrumbs</mark>'
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from e2rank_demo.highlight import highlight, rank_change, snippet
from e2rank_demo.pipeline import CorpusStats, SearchSession
from e2rank_demo.records import ListwisePrompt, Passage, Ranking, Timings
from e2rank_demo.rerank import MAIN
from e2rank_demo.samples import SampleInfo

TOP = 10
SNIPPET_WORDS = 40

_LICENCE_NAMES = {
    "CC-BY-NC-2.0": ("CC BY-NC 2.0 (non-commercial use only)", "https://creativecommons.org/licenses/by-nc/2.0/"),
    "CC0-1.0": ("CC0 1.0 (public domain)", "https://creativecommons.org/publicdomain/zero/1.0/"),
}


def esc(value: object) -> str:
    """Escapes any value for use in HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


# ------------------------------------------------------------------ highlighting


# ------------------------------------------------------------------ result columns


def rank_badge(rank: int, before: int, top: int = TOP) -> str:
    """Badge comparing a reranked position with the first-stage one.

    Example:
        >>> rank_badge(2, 5)
        '<span class="e2r-badge up" title="first stage #5">▲3</span>'
        >>> rank_badge(4, 23)
        '<span class="e2r-badge new" title="first stage #23">new in top-10</span>'
    """
    kind, text = rank_change(rank, before, top)
    return f'<span class="e2r-badge {kind}" title="first stage #{before}">{text}</span>'


@dataclass(frozen=True)
class Note:
    """A caveat above a results column: one line always shown, the rest behind a toggle.

    Attributes:
        headline: One short line with the key figure.
        details: The explanation, shown when the reader opens the note.
    """

    headline: str
    details: str = ""

    def html(self) -> str:
        """The note as a ``<details>`` toggle (a plain line when there are no details).

        Example:
            >>> Note("Worse than BM25 <here>", "Why.").html()
            '<details class="e2r-note"><summary>Worse than BM25 &lt;here&gt;</summary><p>Why.</p></details>'
        """
        if not self.details:
            return f'<p class="e2r-note">{esc(self.headline)}</p>'
        return f'<details class="e2r-note"><summary>{esc(self.headline)}</summary><p>{esc(self.details)}</p></details>'


@dataclass(frozen=True)
class Column:
    """One results column.

    Attributes:
        system: ``first_stage``, ``e2rank`` or ``rocchio`` (a ``data-system`` value).
        heading: Column title.
        subheading: What produced the ranking.
        ranking: The ranking to show.
        metrics: Measured metrics for this column, when the query has judgments.
        baseline: The first-stage metrics, to show differences against.
        note: A caveat shown under the heading (one line, details behind a toggle).
    """

    system: str
    heading: str
    subheading: str
    ranking: Ranking
    metrics: Mapping[str, float] | None = None
    baseline: Mapping[str, float] | None = None
    note: Note | None = None


@dataclass(frozen=True)
class RowContext:
    """What every row of a result needs besides its own ranking.

    Attributes:
        session: The index (for passage texts).
        parts: Passages per document id.
        terms: Query terms to highlight.
        relevant: Passage id -> grade for the current query.
        first_stage: The first-stage ranking (badges are computed against it).
        reranked: The E2Rank ranking (first-stage rows show where it put them).
        recall_at: N of the Recall@N shown (the candidates asked for).
        limit: How many rows to show.
    """

    session: SearchSession
    parts: Mapping[str, int]
    terms: Sequence[str]
    relevant: Mapping[str, int]
    first_stage: Ranking
    reranked: Ranking | None
    recall_at: int
    limit: int


def results_column(column: Column, ctx: RowContext) -> str:
    """The HTML of one results column (heading, metrics, caveat, rows)."""
    ranking = column.ranking
    shown = ranking.ids[: ctx.limit]
    if column.system == "first_stage":
        # Where E2Rank put each first-stage row, so a row can be found in the other column.
        others = ctx.reranked.rank_of() if ctx.reranked is not None else {}
        tags = {pid: f'<span class="e2r-other">E2Rank #{others[pid]}</span>' if pid in others else "" for pid in shown}
    else:
        deltas = ranking.deltas_against(ctx.first_stage)
        tags = {
            pid: rank_badge(rank, rank + deltas[pid]) if pid in deltas else ""
            for rank, pid in enumerate(shown, start=1)
        }
    rows = "".join(
        _row(ctx, rank, pid, float(score), tags[pid])
        for rank, (pid, score) in enumerate(zip(shown, ranking.scores, strict=False), start=1)
    )
    more = ""
    if len(ranking.ids) > len(shown):
        more = (
            f'<p class="e2r-more">Showing {len(shown)} of {len(ranking.ids)} candidates. '
            f'Tick "Show all candidates" to see the rest.</p>'
        )
    note = column.note.html() if column.note else ""
    return (
        f'<section class="e2r-col" data-system="{esc(column.system)}">'
        f'<header class="e2r-col-head"><h3>{esc(column.heading)}</h3>'
        f'<p class="e2r-sub">{esc(column.subheading)}</p>'
        f"{metrics_line(column.metrics, column.baseline, ctx.recall_at)}{note}</header>"
        f'<ol class="e2r-list">{rows}</ol>{more}</section>'
    )


def _row(ctx: RowContext, rank: int, pid: str, score: float, tag: str) -> str:
    passage = ctx.session.passage(pid)
    grade = ctx.relevant.get(pid, 0)
    relevant = f'<span class="e2r-rel" title="judged relevant (grade {grade})">✓ relevant</span>' if grade > 0 else ""
    title = passage.title or passage.doc_id
    return (
        f'<li class="e2r-hit{" is-relevant" if grade > 0 else ""}" data-pid="{esc(pid)}" data-rank="{rank}">'
        f'<details><summary><span class="e2r-rank">{rank}</span><span class="e2r-main">'
        f'<span class="e2r-line"><span class="e2r-title">{highlight(title, ctx.terms)}</span>{tag}{relevant}</span>'
        f'<span class="e2r-meta">{_origin(passage, score, ctx.parts)}</span>'
        f'<span class="e2r-snippet">{snippet(passage.text, ctx.terms, SNIPPET_WORDS)}</span></span></summary>'
        f'<div class="e2r-full">{highlight(passage.text, ctx.terms)}</div></details></li>'
    )


def _origin(passage: Passage, score: float, parts: Mapping[str, int]) -> str:
    """Score and where the passage comes from (document, position, file)."""
    bits = [f"score {score:.4f}", f"doc {esc(passage.doc_id)}"]
    total = parts.get(passage.doc_id, 1)
    if total > 1:
        bits.append(f"passage {passage.position + 1} of {total}")
    if passage.source and not passage.source.startswith("beir:"):  # bundled samples: the panel names them
        bits.append(esc(passage.source))
    return " · ".join(bits)


def metrics_line(values: Mapping[str, float] | None, baseline: Mapping[str, float] | None, recall_at: int) -> str:
    """nDCG@10, MRR@10 and Recall@N, with the change against the first stage."""
    if values is None:
        return (
            f'<p class="e2r-metrics muted">No judgments for this query yet: tick relevant documents '
            f"to see nDCG@10, MRR@10 and Recall@{recall_at}.</p>"
        )
    parts = []
    for key, label in (("ndcg@10", "nDCG@10"), ("mrr@10", "MRR@10"), (f"recall@{recall_at}", f"Recall@{recall_at}")):
        value = values.get(key, 0.0)
        diff = ""
        if baseline is not None and key in baseline:
            d = value - baseline[key]
            cls = "up" if d > 0.0005 else "down" if d < -0.0005 else "same"
            signed = f"{d:+.3f}".replace("-", "\u2212")  # a real minus sign reads better on screen
            diff = f' <span class="e2r-diff {cls}">{signed}</span>'
        parts.append(f'<span class="e2r-metric" data-metric="{esc(key)}">{label} <b>{value:.3f}</b>{diff}</span>')
    return f'<p class="e2r-metrics">{"".join(parts)}</p>'


def placeholder_column(system: str, heading: str, message: str) -> str:
    """An empty column shown before the first search."""
    return (
        f'<section class="e2r-col" data-system="{esc(system)}"><header class="e2r-col-head">'
        f'<h3>{esc(heading)}</h3></header><p class="e2r-empty">{esc(message)}</p></section>'
    )


def candidate_label(rank: int, passage: Passage) -> str:
    """Plain-text label of a candidate in the relevance picker (Gradio escapes it)."""
    title = passage.title or passage.doc_id
    title = title if len(title) <= 70 else title[:69] + "…"
    suffix = f" (part {passage.position + 1})" if passage.id != passage.doc_id else ""
    return f"#{rank} {title}{suffix}"


# ------------------------------------------------------------------ prompt view


def prompt_view(prompt: ListwisePrompt, prompt_ids: Sequence[str]) -> str:
    """The listwise prompt actually embedded, with per-document token counts."""
    cut = sum(1 for kept, full in zip(prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=True) if kept < full)
    rows = "".join(
        f"<tr><td>[{i}]</td><td>{esc(pid)}</td><td>{kept}</td><td>{full}</td>"
        f"<td>{'cut' if kept < full else ''}</td></tr>"
        for i, (pid, kept, full) in enumerate(
            zip(prompt_ids, prompt.doc_tokens_kept, prompt.doc_tokens_full, strict=False), 1
        )
    )
    summary = (
        f"{prompt.n_tokens} tokens of a {prompt.max_tokens}-token window; "
        f"{len(prompt.doc_tokens_kept)} documents, {cut} of them cut to fit."
    )
    return (
        f'<div class="e2r-prompt"><p class="e2r-prompt-sum" data-tokens="{prompt.n_tokens}">{esc(summary)}</p>'
        f'<table class="e2r-table"><thead><tr><th>#</th><th>passage</th><th>tokens kept</th><th>tokens full</th>'
        f"<th></th></tr></thead><tbody>{rows}</tbody></table>"
        f'<pre class="e2r-prompt-text">{esc(prompt.text)}</pre></div>'
    )


# ------------------------------------------------------------------ corpus panel


def stats_view(label: str, stats: CorpusStats, model_label: str, embeddings_note: str, notice: str | None) -> str:
    """Corpus statistics after indexing, with the model fallback notice if any."""
    items = [
        ("Corpus", label),
        ("Documents", f"{stats.n_documents:,}"),
        ("Passages", f"{stats.n_passages:,}"),
        ("Tokens", f"{stats.n_tokens:,}"),
        ("Model", model_label),
        ("Embeddings", embeddings_note),
    ]
    return _stats_list(items, notice)


def store_view(uri: str, n_passages: int, kind: str, built_with: str, model_label: str, notice: str | None) -> str:
    """The corpus panel for an opened index: where it is, its size, index kind and model."""
    exact = "exact (flat)" if kind == "flat" else f"{kind.upper()} (approximate)"
    return _stats_list(
        [
            ("Index", uri),
            ("Passages", f"{n_passages:,}"),
            ("Index kind", exact),
            ("Built with", built_with),
            ("Model", model_label),
            ("Embeddings", "stored in the index, read-only (nothing embedded)"),
        ],
        notice,
    )


def _stats_list(items: Sequence[tuple[str, str]], notice: str | None) -> str:
    cells = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    warn = f'<p class="e2r-warn" role="alert">{esc(notice)}</p>' if notice else ""
    return f'<div class="e2r-stats">{warn}<dl>{cells}</dl></div>'


def sample_card(info: SampleInfo | None) -> str:
    """Title, description and licence of a bundled sample."""
    if info is None:
        return '<div class="e2r-card"><p class="e2r-empty">No bundled sample is available yet.</p></div>'
    name, url = _LICENCE_NAMES.get(info.licence, (info.licence, ""))
    licence = f'<a href="{esc(url)}" target="_blank" rel="noopener">{esc(name)}</a>' if url else esc(name)
    attribution = f'<p class="e2r-attr">{esc(info.attribution)}</p>' if info.attribution else ""
    return (
        f'<div class="e2r-card" data-sample="{esc(info.name)}"><p>{esc(info.description)}</p>'
        f'<p class="e2r-licence">Licence: {licence}</p>{attribution}</div>'
    )


REUSED_VECTORS = {"query_encoding": "query", f"{MAIN}.prompt_encoding": "listwise prompt"}
"""The stages whose vector a search may reuse (:attr:`~e2rank_demo.records.Timings.reused`), as the search line
names them."""


def search_line(n_candidates: int, n_passages: int, timings: Timings) -> str:
    """The status line under a search (HTML): candidates, corpus size and seconds; when vectors were reused, a
    short mark that fits the line, and which ones with the seconds their passes took then, on hover.

    Example:
        >>> timings = Timings({"e2rank.prompt_encoding": 0.0001}, reused={"e2rank.prompt_encoding": 0.131})
        >>> print(search_line(100, 1200, timings))  # doctest: +NORMALIZE_WHITESPACE
        <p class="e2r-status info" title="Reused from an identical earlier search instead of a forward pass:
        listwise prompt vector (0.131 s then).">100 candidates from 1,200 passages in 0.00 s (vectors reused).</p>
    """
    reused = [
        f"{label} vector ({timings.reused[stage]:.3f} s then)"
        for stage, label in REUSED_VECTORS.items()
        if stage in timings.reused
    ]
    where = f"{n_candidates} candidates from {n_passages:,} passages"
    if not reused:
        return notice(f"{where}, searched and reranked in {timings.query_total:.2f} s.")
    detail = f"Reused from an identical earlier search instead of a forward pass: {', '.join(reused)}."
    return notice(f"{where} in {timings.query_total:.2f} s (vectors reused).", detail=detail)


def notice(message: str, kind: str = "info", detail: str = "") -> str:
    """A one-line status message (``info``, ``warn`` or ``error``), with ``detail`` on hover."""
    if not message:
        return ""
    title = f' title="{esc(detail)}"' if detail else ""
    return f'<p class="e2r-status {esc(kind)}"{title}>{esc(message)}</p>'
