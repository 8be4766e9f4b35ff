"""The Evaluate tab: the first stage and the rerankers scored over a whole collection.

The user picks a collection (a bundled sample, the full SciFact test set or TREC DL 2019
from ``../shared/data`` beside the repository, or an uploaded BEIR zip), a first stage,
the rerankers and how many queries; the tab shows nDCG@10 / MRR@10 / Recall@100 per
system beside the paper's reported figures, a per-query win/tie/loss chart of E2Rank against
any other system on the same candidates (by default the plain query's dense rerank: the
paper's claim is that the listwise prompt is a better query than the query itself), the
queries E2Rank helped and hurt most against it (a click opens one in the Search tab) and
JSON / TREC-run downloads written to the session's private folder.

The work happens in :func:`~e2rank_demo.evaluation.evaluate` and
:mod:`e2rank_demo.collections` (the collections on offer, read and embedded once and
kept in memory for the next run); this module only resolves the inputs and renders the
results. :func:`build_tab` lays out the components inside the app's
``gr.Tabs``; :func:`wire` connects them once the rest of the page exists.

Example:
    >>> first_stage_label("run:bm25"), first_stage_label("dense")
    ('TREC run bm25', 'dense cosine')
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

import gradio as gr

from e2rank_demo.collections import UPLOAD, Collection, collections, find_collection, prepare
from e2rank_demo.eval_plots import win_tie_loss_chart
from e2rank_demo.evaluation import (
    REPORTED_LABEL,
    EvalReport,
    QueryDelta,
    evaluate,
    helped_hurt,
    query_deltas,
    report_json,
    reported_ndcg10,
    win_tie_loss,
)
from e2rank_demo.metrics import binary_label
from e2rank_demo.models import OFFLINE_DEFAULT, load_embedder
from e2rank_demo.pipeline import SearchSettings
from e2rank_demo.records import FirstStageName
from e2rank_demo.rerank import RERANKERS, title_of
from e2rank_demo.ui import callbacks
from e2rank_demo.ui.common import SCROLL_TO_RESULTS, Outputs, embedding_cache, plot_value, skip, user_errors
from e2rank_demo.ui.render import esc, notice
from e2rank_demo.ui.state import UISession

NO_RUN_NOTE = "This zip has no runs/*.trec (runs are optional), so the first stage is Dense; BM25 works too."
DEFAULT_SAMPLE_SIZE = 50
TOP_QUERIES = 5


# --------------------------------------------------------------------- per-session view state


@dataclass
class EvalHit:
    """A helped or hurt query, as the lists under the chart show it."""

    qid: str
    text: str
    delta: float
    first_stage: float
    e2rank: float


@dataclass
class EvalView:
    """What the Evaluate tab of one browser session remembers (lives in a ``gr.State``).

    Attributes:
        running: True while an evaluation of this session runs.
        collection: Key of the collection last evaluated.
        label: Its label.
        sample: Its bundled sample name, if any.
        first_stage: The first stage of that run (``dense``, ``bm25`` or ``run:<name>``).
        helped: The queries E2Rank helped most.
        hurt: The queries E2Rank hurt most.
        report: The last run's report (the chart is redrawn from it when the comparison changes).
        baseline: What E2Rank is compared with per query (a system of ``report``).
    """

    running: bool = False
    collection: str | None = None
    label: str = ""
    sample: str | None = None
    first_stage: str = ""
    helped: list[EvalHit] = field(default_factory=list)
    hurt: list[EvalHit] = field(default_factory=list)
    report: EvalReport | None = None
    baseline: str = "dense"


# --------------------------------------------------------------------- rendering


BEST = ' class="best" title="best of the systems measured"'


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def first_stage_label(mode: str) -> str:
    """What the first stage was, in words."""
    if mode.startswith("run"):
        name = mode.partition(":")[2]
        return f"TREC run {name}" if name else "TREC run"
    return {"dense": "dense cosine", "bm25": "BM25"}.get(mode, mode)


def metrics_view(
    report: EvalReport, collection_label: str, reported: dict[str, float] | None, model_label: str | None = None
) -> str:
    """The measured table (nDCG@10 / MRR@10 / Recall@100 per system) beside the paper's figures."""
    systems = ["first_stage", *(s for s in RERANKERS if s in report.metrics)]
    names = ("ndcg@10", "mrr@10", "recall@100")
    best = {m: max(report.metrics[s][m] for s in systems) for m in names}
    base = report.metrics["first_stage"]["ndcg@10"]
    rows = []
    for system in systems:
        values = report.metrics[system]
        label = f"First stage: {first_stage_label(report.first_stage)}" if system == "first_stage" else title_of(system)
        if system == "e2rank":
            label += f" (k = {report.settings.get('prompt_docs')}, {report.settings.get('prompt_pooling')} pooling)"
        cells = "".join(
            f'<td data-system="{esc(system)}" data-metric="{m}"{BEST if abs(values[m] - best[m]) < 1e-12 else ""}>'
            f"{_fmt(values[m])}</td>"
            for m in names
        )
        delta = values["ndcg@10"] - base
        diff = (
            ""
            if system == "first_stage"
            else (
                f'<span class="e2r-diff {"up" if delta > 1e-9 else "down" if delta < -1e-9 else "same"}">'
                f"{delta:+.4f}</span>"
            )
        )
        rows.append(f'<tr data-system="{esc(system)}"><th scope="row">{esc(label)}</th>{cells}<td>{diff}</td></tr>')
    # TREC DL's binary measures count grade >= 2 only (nDCG stays graded): say so in the header.
    rel = f" ({binary_label(report.binary_rel)})" if binary_label(report.binary_rel) else ""
    measured = (
        f'<div class="e2r-eval-measured"><h4>Measured here: {esc(collection_label)}</h4>'
        f'<p class="e2r-hint">{report.n_queries:,} queries · {esc(model_label or report.model)} · N = '
        f"{esc(report.settings.get('candidates'))} candidates</p>"
        '<table class="e2r-table e2r-eval-table" id="eval-measured"><thead><tr><th>system</th><th>nDCG@10</th>'
        f"<th>MRR@10{rel}</th><th>Recall@100{rel}</th><th>Δ nDCG@10</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return f'<div class="e2r-eval-tables">{measured}{reported_view(reported)}</div>'


def reported_view(reported: dict[str, float] | None) -> str:
    """The paper's nDCG@10 for this collection, or "no reported figure"."""
    head = f'<div class="e2r-eval-reported" id="eval-reported"><h4>{esc(REPORTED_LABEL)}</h4>'
    if not reported:
        return (
            f'{head}<p class="e2r-eval-none">no reported figure for this collection</p>'
            '<p class="e2r-hint">The paper reports DL19 and the full BEIR collections (here: the full SciFact '
            "test set); samples and uploads are not comparable.</p></div>"
        )
    rows = "".join(
        f'<tr><th scope="row">{esc(model)}</th><td data-reported="{esc(model)}">{value:.2f}</td></tr>'
        for model, value in reported.items()
    )
    return (
        f'{head}<table class="e2r-table e2r-eval-table"><thead><tr><th>model</th><th>nDCG@10 ×100</th></tr>'
        f'</thead><tbody>{rows}</tbody></table><p class="e2r-hint">From the paper, not measured here: '
        "reranking the BM25 top-100 with the trained E2Rank models.</p></div>"
    )


def placeholder() -> str:
    """The metrics area before the first run."""
    return (
        '<div class="e2r-eval-empty">Choose a collection and press <b>Run evaluation</b>: the metrics per '
        "system appear here, beside the paper's figures.</div>"
    )


def summary_view(
    report: EvalReport,
    collection: Collection,
    total_queries: int,
    seconds: float,
    embeddings: str,
    reused: bool,
    model_notice: str | None,
    limit: int | None,
    seed: int,
    model_label: str | None = None,
) -> str:
    """The line above the tables: what was evaluated, how, and the caveats."""
    if limit is None or limit >= total_queries:
        scope = f"all {report.n_queries:,} judged test queries"
        if limit is not None:
            scope += f" (the sample size {limit:,} covers them all)"
    else:
        scope = f"{report.n_queries:,} of {total_queries:,} judged test queries (seeded sample, seed {seed})"
    per_query = sum(report.mean_timings.values())
    lines = [
        f"Evaluated {scope} of {collection.label if collection.key != UPLOAD else report.dataset} with "
        f"{model_label or report.model} in {seconds:.1f} s ({per_query * 1000:.0f} ms of model and search time "
        "per query).",
        f"Corpus embeddings: {'kept in memory from an earlier run' if reused else embeddings}. First stage: "
        f"{first_stage_label(report.first_stage)}, top {report.settings.get('candidates')} reranked.",
    ]
    parts = [notice("\n".join(lines))]
    if model_notice:
        parts.append(notice(model_notice, "warn"))
    if report.model == OFFLINE_DEFAULT and "e2rank" in report.metrics:
        parts.append(
            notice(
                "all-MiniLM-L6-v2 was never trained on listwise prompts, so its E2Rank scores are "
                "usually below the first stage (as the paper's ablation predicts); the reported figures "
                "are for the trained E2Rank models.",
                "warn",
            )
        )
    if collection.key == "shared:trec-dl-2019" and not report.first_stage.startswith("run"):
        parts.append(
            notice(
                "This first stage searched only the 4,297 passages of the BM25 top-100, not MS MARCO: "
                "not comparable to published figures. Choose the TREC run.",
                "warn",
            )
        )
    return "".join(parts)


def _hits(items: Sequence[QueryDelta]) -> list[EvalHit]:
    return [EvalHit(d.qid, d.text, d.delta, d.baseline, d.system) for d in items]


def hit_choices(hits: Sequence[EvalHit]) -> list[tuple[str, str]]:
    """Radio choices ``(label, index)``: change, full query text, both values. Gradio renders labels as text."""
    return [
        (f"{h.delta:+.3f} · {' '.join(h.text.split()) or h.qid} ({h.first_stage:.3f} → {h.e2rank:.3f})", str(i))
        for i, h in enumerate(hits)
    ]


def write_downloads(report: EvalReport, folder: Path) -> list[str]:
    """``evaluation.json`` and ``trec-runs.zip`` (one run per system) in ``folder``, replaced each time."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    data = report_json(report)
    json_path = folder / "evaluation.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    zip_path = folder / "trec-runs.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for system in report.runs:
            zf.writestr(f"{system}.trec", report.trec_run(system))
    return [str(json_path), str(zip_path)]


# --------------------------------------------------------------------- callbacks


RUN_OUTPUTS = Outputs(
    "summary", "metrics", "chart", "caption", "helped", "hurt", "downloads", "open_message", "baseline"
)
"""What :func:`run_evaluation` returns, by :class:`EvalTab` component."""
COMPARE_OUTPUTS = Outputs("chart", "caption", "helped", "hurt", "open_message")
"""What :func:`compare_with` returns: the per-query comparison, redrawn."""
DEFAULT_BASELINE = "dense"
"""E2Rank's default per-query opponent: the plain query's dense rerank of the same candidates."""


def baseline_label(system: str, first_stage: str) -> str:
    """What a compared system is called in the chart and the lists.

    Example:
        >>> baseline_label("dense", "bm25"), baseline_label("first_stage", "bm25")
        ('dense rerank of the plain query', 'first stage (BM25)')
    """
    if system == "first_stage":
        return f"first stage ({first_stage_label(first_stage)})"
    return "dense rerank of the plain query" if system == "dense" else title_of(system)


def baseline_choices(report: EvalReport) -> list[tuple[str, str]]:
    """The systems of ``report`` E2Rank can be compared with, the default first."""
    systems = [s for s in ("first_stage", *RERANKERS) if s in report.metrics and s != "e2rank"]
    systems.sort(key=lambda s: s != DEFAULT_BASELINE)
    return [
        (baseline_label(s, report.first_stage) + (" (default)" if s == DEFAULT_BASELINE else ""), s) for s in systems
    ]


def chosen_baseline(report: EvalReport, wanted: str) -> str:
    """``wanted`` when the run measured it, else the default, else the first stage."""
    for system in (wanted, DEFAULT_BASELINE):
        if system in report.metrics and system != "e2rank":
            return system
    return "first_stage"


def comparison_values(view: EvalView) -> dict[str, Any]:
    """The chart, caption, helped / hurt lists and their note of E2Rank against ``view.baseline``
    (``view.helped`` and ``view.hurt`` follow), by :data:`COMPARE_OUTPUTS` name."""
    report = view.report
    if report is None or "e2rank" not in report.metrics:
        view.helped, view.hurt = [], []
        return {
            "chart": gr.Plot(None, visible=False),
            "caption": notice("Tick E2Rank under Rerankers to compare it with the other systems query by query."),
            "helped": gr.Radio(choices=[], value=None, visible=False),
            "hurt": gr.Radio(choices=[], value=None, visible=False),
            "open_message": "",
        }
    label = baseline_label(view.baseline, report.first_stage)
    deltas = query_deltas(report.per_query, baseline=view.baseline, texts=report.query_texts)
    chart = win_tie_loss_chart(deltas, baseline_label=label)
    counts = win_tie_loss(deltas)
    same = (
        " On a dense first stage the dense rerank of the plain query keeps the first stage's order."
        if view.baseline == "dense" and report.first_stage == "dense"
        else ""
    )
    caption = (
        f'<p class="e2r-caption">{esc(chart.caption)} E2Rank is better on {counts["win"]}, tied on '
        f"{counts['tie']} and worse on {counts['loss']} of {len(deltas)} queries.{esc(same)}</p>"
    )
    helped, hurt = helped_hurt(deltas, TOP_QUERIES)
    view.helped, view.hurt = _hits(helped), _hits(hurt)
    info = f"Δ nDCG@10 · query ({label} → E2Rank). Click one to open it in the Search tab."
    return {
        "chart": gr.Plot(plot_value(chart), visible=True),
        "caption": caption,
        "helped": gr.Radio(choices=hit_choices(view.helped), value=None, visible=bool(view.helped), info=info),
        "hurt": gr.Radio(choices=hit_choices(view.hurt), value=None, visible=bool(view.hurt), info=info),
        "open_message": notice(hits_note(deltas, helped, hurt, f"the {label}")),
    }


def compare_with(baseline: str, view: EvalView) -> tuple[Any, ...]:
    """The per-query comparison redrawn against another system of the last run (no new evaluation)."""
    if view.report is None:
        return COMPARE_OUTPUTS.skip()
    view.baseline = chosen_baseline(view.report, baseline)
    return COMPARE_OUTPUTS.values(**comparison_values(view))


def stage_choices(collection: Collection, zip_run: bool = False) -> list[tuple[str, str]]:
    """The first stages a collection allows (a run only where one ships, or the chosen zip holds one)."""
    stages = [("Dense (cosine)", "dense"), ("BM25", "bm25")]
    if collection.has_run:
        stages.append(("Official BM25 top-100 run", "run"))
    elif zip_run:
        stages.append(("TREC run in the zip (runs/*.trec)", "run"))
    return stages


def zip_has_run(path: str | Path) -> bool:
    """Whether a BEIR zip holds ``runs/*.trec`` at its top level or inside one folder (names only).

    Example:
        >>> import io
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w") as zf:
        ...     zf.writestr("toy/runs/bm25.trec", "q1 Q0 d1 1 1.0 bm25")
        >>> zip_has_run(buf)
        True
    """
    try:
        with zipfile.ZipFile(path) as zf:
            parts = [PurePosixPath(name).parts for name in zf.namelist()]
    except (zipfile.BadZipFile, OSError):
        return False
    return any(p[-1].endswith(".trec") and len(p) in (2, 3) and p[-2] == "runs" for p in parts)


def choose_zip(upload: str | None) -> tuple[Any, ...]:
    """A zip was chosen: offers its run as first stage if it has one, else Dense, saying why (runs are optional)."""
    collection = find_collection(UPLOAD)
    if not upload:
        return notice(collection.note), gr.Radio(choices=stage_choices(collection), value="dense")
    if zip_has_run(upload):
        return (
            notice("This zip holds a TREC run (runs/*.trec): it is the first stage, as in the paper's setup."),
            gr.Radio(choices=stage_choices(collection, zip_run=True), value="run"),
        )
    return (notice(NO_RUN_NOTE), gr.Radio(choices=stage_choices(collection), value="dense"))


def choose_collection(key: str) -> tuple[Any, ...]:
    """Shows the upload box only for uploads, the collection's note and the first stages it allows."""
    collection = find_collection(key)
    return (
        gr.File(visible=collection.key == UPLOAD),
        notice(collection.note),
        gr.Radio(choices=stage_choices(collection), value=collection.default_first_stage),
    )


def _progress_fns(progress: gr.Progress) -> tuple[Callable[[int, int], None], Callable[[int, int], None]]:
    start = time.monotonic()

    def encode(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        eta = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        progress((done, total), desc=f"Embedding corpus{eta}", unit="documents")

    def queries(done: int, total: int) -> None:
        progress((done, total), desc="Queries", unit="queries")

    return encode, queries


@user_errors
def run_evaluation(
    key: str,
    upload: str | None,
    model: str,
    first_stage: str,
    rerankers: Sequence[str] | None,
    scope: str,
    size: float | None,
    seed: float | None,
    state: UISession,
    view: EvalView,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Evaluates the chosen collection; returns summary, metrics, chart, caption, helped, hurt, files, message."""
    if view.running:
        gr.Warning(
            "An evaluation is already running in this session; wait for it to finish (the other tabs "
            "keep working meanwhile)."
        )
        return RUN_OUTPUTS.skip()
    collection = find_collection(key)
    if collection.key == UPLOAD and not upload:
        gr.Warning("Choose a BEIR .zip to upload first.")
        return RUN_OUTPUTS.skip()
    if first_stage not in ("dense", "bm25", "run"):
        raise ValueError(f"Unknown first stage {first_stage!r}; choose dense, bm25 or run.")
    limit = None if scope == "all" else int(size or 0)
    if limit is not None and limit < 1:
        raise ValueError("The sample size must be at least 1 query.")
    seed_value = int(seed or 0)
    chosen = tuple(r for r in RERANKERS if r in (rerankers or []))
    view.running = True
    try:
        start = time.monotonic()
        progress(0.0, desc=f"Loading model {model}…")
        loaded = load_embedder(model or None)
        if loaded.notice:
            gr.Warning(loaded.notice)
        progress(0.0, desc="Reading the collection…")
        encode_progress, query_progress = _progress_fns(progress)
        prepared, reused = prepare(
            collection, loaded.embedder, upload, encode_progress, state.upload_scope(), embedding_cache()
        )
        dataset = prepared.dataset
        n_docs = len(prepared.session.passages)
        encode_progress(n_docs, n_docs)  # stored, cached or kept in memory: the bar still says the corpus is done
        fallback = first_stage == "run" and not dataset.runs
        if fallback and collection.key != UPLOAD:
            raise ValueError(f"{dataset.name} ships no TREC run (runs/*.trec); choose dense or BM25.")
        if fallback:
            first_stage = "dense"
        settings = SearchSettings(task=collection.task, rerankers=chosen)
        total = len(dataset.split_queries("test")) if "test" in dataset.qrels else 0
        # The first-stage Radio offers only dense, bm25 and run.
        report = evaluate(
            dataset,
            loaded.embedder,
            cast("FirstStageName", first_stage),
            settings,
            limit_queries=limit,
            seed=seed_value,
            session=prepared.session,
            query_progress=query_progress,
        )
        seconds = time.monotonic() - start
    finally:
        view.running = False
    reported = reported_ndcg10(collection.reported) if collection.reported else None
    label = collection.label if collection.key != UPLOAD else f"{report.dataset} (uploaded)"
    summary = summary_view(
        report,
        collection,
        total,
        seconds,
        prepared.embeddings,
        reused,
        loaded.notice,
        limit,
        seed_value,
        loaded.embedder.label,
    )
    if fallback:
        summary = notice(NO_RUN_NOTE, "warn") + summary
    view.collection, view.label, view.sample = collection.key, label, collection.sample
    view.first_stage, view.report = report.first_stage, report
    view.baseline = chosen_baseline(report, view.baseline)
    files = write_downloads(report, state.private_dir() / "evaluation")
    return RUN_OUTPUTS.values(
        summary=summary,
        metrics=metrics_view(report, label, reported, loaded.embedder.label.split(" (")[0]),
        downloads=files,
        baseline=gr.Radio(choices=baseline_choices(report), value=view.baseline, visible="e2rank" in report.metrics),
        **comparison_values(view),
    )


def hits_note(
    deltas: Sequence[QueryDelta],
    helped: Sequence[QueryDelta],
    hurt: Sequence[QueryDelta],
    baseline: str = "the first stage",
) -> str:
    """Says when a list under the chart is empty (and why), else nothing."""
    if not deltas:
        return ""
    if not helped and not hurt:
        return f"E2Rank tied with {baseline} on every query."
    if not helped:
        return "E2Rank improved no query of this run, so only the queries it hurt are listed."
    if not hurt:
        return "E2Rank made no query worse in this run, so only the queries it helped are listed."
    return ""


OPEN_OUTPUTS = Outputs("tabs", "query", "open_message", "go", "sidebar_first_stage")
"""What :func:`open_query` returns before the app's ``index_outputs``: the main tabs, the Search tab's query box,
the message, the "go" flag for the search that follows and the sidebar's first stage."""


def _opened(keep: Sequence[Any], **named: Any) -> tuple[Any, ...]:
    """:data:`OPEN_OUTPUTS` by name (the others unchanged), then the ``index_outputs`` in ``keep``."""
    return (*OPEN_OUTPUTS.values(**named), *keep)


@user_errors
def open_query(
    which: str,
    index: int | str | None,
    model: str,
    state: UISession,
    view: EvalView,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Opens a helped/hurt query in the Search tab (loading its bundled sample first if needed).

    Returns:
        :data:`OPEN_OUTPUTS`, then the app's ``index_outputs`` (filled only when a sample was loaded).
    """
    hits = view.helped if which == "helped" else view.hurt
    keep = skip(callbacks.n_index_outputs())
    if index is None or not str(index).isdigit() or not 0 <= int(index) < len(hits):
        return _opened(keep)
    hit = hits[int(index)]
    if view.sample is None:
        message = (
            f"“{hit.text}” is from {view.label}, which the Search tab cannot load (it searches the bundled "
            "samples, uploads and pasted text): its candidates cannot be shown there. Copy the query to "
            "search another corpus."
        )
        return _opened(keep, open_message=notice(message, "warn"), go=False)
    loaded = state.corpus is not None and state.corpus.sample == view.sample and state.index is not None
    if not loaded:
        if state.indexing:
            return _opened(
                keep,
                open_message=notice(
                    "This session is indexing a corpus; open the query again when it has finished.", "warn"
                ),
                go=False,
            )
        keep = callbacks.load_sample_corpus(view.sample, model, state, progress)
        if state.corpus is None or state.corpus.sample != view.sample:
            return _opened(keep, open_message=notice("The sample could not be loaded.", "warn"), go=False)
    stage = view.first_stage if view.first_stage in ("dense", "bm25") else gr.skip()
    message = f"Opened “{hit.text}” in the Search tab" + ("" if loaded else f" (loaded {view.label} first)") + "."
    return _opened(
        keep,
        tabs=gr.Tabs(selected="search"),
        query=hit.text,
        open_message=notice(message),
        go=True,
        sidebar_first_stage=stage,
    )


def open_helped(
    index: int | str | None, model: str, state: UISession, view: EvalView, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """:func:`open_query` on the "helped most" list."""
    return open_query("helped", index, model, state, view, progress)


def open_hurt(
    index: int | str | None, model: str, state: UISession, view: EvalView, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """:func:`open_query` on the "hurt most" list."""
    return open_query("hurt", index, model, state, view, progress)


def unselect() -> gr.Radio:
    """Clears a helped/hurt list's selection."""
    return gr.Radio(value=None)


def search_if(go: bool, *args: Any) -> tuple[Any, ...]:
    """Runs the app's search only when :func:`open_query` said so."""
    if not go:
        return skip(callbacks.n_result_outputs() + 1)
    return callbacks.search(*args)


# --------------------------------------------------------------------- layout


@dataclass
class EvalTab:
    """The tab's components (what :func:`wire` connects)."""

    collection: gr.Radio
    upload: gr.File
    collection_note: gr.HTML
    first_stage: gr.Radio
    rerankers: gr.CheckboxGroup
    scope: gr.Radio
    size: gr.Number
    seed: gr.Number
    run: gr.Button
    summary: gr.HTML
    metrics: gr.HTML
    chart: gr.Plot
    caption: gr.HTML
    helped: gr.Radio
    hurt: gr.Radio
    open_message: gr.HTML
    downloads: gr.File
    view: gr.State
    go: gr.State
    baseline: gr.Radio


def build_tab() -> EvalTab:
    """Lays out the Evaluate tab (call inside the app's ``gr.Tabs``)."""
    offered, missing_note = collections()
    first = offered[0]
    with gr.Tab("Evaluate", id="evaluate", elem_id="evaluate-tab"):
        gr.Markdown(
            f"Score the first stage and the rerankers on a collection's judged queries (nDCG@10, MRR@10, "
            f"Recall@100): by default a seeded sample of {DEFAULT_SAMPLE_SIZE}, the same queries for the same "
            "seed, or all of them (*Queries* below). The model is the one chosen under *Model and passages* "
            "in the sidebar; N = 100 candidates, the model's own k and prompt pooling, the collection's task "
            "instruction.",
            elem_classes="e2r-hint",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                collection = gr.Radio(
                    [(c.label, c.key) for c in offered], value=first.key, label="Collection", elem_id="eval-collection"
                )
                upload = gr.File(
                    file_types=[".zip"],
                    file_count="single",
                    visible=False,
                    elem_id="eval-upload",
                    label="BEIR zip (corpus.jsonl[.gz], queries.jsonl, qrels/test.tsv, runs/*.trec)",
                )
                note_html = notice(first.note) + (notice(missing_note, "warn") if missing_note else "")
                collection_note = gr.HTML(note_html, elem_id="eval-collection-note")
            with gr.Column(scale=2, min_width=280):
                first_stage = gr.Radio(
                    stage_choices(first),
                    value=first.default_first_stage,
                    label="First stage",
                    elem_id="eval-first-stage",
                )
                rerankers = gr.CheckboxGroup(
                    [(spec.label, name) for name, spec in RERANKERS.items()],
                    value=list(RERANKERS),
                    label="Rerankers",
                    elem_id="eval-rerankers",
                )
                scope = gr.Radio(
                    [("A seeded sample of queries", "sample"), ("All judged queries", "all")],
                    value="sample",
                    label="Queries",
                    elem_id="eval-scope",
                )
                with gr.Row():
                    size = gr.Number(
                        DEFAULT_SAMPLE_SIZE,
                        label="Sample size",
                        minimum=1,
                        precision=0,
                        elem_id="eval-size",
                        min_width=120,
                    )
                    seed = gr.Number(0, label="Seed", precision=0, elem_id="eval-seed", min_width=100)
                run = gr.Button("Run evaluation", variant="primary", elem_id="eval-run")
        summary = gr.HTML(elem_id="eval-summary", label="Summary")
        metrics = gr.HTML(placeholder(), elem_id="eval-metrics", label="Metrics per system")
        baseline = gr.Radio(
            [("dense rerank of the plain query (default)", DEFAULT_BASELINE)],
            value=DEFAULT_BASELINE,
            visible=False,
            label="Compare E2Rank per query with",
            elem_id="eval-baseline",
            info="Another system on the same candidates. The default is the dense rerank of the "
            "plain query: the paper's claim is that the listwise prompt is a better query than "
            "the query.",
        )
        chart = gr.Plot(visible=False, elem_id="eval-chart", show_label=False, label="Per-query chart")
        caption = gr.HTML(elem_id="eval-caption", label="Chart caption")
        with gr.Row(equal_height=False, elem_id="eval-queries"):
            info = "Δ nDCG@10 · query (compared system → E2Rank). Click one to open it in the Search tab."
            helped = gr.Radio(
                [],
                value=None,
                visible=False,
                label="E2Rank helped most",
                info=info,
                elem_id="eval-helped",
                elem_classes="e2r-eval-hits",
            )
            hurt = gr.Radio(
                [],
                value=None,
                visible=False,
                label="E2Rank hurt most",
                info=info,
                elem_id="eval-hurt",
                elem_classes="e2r-eval-hits",
            )
        open_message = gr.HTML(elem_id="eval-open-message", label="Message")
        downloads = gr.File(
            file_count="multiple",
            interactive=False,
            label="Downloads: evaluation.json (metrics, per-query values) and trec-runs.zip (one TREC run per system)",
            elem_id="eval-files",
        )
        view = gr.State(EvalView())
        go = gr.State(False)
    return EvalTab(
        collection,
        upload,
        collection_note,
        first_stage,
        rerankers,
        scope,
        size,
        seed,
        run,
        summary,
        metrics,
        chart,
        caption,
        helped,
        hurt,
        open_message,
        downloads,
        view,
        go,
        baseline,
    )


def wire(
    tab: EvalTab,
    *,
    model: gr.Dropdown,
    state: gr.State,
    tabs: gr.Tabs,
    query: gr.Textbox,
    sidebar_first_stage: gr.Radio,
    index_outputs: Sequence[Any],
    search_inputs: Sequence[Any],
    search_outputs: Sequence[Any],
) -> None:
    """Connects the tab's events (call after the rest of the page is built).

    Args:
        tab: What :func:`build_tab` returned.
        model: The sidebar's model dropdown.
        state: The session's ``UISession`` state.
        tabs: The main ``gr.Tabs`` (its Search tab has id ``search``).
        query: The Search tab's query box.
        sidebar_first_stage: The sidebar's first-stage radio.
        index_outputs: The app's ``index_outputs`` (filled when a sample is loaded for a query).
        search_inputs: The app's search inputs.
        search_outputs: The app's search outputs.
    """
    tab.collection.change(
        choose_collection, tab.collection, [tab.upload, tab.collection_note, tab.first_stage], api_visibility="private"
    )
    tab.upload.change(choose_zip, tab.upload, [tab.collection_note, tab.first_stage], api_visibility="private")
    tab.baseline.input(
        compare_with,
        [tab.baseline, tab.view],
        COMPARE_OUTPUTS.components(tab),
        api_visibility="private",
        show_progress="hidden",
    )
    tab.run.click(
        run_evaluation,
        [
            tab.collection,
            tab.upload,
            model,
            tab.first_stage,
            tab.rerankers,
            tab.scope,
            tab.size,
            tab.seed,
            state,
            tab.view,
        ],
        RUN_OUTPUTS.components(tab),
        api_name="evaluate",
        show_progress_on=tab.metrics,
        concurrency_limit=2,
        concurrency_id="evaluate",
    )
    for picker, fn in ((tab.helped, open_helped), (tab.hurt, open_hurt)):
        opened = picker.input(
            fn,
            [picker, model, state, tab.view],
            [
                *OPEN_OUTPUTS.components(tab, tabs=tabs, query=query, sidebar_first_stage=sidebar_first_stage),
                *index_outputs,
            ],
            api_visibility="private",
            show_progress_on=tab.open_message,
        )
        opened.then(search_if, [tab.go, *search_inputs], list(search_outputs), api_visibility="private").then(
            None, js=SCROLL_TO_RESULTS
        )
        # Unselect, so that the same query can be opened again later.
        opened.then(unselect, None, picker, api_visibility="private", show_progress="hidden")
