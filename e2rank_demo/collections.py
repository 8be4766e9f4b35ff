"""The evaluation collections on offer and their embedded, in-memory copies.

A :class:`Collection` is a bundled sample, a full collection from ``../shared/data``
beside the repository (SciFact test, TREC DL 2019) or an uploaded BEIR zip.
:func:`prepare` reads one and embeds it with a model, keeping the last
``SESSION_CACHE_SIZE`` of them in memory for the next run (process-wide, shared by
sessions, never uploads); the vectors themselves go through the embedding cache. The
Evaluate tab and any other caller use this plain API.

Example:
    >>> [c.label for c in collections(shared=Path("/nonexistent"))[0]][-1]
    'Upload a BEIR zip'
"""

from __future__ import annotations

import gzip
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.corpus import BeirDataset, Limits, load_beir
from e2rank_demo.models import load_embedder
from e2rank_demo.pipeline import SearchSession
from e2rank_demo.prompts import DEFAULT_TASK
from e2rank_demo.records import Passage
from e2rank_demo.samples import available_samples, load_sample, open_session

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
UPLOAD = "upload"
SAMPLE_LABELS = {"scifact": "SciFact sample", "general": "General"}
# Embedded collections kept in memory between runs (process-wide, shared by sessions, never uploads).
SESSION_CACHE_SIZE = 2


@dataclass(frozen=True)
class Collection:
    """One collection the tab offers.

    Attributes:
        key: Choice value (``sample:<name>``, ``shared:<folder>`` or ``upload``).
        label: Choice label.
        path: Folder to read (``None`` for uploads).
        sample: Bundled sample name, when it is one (the Search tab can load it).
        reported: Key of the paper's figures (full collections only).
        task: Instruction preset.
        has_run: Whether it ships a TREC run (``runs/*.trec``); an uploaded zip may or may
            not, so its run is offered once a zip with one is chosen (``ui.evaluate.choose_zip``).
        note: One sentence shown when it is chosen.
    """

    key: str
    label: str
    path: Path | None
    sample: str | None = None
    reported: str | None = None
    task: str = DEFAULT_TASK
    has_run: bool = False
    note: str = ""

    @property
    def default_first_stage(self) -> str:
        """``run`` where a run ships (the paper's setup), else ``dense``."""
        return "run" if self.has_run else "dense"


def collections(shared: Path = SHARED_DATA) -> tuple[list[Collection], str | None]:
    """The collections on offer and, when ``shared`` is absent, a plain note saying so.

    Args:
        shared: The ``shared/data`` folder (beside the repository by default).

    Returns:
        ``(collections, note)``; the upload choice is always last.
    """
    found: list[Collection] = []
    for info in sorted(available_samples(), key=lambda i: (i.name != "scifact", i.name)):
        found.append(
            Collection(
                f"sample:{info.name}",
                SAMPLE_LABELS.get(info.name, info.title),
                info.path,
                sample=info.name,
                task=info.task,
                note=f"Bundled sample: {info.description} Its queries can be opened in the Search tab.",
            )
        )
    missing = []
    scifact, dl19 = shared / "scifact", shared / "trec-dl-2019"
    if (scifact / "queries.jsonl").is_file():
        found.append(
            Collection(
                "shared:scifact",
                "SciFact test (full, ../shared/data)",
                scifact,
                reported="scifact",
                task="scifact",
                note="BEIR SciFact: 5,183 abstracts, 300 test claims. The first run embeds the corpus (a few minutes "
                "on a CPU); later runs read the embedding cache.",
            )
        )
    else:
        missing.append("SciFact test (full)")
    if (dl19 / "queries.jsonl").is_file():
        found.append(
            Collection(
                "shared:trec-dl-2019",
                "TREC DL 2019 (../shared/data, BM25 top-100 run)",
                dl19,
                reported="trec-dl-2019",
                task="web",
                has_run=True,
                note="43 judged queries; the corpus holds only the 4,297 passages of the official BM25 top-100, so "
                "rerank the run (a dense or BM25 first stage over this subset is not comparable to published "
                "figures).",
            )
        )
    else:
        missing.append("TREC DL 2019")
    found.append(
        Collection(
            UPLOAD,
            "Upload a BEIR zip",
            None,
            note="A .zip holding corpus.jsonl[.gz], queries.jsonl, qrels/test.tsv and optionally "
            "runs/*.trec (at the top level or inside one folder).",
        )
    )
    note = None
    if not shared.is_dir():
        note = (
            f"../shared/data is not beside the repository (looked for {shared}), so the full SciFact and "
            "TREC DL 2019 collections are not offered; the bundled samples and uploads work."
        )
    elif missing:
        note = f"{' and '.join(missing)} not offered: not found in {shared}."
    return found, note


def find_collection(key: str) -> Collection:
    """The offered collection with choice value ``key``.

    Raises:
        ValueError: If none has it.
    """
    found = next((c for c in collections()[0] if c.key == key), None)
    if found is None:
        raise ValueError("Choose a collection first.")
    return found


@dataclass
class Prepared:
    """A collection read and embedded by one model."""

    dataset: BeirDataset
    session: SearchSession
    embeddings: str


_prepared: OrderedDict[tuple[str, str], Prepared] = OrderedDict()
_prepared_lock = threading.Lock()
_build_locks: dict[tuple[str, str], threading.Lock] = {}


def check_upload_zip(path: Path, limit_bytes: int) -> None:
    """Refuses a zip whose members (gzipped ones decompressed) add up to more than ``limit_bytes``.

    Raises:
        ValueError: With a plain message.
    """
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path.name} is not a zip file; upload a .zip of a BEIR folder.")
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".gz"):
                total += info.file_size
            else:
                with zf.open(info) as raw, gzip.GzipFile(fileobj=raw) as gz:
                    while chunk := gz.read(1 << 20):
                        total += len(chunk)
                        if total > limit_bytes:
                            break
            if total > limit_bytes:
                raise ValueError(
                    f"the zip unpacks to more than {limit_bytes / (1 << 20):.0f} MB, the upload "
                    "limit (E2RANK_MAX_TOTAL_MB); evaluate a smaller collection."
                )


def read_collection(collection: Collection, upload: str | None) -> BeirDataset:
    if collection.key != UPLOAD:
        assert collection.path is not None
        return load_beir(collection.path)
    if not upload:
        raise ValueError("Choose a BEIR .zip to upload first.")
    limits = Limits.from_env()
    path = Path(upload)
    try:
        check_upload_zip(path, limits.max_total_bytes)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"the zip could not be read ({type(exc).__name__})") from None
    dataset = load_beir(path)
    if len(dataset.corpus) > limits.max_passages:
        raise ValueError(
            f"the uploaded corpus has {len(dataset.corpus):,} documents, over the limit of "
            f"{limits.max_passages:,} (E2RANK_MAX_PASSAGES)."
        )
    return dataset


def _embed(
    collection: Collection,
    dataset: BeirDataset,
    embedder: Any,
    progress: Callable[[int, int], None],
    cache: EmbeddingCache | None,
    scope: str = "",
) -> Prepared:
    if collection.sample is not None:
        session, _ = open_session(load_sample(collection.sample), embedder, cache, progress)
    else:
        session = SearchSession(
            embedder, [Passage.from_document(d) for d in dataset.corpus], cache, progress=progress, scope=scope
        )
    return Prepared(dataset, session, session.encode_stats.describe())


def prepare(
    collection: Collection,
    embedder: Any,
    upload: str | None,
    progress: Callable[[int, int], None],
    user_scope: str = "",
    cache: EmbeddingCache | None = None,
) -> tuple[Prepared, bool]:
    """The collection read and embedded, from memory when an earlier run already did it.

    Uploads are never kept in memory; their embeddings go through the cache in the
    uploader's ``user_scope`` (:meth:`UISession.upload_scope`), so neither the note nor
    the time taken tells whether another user uploaded the same texts.

    Args:
        collection: One of :func:`collections`.
        embedder: The model.
        upload: The uploaded zip's path (uploads only).
        progress: Called with ``(done, total)`` while documents are embedded.
        user_scope: The uploader's cache scope.
        cache: Embedding cache; ``None`` disables caching.

    Returns:
        ``(prepared, reused)``.
    """
    if collection.key == UPLOAD:
        return _embed(collection, read_collection(collection, upload), embedder, progress, cache, user_scope), False
    key = (collection.key, embedder.identity)
    with _prepared_lock:
        lock = _build_locks.setdefault(key, threading.Lock())
    with lock:  # two sessions evaluating the same collection embed it once
        with _prepared_lock:
            if key in _prepared:
                _prepared.move_to_end(key)
                return _prepared[key], True
        prepared = _embed(collection, read_collection(collection, None), embedder, progress, cache)
        with _prepared_lock:
            _prepared[key] = prepared
            while len(_prepared) > SESSION_CACHE_SIZE:
                _prepared.popitem(last=False)
    return prepared, False


_samples: OrderedDict[tuple[str, str], tuple[SearchSession, str | None]] = OrderedDict()
_samples_lock = threading.Lock()


def shared_sample_session(
    name: str, model: str, cache: EmbeddingCache | None, keep: int = SESSION_CACHE_SIZE
) -> tuple[SearchSession, str | None]:
    """A bundled sample indexed by ``model``, shared process-wide, and the model's fallback notice (if any).

    Bundled samples are read-only, so sessions share their indexes; the last ``keep``
    are kept in memory.
    """
    key = (name, model)
    with _samples_lock:
        if key in _samples:
            _samples.move_to_end(key)
            return _samples[key]
    loaded = load_embedder(model)
    index, _ = open_session(load_sample(name), loaded.embedder, cache)
    with _samples_lock:
        _samples[key] = (index, loaded.notice)
        while len(_samples) > keep:
            _samples.popitem(last=False)
    return index, loaded.notice
