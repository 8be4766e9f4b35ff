"""Search over a document store: the store is the first stage, its vectors feed the rerankers.

Example:
    >>> import numpy as np, tempfile
    >>> from e2rank_demo.models import load_embedder
    >>> from e2rank_demo.pipeline import SearchSettings
    >>> from e2rank_demo.stores import StoreInfo, open_store
    >>> from e2rank_demo.stores.session import StoreSession
    >>> embedder = load_embedder("minilm").embedder
    >>> texts = ["Yeast makes bread dough rise.", "The Moon causes the tides."]
    >>> store = open_store(f"faiss:{tempfile.mkdtemp()}/s", StoreInfo.of(embedder), create=True)
    >>> store.add(["bread", "tides"], ["", ""], texts, embedder.embed_documents(texts))
    2
    >>> session = StoreSession(store, embedder)
    >>> result = session.search("why does bread rise", SearchSettings(candidates=2, prompt_docs=2))
    >>> result.first_stage.ids[0], sorted(result.reranked)
    ('bread', ['dense', 'e2rank', 'rocchio'])
    >>> store.close()
"""

from __future__ import annotations

import numpy as np

from e2rank_demo.index import EncodeStats
from e2rank_demo.models import Embedder
from e2rank_demo.pipeline import CorpusStats, SearchSession, SearchSettings
from e2rank_demo.records import Candidates, Passage
from e2rank_demo.stores import DocumentStore, StoreInfo
from e2rank_demo.timing import StageTimer


class StoreSession(SearchSession):
    """A :class:`~e2rank_demo.pipeline.SearchSession` whose corpus lives in a store.

    Nothing is embedded when it opens and no document is re-encoded at query time: the
    store returns the candidates with their stored vectors and texts. Only the dense
    first stage exists (BM25 and TREC runs need the corpus in memory).

    The in-memory attributes of a session (``passages``, ``ids``, ``texts``, ``vectors``,
    ``row_of``) hold the **last search's candidates** here, so everything that works from
    a result's candidates (adding a reranker, editing the prompt, exports, the charts of
    one query) works unchanged; :attr:`size` is the whole store.

    Args:
        store: An open store built with ``embedder``'s document identity.
        embedder: The model for queries and listwise prompts.
    """

    holds_corpus = False

    def __init__(self, store: DocumentStore, embedder: Embedder) -> None:
        # The parent's constructor embeds a corpus; this session has none in memory.
        expected = StoreInfo.of(embedder)
        if store.info.identity != expected.identity:
            raise ValueError(
                f"the store {store.uri} was built with model {store.info.model}; the model in use is {embedder.name}"
            )
        self.embedder = embedder
        self.store = store
        self.scope = ""
        self._size = store.count()
        self.encode_stats = EncodeStats(0.0, self._size, 0, "store")
        self.tokens = None  # a store keeps no token ids: a prompt tokenises its documents
        self._hold([], np.zeros((0, store.info.dim), dtype=np.float32))

    def _hold(self, passages: list[Passage], vectors: np.ndarray) -> None:
        """Makes ``passages`` (the last candidates) the in-memory window, rows in their order."""
        self.passages = passages
        self.ids = [p.id for p in passages]
        self.row_of = {pid: i for i, pid in enumerate(self.ids)}
        self.texts = [p.full_text for p in passages]
        self.vectors = vectors

    @property
    def size(self) -> int:
        """Passages in the store (counted when it was opened; an opened store is read-only)."""
        return self._size

    def first_stage(
        self, query: str, query_vector: np.ndarray, settings: SearchSettings, timer: StageTimer
    ) -> Candidates:
        """The store's top-N, carrying their stored vectors and texts."""
        if settings.first_stage != "dense":
            raise ValueError(
                f"a document store serves the dense first stage only, not {settings.first_stage!r}: "
                "BM25 needs every text in memory"
            )
        with timer.stage("first_stage"):
            hits = self.store.search(query_vector, settings.candidates)
        passages = [
            Passage(pid, pid, title, text) for pid, title, text in zip(hits.ids, hits.titles, hits.texts, strict=False)
        ]
        self._hold(passages, hits.vectors)
        return Candidates(
            list(hits.ids),
            hits.scores,
            np.arange(len(hits), dtype=np.int64),
            "dense",
            vectors=hits.vectors,
            texts=list(self.texts),
        )

    def passage(self, pid: str) -> Passage:
        """A passage returned by the last search."""
        if pid not in self.row_of:
            raise KeyError(f"{pid!r} was not among the last search's results")
        return super().passage(pid)

    @property
    def bm25(self):  # noqa: ANN201
        """Not available: BM25 needs every text in memory."""
        raise ValueError("BM25 is not available over a document store; use the dense first stage")

    def stats(self) -> CorpusStats:
        """Counts for the corpus panel (no token count: the texts stay in the store)."""
        return CorpusStats(
            n_documents=self._size,
            n_passages=self._size,
            n_tokens=0,
            model=self.embedder.name,
            encode=self.encode_stats,
        )
