#!/usr/bin/env python3
"""Build the bundled SciFact sample (assets/samples/scifact/) from the full BEIR SciFact copy.

Deterministic (stdlib only). Run from anywhere:

    python scripts/build_scifact_sample.py
    python scripts/build_scifact_sample.py --source ../shared/data/scifact --out assets/samples/scifact --seed 13

What it does:

* picks ``--n-queries`` (default 60) TEST queries with a seeded random sample from the
  test queries whose relevant documents all exist in the corpus;
* keeps every relevant document of those queries;
* adds other documents, chosen with the same seeded generator from the rest of the
  corpus, until the sample holds exactly ``--n-docs`` (default 1,200) documents;
* writes ``corpus.jsonl`` (in the order of the original corpus file), ``queries.jsonl``
  (in the order of the original queries file), ``qrels.tsv`` (the original test qrels rows
  of the chosen queries, in their original order), ``meta.json`` and ``LICENSE.md``.

Document and query text is copied unchanged.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

LICENCE_ID = "CC-BY-NC-2.0"
ATTRIBUTION = (
    "SciFact by the Allen Institute for AI (Wadden et al., 2020, \"Fact or Fiction: "
    "Verifying Scientific Claims\", EMNLP), in the BEIR benchmark format (Thakur et al., "
    "2021, \"BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information "
    "Retrieval Models\", NeurIPS Datasets and Benchmarks). Licensed CC BY-NC 2.0; "
    "non-commercial use only. This is an unchanged-text subset of the official corpus."
)


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path: Path) -> list[tuple[str, str, int]]:
    rows: list[tuple[str, str, int]] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        if [h.strip() for h in header] != ["query-id", "corpus-id", "score"]:
            raise SystemExit(f"unexpected qrels header in {path}: {header}")
        for row in reader:
            if not row:
                continue
            qid, did, score = (c.strip() for c in row)
            rows.append((qid, did, int(score)))
    return rows


def licence_text(n_docs: int, n_queries: int, n_qrels: int, seed: int) -> str:
    return f"""# SciFact sample — licence and attribution

This folder is a **subset of the official BEIR SciFact corpus**: {n_docs:,} of the 5,183
documents, {n_queries} of the 300 test claims (queries) and their {n_qrels} test relevance
judgements. **The text of every document and query is unchanged** from the official files;
only the selection of items differs. It was produced by `scripts/build_scifact_sample.py`
(seed {seed}).

## Licence

SciFact is released by the Allen Institute for AI (AllenAI) under the
**Creative Commons Attribution-NonCommercial 2.0 Generic licence (CC BY-NC 2.0)**,
<https://creativecommons.org/licenses/by-nc/2.0/>.

**Non-commercial use only.** This sample carries the same licence as the original data.
It is *not* covered by the licence of the surrounding software project.

## Attribution

Please cite both the dataset and the benchmark when you use this sample:

* David Wadden, Shanchuan Lin, Kyle Lo, Lucy Lu Wang, Madeleine van Zuylen, Arman Cohan,
  Hannaneh Hajishirzi. 2020. *Fact or Fiction: Verifying Scientific Claims.*
  Proceedings of EMNLP 2020.
* Nandan Thakur, Nils Reimers, Andreas Rücklé, Abhishek Srivastava, Iryna Gurevych. 2021.
  *BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information Retrieval
  Models.* NeurIPS 2021 Datasets and Benchmarks Track.

## Changes made

* Selected a subset of documents, test queries and test qrels (see above).
* Dropped the always-empty `metadata` field of each document and the `metadata` field
  (evidence labels) of each query.
* No text was edited.

Note: because the corpus is a subset, retrieval scores on this sample are **not**
comparable to published SciFact results (there are fewer distractor documents).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=REPO_ROOT / ".." / "shared" / "data" / "scifact",
                    help="BEIR SciFact folder (corpus.jsonl[.gz], queries.jsonl, qrels/test.tsv); "
                         "default: ../shared/data/scifact relative to the repo root")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "assets" / "samples" / "scifact",
                    help="output folder (default: assets/samples/scifact)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--n-queries", type=int, default=60)
    ap.add_argument("--n-docs", type=int, default=1200)
    args = ap.parse_args(argv)

    src: Path = args.source
    corpus_path = src / "corpus.jsonl.gz"
    if not corpus_path.exists():
        corpus_path = src / "corpus.jsonl"
    corpus = read_jsonl(corpus_path)
    queries = read_jsonl(src / "queries.jsonl")
    qrels = read_qrels(src / "qrels" / "test.tsv")

    doc_ids = [d["_id"] for d in corpus]
    doc_set = set(doc_ids)
    if len(doc_set) != len(doc_ids):
        raise SystemExit("duplicate document ids in corpus")
    query_by_id = {q["_id"]: q for q in queries}

    rel: dict[str, list[str]] = {}
    for qid, did, score in qrels:
        if score > 0:
            rel.setdefault(qid, []).append(did)

    # Test queries (in queries.jsonl order) that exist and whose relevant docs all exist.
    eligible = [q["_id"] for q in queries
                if q["_id"] in rel and all(d in doc_set for d in rel[q["_id"]])]
    if len(eligible) < args.n_queries:
        raise SystemExit(f"only {len(eligible)} eligible test queries")

    rng = random.Random(args.seed)
    chosen_q = set(rng.sample(eligible, args.n_queries))

    keep = {d for q in chosen_q for d in rel[q]}
    if len(keep) > args.n_docs:
        raise SystemExit(f"{len(keep)} relevant docs exceed --n-docs {args.n_docs}")
    rest = [d for d in doc_ids if d not in keep]  # original corpus order
    keep.update(rng.sample(rest, args.n_docs - len(keep)))

    out_corpus = [{"_id": d["_id"], "title": d["title"], "text": d["text"]}
                  for d in corpus if d["_id"] in keep]
    out_queries = [{"_id": q["_id"], "text": q["text"]} for q in queries if q["_id"] in chosen_q]
    out_qrels = [r for r in qrels if r[0] in chosen_q]

    assert len(out_corpus) == args.n_docs
    assert len(out_queries) == args.n_queries
    assert all(did in keep for _, did, _ in out_qrels)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for d in out_corpus:
            f.write(json.dumps(d) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for q in out_queries:
            f.write(json.dumps(q) + "\n")
    with open(out / "qrels.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, did, score in out_qrels:
            f.write(f"{qid}\t{did}\t{score}\n")
    meta = {
        "name": "scifact",
        "title": "SciFact (sample)",
        "description": (f"A {args.n_docs:,}-abstract subset of the BEIR SciFact corpus with "
                        f"{args.n_queries} scientific claims to verify as queries."),
        "licence": LICENCE_ID,
        "attribution": ATTRIBUTION,
        "instruction_preset": "scifact",
        "n_documents": len(out_corpus),
        "n_queries": len(out_queries),
    }
    with open(out / "meta.json", "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    with open(out / "LICENSE.md", "w", encoding="utf-8", newline="\n") as f:
        f.write(licence_text(len(out_corpus), len(out_queries), len(out_qrels), args.seed))

    print(f"wrote {out}: {len(out_corpus)} documents, {len(out_queries)} queries, "
          f"{len(out_qrels)} qrels rows (seed {args.seed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
