"""Per-browser-session state: the corpus, its index, the last result and the judgments.

One :class:`UISession` lives in a ``gr.State`` per browser tab, so sessions never share
documents or judgments. Gradio hands callbacks the stored object itself (not a copy),
which is what lets a search see that an indexing run of the same tab is still going.
Only plain fields live here so that ``gr.State`` can deep-copy the initial value.

Example:
    >>> state = UISession()
    >>> state.set_relevant("why does bread rise", shown=["a", "b"], ticked=["b"])
    >>> state.judgments_for("why does bread rise")
    {'b': 1}
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from e2rank_demo.pipeline import SearchSession
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Document


@dataclass(frozen=True)
class IndexConfig:
    """What an index was built with; changing any of it means re-embedding.

    Attributes:
        model: Model preset (or path) that was requested.
        split: Whether long documents were split into passages.
        max_words: Passage length in words (when split).
        overlap: Words shared by consecutive passages (when split).
    """

    model: str
    split: bool
    max_words: int
    overlap: int


@dataclass
class Corpus:
    """The documents the user loaded, kept so that they can be re-indexed.

    Attributes:
        label: What to call the corpus in the UI ("3 uploaded files", a sample title).
        documents: The documents as loaded.
        sample: Name of the bundled sample, if it is one.
        store: URI of the opened index ("Open an index"), whose passages stay in the store.
    """

    label: str
    documents: list[Document]
    sample: str | None = None
    store: str | None = None


@dataclass
class MapView:
    """What the Embedding map tab last showed (``ui/visuals.py`` reads and writes it).

    Attributes:
        result: The search the map was drawn for (compared by identity).
        options: The view options it was drawn with (scope, colour, animation, judgments).
        waiting: True while a PCA stand-in is shown until the corpus's UMAP map is ready.
        since: ``time.monotonic()`` when the waiting began (polling gives up eventually).
        placed: The UMAP placement of ``result`` (reused when only view options change).
    """

    result: QueryResult | None = None
    options: tuple[object, ...] = ()
    waiting: bool = False
    since: float = 0.0
    placed: object | None = None


@dataclass
class UISession:
    """Everything one browser session owns.

    Attributes:
        corpus: The loaded documents, or ``None`` before the first load.
        index: The searchable index over ``corpus``.
        config: How ``index`` was built.
        parts: Passages per document id in ``index`` (for "passage 2 of 5").
        indexing: True while an indexing run of this session is in progress.
        result: The last search result.
        judgments: Query text -> passage id -> relevance grade.
        query_ids: Query text -> query id (sample ids, else ``u1``, ``u2`` ...).
        export_dir: This session's private folder for export files (created lazily).
        map_view: What the Embedding map tab shows (see :class:`MapView`).
        measure_cancel: Set by *Cancel* to stop the session's running latency measurement.
        scope: This session's secret cache scope for its uploads and pastes (created on
            first use, see :meth:`upload_scope`).
        measured: The search the Latency tab's line last reported a measurement of.
        prompt_notice: A warning for the Prompt lab and the result it is about (shown while that
            result is the last one: the next edit or search drops it).
    """

    corpus: Corpus | None = None
    index: SearchSession | None = None
    config: IndexConfig | None = None
    parts: dict[str, int] = field(default_factory=dict)
    indexing: bool = False
    result: QueryResult | None = None
    judgments: dict[str, dict[str, int]] = field(default_factory=dict)
    query_ids: dict[str, str] = field(default_factory=dict)
    export_dir: str | None = None
    map_view: MapView = field(default_factory=MapView)
    measure_cancel: threading.Event | None = None
    scope: str | None = None
    measured: QueryResult | None = None
    prompt_notice: tuple[QueryResult, str] | None = None

    def upload_scope(self) -> str:
        """The cache scope of this session's own texts: a random secret, made on first use.

        Made lazily because ``gr.State`` deep-copies the initial value into every session:
        a default made at construction would be one scope shared by all of them.
        """
        if self.scope is None:
            self.scope = secrets.token_hex(16)
        return self.scope

    def begin_indexing(self) -> bool:
        """Marks an indexing run as started; ``False`` if one is already running."""
        if self.indexing:
            return False
        self.indexing = True
        return True

    def install(
        self,
        corpus: Corpus,
        index: SearchSession,
        config: IndexConfig,
        *,
        known_judgments: Mapping[str, Mapping[str, int]] | None = None,
        known_query_ids: Mapping[str, str] | None = None,
    ) -> None:
        """Replaces the corpus and index in one step (only after indexing succeeded).

        A new corpus starts with fresh judgments (seeded from the sample's qrels, if
        any); re-indexing the same corpus keeps the user's judgments.
        """
        if corpus is not self.corpus:
            self.judgments = {q: dict(j) for q, j in (known_judgments or {}).items()}
            self.query_ids = dict(known_query_ids or {})
        self.corpus = corpus
        self.index = index
        self.config = config
        self.parts = dict(Counter(p.doc_id for p in index.passages))
        self.result = None
        self.map_view = MapView()

    def judgments_for(self, query: str) -> dict[str, int]:
        """The judgments of one query (empty when none)."""
        return dict(self.judgments.get(query.strip(), {}))

    def replace_judgments(self, query: str, judgments: Mapping[str, int]) -> None:
        """Sets every judgment of one query at once (a shared link's ticks); grades of 0 or less mean none."""
        self.judgments[query.strip()] = {pid: int(grade) for pid, grade in judgments.items() if grade > 0}

    def set_relevant(self, query: str, shown: Iterable[str], ticked: Iterable[str]) -> None:
        """Updates judgments for the documents the user could see and tick.

        Ticked documents keep an existing grade (qrels may hold grade 2) or get 1;
        shown but unticked ones lose their judgment; documents not shown are untouched.
        """
        current = self.judgments.setdefault(query.strip(), {})
        ticked = set(ticked)
        for pid in shown:
            if pid in ticked:
                current[pid] = current.get(pid) or 1
            else:
                current.pop(pid, None)

    def query_id(self, query: str) -> str:
        """A stable id for a query text within this session."""
        query = query.strip()
        if query not in self.query_ids:
            taken = set(self.query_ids.values())
            n = len(self.query_ids) + 1
            while f"u{n}" in taken:
                n += 1
            self.query_ids[query] = f"u{n}"
        return self.query_ids[query]

    def private_dir(self) -> Path:
        """This session's temp folder (the only place exports are written)."""
        if self.export_dir is None or not Path(self.export_dir).is_dir():
            self.export_dir = tempfile.mkdtemp(prefix="e2rank-session-")
            _EXPORT_DIRS.add(self.export_dir)
        return Path(self.export_dir)

    def close(self) -> None:
        """Deletes the session's temp folder (called when Gradio drops the session)."""
        if self.export_dir is not None:
            shutil.rmtree(self.export_dir, ignore_errors=True)
            _EXPORT_DIRS.discard(self.export_dir)
            self.export_dir = None


# Export folders of sessions still open when the server stops are deleted at exit too.
_EXPORT_DIRS: set[str] = set()


@atexit.register
def remove_export_dirs() -> None:
    """Deletes the export folders of all sessions of this process (at shutdown)."""
    for folder in list(_EXPORT_DIRS):
        shutil.rmtree(folder, ignore_errors=True)
    _EXPORT_DIRS.clear()
