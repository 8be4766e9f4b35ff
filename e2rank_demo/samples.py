"""Bundled sample corpora and their precomputed embeddings.

Each sample lives in ``assets/samples/<name>/`` in a flat BEIR-like layout:
``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``),
``qrels.tsv`` (``query-id corpus-id score`` with a header row) and ``meta.json``
(``title``, ``description``, ``licence``, ``attribution``, ``instruction_preset``).
Bundled corpora are never split: one passage per document.

Embedding a corpus on a CPU takes minutes, so ``scripts/build_sample_embeddings.py``
stores ``embeddings-<model>.npy`` beside the corpus, with a ``.json`` sidecar naming the
document identity of the model and a hash of the embedded texts. :func:`open_session` uses
the file whose identity matches the model's document identity (whatever the preset is
called) and whose hash matches the texts; otherwise it says how long embedding will take
and embeds normally.

Example:
    >>> from e2rank_demo.samples import available_samples, load_sample
    >>> "scifact" in [info.name for info in available_samples()]
    True
    >>> sample = load_sample("scifact")
    >>> len(sample.documents), sample.info.licence
    (1200, 'CC-BY-NC-2.0')
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from e2rank_demo.corpus import load_beir
from e2rank_demo.models import Embedder, ProgressFn
from e2rank_demo.prompts import DEFAULT_TASK, TASKS
from e2rank_demo.records import Document, Passage

if TYPE_CHECKING:
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.pipeline import SearchSession

logger = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "samples"
_REQUIRED_FILES = ("meta.json", "corpus.jsonl", "queries.jsonl", "qrels.tsv")


@dataclass(frozen=True)
class SampleInfo:
    """What the UI shows about a sample before loading it.

    Attributes:
        name: Folder name, the key used everywhere.
        title: Display title.
        description: One or two sentences.
        licence: SPDX-like licence id of the data.
        attribution: Who made the data and how to cite it.
        task: Instruction preset in :data:`~e2rank_demo.prompts.TASKS`.
        path: The sample folder.
    """

    name: str
    title: str
    description: str
    licence: str
    attribution: str
    task: str
    path: Path


@dataclass(frozen=True)
class Sample:
    """A loaded sample: documents, example queries and relevance judgments.

    Shared by every session that loads it (cached per process), so treat it as read-only.

    Attributes:
        info: The sample's metadata.
        documents: Documents in ``corpus.jsonl`` order (source ``beir:<name>``).
        queries: Query id -> text, in file order.
        qrels: Query id -> document id -> relevance grade.
    """

    info: SampleInfo
    documents: tuple[Document, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def passages(self) -> list[Passage]:
        """One passage per document (bundled corpora are not split)."""
        return [Passage.from_document(d) for d in self.documents]

    def query_id(self, text: str) -> str | None:
        """The id of the sample query with exactly this text (after trimming), if any."""
        wanted = text.strip()
        return next((qid for qid, q in self.queries.items() if q.strip() == wanted), None)


def available_samples(root: Path = SAMPLES_DIR) -> list[SampleInfo]:
    """Samples whose folder is complete, sorted by name.

    A folder still being written (files missing or ``meta.json`` unreadable) is skipped
    with a log line rather than breaking the app.

    Args:
        root: Folder holding one sub-folder per sample.

    Returns:
        The usable samples.
    """
    infos = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        if not all((folder / f).is_file() for f in _REQUIRED_FILES):
            continue
        try:
            infos.append(_read_info(folder))
        except (OSError, ValueError) as exc:
            logger.warning("skipping sample %s: %s", folder.name, exc)
    return infos


def default_sample(root: Path = SAMPLES_DIR) -> str | None:
    """The sample the app opens with selected: the first available one by name."""
    infos = available_samples(root)
    return infos[0].name if infos else None


def _read_info(folder: Path) -> SampleInfo:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("meta.json is not an object")
    task = str(meta.get("instruction_preset") or DEFAULT_TASK)
    return SampleInfo(
        name=folder.name,
        title=str(meta.get("title") or folder.name),
        description=str(meta.get("description") or ""),
        licence=str(meta.get("licence") or "unknown"),
        attribution=str(meta.get("attribution") or ""),
        task=task if task in TASKS else DEFAULT_TASK,
        path=folder,
    )


_sample_lock = threading.Lock()


def load_sample(name: str, root: Path = SAMPLES_DIR) -> Sample:
    """Reads one sample (cached per process, read once even when many sessions ask at once).

    Args:
        name: A name from :func:`available_samples`; anything else is refused, so a
            user-supplied name can never reach outside ``root``.
        root: Folder holding the samples.

    Returns:
        The sample.

    Raises:
        ValueError: If there is no such (complete) sample.
    """
    with _sample_lock:  # lru_cache alone lets simultaneous first calls all read the files
        return _load_sample(name, root)


@functools.lru_cache(maxsize=8)
def _load_sample(name: str, root: Path) -> Sample:
    info = next((i for i in available_samples(root) if i.name == name), None)
    if info is None:
        known = ", ".join(i.name for i in available_samples(root)) or "none"
        raise ValueError(f"no bundled sample named {name!r} (available: {known})")
    dataset = load_beir(info.path)  # a flat qrels.tsv is read as the "test" split
    return Sample(info, tuple(dataset.corpus), dataset.queries, dataset.qrels.get("test", {}))


load_sample.cache_clear = _load_sample.cache_clear  # type: ignore[attr-defined]


# ---------------------------------------------------------------- embeddings


def corpus_sha256(texts: Sequence[str]) -> str:
    """Hash of the embedded texts in order (each text followed by a NUL separator).

    Example:
        >>> corpus_sha256(["a", "b"]) == corpus_sha256(["a", "b"]) != corpus_sha256(["ab"])
        True
    """
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def embeddings_paths(info: SampleInfo, model: str) -> tuple[Path, Path]:
    """``(vectors.npy, sidecar.json)`` that :func:`save_embeddings` writes for a model preset name."""
    stem = f"embeddings-{model}"
    return info.path / f"{stem}.npy", info.path / f"{stem}.json"


def stored_embeddings(info: SampleInfo, document_identity: str) -> tuple[Path, dict[str, object]] | None:
    """The shipped ``.npy`` whose sidecar names this document identity, and that sidecar.

    Found by identity, not by file name: every preset that embeds documents with the same
    weights (``minilm`` and ``minilm-e2rank``, whose adapter touches queries and prompts only)
    shares one file.
    """
    for sidecar in sorted(info.path.glob("embeddings-*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("unreadable embeddings sidecar %s (%s)", sidecar, exc)
            continue
        npy = sidecar.with_suffix(".npy")
        if isinstance(meta, dict) and meta.get("model_identity") == document_identity and npy.is_file():
            return npy, meta
    return None


def precomputed_vectors(sample: Sample, embedder: Embedder) -> np.ndarray | None:
    """The stored embeddings when they were made by this model's document weights from these texts.

    Returns:
        ``(n, dim)`` float32 rows aligned with the documents, or ``None`` when absent,
        unreadable or stale (changed texts, wrong shape).
    """
    found = stored_embeddings(sample.info, embedder.document_identity)
    if found is None:
        return None
    npy, meta = found
    texts = [p.full_text for p in sample.passages]
    if meta.get("corpus_sha256") != corpus_sha256(texts):
        logger.info("stored embeddings for %s were made from other texts; embedding instead", sample.info.name)
        return None
    try:
        vectors = np.load(npy, allow_pickle=False)
    except (OSError, ValueError) as exc:
        logger.warning("stored embeddings for %s are unreadable (%s); embedding instead", sample.info.name, exc)
        return None
    if vectors.shape != (len(texts), embedder.dim) or vectors.dtype != np.float32:
        return None
    return vectors


def save_embeddings(sample: Sample, embedder: Embedder, progress: ProgressFn | None = None) -> Path:
    """Embeds a sample's corpus with ``embedder`` and writes the ``.npy`` and its sidecar.

    Returns:
        The path of the written ``.npy`` file.
    """
    from e2rank_demo.index import embed_corpus

    texts = [p.full_text for p in sample.passages]
    vectors, _ = embed_corpus(embedder, texts, cache=None, progress=progress)
    npy, sidecar = embeddings_paths(sample.info, embedder.name)
    np.save(npy, vectors.astype(np.float32), allow_pickle=False)
    sidecar.write_text(
        json.dumps(
            {"model_identity": embedder.document_identity, "n": len(texts), "corpus_sha256": corpus_sha256(texts)},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return npy


def open_session(
    sample: Sample,
    embedder: Embedder,
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
    announce: Callable[[int, float], None] | None = None,
) -> tuple[SearchSession, bool]:
    """A fresh search session over a sample, from stored vectors when they match.

    Args:
        sample: The sample.
        embedder: The model.
        cache: Embedding cache used when no stored vectors match.
        progress: ``progress(done, total)`` while documents are embedded.
        announce: Called as ``announce(n_to_embed, estimated_seconds)`` before the model
            embeds anything, so a caller can say how long it will take.

    Returns:
        ``(session, used_stored_vectors)``.
    """
    from e2rank_demo.index import estimate_embedding
    from e2rank_demo.pipeline import SearchSession

    vectors = precomputed_vectors(sample, embedder)
    if vectors is None and announce is not None:
        n_missing, seconds = estimate_embedding(embedder, [p.full_text for p in sample.passages], cache)
        if n_missing:
            announce(n_missing, seconds)
    session = SearchSession(
        embedder, sample.passages, cache=cache, progress=progress, vectors=vectors, vectors_origin="sample"
    )
    return session, vectors is not None


def prefit_maps(embedder: Embedder, first: str | None = None, root: Path = SAMPLES_DIR) -> list[str]:
    """Starts the background UMAP fit of each bundled sample that has shipped vectors for ``embedder``.

    Called at app start, so the first search's map is UMAP rather than the PCA stand-in;
    the fits queue on the projector's worker thread (``first`` first) and land in its disk
    cache, keyed by corpus and document identity, so later starts load them in milliseconds.

    Args:
        embedder: The model the app opens with.
        first: The sample the app opens with.
        root: Folder holding the samples.

    Returns:
        The names of the samples whose map is being fitted or was found cached.
    """
    from e2rank_demo import projection

    projector = projection.default_projector()
    names = sorted((info.name for info in available_samples(root)), key=lambda name: name != first)
    started = []
    for name in names:
        sample = load_sample(name, root)
        vectors = precomputed_vectors(sample, embedder)
        if vectors is None or len(vectors) < projection.MIN_UMAP_POINTS:
            continue
        passages = sample.passages
        key = projection.corpus_key(
            embedder.document_identity, [p.id for p in passages], [p.full_text for p in passages]
        )
        projector.fitted(key, vectors, wait=0.0)
        started.append(name)
    return started
