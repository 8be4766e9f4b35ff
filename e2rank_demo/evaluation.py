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
from typing import Literal

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.corpus import BeirDataset
from e2rank_demo.index import EncodeStats
from e2rank_demo.metrics import evaluate_run, per_query
from e2rank_demo.models import Embedder, ProgressFn
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
        settings: The search settings, as a dict.
        metrics: ``{system: {"ndcg@10", "mrr@10", "recall@100"}}``; systems are
            ``first_stage`` and each reranker.
        per_query: ``{system: {qid: {metric: value}}}``.
        runs: ``{system: {qid: [(doc_id, score), ...]}}`` best first.
        mean_timings: Mean seconds per query and stage.
        encode: How the corpus embeddings were obtained.
        query_texts: Query text by id (for reports and the UI).
    """

    dataset: str
    split: str
    model: str
    first_stage: str
    settings: dict[str, object]
    metrics: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, dict[str, float]]]
    runs: dict[str, dict[str, list[tuple[str, float]]]]
    mean_timings: dict[str, float]
    encode: EncodeStats
    query_texts: dict[str, str] = field(default_factory=dict)

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
            "settings": self.settings,
            **{system: values for system, values in self.metrics.items()},
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
    settings = settings or SearchSettings()
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
        session = SearchSession(embedder, [Passage.from_document(d) for d in dataset.corpus], cache,
                                progress=encode_progress)

    runs: dict[str, dict[str, list[tuple[str, float]]]] = {"first_stage": {}}
    totals: dict[str, float] = {}
    for i, (qid, text) in enumerate(queries.items()):
        candidates = None
        if run_entries is not None:
            candidates = candidates_from_run(run_entries.get(qid, []), session.row_of, settings.candidates)
        result = session.search(text, settings, candidates=candidates)
        for ranking in [result.first_stage, *result.reranked.values()]:
            runs.setdefault(ranking.system, {})[qid] = ranking.top(len(ranking.ids))
        for stage, seconds in result.timings.stages.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
        if query_progress is not None:
            query_progress(i + 1, len(queries))

    as_dicts = {s: {q: dict(r) for q, r in per_q.items()} for s, per_q in runs.items()}
    metrics = {s: evaluate_run(qrels, r) for s, r in as_dicts.items()}
    per_q = {s: per_query(qrels, r) for s, r in as_dicts.items()}
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
    )

