"""Gradio callbacks: parse inputs, call the plain Python API, format outputs.

Callbacks never let an exception reach the page as a traceback (:func:`~e2rank_demo.ui.common.user_errors`),
and they only touch the session state after the new corpus or result is complete, so
a failure leaves the loaded corpus in place. Output tuples follow the component
groups documented in :mod:`e2rank_demo.ui.layout` (``index_outputs`` and
``result_outputs``).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from e2rank_demo.corpus import IngestReport, Limits, ingest_files, ingest_text, split_passages
from e2rank_demo.highlight import query_terms
from e2rank_demo.index import ESTIMATE_PROBE, estimate_embedding
from e2rank_demo.metrics import ranking_metrics
from e2rank_demo.models import (
    PRESETS,
    Embedder,
    ProgressFn,
    default_model_name,
    load_embedder,
)
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.prompts import DEFAULT_TASK, TASKS
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Passage
from e2rank_demo.rerank import MAIN, RERANKERS, RerankerSpec, search_toggles
from e2rank_demo.samples import Sample, default_sample, load_sample, open_session, prefit_maps
from e2rank_demo.stores.catalog import chosen_uri, listed_stores, open_store_session, typed_uri_allowed
from e2rank_demo.ui import exports, render
from e2rank_demo.ui.common import embedding_cache, on_gpu, skip, user_errors
from e2rank_demo.ui.content import model_note
from e2rank_demo.ui.prompt_settings import pooling_setting
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession

logger = logging.getLogger(__name__)

AUTO_COLUMN = "(automatic)"
N_INDEX_HEAD = 5
"""``index_outputs`` before the ``result_outputs`` (which the search line follows)."""


def n_result_outputs() -> int:
    """How many ``result_outputs`` there are: two columns, picker, prompt and one column per Search toggle."""
    return 4 + len(search_toggles())


def n_index_outputs() -> int:
    """How many ``index_outputs`` there are (the corpus panel's, ``result_outputs``, the search line)."""
    return N_INDEX_HEAD + n_result_outputs() + 1


# --------------------------------------------------------------------- models


def model_choices() -> tuple[list[tuple[str, str]], str]:
    """Model dropdown choices and the default (``E2RANK_MODEL`` may name a folder)."""
    choices = [(p.label, name) for name, p in PRESETS.items()]
    default = default_model_name()
    if default not in PRESETS:
        choices.append((default, default))
    return choices, default


@contextlib.contextmanager
def start_up_step(step: str) -> Iterator[None]:
    """Logs one start-up step and how long it took (a failure propagates, logged by the caller)."""
    start = time.monotonic()
    logger.info("start-up: %s ...", step)
    yield
    logger.info("start-up: %s done in %.1f s", step, time.monotonic() - start)


def warm_up_in_background(torch_threads: int | None = None) -> threading.Thread:
    """Loads the default model and the heavy libraries, and fits the samples' maps, without delaying the page.

    Args:
        torch_threads: Intra-op threads per forward pass, set before the model loads (its slots follow
            them, :func:`~e2rank_demo.models.model_lock.model_slots`); ``None``: torch's default.
    """

    def work() -> None:
        if torch_threads:  # here, not before the page: importing torch takes about 2 s
            with start_up_step(f"torch on {torch_threads} thread(s) per forward pass"):
                import torch

                torch.set_num_threads(torch_threads)
        # First, as the longest step: UMAP's numba compilation, on the map's own worker thread (returns at once).
        try:
            from e2rank_demo import projection

            with start_up_step("starting the numba warm-up (UMAP compiles in the background)"):
                projection.warm_up()
        except Exception:  # the map shows PCA until UMAP works
            logger.exception("UMAP warm-up failed")
        try:
            with start_up_step(f"loading model {default_model_name()}"):
                loaded = load_embedder(default_model_name())
            with start_up_step("importing faiss"):
                import faiss  # noqa: F401 - imported for its load time only
        except Exception:  # a failed warm-up is retried by the first real load
            logger.exception("background warm-up failed")
            return
        try:  # the bundled samples' maps, queued behind the compilation: the first search's map is UMAP
            with start_up_step("fitting the samples' UMAP maps"):
                prefit_maps(loaded.embedder, first=default_sample())
        except Exception:  # the map shows PCA until UMAP works
            logger.exception("UMAP start-up fit failed")

    thread = threading.Thread(target=work, name="e2rank-warm-up", daemon=True)
    thread.start()
    return thread


def _reporter(progress: gr.Progress) -> ProgressFn:
    """Adapts the pipeline's ``progress(done, total)`` to Gradio's bar, with an ETA."""
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        eta = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        progress((done, total), desc=f"Embedding passages{eta}", unit="passages")

    return report


LONG_EMBEDDING_S = 20.0
"""An upload or paste whose estimated embedding time reaches this is announced first (samples always are)."""


def embedding_notice(n: int, seconds: float, model: str, device: str, probe: int = ESTIMATE_PROBE) -> str:
    """What a visitor reads before a long embedding: how many passages, with what, where, for how long, and
    where the figure comes from (``seconds`` is :func:`~e2rank_demo.index.estimate_embedding`'s, from
    ``probe`` passages timed on this server).

    Example:
        >>> print(embedding_notice(1200, 840.0, "E2Rank-0.6B", "cpu"))  # doctest: +NORMALIZE_WHITESPACE
        Embedding 1,200 passages with E2Rank-0.6B on this server's CPU: about 14 min (1.4 passages/s,
        estimated from 4 passages timed just now). Another model is one choice away under “Model and passages”.
    """
    probe = min(probe, n)
    where = "GPU" if device.startswith("cuda") else "CPU"
    how_long = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{max(seconds, 1):.0f} s"
    rate = n / seconds if seconds > 0 else float("inf")
    return (
        f"Embedding {n:,} passages with {model} on this server's {where}: about {how_long} ({rate:.1f} "
        f"passages/s, estimated from {probe} passages timed just now). Another model is one choice away "
        "under “Model and passages”."
    )


def _announcer(embedder: Embedder, progress: gr.Progress, why: str = "") -> Callable[[int, float], None]:
    """Says, before the model starts on the corpus, how long embedding it will take (:func:`embedding_notice`)."""

    def announce(n: int, seconds: float) -> None:
        message = why + embedding_notice(n, seconds, embedder.label, embedder.device)
        gr.Info(message)
        progress(0.0, desc=message)

    return announce


# --------------------------------------------------------------------- indexing


def _index(
    state: UISession,
    corpus: Corpus,
    config: IndexConfig,
    progress: gr.Progress,
    messages: Sequence[str] = (),
) -> tuple[Any, ...]:
    """Embeds ``corpus`` and installs it in ``state``; returns ``index_outputs``."""
    if not state.begin_indexing():
        gr.Warning("This session is already indexing a corpus; wait for it to finish.")
        return skip(n_index_outputs())
    try:
        progress(0.0, desc=f"Loading model {config.model}…")
        loaded = load_embedder(config.model)
        if loaded.notice:
            gr.Warning(loaded.notice)
        sample = load_sample(corpus.sample) if corpus.sample else None
        if sample is not None:
            why = f"No shipped embeddings of this sample for {loaded.embedder.label}. "
            index, _ = open_session(
                sample,
                loaded.embedder,
                embedding_cache(),
                _reporter(progress),
                announce=_announcer(loaded.embedder, progress, why),
            )
        else:
            index = _session_for(corpus, config, loaded.embedder, state.upload_scope(), progress)
        progress(1.0, desc="Counting tokens…")
        stats = index.stats()
        state.install(
            corpus,
            index,
            config,
            known_judgments=_sample_judgments(sample) if sample else None,
            known_query_ids={q: qid for qid, q in sample.queries.items()} if sample else None,
        )
        # Uploads and pastes are cached in the session's own scope, so a cache hit only ever means this
        # session embedded the text before (SECURITY.md).
        note = index.encode_stats.describe()
    finally:
        state.indexing = False
    stats_html = render.stats_view(corpus.label, stats, loaded.embedder.label, note, loaded.notice)
    status = render.notice("\n".join([f"Indexed {corpus.label}. Ready to search.", *messages]))
    examples = (
        gr.Dataset(samples=[[q] for q in sample.queries.values()], visible=True)
        if sample
        else gr.Dataset(samples=[], visible=False)
    )
    task = sample.info.task if sample else gr.skip()
    return (stats_html, status, examples, task, "", *cleared_results(), ready_line(stats.n_passages, corpus.label))


def ready_line(n_passages: int, label: str) -> str:
    """The search line once a corpus is indexed or opened (the last search's line spoke of the old one).

    Example:
        >>> ready_line(7, "notes.txt")
        '<p class="e2r-status info">notes.txt: 7 passages ready. Type a query and press Enter to search them.</p>'
    """
    return render.notice(f"{label}: {n_passages:,} passages ready. Type a query and press Enter to search them.")


def clearing_query(fn: Callable[..., tuple[Any, ...]]) -> Callable[..., tuple[Any, ...]]:
    """An indexing callback with one more output, the query box: emptied when ``fn`` installed another corpus.

    A query typed for the old corpus means nothing for the new one; a re-index of the same corpus,
    or a load that failed or found nothing, keeps it. ``fn`` takes the session as ``state``.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        state: UISession = signature.bind(*args, **kwargs).arguments["state"]
        before = state.corpus
        outputs = fn(*args, **kwargs)
        return (*outputs, "" if state.corpus is not before else gr.skip())

    return run


def _session_for(
    corpus: Corpus, config: IndexConfig, embedder: Embedder, scope: str, progress: gr.Progress
) -> SearchSession:
    if config.split:
        passages = split_passages(corpus.documents, max_words=config.max_words, overlap=config.overlap)
    else:
        passages = [Passage.from_document(d) for d in corpus.documents]
    limit = Limits.from_env().max_passages
    if len(passages) > limit:
        raise ValueError(
            f"{len(passages):,} passages exceed the limit of {limit:,} (E2RANK_MAX_PASSAGES); use "
            "fewer or shorter documents, or longer passages. The current corpus is unchanged."
        )
    # The probe's vectors are not kept: the corpus panel's "embedded now" count stays true for this upload.
    n_missing, seconds = estimate_embedding(
        embedder, [p.full_text for p in passages], embedding_cache(), scope=scope, keep_probe=False
    )
    if seconds >= LONG_EMBEDDING_S:
        _announcer(embedder, progress)(n_missing, seconds)
    return SearchSession(embedder, passages, embedding_cache(), progress=_reporter(progress), scope=scope)


def _sample_judgments(sample: Sample) -> dict[str, dict[str, int]]:
    """The sample's qrels keyed by query text, as the UI keys judgments."""
    return {sample.queries[qid]: dict(graded) for qid, graded in sample.qrels.items() if qid in sample.queries}


def _nothing_read(report: IngestReport, warning: str) -> tuple[Any, ...]:
    """``index_outputs`` when ingestion found no document: a warning and the reasons, nothing else changes."""
    gr.Warning(warning)
    return (gr.skip(), render.notice("\n".join(report.messages), "warn"), *skip(n_index_outputs() - 2))


@user_errors
def load_sample_corpus(
    name: str, model: str, state: UISession, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """Loads a bundled sample (from stored embeddings when they match the model)."""
    sample = load_sample(name)
    corpus = Corpus(label=sample.info.title, documents=list(sample.documents), sample=name)
    return _index(state, corpus, IndexConfig(model, False, 0, 0), progress)


@user_errors
def upload_files(
    files: Sequence[str] | None,
    text_column: str | None,
    max_words: float,
    overlap: float,
    model: str,
    state: UISession,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Reads uploaded files, splits long documents into passages and indexes them."""
    paths = [str(f) for f in files or []]
    if not paths:
        gr.Warning("Choose one or more files first.")
        return skip(n_index_outputs())
    column = None if not text_column or text_column == AUTO_COLUMN else text_column
    report = ingest_files(paths, names=[Path(p).name for p in paths], text_column=column)
    if not report.documents:
        return _nothing_read(report, "No readable documents in these files; the current corpus is unchanged.")
    label = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} uploaded files"
    config = IndexConfig(model, True, int(max_words), int(overlap))
    return _index(state, Corpus(label, report.documents), config, progress, report.messages)


@user_errors
def paste_text(
    text: str, max_words: float, overlap: float, model: str, state: UISession, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """Indexes pasted text, one document per blank-line-separated paragraph."""
    report = ingest_text(text or "")
    if not report.documents:
        return _nothing_read(report, "Paste some text first; the current corpus is unchanged.")
    config = IndexConfig(model, True, int(max_words), int(overlap))
    return _index(state, Corpus("pasted text", report.documents), config, progress, report.messages)


def store_names() -> list[str]:
    """The names of the stores the server lists now (never their paths)."""
    return [e.name for e in listed_stores()]


def store_picker() -> gr.Dropdown:
    """The "Open an index" picker refreshed with :func:`store_names` (an update, for page loads)."""
    names = store_names()
    return gr.Dropdown(choices=names, value=names[0] if names else None)


@user_errors
def open_index(
    name: str | None, typed: str | None, model: str, state: UISession, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """Opens a listed (or, where allowed, typed) document store read-only as the session's corpus."""
    return _open_store(state, chosen_uri(name, typed, allow_typed=typed_uri_allowed()), model, progress)


def _open_store(state: UISession, uri: str, model: str, progress: gr.Progress) -> tuple[Any, ...]:
    """Installs a read-only session over the store at ``uri``; returns ``index_outputs``."""
    if not state.begin_indexing():
        gr.Warning("This session is already indexing a corpus; wait for it to finish.")
        return skip(n_index_outputs())
    try:
        progress(0.0, desc=f"Loading model {model}…")
        loaded = load_embedder(model)
        if loaded.notice:
            gr.Warning(loaded.notice)
        progress(0.5, desc="Opening the index…")
        session = open_store_session(uri, loaded.embedder)
        kind = session.store.index_kind
        state.install(Corpus(uri, [], store=uri), session, IndexConfig(model, False, 0, 0))
    finally:
        state.indexing = False
    stats_html = render.store_view(
        uri, session.size, kind, session.store.info.model, loaded.embedder.label, loaded.notice
    )
    status = render.notice(
        f"Opened the index ({session.size:,} passages). Ready to search: the first stage is "
        "its dense top-N; BM25, the embedding map and latency need a corpus in memory."
    )
    return (
        stats_html,
        status,
        gr.Dataset(samples=[], visible=False),
        gr.skip(),
        "",
        *cleared_results(),
        ready_line(session.size, "The opened index"),
    )


@user_errors
def reindex(
    model: str, max_words: float, overlap: float, state: UISession, progress: gr.Progress = gr.Progress()
) -> tuple[Any, ...]:
    """Re-embeds the loaded corpus with the current model and passage settings (an index is reopened)."""
    if state.corpus is None or state.config is None:
        gr.Warning("Nothing to re-index yet: load a sample, upload files or paste text.")
        return skip(n_index_outputs())
    if state.corpus.store is not None:  # its vectors are fixed: the new model is accepted only if it built them
        return _open_store(state, state.corpus.store, model, progress)
    split = state.config.split
    config = IndexConfig(model, split, int(max_words) if split else 0, int(overlap) if split else 0)
    return _index(state, state.corpus, config, progress)


def reindex_note(model: str, max_words: float, overlap: float, state: UISession) -> str:
    """Says when the model or passage settings differ from the loaded index."""
    config = state.config
    if config is None:
        return ""
    changed = []
    if model != config.model:
        changed.append("the model")
    if config.split and (int(max_words), int(overlap)) != (config.max_words, config.overlap):
        changed.append("the passage size or overlap")
    if not changed:
        return ""
    if state.corpus is not None and state.corpus.store is not None:
        return render.notice(
            "You changed the model: an opened index is searched only with the model that built "
            "it; press “Re-index” to check.",
            "warn",
        )
    return render.notice(
        f"You changed {' and '.join(changed)}: press “Re-index” to re-embed the corpus "
        "(other settings apply to the next search without re-indexing).",
        "warn",
    )


def csv_columns(files: Sequence[str] | None) -> gr.Dropdown:
    """Offers the header columns of uploaded CSV/TSV files as the text column."""
    columns: list[str] = []
    for path in files or []:
        suffix = Path(str(path)).suffix.lower()
        if suffix in (".csv", ".tsv"):
            columns += [c for c in _header(Path(str(path)), tab=suffix == ".tsv") if c not in columns]
    return gr.Dropdown(choices=[AUTO_COLUMN, *columns], value=AUTO_COLUMN)


def _header(path: Path, *, tab: bool) -> list[str]:
    """The first non-empty row of a CSV/TSV file (best effort: ingestion re-validates)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64 * 1024).decode("utf-8-sig", errors="replace")
    except OSError:
        return []
    lines = head.splitlines()[:-1] or head.splitlines()  # the last line may be cut mid-row
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    if not tab:
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    row = next((r for r in csv.reader(lines, dialect) if any(c.strip() for c in r)), [])
    return [c.strip() for c in row if c.strip()]


# --------------------------------------------------------------------- search


def _run_search(index: SearchSession, query: str, settings: SearchSettings) -> QueryResult:
    return index.search(query, settings, reuse_vectors=True)


run_search = on_gpu(_run_search)


def task_instructions(task: str) -> tuple[str, str]:
    """The retrieval and listwise-prompt instructions of a task preset."""
    preset = TASKS.get(task, TASKS[DEFAULT_TASK])
    return preset.query, preset.rerank


def _override(text: str | None, preset_text: str | None) -> str | None:
    """An edited instruction, or ``None`` to keep the preset's exact text."""
    text = (text or "").strip()
    return text if text and text != preset_text else None


@user_errors
def search(
    query: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float | None,
    task: str,
    query_instruction: str,
    rerank_instruction: str,
    interpolation: float,
    prompt_order: str,
    rocchio: bool,
    show_all: bool,
    state: UISession,
    *more: bool | str | None,
) -> tuple[Any, ...]:
    """Runs the first stage and E2Rank (and the ticked Search toggles); returns ``result_outputs`` + the search line.

    ``rocchio`` is the first Search toggle's checkbox (Rocchio's, which kept its place in the
    API); ``more`` holds the other toggles', in :func:`~e2rank_demo.rerank.search_toggles` order,
    then the prompt pooling control's value (last, so that older API calls stay valid; absent or
    ``"model"``: the model's default). A ``prompt_docs`` of 0 or ``None`` is the model's default k.
    """
    n_toggles = len(search_toggles()) - 1
    also_run, pooling = more[:n_toggles], (more[n_toggles] if len(more) > n_toggles else None)
    if state.indexing:
        gr.Warning("Indexing is still running; search again when it has finished.")
        return skip(n_result_outputs() + 1)
    if state.index is None:
        gr.Warning("Load a sample, upload files or paste text before searching.")
        return skip(n_result_outputs() + 1)
    if not (query or "").strip():
        gr.Warning("Type a query first.")
        return skip(n_result_outputs() + 1)
    preset = TASKS.get(task)
    settings = SearchSettings(
        first_stage=first_stage,  # type: ignore[arg-type]  # validated by SearchSettings
        candidates=int(candidates),
        prompt_docs=int(prompt_docs) if prompt_docs else None,
        task=task,
        query_instruction=_override(query_instruction, preset.query if preset else None),
        rerank_instruction=_override(rerank_instruction, preset.rerank if preset else None),
        interpolation=float(interpolation),
        prompt_order=prompt_order,  # type: ignore[arg-type]
        prompt_pooling=pooling_setting(pooling),  # type: ignore[arg-type]
        rerankers=(MAIN, *(spec.name for spec, on in zip(search_toggles(), (rocchio, *also_run), strict=False) if on)),
    )
    index = state.index
    result = run_search(index, query, settings)
    state.result = result
    state.query_id(result.query)
    line = render.search_line(len(result.first_stage.ids), index.size, result.timings)
    return (*results_outputs(state, show_all), line)


def _shown_ids(result: QueryResult, show_all: bool) -> list[str]:
    """Candidates visible in either column, first-stage order first (the relevance picker's choices)."""
    limit = len(result.first_stage.ids) if show_all else render.TOP
    e2rank = result.reranked.get("e2rank")
    ids = list(result.first_stage.ids[:limit])
    seen = set(ids)
    ids += [pid for pid in (e2rank.ids[:limit] if e2rank else []) if pid not in seen]
    return ids


def _toggle_placeholder(spec: RerankerSpec) -> str:
    return render.placeholder_column(
        spec.name, spec.label, f"Turn on {spec.title} in Search settings and search again."
    )


def _result_tuple(first: Any, main: Any, toggled: Sequence[Any], picker: Any, prompt: Any) -> tuple[Any, ...]:
    """``result_outputs`` in order: the first toggle's column keeps the place Rocchio's had before the registry."""
    return (first, main, *toggled[:1], picker, prompt, *toggled[1:])


def column_outputs(outputs: Sequence[Any]) -> tuple[Any, ...]:
    """The result columns (first stage, main, toggles) of a ``result_outputs`` tuple, in ``result_columns`` order."""
    return (outputs[0], outputs[1], *outputs[2:3], *outputs[5:])


def cleared_results() -> tuple[Any, ...]:
    """``result_outputs`` before any search (or after the corpus changed)."""
    message = "Results appear here after a search."
    return _result_tuple(
        render.placeholder_column("first_stage", "First stage", message),
        render.placeholder_column(MAIN, RERANKERS[MAIN].label, message),
        [_toggle_placeholder(spec) for spec in search_toggles()],
        gr.CheckboxGroup(choices=[], value=[]),
        "",
    )


def results_outputs(state: UISession, show_all: bool) -> tuple[Any, ...]:
    """Renders ``result_outputs`` from the session's last result and judgments."""
    result, index = state.result, state.index
    if result is None or index is None:
        return cleared_results()
    relevant = state.judgments_for(result.query)
    recall_at = result.settings.candidates
    e2rank = result.reranked.get("e2rank")
    ctx = render.RowContext(
        session=index,
        parts=state.parts,
        terms=query_terms(result.query),
        relevant=relevant,
        first_stage=result.first_stage,
        reranked=e2rank,
        recall_at=recall_at,
        limit=len(result.first_stage.ids) if show_all else render.TOP,
    )
    base = ranking_metrics(relevant, result.first_stage, recall_at)
    stage = "BM25" if result.candidates.stage == "bm25" else "dense cosine similarity"
    first_html = render.results_column(
        render.Column(
            "first_stage", "First stage", f"Top {len(result.first_stage.ids)} by {stage}", result.first_stage, base
        ),
        ctx,
    )
    main = RERANKERS[MAIN]
    if e2rank is None:
        e2rank_html = render.placeholder_column(MAIN, main.label, "No candidates to rerank.")
    else:
        note = model_note(index.embedder.name)
        e2rank_html = render.results_column(
            render.Column(
                MAIN,
                main.label,
                main.describe(result),
                e2rank,
                ranking_metrics(relevant, e2rank, recall_at),
                base,
                note,
            ),
            ctx,
        )
    toggled = []
    for spec in search_toggles():
        ranking = result.reranked.get(spec.name)
        toggled.append(
            render.results_column(
                render.Column(
                    spec.name,
                    spec.label,
                    spec.describe(result),
                    ranking,
                    ranking_metrics(relevant, ranking, recall_at),
                    base,
                ),
                ctx,
            )
            if ranking
            else _toggle_placeholder(spec)
        )
    shown = _shown_ids(result, show_all)
    first_rank = result.first_stage.rank_of()
    picker = gr.CheckboxGroup(
        choices=[(render.candidate_label(first_rank[pid], index.passage(pid)), pid) for pid in shown],
        value=[pid for pid in shown if relevant.get(pid, 0) > 0],
    )
    prompt_html = render.prompt_view(result.prompt, result.prompt_ids) if result.prompt else ""
    return _result_tuple(first_html, e2rank_html, toggled, picker, prompt_html)


def rerender(show_all: bool, state: UISession) -> tuple[Any, ...]:
    """Re-renders the last result (e.g. when "Show all" is toggled); no model call."""
    return results_outputs(state, show_all)


@user_errors
def mark_relevant(ticked: Sequence[str] | None, show_all: bool, state: UISession) -> tuple[Any, ...]:
    """Stores the user's relevance ticks for the current query; returns the result columns with fresh metrics."""
    if state.result is None:
        gr.Warning("Search first, then tick the relevant documents.")
        return column_outputs(skip(n_result_outputs()))
    state.set_relevant(state.result.query, _shown_ids(state.result, show_all), ticked or [])
    return column_outputs(results_outputs(state, show_all))


@user_errors
def export_files(state: UISession) -> list[str]:
    """Writes the last rankings and the session's judgments into the session's temp folder.

    Returns:
        The file paths.

    Raises:
        gr.Error: Before the first search (an API client gets this message, not an empty update).
    """
    result, index = state.result, state.index
    if result is None or index is None:
        raise gr.Error(
            "Nothing to export yet: search first; the export holds the last query's rankings.", print_exception=False
        )
    out = state.private_dir()
    qid = state.query_id(result.query)
    paths = [
        exports.write_rankings_csv(result, index, out / "rankings.csv"),
        exports.write_rankings_json(result, index, qid, out / "rankings.json"),
        *(
            exports.write_trec_run(ranking, qid, f"e2rank-demo-{system}", out / f"{system}.trec")
            for system, ranking in {"first_stage": result.first_stage, **result.reranked}.items()
        ),
        exports.write_qrels(state.judgments, state.query_ids, out / "judgments.qrels"),
        exports.write_queries(state.query_ids, out / "queries.tsv"),
    ]
    return [str(p) for p in paths]
