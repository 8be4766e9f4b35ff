"""Scores candidate teachers on the 100 validation queries (base minilm, nDCG@10); output: teachers.txt."""
import numpy as np
from e2rank_demo.corpus import load_beir
from e2rank_demo.models import build_embedder
from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.index import embed_corpus
from e2rank_demo.retrieval import BM25Retriever
from e2rank_demo.train import split_train_validation, _doc_text
from e2rank_demo.prompts import TASKS
from e2rank_demo.metrics import evaluate_run
ds = load_beir("../shared/data/scifact")
tr, val = split_train_validation(ds, 100, 0)
base = build_embedder("minilm")
texts = [_doc_text(d) for d in ds.corpus]
D, _ = embed_corpus(base, texts, EmbeddingCache())
Q = base.embed_queries([ds.queries[q] for q in val], TASKS["scifact"].query)
bm = BM25Retriever(texts)
ids = [d.id for d in ds.corpus]
qrels = {q: ds.qrels["train"][q] for q in val}
def norm(v): return v/np.linalg.norm(v)
runs = {}
for qid, q in zip(val, Q):
    b = bm.search(ds.queries[qid], 1000)
    brank = {int(r): i for i, r in enumerate(b.rows)}
    dense_all = D @ q
    drank_all = np.argsort(-dense_all)
    for stage in ("bm25", "dense"):
        cand = list(b.rows[:100]) if stage == "bm25" else list(drank_all[:100])
        C = D[cand]
        s = {}
        s["first"] = -np.arange(len(cand), dtype=float)
        s["dense"] = C @ q
        for beta in (0.5, 1.0):
            s[f"roc_stage{beta}"] = C @ norm(q + beta * D[cand[:5]].mean(0))
            s[f"roc_bm{beta}"] = C @ norm(q + beta * D[b.rows[:5]].mean(0))
        rk = lambda sc: {c: i for i, c in enumerate(np.array(cand)[np.argsort(-sc)])}
        rd, rr, rb = rk(s["dense"]), rk(s["roc_bm0.5"]), {c: brank.get(int(c), 1000) for c in cand}
        s["rrf_bdr"] = np.array([1/(60+rb[c]) + 1/(60+rd[c]) + 1/(60+rr[c]) for c in cand])
        s["rrf_bd"] = np.array([1/(60+rb[c]) + 1/(60+rd[c]) for c in cand])
        s["rrf_br"] = np.array([1/(60+rb[c]) + 1/(60+rr[c]) for c in cand])
        for name, sc in s.items():
            runs.setdefault(f"{stage}:{name}", {})[qid] = {ids[c]: float(v) for c, v in zip(cand, sc)}
for k, r in sorted(runs.items()):
    print(k, round(evaluate_run(qrels, r)["ndcg@10"], 4))
