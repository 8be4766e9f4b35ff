"""Command line: ``python -m e2rank_demo {search,eval,index,bench,results,record-adapter,train} ...``.

Example:
    $ python -m e2rank_demo eval --data ../shared/data/trec-dl-2019 --first-stage run
    $ python -m e2rank_demo search --corpus assets/samples/general --query "why does bread rise"
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from e2rank_demo.prompts import TASKS
from e2rank_demo.records import PROMPT_POOLINGS, Document
from e2rank_demo.stores import STORE_FORMS


def _progress_bar(desc: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def _settings(args: argparse.Namespace, task: str):  # noqa: ANN202
    from e2rank_demo.pipeline import SearchSettings

    rerankers = tuple(r.strip() for r in args.rerankers.split(",") if r.strip())
    return SearchSettings(
        first_stage=args.first_stage if args.first_stage in ("dense", "bm25") else "dense",
        candidates=args.candidates,
        prompt_docs=args.prompt_docs,
        task=task,
        interpolation=args.interpolation,
        prompt_order=args.prompt_order,
        prompt_pooling=args.prompt_pooling,
        rerankers=rerankers,
    )


def _prompt_line(k: object, pooling: object, embedder) -> str:  # noqa: ANN001
    """Says which k and prompt pooling E2Rank ran with, and whether they are the model's defaults."""
    same = (k, pooling) == (embedder.prompt_docs, embedder.prompt_pooling)
    return f"E2Rank prompt: k = {k} documents, {pooling} pooling" + (
        " (the model's defaults)"
        if same
        else f" (the model's defaults: k = {embedder.prompt_docs}, {embedder.prompt_pooling} pooling)"
    )


def _load_model(name: str | None):  # noqa: ANN202
    from e2rank_demo.models import load_embedder

    loaded = load_embedder(name)
    if loaded.notice:
        print(f"notice: {loaded.notice}", file=sys.stderr)
    return loaded.embedder


def _corpus_documents(path: Path) -> list[Document]:
    from e2rank_demo.corpus import ingest_files, load_beir

    if path.is_dir() and any((path / n).exists() for n in ("corpus.jsonl", "corpus.jsonl.gz")):
        return load_beir(path).corpus
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    report = ingest_files(files)
    for message in report.messages:
        print(f"note: {message}", file=sys.stderr)
    return report.documents


def _open_store(uri: str, model: str | None, *, create: bool = False):  # noqa: ANN202
    """Opens a document store with ``model``, or with the model that built it when none is named."""
    from e2rank_demo.stores import StoreInfo, open_store

    if model is None:
        try:
            probe = open_store(uri)
        except ValueError:
            if not create:
                raise
        else:
            model = probe.info.model
            probe.close()
    embedder = _load_model(model)
    return open_store(uri, StoreInfo.of(embedder), create=create), embedder


def _store_session(store, embedder):  # noqa: ANN001, ANN202
    from e2rank_demo.stores.session import StoreSession

    return StoreSession(store, embedder)


def cmd_index(args: argparse.Namespace) -> int:
    """Streams a corpus into a document store (resumable: run it again after any interruption)."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.stores.indexer import CorpusStream, index_corpus

    stream = CorpusStream(args.corpus, split=args.split_passages)
    store, embedder = _open_store(args.store, args.model, create=True)
    update, close = _progress_bar("indexing")
    try:
        report = index_corpus(
            stream,
            store,
            embedder,
            batch_size=args.batch_size,
            cache=None if args.no_cache else EmbeddingCache(),
            progress=update,
        )
    finally:
        close()
        store.close()
    print(
        f"{report.stored:,} passages in {args.store} (model {embedder.name}, {report.index} index); this run "
        f"added {report.added:,} and skipped {report.already:,} already stored, in {report.seconds:.1f} s"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Searches a folder or file and prints (or writes as JSON) both rankings."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.pipeline import SearchSession

    if args.store:
        store, embedder = _open_store(args.store, args.model)
        session = _store_session(store, embedder)
    else:
        documents = _corpus_documents(Path(args.corpus))
        if not documents:
            print("error: no readable documents in the corpus", file=sys.stderr)
            return 2
        embedder = _load_model(args.model)
        update, close = _progress_bar("embedding documents")
        session = SearchSession.from_documents(
            documents, embedder, EmbeddingCache(), split=args.split_passages, progress=update
        )
        close()
    try:
        result = session.search(args.query, _settings(args, args.task))
    finally:
        if args.store:
            store.close()
    systems = [result.first_stage, *result.reranked.values()]
    if args.json:
        payload = {
            "query": result.query,
            "model": embedder.name,
            "settings": result.settings.as_dict(),
            "timings_s": result.timings.stages,
            "prompt_tokens": result.prompt.n_tokens if result.prompt else None,
            **{
                r.system: [{"id": pid, "score": s, "title": session.passage(pid).title} for pid, s in r.top(args.top)]
                for r in systems
            },
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if "e2rank" in result.reranked:
        print(_prompt_line(result.settings.prompt_docs, result.settings.prompt_pooling, embedder))
    for ranking in systems:
        print(f"\n== {ranking.system}")
        deltas = ranking.deltas_against(result.first_stage)
        for rank, (pid, score) in enumerate(ranking.top(args.top), start=1):
            move = deltas.get(pid, 0)
            badge = f"{'+' if move > 0 else ''}{move}" if ranking.system != "first_stage" else ""
            passage = session.passage(pid)
            print(f"{rank:>3} {score:8.4f} {badge:>5} {pid}  {(passage.title or passage.text)[:70]}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluates a BEIR-layout folder and prints a metrics table (and JSON)."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.evaluation import evaluate

    dataset = load_beir(args.data)
    task = args.task if args.task != "auto" else ("scifact" if "scifact" in dataset.name.lower() else "web")
    settings = _settings(args, task)
    store = session = None
    if args.store:
        if args.first_stage != "dense":
            raise ValueError("with --store the first stage is the store's dense search (--first-stage dense)")
        store, embedder = _open_store(args.store, args.model)
        session = _store_session(store, embedder)
    else:
        embedder = _load_model(args.model)
    if args.max_prompt_tokens is not None:
        if embedder.kind != "decoder":
            print(
                f"note: --max-prompt-tokens applies to decoders; {embedder.name} keeps its "
                f"{embedder.max_tokens}-token window",
                file=sys.stderr,
            )
        else:
            embedder.set_prompt_cap(args.max_prompt_tokens)
    encode_update, encode_close = _progress_bar("embedding corpus")
    query_update, query_close = _progress_bar("queries")
    try:
        report = evaluate(
            dataset,
            embedder,
            args.first_stage,
            settings,
            split=args.split,
            limit_queries=args.limit_queries,
            cache=None if args.no_cache else EmbeddingCache(),
            session=session,
            encode_progress=encode_update,
            query_progress=query_update,
        )
    finally:
        encode_close()
        query_close()
        if store is not None:
            store.close()
    print(
        f"{dataset.name} ({args.split}, {report.n_queries} queries), model {embedder.name}, "
        f"first stage {report.first_stage}"
    )
    if "e2rank" in report.metrics:
        print(_prompt_line(report.settings.get("prompt_docs"), report.settings.get("prompt_pooling"), embedder))
    print(f"{'system':<14}{'nDCG@10':>10}{'MRR@10':>10}{'R@100':>10}")
    if report.binary_rel != 1:
        print(
            f"MRR@10 and R@100 count judgments of grade >= {report.binary_rel} as relevant "
            "(TREC DL convention); nDCG@10 uses the grades"
        )
    for system, values in report.metrics.items():
        print(f"{system:<14}{values['ndcg@10']:>10.4f}{values['mrr@10']:>10.4f}{values['recall@100']:>10.4f}")
    print("mean seconds per query: " + ", ".join(f"{k} {v:.4f}" for k, v in report.mean_timings.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    if args.trec_dir:
        out = Path(args.trec_dir)
        out.mkdir(parents=True, exist_ok=True)
        for system in report.runs:
            report.write_trec(system, out / f"{system}.trec")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Runs the benchmark suite (ratios, min/median/max) and writes JSON."""
    if args.scale:
        from e2rank_demo.stores.bench_scale import run

        return run(
            [int(n) for n in args.sizes.split(",") if n.strip()],
            args.json or "docs/scale.json",
            stores=tuple(s.strip() for s in args.stores.split(",") if s.strip()),
        )
    if args.class_size is not None:
        from e2rank_demo.class_bench import main as class_main

        return class_main(
            args.class_size, args.searches, args.concurrency, args.queue_size, args.json or "docs/bench.json"
        )
    from e2rank_demo.bench import main as bench_main

    return bench_main(args.quick, args.json)


def cmd_results(args: argparse.Namespace) -> int:
    """Regenerates docs/RESULTS.md from measured evaluations and a bench JSON."""
    from e2rank_demo.results import main as results_main

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    return results_main(args.bench_json, args.out, models, args.evals_json)


def cmd_record_adapter(args: argparse.Namespace) -> int:
    """Measures a trained adapter on a test split and stores the figures in its ``e2rank_adapter.json``."""
    from e2rank_demo.adapter_eval import main as record_main

    stages = [s.strip() for s in args.first_stages.split(",") if s.strip()]
    return record_main(args.adapter, args.data, stages, args.split, args.limit_queries, not args.no_cache)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="preset (minilm, e2rank-0.6b, ...), folder or hub id")
    from e2rank_demo.rerank import RERANKERS

    p.add_argument("--rerankers", default=",".join(RERANKERS), help=f"comma-separated subset of {', '.join(RERANKERS)}")
    p.add_argument("--candidates", type=int, default=100, help="N, candidates to rerank")
    p.add_argument(
        "--prompt-docs",
        type=int,
        default=None,
        help="k, documents in the listwise prompt (default: the model's; 20 for E2Rank)",
    )
    p.add_argument("--interpolation", type=float, default=0.0, help="lambda weight of cos(query, doc)")
    p.add_argument("--prompt-order", choices=["official", "query_first"], default="official")
    p.add_argument(
        "--prompt-pooling",
        choices=list(PROMPT_POOLINGS),
        default=None,
        help="how the listwise prompt becomes one vector: query (its query's tokens), mean (all tokens), "
        "last (last token; E2Rank's decoders); default: the model's",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="python -m e2rank_demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    search = sub.add_parser("search", help="search a folder or file of documents")
    where = search.add_mutually_exclusive_group(required=True)
    where.add_argument("--corpus", help="folder, file, or BEIR folder")
    where.add_argument("--store", help=f"a document store built by `index`: {STORE_FORMS}")
    search.add_argument("--query", required=True)
    search.add_argument("--first-stage", choices=["dense", "bm25"], default="dense")
    search.add_argument("--task", choices=list(TASKS), default="web")
    search.add_argument("--top", type=int, default=10, help="results to print per system")
    search.add_argument("--split-passages", action="store_true", help="split long documents into passages")
    search.add_argument("--json", action="store_true", help="print JSON instead of tables")
    _add_search_options(search)
    search.set_defaults(func=cmd_search)

    ev = sub.add_parser("eval", help="evaluate on a BEIR-layout folder")
    ev.add_argument("--data", required=True, help="BEIR folder or zip (corpus, queries, qrels[, runs])")
    ev.add_argument("--first-stage", choices=["dense", "bm25", "run"], default="dense")
    ev.add_argument("--split", default="test")
    ev.add_argument("--task", choices=["auto", *TASKS], default="auto")
    ev.add_argument("--limit-queries", type=int, default=None, help="evaluate a seeded sample")
    ev.add_argument("--json", default=None, help="write the summary JSON here")
    ev.add_argument("--trec-dir", default=None, help="write one TREC run per system here")
    ev.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    ev.add_argument(
        "--max-prompt-tokens",
        type=int,
        default=None,
        help="decoder listwise-prompt window (default 8192, E2RANK_MAX_PROMPT_TOKENS; the paper: 32768)",
    )
    ev.add_argument("--store", default=None, help=f"first stage from a document store built by `index`: {STORE_FORMS}")
    _add_search_options(ev)
    ev.set_defaults(func=cmd_eval)

    ix = sub.add_parser("index", help="stream a corpus into a document store (FAISS on disk or Milvus); resumable")
    ix.add_argument("--corpus", required=True, help="BEIR folder, .jsonl[.gz] file, or folder/file of documents")
    ix.add_argument("--store", required=True, help=STORE_FORMS)
    ix.add_argument("--model", default=None, help="preset, folder or hub id (default: the store's, else minilm)")
    ix.add_argument("--batch-size", type=int, default=256, help="passages per commit")
    ix.add_argument("--split-passages", action="store_true", help="split long documents into passages")
    ix.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    ix.set_defaults(func=cmd_index)

    bench = sub.add_parser("bench", help="benchmark suite (ratios with min/median/max)")
    bench.add_argument("--quick", action="store_true", help="bundled sample, fewer repeats (< 3 min)")
    bench.add_argument(
        "--json", default=None, help="write the results JSON here (--scale: docs/scale.json; --class: docs/bench.json)"
    )
    bench.add_argument(
        "--scale",
        action="store_true",
        help="document stores against corpus size (synthetic 384-d vectors; Milvus Lite, FAISS HNSW)",
    )
    bench.add_argument("--sizes", default="10000,100000,1000000", help="corpus sizes for --scale")
    bench.add_argument(
        "--stores", default="faiss-hnsw,milvus-lite", help="stores for --scale (rows of others are kept)"
    )
    bench.add_argument(
        "--class",
        dest="class_size",
        type=int,
        nargs="?",
        const=30,
        default=None,
        metavar="N",
        help="N concurrent visitors (default 30) against `python app.py`; recorded in the "
        "--json file's class section (default docs/bench.json)",
    )
    bench.add_argument("--searches", type=int, default=5, help="searches per visitor for --class")
    bench.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="Gradio's default_concurrency_limit for --class (default: the app's)",
    )
    bench.add_argument(
        "--queue-size", type=int, default=None, help="Gradio's queue max_size for --class (default: the app's)"
    )
    bench.set_defaults(func=cmd_bench)

    results = sub.add_parser("results", help="regenerate docs/RESULTS.md from measured runs")
    results.add_argument(
        "--bench-json", default=None, help="a JSON written by `bench` (default: docs/bench.json if present)"
    )
    results.add_argument("--out", default="docs/RESULTS.md")
    results.add_argument("--models", default="minilm,minilm-e2rank", help="models to evaluate (skipped if absent)")
    results.add_argument("--evals-json", default=None, help="store evaluations here; re-used when the file exists")
    results.set_defaults(func=cmd_results)

    rec = sub.add_parser(
        "record-adapter",
        help="measure a trained adapter on a test split (its own k and pooling) "
        "and store the figures in its e2rank_adapter.json, where the model note reads them",
    )
    rec.add_argument("adapter", help="a preset with a shipped adapter (minilm-e2rank) or an adapter folder")
    rec.add_argument("--data", required=True, help="BEIR folder or zip, e.g. ../shared/data/scifact")
    rec.add_argument(
        "--first-stages",
        default="dense,bm25",
        help="comma-separated first stages to measure (dense is the setting the app opens with)",
    )
    rec.add_argument("--split", default="test")
    rec.add_argument("--limit-queries", type=int, default=None, help="a seeded sample (default: every judged query)")
    rec.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    rec.set_defaults(func=cmd_record_adapter)

    from e2rank_demo.train import add_arguments, cmd_train

    tr = sub.add_parser("train", help="train a listwise-prompt adapter (E2Rank Stage II) on train qrels")
    add_arguments(tr)
    tr.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (errors print a plain message, no traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
