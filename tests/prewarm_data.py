"""Embeds the real collections' corpora with the offline model into the test session's cache.

``tests/conftest.py`` starts this script in the background when the run includes ``data`` tests,
at the lowest CPU priority and on one thread, so the corpora are embedded on the core the unit
tests leave idle instead of while the ``data`` tests wait. It runs the product's own path
(:func:`~e2rank_demo.index.embed_corpus` over the passages a
:class:`~e2rank_demo.pipeline.SearchSession` builds from the collection), so the ``data`` tests
read exactly what they would have embedded themselves.

Usage: ``python tests/prewarm_data.py WAITING FOLDER...`` (``E2RANK_CACHE_DIR`` names the cache). Once the
file ``WAITING`` exists (a test waits for the corpora, so no core is busy with tests) it uses one thread per core.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(waiting: Path, folders: list[str]) -> int:
    import torch

    torch.set_num_threads(1)  # the idle core only: a second thread would wait on the busy one

    def between_batches(done: int, total: int) -> None:
        if torch.get_num_threads() == 1 and waiting.exists():
            torch.set_num_threads(os.cpu_count() or 1)

    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.index import embed_corpus
    from e2rank_demo.models import load_embedder
    from e2rank_demo.records import Passage

    embedder = load_embedder("minilm").embedder
    cache = EmbeddingCache()
    for folder in folders:
        start = time.perf_counter()
        texts = [Passage.from_document(d).full_text for d in load_beir(Path(folder)).corpus]
        _, stats = embed_corpus(embedder, texts, cache, between_batches)
        print(f"{folder}: {len(texts)} passages, {stats.n_encoded} embedded in {time.perf_counter() - start:.0f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
