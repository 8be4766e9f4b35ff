"""Validation figures of the untrained offline model for each prompt pooling and k (docs/training.md, v3).

The same 250 held-out SciFact train queries and the same ``validate()`` as training; inference only.
The rule in docs/training.md picks the ``minilm`` preset's default pooling and k from these rows.

    python scripts/validate_untrained.py --data ../shared/data/scifact > docs/training-logs/v3/untrained.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.corpus import load_beir
from e2rank_demo.index import embed_corpus
from e2rank_demo.models import build_embedder
from e2rank_demo.train import TrainConfig, _doc_text, validate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/scifact")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--poolings", default="mean,query")
    parser.add_argument("--ks", default="3,5,10,20")
    args = parser.parse_args()
    dataset = load_beir(args.data)
    embedder = build_embedder(args.model)
    vectors, _ = embed_corpus(embedder, [_doc_text(d) for d in dataset.corpus], EmbeddingCache())
    for pooling in args.poolings.split(","):
        for k in map(int, args.ks.split(",")):
            embedder.prompt_pooling = pooling  # type: ignore[assignment]
            scores = validate(dataset, embedder, vectors, TrainConfig(model=args.model, data=args.data, prompt_docs=k))
            print(json.dumps({"model": args.model, "prompt_pooling": pooling, "prompt_docs": k,
                              **{f"val_{name}": value for name, value in scores.items()}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
