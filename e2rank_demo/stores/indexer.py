"""Streams a corpus into a document store in batches; resumable after any interruption.

The corpus is read in a fixed order, one batch at a time, so memory does not grow with
its size. For each batch the store says which ids it lacks; only those are embedded and
added, as one commit. Killed at any point (even SIGKILL) and run again, indexing skips
what was committed and adds the rest: no duplicate, no gap.

Sources: a BEIR folder (``corpus.jsonl[.gz]``), a ``.jsonl[.gz]`` file of
``{"_id" or "id", "title", "text"}`` records, or any folder or file the app can read
(one file at a time, through :func:`~e2rank_demo.corpus.ingest_files`).

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from e2rank_demo.stores.indexer import CorpusStream
    >>> path = Path(tempfile.mkdtemp()) / "c.jsonl"
    >>> _ = path.write_text("\\n".join(json.dumps({"_id": str(i), "text": f"doc {i}"}) for i in range(3)))
    >>> stream = CorpusStream(path)
    >>> stream.total, [p.id for p in stream.passages()]
    (3, ['0', '1', '2'])
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.index import embed_corpus
from e2rank_demo.models import Embedder
from e2rank_demo.records import Passage
from e2rank_demo.stores import DocumentStore, IndexChoice

ProgressFn = Callable[[int, int], None]


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


class CorpusStream:
    """A corpus read lazily in a fixed order.

    Args:
        path: BEIR folder, ``.jsonl[.gz]`` file, or any folder or file of documents.
        split: Split long documents of a folder into passages (as the app does).

    Attributes:
        total: Units to go through (records of a JSONL corpus, files of a folder), for
            the progress bar; :attr:`done` counts them as :meth:`passages` advances.
    """

    def __init__(self, path: str | Path, *, split: bool = False) -> None:
        self.path = Path(path)
        self.split = split
        if not self.path.exists():
            raise FileNotFoundError(f"no corpus at {self.path}")
        self._jsonl = self._jsonl_file()
        if self._jsonl is not None:
            with _open_text(self._jsonl) as fh:
                self.total = sum(1 for line in fh if line.strip())
        else:
            self._files = sorted(p for p in self.path.rglob("*") if p.is_file()) if self.path.is_dir() else [self.path]
            self.total = len(self._files)
        self.done = 0

    def _jsonl_file(self) -> Path | None:
        if self.path.is_dir():
            return next((self.path / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (self.path / n).is_file()), None)
        return self.path if self.path.name.endswith((".jsonl", ".jsonl.gz")) else None

    def passages(self) -> Iterator[Passage]:
        """Every passage, in the same order on every run."""
        self.done = 0
        yield from (self._jsonl_passages() if self._jsonl is not None else self._file_passages())

    def _jsonl_passages(self) -> Iterator[Passage]:
        assert self._jsonl is not None
        source = f"beir:{self.path.name}" if self.path.is_dir() else self.path.name
        with _open_text(self._jsonl) as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{self._jsonl} line {n} is not valid JSON") from None
                pid = obj.get("_id", obj.get("id")) if isinstance(obj, dict) else None
                if pid is None:
                    raise ValueError(f"{self._jsonl} line {n} is not an object with an '_id' (or 'id')")
                title = obj.get("title") if isinstance(obj.get("title"), str) else ""
                self.done += 1
                yield Passage(str(pid), str(pid), title, str(obj.get("text") or ""), source=source)

    def _file_passages(self) -> Iterator[Passage]:
        from e2rank_demo.corpus import ingest_files, split_passages

        seen: set[str] = set()  # ids only: files are renamed apart the way one upload would be
        for file in self._files:
            name = str(file.relative_to(self.path)) if self.path.is_dir() else file.name
            documents = ingest_files([file], names=[name]).documents
            passages = split_passages(documents) if self.split else [Passage.from_document(d) for d in documents]
            self.done += 1
            for p in passages:
                pid, k = p.id, 2
                while pid in seen:
                    pid, k = f"{p.id}-{k}", k + 1
                seen.add(pid)
                yield Passage(pid, p.doc_id, p.title, p.text, p.position, p.source)


@dataclass
class IndexReport:
    """What one indexing run did.

    Attributes:
        seen: Passages read from the corpus.
        added: Passages embedded and added by this run.
        already: Passages skipped because the store had them (earlier run or repeated id).
        stored: Passages in the store at the end.
        index: The index the store searches with.
        seconds: Wall-clock time of the run.
    """

    seen: int
    added: int
    already: int
    stored: int
    index: IndexChoice
    seconds: float


def index_corpus(
    stream: CorpusStream,
    store: DocumentStore,
    embedder: Embedder,
    *,
    batch_size: int = 256,
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
) -> IndexReport:
    """Adds every passage of ``stream`` the store lacks, one committed batch at a time.

    Args:
        stream: The corpus.
        store: Opened with ``embedder``'s identity, writable.
        embedder: Embeds the documents (through ``cache`` when given).
        batch_size: Passages per commit (and the most held in memory).
        cache: Embedding cache shared with the in-memory path.
        progress: Called with ``(done, total)`` corpus units after each batch.

    Returns:
        The counts, and the index the store ends with (built at the end, by size).
    """
    start = time.perf_counter()
    seen = added = 0
    passages = stream.passages()
    while batch := list(islice(passages, batch_size)):
        seen += len(batch)
        lacking = set(store.missing([p.id for p in batch]))
        todo = [p for p in batch if p.id in lacking]
        if todo:
            vectors, _ = embed_corpus(embedder, [p.full_text for p in todo], cache)
            added += store.add([p.id for p in todo], [p.title for p in todo], [p.text for p in todo], vectors)
        if progress is not None:
            progress(stream.done, stream.total)
    kind = store.optimize()
    return IndexReport(seen, added, seen - added, store.count(), kind, time.perf_counter() - start)
