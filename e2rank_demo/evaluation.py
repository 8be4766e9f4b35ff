"""Evaluation of the first stage and every reranker on a BEIR-layout collection.

Example:
    >>> from e2rank_demo.corpus import load_beir
    >>> from e2rank_demo.evaluation import evaluate
    >>> from e2rank_demo.models import load_embedder
    >>> data = load_beir("../shared/data/trec-dl-2019")  # doctest: +SKIP
    >>> report = evaluate(data, load_embedder("minilm").embedder, first_stage="run")  # doctest: +SKIP
    >>> round(report.metrics["first_stage"]["ndcg@10"], 4)  # doctest: +SKIP
    0.5058
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.corpus import BeirDataset
from e2rank_demo.index import EncodeStats
from e2rank_demo.metrics import evaluate_run, per_query
from e2rank_demo.models import Embedder, ProgressFn, bulk
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Passage
from e2rank_demo.retrieval import candidates_from_run

FirstStageMode = Literal["dense", "bm25", "run"]


@dataclass
class EvalReport:
    """Metrics, per-query values, runs and timings of one evaluation.

    Attributes:
        dataset: Collection name.
        split: Qrels split used.
        model: Model name.
        first_stage: ``dense``, ``bm25`` or ``run``.
        settings: The search settings, as a dict (k and prompt pooling resolved for the model).
        metrics: ``{system: {"ndcg@10", "mrr@10", "recall@100"}}``; systems are
            ``first_stage`` and each reranker.
        per_query: ``{system: {qid: {metric: value}}}``.
        runs: ``{system: {qid: [(doc_id, score), ...]}}`` best first.
        mean_timings: Mean seconds per query and stage.
        encode: How the corpus embeddings were obtained.
        query_texts: Query text by id (for reports and the UI).
        binary_rel: Lowest grade MRR@10 and Recall@100 counted as relevant (2 on TREC DL).
    """

    dataset: str
    split: str
    model: str
    first_stage: str
    settings: dict[str, Any]  # values of several types, each field's as in SearchSettings
    metrics: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, dict[str, float]]]
    runs: dict[str, dict[str, list[tuple[str, float]]]]
    mean_timings: dict[str, float]
    encode: EncodeStats
    query_texts: dict[str, str] = field(default_factory=dict)
    binary_rel: int = 1

    @property
    def n_queries(self) -> int:
        """Queries evaluated."""
        return len(self.runs.get("first_stage", {}))

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary (no runs; write those with :meth:`write_trec`)."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "model": self.model,
            "first_stage_mode": self.first_stage,
            "n_queries": self.n_queries,
            "binary_rel": self.binary_rel,  # mrr@10 and recall@100 count grades >= this; ndcg@10 is graded
            "settings": self.settings,
            **self.metrics,
            "mean_timings_s": self.mean_timings,
            "doc_encoding": dataclasses.asdict(self.encode),
        }

    def trec_run(self, system: str, tag: str | None = None) -> str:
        """The system's ranking as TREC run text (``qid Q0 docid rank score tag``)."""
        tag = tag or f"e2rank_demo.{system}"
        lines = [
            f"{qid} Q0 {doc} {rank} {score:.6f} {tag}"
            for qid, ranked in self.runs[system].items()
            for rank, (doc, score) in enumerate(ranked, start=1)
        ]
        return "\n".join(lines) + "\n"

    def write_trec(self, system: str, path: str | Path) -> None:
        """Writes :meth:`trec_run` to ``path``."""
        Path(path).write_text(self.trec_run(system), encoding="utf-8")


def pick_queries(dataset: BeirDataset, split: str, limit: int | None, seed: int = 0) -> dict[str, str]:
    """Judged queries of ``split``, or a seeded sample of ``limit`` of them (in id order)."""
    queries = dataset.split_queries(split)
    if limit is not None and limit < len(queries):
        chosen = set(random.Random(seed).sample(sorted(queries), limit))
        queries = {q: t for q, t in queries.items() if q in chosen}
    return queries


def evaluate(
    dataset: BeirDataset,
    embedder: Embedder,
    first_stage: FirstStageMode = "dense",
    settings: SearchSettings | None = None,
    *,
    split: str = "test",
    limit_queries: int | None = None,
    seed: int = 0,
    run_name: str | None = None,
    cache: EmbeddingCache | None = None,
    session: SearchSession | None = None,
    encode_progress: ProgressFn | None = None,
    query_progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Evaluates the first stage and the rerankers over the judged queries of a split.

    Args:
        dataset: A loaded BEIR collection.
        embedder: The model (it embeds the corpus once, through ``cache``).
        first_stage: ``dense`` / ``bm25`` over the whole corpus, or ``run`` to rerank the
            candidates of a TREC run shipped with the collection.
        settings: Search settings (N, k, task, rerankers ...).
        split: Qrels split.
        limit_queries: Evaluate a seeded sample of this many queries.
        seed: Seed of that sample.
        run_name: Which run to use in ``run`` mode (default: the only or first one).
        cache: Embedding cache.
        session: A session already built over ``dataset.corpus`` with ``embedder``.
        encode_progress: Progress of corpus embedding.
        query_progress: Progress over queries.

    Returns:
        The report.
    """
    settings = (settings or SearchSettings()).for_model(embedder)  # the report records the k and pooling used
    if first_stage in ("dense", "bm25"):
        settings = settings.replace(first_stage=first_stage)
    qrels = dataset.qrels.get(split)
    if not qrels:
        raise ValueError(f"{dataset.name} has no qrels for split {split!r} (has: {', '.join(dataset.qrels)})")
    run_entries = None
    if first_stage == "run":
        if not dataset.runs:
            raise ValueError(f"{dataset.name} ships no TREC run; use first stage dense or bm25")
        run_name = run_name or sorted(dataset.runs)[0]
        run_entries = dataset.runs[run_name]
    queries = pick_queries(dataset, split, limit_queries, seed)
    if session is None:
        session = SearchSession(
            embedder, [Passage.from_document(d) for d in dataset.corpus], cache, progress=encode_progress
        )

    runs: dict[str, dict[str, list[tuple[str, float]]]] = {"first_stage": {}}
    totals: dict[str, float] = {}
    for i, (qid, text) in enumerate(queries.items()):
        candidates = None
        if run_entries is not None:
            candidates = candidates_from_run(run_entries.get(qid, []), session.row_of, settings.candidates)
        with bulk():  # in a shared app, other visitors' searches go first between queries
            result = session.search(text, settings, candidates=candidates)
        for ranking in [result.first_stage, *result.reranked.values()]:
            runs.setdefault(ranking.system, {})[qid] = ranking.top(len(ranking.ids))
        for stage, seconds in result.timings.stages.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
        if query_progress is not None:
            query_progress(i + 1, len(queries))

    as_dicts = {s: {q: dict(r) for q, r in per_q.items()} for s, per_q in runs.items()}
    metrics = {s: evaluate_run(qrels, r, binary_rel=dataset.binary_rel) for s, r in as_dicts.items()}
    per_q = {s: per_query(qrels, r, binary_rel=dataset.binary_rel) for s, r in as_dicts.items()}
    n = max(len(queries), 1)
    return EvalReport(
        dataset=dataset.name,
        split=split,
        model=embedder.name,
        first_stage=first_stage if first_stage != "run" else f"run:{run_name}",
        settings=dataclasses.asdict(settings),
        metrics=metrics,
        per_query=per_q,
        runs=runs,
        mean_timings={k: v / n for k, v in totals.items()},
        encode=session.encode_stats,
        query_texts=dict(queries),
        binary_rel=dataset.binary_rel,
    )


# ---------------------------------------------------------------- per-query comparison (UI, reports)

TIE_EPSILON = 1e-9
"""Two per-query values closer than this count as a tie."""

REPORTED_LABEL = "reported (E2Rank-0.6B/8B, BM25 top-100)"
"""How the paper's figures are labelled wherever they are shown beside measured ones."""

# nDCG@10 x 100, reranking the BM25 top-100 (shared/docs/e2rank-reference.md, section 4).
REPORTED_NDCG10: dict[str, dict[str, float]] = {
    "trec-dl-2019": {"BM25": 50.58, "E2Rank-0.6B": 70.84, "E2Rank-8B": 72.95},
    "scifact": {"BM25": 67.89, "E2Rank-0.6B": 73.43, "E2Rank-8B": 77.49},
}
_REPORTED_ALIASES = {
    "dl19": "trec-dl-2019",
    "trec-dl-19": "trec-dl-2019",
    "trec dl 2019": "trec-dl-2019",
    "beir-scifact": "scifact",
}


def reported_ndcg10(collection: str) -> dict[str, float] | None:
    """The paper's nDCG@10 (x100, BM25 top-100 reranked) for a full collection, or ``None``.

    Only the complete collections have a reported figure; subsets (such as the bundled
    SciFact sample) are not comparable and must not be looked up here.

    Example:
        >>> reported_ndcg10("DL19")["E2Rank-8B"]
        72.95
        >>> reported_ndcg10("general") is None
        True
    """
    key = collection.strip().lower()
    key = _REPORTED_ALIASES.get(key, key)
    figures = REPORTED_NDCG10.get(key)
    return dict(figures) if figures is not None else None


@dataclass(frozen=True)
class QueryDelta:
    """One query's metric for a system and its baseline.

    Attributes:
        qid: Query id.
        text: Query text (may be empty when unknown).
        baseline: The baseline's value (the first stage).
        system: The system's value (a reranker).
    """

    qid: str
    text: str
    baseline: float
    system: float

    @property
    def delta(self) -> float:
        """``system - baseline``."""
        return self.system - self.baseline

    def outcome(self, eps: float = TIE_EPSILON) -> Literal["win", "tie", "loss"]:
        """``win`` when the system is better by at least ``eps``, ``loss`` when worse, else ``tie``."""
        if abs(self.delta) < eps:
            return "tie"
        return "win" if self.delta > 0 else "loss"


def query_deltas(
    per_query: dict[str, dict[str, dict[str, float]]],
    system: str = "e2rank",
    baseline: str = "first_stage",
    metric: str = "ndcg@10",
    texts: dict[str, str] | None = None,
) -> list[QueryDelta]:
    """Per-query values of ``system`` against ``baseline``, for queries both were scored on (id order).

    Args:
        per_query: ``{system: {qid: {metric: value}}}``, as in :attr:`EvalReport.per_query`.
        system: The system compared.
        baseline: What it is compared with.
        metric: Which measure.
        texts: Query texts by id.

    Returns:
        One :class:`QueryDelta` per query; empty when either system is missing.
    """
    ours, base = per_query.get(system, {}), per_query.get(baseline, {})
    texts = texts or {}
    return [
        QueryDelta(qid, texts.get(qid, ""), float(base[qid][metric]), float(ours[qid][metric]))
        for qid in sorted(set(ours) & set(base))
        if metric in ours[qid] and metric in base[qid]
    ]


def win_tie_loss(deltas: list[QueryDelta], eps: float = TIE_EPSILON) -> dict[str, int]:
    """Counts of queries where the system wins, ties (``|delta| < eps``) or loses.

    Example:
        >>> win_tie_loss([QueryDelta("a", "", 0.5, 0.7), QueryDelta("b", "", 0.5, 0.5)])
        {'win': 1, 'tie': 1, 'loss': 0}
    """
    counts = {"win": 0, "tie": 0, "loss": 0}
    for d in deltas:
        counts[d.outcome(eps)] += 1
    return counts


def helped_hurt(
    deltas: list[QueryDelta], n: int = 5, eps: float = TIE_EPSILON
) -> tuple[list[QueryDelta], list[QueryDelta]]:
    """The ``n`` queries the system helped most (largest gain first) and hurt most (largest loss first).

    Ties never appear; equal deltas are ordered by query id.
    """
    helped = sorted((d for d in deltas if d.outcome(eps) == "win"), key=lambda d: (-d.delta, d.qid))
    hurt = sorted((d for d in deltas if d.outcome(eps) == "loss"), key=lambda d: (d.delta, d.qid))
    return helped[:n], hurt[:n]


def report_json(report: EvalReport, system: str = "e2rank", baseline: str = "first_stage") -> dict[str, object]:
    """:meth:`EvalReport.to_json` plus per-query values, query texts and the win/tie/loss counts."""
    out = dict(report.to_json())
    out["per_query"] = report.per_query
    out["query_texts"] = report.query_texts
    deltas = query_deltas(report.per_query, system, baseline, texts=report.query_texts)
    if deltas:
        out[f"{system}_vs_{baseline}_ndcg@10"] = {**win_tie_loss(deltas), "tie_epsilon": TIE_EPSILON}
    return out
