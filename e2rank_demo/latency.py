"""Measured latency of E2Rank against the alternatives, for the current query and corpus.

:func:`measure_latency` times, stage by stage, what each system pays at query time:

* **First stage only**: query encoding and the search.
* **E2Rank**: plus the listwise prompt (build, one forward pass) and scoring the cached
  document embeddings.
* **Rocchio**: plus a feedback centroid and scoring (no model call).
* **E2Rank without cached embeddings**: E2Rank that re-encodes the N candidates, what a
  system without embedding reuse pays.
* **Pointwise**: N joint query-document passes through the same backbone, the cost
  structure of a cross-encoder of that size, each pair cut to the documents' token budget
  and batched by length exactly like document encoding (a fair baseline). Timing only: no
  trained pointwise model ships offline, so it produces no ranking.

The last two grow linearly with N and take minutes on a CPU, so by default they are timed
on an evenly spread subsample of the candidates (:data:`DEFAULT_SUBSAMPLE`, at two sizes)
and extrapolated linearly to N; the report says "estimated from n of N" and keeps the
measured points. ``subsample=None`` measures them in full (with progress and a cancel).

Document encoding is paid once per corpus and is reported separately (amortised), as
the paper does. :func:`scaling_run` measures rerank latency against N. Every number is
measured here and now; the paper's A100 figures live in :data:`REPORTED_LATENCY` and are
never mixed in.

Example:
    >>> SYSTEM_LABELS["pointwise"]
    'Pointwise (N joint query-document passes; timing only, no ranking)'
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from e2rank_demo.records import Candidates
from e2rank_demo.rerank import E2RankReranker, RocchioReranker
from e2rank_demo.timing import StageTimer

if TYPE_CHECKING:
    from e2rank_demo.pipeline import SearchSession, SearchSettings

STAGES: tuple[str, ...] = (
    "query_encoding",
    "first_stage",
    "prompt_build",
    "prompt_encoding",
    "candidate_encoding",
    "pair_encoding",
    "scoring",
)
"""Stage names in stacking order."""

STAGE_LABELS: dict[str, str] = {
    "query_encoding": "query encoding",
    "first_stage": "first-stage search",
    "prompt_build": "prompt build (Rocchio: feedback centroid)",
    "prompt_encoding": "prompt encoding",
    "candidate_encoding": "candidate encoding",
    "pair_encoding": "joint query-document passes",
    "scoring": "scoring",
}

SYSTEMS: tuple[str, ...] = ("first_stage", "e2rank", "rocchio", "e2rank_nocache", "pointwise")
SYSTEM_LABELS: dict[str, str] = {
    "first_stage": "First stage only",
    "e2rank": "E2Rank",
    "rocchio": "Rocchio",
    "e2rank_nocache": "E2Rank without cached embeddings",
    "pointwise": "Pointwise (N joint query-document passes; timing only, no ranking)",
}
SCALING_SYSTEMS: tuple[str, ...] = ("e2rank", "e2rank_nocache", "pointwise")
GROWING_STAGE: dict[str, str] = {"e2rank_nocache": "candidate_encoding", "pointwise": "pair_encoding"}
"""The systems whose cost grows with N, and the stage that grows."""
DEFAULT_SUBSAMPLE = 16
"""Candidates the growing stages are timed on (at half and all of it) before extrapolating to N."""
DEFAULT_NS: tuple[int, ...] = (10, 20, 50, 100, 200)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SystemLatency:
    """Measured seconds per stage for one system (median over repeats).

    Attributes:
        system: Key in :data:`SYSTEMS`.
        label: Display name.
        stages: Seconds by stage name (only the stages the system runs).
        ranks: False for the timing-only pointwise row.
    """

    system: str
    label: str
    stages: dict[str, float]
    ranks: bool = True
    estimated_from: int | None = None
    n_total: int | None = None
    measured_points: tuple[tuple[int, float], ...] = ()

    @property
    def estimated(self) -> bool:
        """True when the growing stage was timed on a subsample and extrapolated to N."""
        return self.estimated_from is not None

    @property
    def note(self) -> str:
        """ "estimated from n of N (measured: ...)", or "" for a full measurement."""
        if self.estimated_from is None:
            return ""
        points = ", ".join(f"{n} in {sec:.3f} s" for n, sec in self.measured_points)
        return (
            f"estimated from {self.estimated_from} of {self.n_total} (linear fit; "
            f"{STAGE_LABELS[GROWING_STAGE[self.system]]} measured: {points})"
        )

    @property
    def total(self) -> float:
        """Seconds paid per query."""
        return float(sum(self.stages.values()))

    @property
    def rerank(self) -> float:
        """Seconds after the first stage (what reranking adds)."""
        return float(sum(v for k, v in self.stages.items() if k not in ("query_encoding", "first_stage")))


@dataclass
class LatencyReport:
    """Per-system stage times for one query, plus the amortised document encoding.

    Attributes:
        query: The query measured.
        model: Model label.
        device: ``"cpu"`` or ``"cuda"``.
        n_candidates: N candidates reranked.
        prompt_docs: k documents in the listwise prompt.
        repeats: Timed runs per stage (the median is kept).
        systems: One entry per key of :data:`SYSTEMS`, in that order.
        doc_encoding_s: Seconds the corpus took to embed (once per corpus).
        n_documents: Passages in the corpus.
        doc_encoding_cached: True when no corpus text needed the model, so
            ``doc_encoding_s`` is not model time.
        doc_encoding_source: Where the corpus vectors came from, worded as the corpus
            panel words it (:attr:`~e2rank_demo.index.EncodeStats.source`).
        pair_max_tokens: Token budget of each pointwise (query, document) input, the
            same as a document's.
    """

    query: str
    model: str
    device: str
    n_candidates: int
    prompt_docs: int
    repeats: int
    systems: list[SystemLatency]
    doc_encoding_s: float
    n_documents: int
    doc_encoding_cached: bool
    pair_max_tokens: int = 0
    doc_encoding_source: str = ""

    @property
    def estimated(self) -> list[SystemLatency]:
        """The systems timed on a subsample and extrapolated to N."""
        return [s for s in self.systems if s.estimated]

    @property
    def method_note(self) -> str:
        """How the slow baselines were measured, for the panel and the report."""
        parts = [f"{s.label}: {s.note}." for s in self.estimated]
        if self.pair_max_tokens:
            parts.append(
                f"Pointwise inputs: the query and the document cut to {self.pair_max_tokens} tokens "
                "together, batched by length like document encoding."
            )
        return " ".join(parts)

    def system(self, name: str) -> SystemLatency:
        """The entry for ``name`` (a key of :data:`SYSTEMS`)."""
        return next(s for s in self.systems if s.system == name)

    def as_rows(self, digits: int = 4) -> list[list[str | float]]:
        """``[system, stage seconds..., total]`` rows aligned with ``["system", *STAGES, "total"]``."""
        return [
            [
                s.label + (f" ({s.note})" if s.estimated else ""),
                *(round(s.stages.get(k, 0.0), digits) for k in STAGES),
                round(s.total, digits),
            ]
            for s in self.systems
        ]


def _median_stages(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    names = [k for k in STAGES if any(k in r for r in runs)]
    return {k: float(np.median([r.get(k, 0.0) for r in runs])) for k in names}


def _rerankers(session: SearchSession, settings: SearchSettings) -> tuple[E2RankReranker, RocchioReranker]:
    made = settings.replace(rerankers=("e2rank", "rocchio")).build_rerankers(session.embedder)
    e2rank, rocchio = made["e2rank"], made["rocchio"]
    assert isinstance(e2rank, E2RankReranker) and isinstance(rocchio, RocchioReranker)
    return e2rank, rocchio


def _time_system(
    system: str,
    session: SearchSession,
    query: str,
    query_vector: np.ndarray,
    candidates: Candidates,
    e2rank: E2RankReranker,
    rocchio: RocchioReranker,
    progress: ProgressFn | None = None,
) -> dict[str, float]:
    """Seconds per stage of one system's work after the first stage (``progress`` for the pointwise passes)."""
    timer = StageTimer()
    doc_vectors = session.vectors[candidates.rows]
    doc_texts = [session.texts[r] for r in candidates.rows]
    # Both E2Rank variants build the prompt from the ids computed at indexing, as a search does: they differ
    # in the document embeddings only.
    doc_tokens = session.prompt_tokens(candidates.rows)
    if system == "e2rank":
        e2rank.rerank(query, query_vector, candidates, doc_vectors, doc_texts, timer, doc_tokens)
    elif system == "rocchio":
        rocchio.rerank(query, query_vector, candidates, doc_vectors, doc_texts, timer)
    elif system == "e2rank_nocache":
        dataclasses.replace(e2rank, reencode=True).rerank(
            query, query_vector, candidates, doc_vectors, doc_texts, timer, doc_tokens
        )
    elif system == "pointwise":
        with timer.stage("pair_encoding"):
            session.embedder.embed_pairs(query, doc_texts, progress=progress)
    else:
        raise ValueError(f"unknown system {system!r}")
    return timer.stages


def _first_stage(
    session: SearchSession, query: str, settings: SearchSettings
) -> tuple[np.ndarray, Candidates, dict[str, float]]:
    timer = StageTimer()
    with timer.stage("query_encoding"):
        query_vector = session.embedder.embed_queries([query], settings.instruction)[0]
    candidates = session.first_stage(query, query_vector, settings, timer)
    return query_vector, candidates, timer.stages


def _check_query(query: str) -> str:
    query = query.strip()
    if not query:
        raise ValueError("the query is empty")
    return query


class MeasurementCancelled(Exception):
    """Raised out of a measurement whose ``cancel`` event was set."""


_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="latency")
"""One measurement at a time in the process: a measurement started right after a cancel waits for the
cancelled one's last batch, rather than timing alongside it."""

T = TypeVar("T")


def run_cancellable(
    cancel: threading.Event, fn: Callable[..., T], /, *args: object, poll_s: float = 0.05, **kwargs: object
) -> T:
    """``fn(*args, **kwargs)`` on the measurement worker; returns its result, or raises
    :class:`MeasurementCancelled` within ``poll_s`` of ``cancel`` being set.

    A forward pass cannot be interrupted, so a measurement checks ``cancel`` between batches;
    this returns at once instead, while the worker finishes the batch in flight and stops at
    its next check (``fn`` should be given the same ``cancel``). ``fn`` runs in a copy of the
    caller's context, so context-bound progress reporting (Gradio's) keeps working.

    Example:
        >>> run_cancellable(threading.Event(), sum, [1, 2, 3])
        6
    """
    context = contextvars.copy_context()
    job = _worker.submit(lambda: context.run(fn, *args, **kwargs))
    while True:
        try:
            return job.result(timeout=poll_s)
        except concurrent.futures.TimeoutError:
            if cancel.is_set():
                raise MeasurementCancelled("measurement cancelled") from None


def subsample_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """``n`` of the ranked candidate rows, evenly spread from the first to the last.

    Spread rather than the top ``n``, so the subsample's text lengths stand for all N.

    Example:
        >>> subsample_rows(np.arange(100), 5).tolist()
        [0, 25, 50, 74, 99]
    """
    idx = np.unique(np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int))
    return np.asarray(rows)[idx]


def extrapolate(points: Sequence[tuple[int, float]], n: int) -> float:
    """Seconds at ``n`` from a straight line through the measured ``(n_i, seconds_i)`` points.

    A line sloping down (timing noise) would predict less than was measured, so then the
    largest point is scaled proportionally instead.

    Example:
        >>> round(extrapolate([(8, 0.9), (16, 1.7)], 100), 2)
        10.1
    """
    ns, secs = zip(*sorted(points), strict=True)
    if len(ns) > 1:
        slope, intercept = np.polyfit(ns, secs, 1)
        if slope > 0:
            return float(max(intercept + slope * n, 0.0))
    return float(secs[-1] / ns[-1] * n)


def _growing_seconds(
    system: str, session: SearchSession, query: str, rows: np.ndarray, progress: ProgressFn | None = None
) -> float:
    """Seconds of the stage of ``system`` that grows with N, on the candidates at ``rows``."""
    texts = [session.texts[r] for r in rows]
    start = time.perf_counter()
    if system == "e2rank_nocache":
        session.embedder.embed_documents(texts, progress=progress)
    else:
        session.embedder.embed_pairs(query, texts, progress=progress)
    return time.perf_counter() - start


def measure_latency(
    session: SearchSession,
    query: str,
    settings: SearchSettings | None = None,
    *,
    repeats: int = 1,
    warmup: bool = True,
    subsample: int | None = DEFAULT_SUBSAMPLE,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> LatencyReport:
    """Times every system in :data:`SYSTEMS` on one query, stage by stage.

    All systems share one measured first stage per repeat (they run the same one), so
    their bars differ only by what each adds.

    Args:
        session: The indexed corpus.
        query: The query.
        settings: N, k, instructions and Rocchio parameters (defaults as in a search).
        repeats: Timed runs; the median per stage is reported.
        warmup: Run E2Rank once untimed first, so one-off lazy initialisation is not
            counted against the first system.
        subsample: Time the stages that grow with N (:data:`GROWING_STAGE`) on this many
            evenly spread candidates (and on half as many), and extrapolate linearly to N;
            ``None``, or an N not over one and a half times it, measures them in full.
        progress: Called as ``progress(done, total)`` in candidates passed through the
            model by the growing stages.
        cancel: When set, the measurement stops at its next check: after the batch (of 32
            texts) in flight, or between systems. :func:`run_cancellable` returns at once.

    Returns:
        Measured seconds per system and stage, and the corpus encoding time.

    Raises:
        ValueError: On an empty query or when the first stage finds no candidates.
        MeasurementCancelled: When ``cancel`` was set.
    """
    from e2rank_demo.pipeline import SearchSettings

    settings = settings or SearchSettings()
    query = _check_query(query)
    e2rank, rocchio = _rerankers(session, settings)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise MeasurementCancelled("measurement cancelled")

    cands: Candidates | None
    if warmup:
        qv, cands, _ = _first_stage(session, query, settings)
        _time_system("e2rank", session, query, qv, cands, e2rank, rocchio)
    check()
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SYSTEMS}
    points: dict[str, dict[int, list[float]]] = {s: {} for s in GROWING_STAGE}
    n_total = min(settings.candidates, len(session.ids))
    estimate = subsample is not None and n_total > 1.5 * subsample
    sizes = sorted({max(1, subsample // 2), subsample}) if estimate and subsample else [n_total]
    total_units = max(1, repeats) * len(GROWING_STAGE) * sum(sizes)
    done = 0

    def advance(base: int) -> ProgressFn:
        def report(n: int, _total: int) -> None:
            check()
            if progress is not None:
                progress(min(base + n, total_units), total_units)

        return report

    cands = None
    for _ in range(max(1, repeats)):
        query_vector, cands, first = _first_stage(session, query, settings)
        if not len(cands):
            raise ValueError("the first stage found no candidates to rerank")
        runs["first_stage"].append(first)
        for system in ("e2rank", "rocchio"):
            check()
            runs[system].append(first | _time_system(system, session, query, query_vector, cands, e2rank, rocchio))
        for system, stage in GROWING_STAGE.items():
            check()
            # The growing stage alone, in full or on the subsample, so every batch reports progress and checks
            # ``cancel`` (a whole re-encoding of N candidates used to run without a check).
            for n in sizes:
                rows = subsample_rows(cands.rows, n)
                seconds = _growing_seconds(system, session, query, rows, advance(done))
                if estimate:
                    points[system].setdefault(len(rows), []).append(seconds)
                done += n
            if estimate:
                seconds = extrapolate([(n, float(np.median(t))) for n, t in points[system].items()], len(cands))
            # E2Rank without the cache runs E2Rank's own prompt stages on top of re-encoding.
            runs[system].append((runs["e2rank"][-1] if system == "e2rank_nocache" else first) | {stage: seconds})
    assert cands is not None
    n_cands = len(cands)
    systems = []
    for s in SYSTEMS:
        measured = tuple((n, float(np.median(t))) for n, t in sorted(points.get(s, {}).items()))
        systems.append(
            SystemLatency(
                s,
                SYSTEM_LABELS[s],
                _median_stages(runs[s]),
                ranks=s != "pointwise",
                estimated_from=max(n for n, _ in measured) if measured else None,
                n_total=n_cands if measured else None,
                measured_points=measured,
            )
        )
    return LatencyReport(
        query=query,
        model=session.embedder.label,
        device=str(session.embedder.device),
        n_candidates=n_cands,
        prompt_docs=min(e2rank.k, n_cands),
        repeats=max(1, repeats),
        systems=systems,
        doc_encoding_s=float(session.encode_stats.seconds),
        n_documents=len(session.ids),
        doc_encoding_cached=bool(session.encode_stats.cache_hit),
        doc_encoding_source=session.encode_stats.source,
        pair_max_tokens=int(session.embedder.doc_max_tokens),
    )


@dataclass(frozen=True)
class ScalingPoint:
    """Rerank seconds of one system at one N (first stage excluded: all share it).

    Attributes:
        system: Key in :data:`SCALING_SYSTEMS`.
        n_requested: The N asked for.
        n_used: The N measured (capped at the corpus size and the first stage's output).
        seconds: Median rerank seconds.
        stages: Median seconds by stage.
    """

    system: str
    n_requested: int
    n_used: int
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class ScalingResult:
    """Rerank latency against N for E2Rank, E2Rank without cache and pointwise.

    Attributes:
        query: The query measured.
        model: Model label.
        n_corpus: Passages in the corpus (the cap on N).
        repeats: Timed runs per point.
        points: One per (requested N, system); requested Ns that cap to the same N share
            one measurement.
    """

    query: str
    model: str
    n_corpus: int
    repeats: int
    points: list[ScalingPoint]

    @property
    def capped_note(self) -> str | None:
        """Set when some requested N exceeded what could be measured."""
        capped = sorted({p.n_requested for p in self.points if p.n_used < p.n_requested})
        if not capped:
            return None
        return (
            f"N = {', '.join(map(str, capped))} capped at {max(p.n_used for p in self.points)} "
            f"(the corpus has {self.n_corpus:,} passages)."
        )

    def series(self, system: str) -> list[tuple[int, float]]:
        """``(n_used, seconds)`` for one system, one point per distinct N, ascending."""
        seen: dict[int, float] = {}
        for p in self.points:
            if p.system == system:
                seen.setdefault(p.n_used, p.seconds)
        return sorted(seen.items())


def scaling_run(
    session: SearchSession,
    query: str,
    ns: Sequence[int] = DEFAULT_NS,
    *,
    settings: SearchSettings | None = None,
    repeats: int = 1,
    progress: ProgressFn | None = None,
    warmup: bool = True,
) -> ScalingResult:
    """Measures rerank latency against N for the systems in :data:`SCALING_SYSTEMS`.

    The first stage runs once with the largest N; each smaller N reranks its top-N. E2Rank
    stays nearly flat (one prompt pass, N dot products); the other two grow with N.

    Args:
        session: The indexed corpus.
        query: The query.
        ns: Candidate counts to measure; each is capped at the corpus size.
        settings: k, instructions, first stage (its ``candidates`` is ignored).
        repeats: Timed runs per point; the median is kept.
        progress: Called as ``progress(done, total)`` after each timed run.
        warmup: Run the smallest point once untimed first.

    Returns:
        One point per requested N and system, with the N actually used.
    """
    from e2rank_demo.pipeline import SearchSettings

    if not ns or min(ns) < 1:
        raise ValueError("ns must be one or more positive candidate counts")
    query = _check_query(query)
    settings = settings or SearchSettings()
    n_max = min(max(ns), len(session.ids), 1000)
    settings = settings.replace(candidates=n_max)
    e2rank, rocchio = _rerankers(session, settings)
    query_vector, cands, _ = _first_stage(session, query, settings)
    if not len(cands):
        raise ValueError("the first stage found no candidates to rerank")
    used = {n: min(n, len(cands)) for n in ns}
    distinct = sorted(set(used.values()))

    def top(n: int) -> Candidates:
        return Candidates(cands.ids[:n], cands.scores[:n], cands.rows[:n], cands.stage)

    if warmup:
        for system in SCALING_SYSTEMS:
            _time_system(system, session, query, query_vector, top(distinct[0]), e2rank, rocchio)
    total = len(distinct) * len(SCALING_SYSTEMS) * max(1, repeats)
    done = 0
    measured: dict[tuple[str, int], dict[str, float]] = {}
    for n in distinct:
        for system in SCALING_SYSTEMS:
            runs = []
            for _ in range(max(1, repeats)):
                runs.append(_time_system(system, session, query, query_vector, top(n), e2rank, rocchio))
                done += 1
                if progress is not None:
                    progress(done, total)
            measured[system, n] = _median_stages(runs)
    points = [
        ScalingPoint(system, n, used[n], float(sum(measured[system, used[n]].values())), measured[system, used[n]])
        for n in ns
        for system in SCALING_SYSTEMS
    ]
    return ScalingResult(query, session.embedder.label, len(session.ids), max(1, repeats), points)


# --------------------------------------------------------------------------- reported, not measured
@dataclass(frozen=True)
class ReportedLatency:
    """One row of the paper's latency table (seconds; ``None`` where the paper gives none)."""

    model: str
    doc_encoding_s: float | None
    other_s: float | None
    total_s: float


REPORTED_SOURCE = (
    "Reported in the paper (A100): E2Rank, Liu et al. 2025, reranking BM25 top-100 on "
    "TREC-COVID, one A100 80G, vLLM, ~350-token documents. Not measured here."
)
REPORTED_HEADERS = ("model", "encoding documents (s)", "other: prompt encoding + scoring (s)", "total per query (s)")
REPORTED_LATENCY: tuple[ReportedLatency, ...] = (
    ReportedLatency("E2Rank-0.6B", 0.50, 0.13, 0.63),
    ReportedLatency("E2Rank-4B", 1.74, 0.43, 2.17),
    ReportedLatency("E2Rank-8B", 2.76, 0.64, 3.40),
    ReportedLatency("RankQwen3-0.6B (generative listwise, sliding window 20/10)", None, None, 4.58),
    ReportedLatency("RankQwen3-4B", None, None, 11.25),
    ReportedLatency("RankQwen3-8B", None, None, 16.93),
)
"""The paper's section-5 latency table. When E2Rank is also the retriever, only the
"other" column is paid per query (document embeddings already exist)."""
