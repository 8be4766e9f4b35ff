"""2-D maps of a corpus: UMAP fitted once per (corpus, model), each query placed by transform.

The map shows where the query, the E2Rank pseudo-query (the listwise prompt embedding)
and the Rocchio query sit among the documents. Refitting UMAP per query would move every
document and make two queries' maps incomparable, so :class:`MapProjector` fits one
reducer per corpus and model (kept in memory and on disk under
``default_cache_dir()/umap/``) and places each query's vectors with ``transform``.

UMAP runs on cosine distances that numpy computes exactly and hands over as a
precomputed matrix: for corpora under the fit cap, umap-learn's own ``metric="cosine"``
evaluates the distances one pair at a time through Python, which takes tens of seconds
for 3,000 points on two cores; the precomputed matrix gives the same neighbours and
distances in well under a second. Corpora over the cap are subsampled with a fixed seed
for the fit; the current candidates are always placed and shown.

UMAP's numerical code compiles (numba) on first use, about 10-30 s on two cores, so
:func:`warm_up` compiles it in a background thread at app start, and the first map of a
corpus is fitted in the background too. Until it is ready, :meth:`MapProjector.project`
returns a PCA projection whose ``notice`` says so; calling again later returns the UMAP map.

The map is a picture, not the truth: distances in 2-D are distorted.
:func:`e2rank_demo.cosines.cosine_table` gives the numbers in the full embedding space.

Example:
    >>> import numpy as np
    >>> docs = np.eye(4, dtype=np.float32)
    >>> proj = pca_projection(docs, ["a", "b", "c", "d"], {"query": docs[0]})
    >>> proj.method, proj.coords.shape, proj.special["query"].shape
    ('pca', (4, 2), (2,))
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import pickle
import sys
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2rank_demo.cache import default_cache_dir, scoped_key, text_hash

if TYPE_CHECKING:
    from e2rank_demo.pipeline import SearchSession, SearchSettings
    from e2rank_demo.query_result import QueryResult

logger = logging.getLogger(__name__)

SPECIAL_LABELS: dict[str, str] = {
    "query": "Query",
    "prompt": "E2Rank pseudo-query",
    "rocchio": "Rocchio query",
}
"""Display names of the query-side vectors a projection places, by key."""

DEFAULT_SEED = 42
DEFAULT_NEIGHBORS = 15
DEFAULT_MAX_FIT_POINTS = 3000
MIN_UMAP_POINTS = 8
"""Below this many documents UMAP's neighbour graph is meaningless; PCA is shown instead."""
# Past umap-learn's 4,096-point threshold it switches to approximate neighbours, and the
# dense distance matrix (n^2 float32) would pass 64 MB; the cap keeps both in check.
_MAX_EXACT_POINTS = 4000
# Bump when the pickled FittedMap layout changes, so old files are refit, not misread.
_FORMAT_VERSION = 1
_MEMORY_MAPS = 4
# Map files on disk beyond this many bytes are deleted, least recently used first.
DEFAULT_DISK_BYTES = int(float(os.environ.get("E2RANK_UMAP_CACHE_MB", "256")) * (1 << 20))

Method = Literal["umap", "pca"]


# --------------------------------------------------------------------------- results
@dataclass
class Projection:
    """2-D coordinates of the shown documents and the query-side vectors.

    Attributes:
        ids: Ids of the shown documents (the fit sample plus the current candidates).
        rows: Their rows in the corpus embedding matrix, aligned with ``ids``.
        coords: ``(len(ids), 2)`` coordinates.
        special: ``(2,)`` coordinates by key of :data:`SPECIAL_LABELS` (those given).
        method: ``"umap"`` or ``"pca"``.
        seed: Seed of the UMAP fit and of the subsample.
        n_corpus: Documents in the corpus.
        n_fit: Documents the map was fitted on.
        method_note: One line describing how the map was made (for the plot).
        subsample_note: Set when the fit used a subsample of the corpus.
        notice: Set when PCA stands in for UMAP (still computing, too small, failed).
    """

    ids: list[str]
    rows: np.ndarray
    coords: np.ndarray
    special: dict[str, np.ndarray]
    method: Method
    seed: int
    n_corpus: int
    n_fit: int
    method_note: str
    subsample_note: str | None = None
    notice: str | None = None

    @property
    def axis_labels(self) -> tuple[str, str]:
        """Axis titles for a plot of this projection."""
        return ("UMAP 1", "UMAP 2") if self.method == "umap" else ("PC 1", "PC 2")


@dataclass
class FittedMap:
    """A fitted reducer for one corpus and model (what is cached and pickled).

    Attributes:
        reducer: The fitted ``umap.UMAP`` (on precomputed cosine distances).
        rows: Corpus rows it was fitted on, ascending.
        n_corpus: Corpus size when fitted (a guard against stale files).
        fit_seconds: Wall-clock seconds the fit took.
        version: File format version.
    """

    reducer: Any
    rows: np.ndarray
    n_corpus: int
    fit_seconds: float
    version: int = _FORMAT_VERSION

    @property
    def embedding(self) -> np.ndarray:
        """``(len(rows), 2)`` coordinates of the fitted documents."""
        return np.asarray(self.reducer.embedding_, dtype=np.float32)


# --------------------------------------------------------------------------- keys and maths
def corpus_key(model_identity: str, ids: Sequence[str], texts: Sequence[str]) -> str:
    """A key that changes whenever the model or any document id or text changes.

    Example:
        >>> corpus_key("m", ["a"], ["x"]) == corpus_key("m", ["a"], ["x"]) != corpus_key("m", ["a"], ["y"])
        True
    """
    h = hashlib.sha256(model_identity.encode())
    for pid, text in zip(ids, texts, strict=True):
        h.update(f"\0{pid}\0{text_hash(text)}".encode())
    return h.hexdigest()[:24]


def session_key(session: SearchSession) -> str:
    """:func:`corpus_key` of a session's model and passages, within the session's cache scope.

    An upload's map is keyed by its user's scope, so a map fitted for one user is never
    served (at once, without the fit's wait) to another.
    """
    return corpus_key(scoped_key(session.embedder.document_identity, session.scope), session.ids, session.texts)


def unit_rows(x: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """``x`` with each row scaled to unit length (all-zero rows stay zero)."""
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - cos`` between the rows of ``a`` and ``b``, clipped to ``[0, 2]``.

    Example:
        >>> cosine_distances(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 2.0]])).tolist()
        [[0.0, 1.0]]
    """
    return np.clip(1.0 - unit_rows(a) @ unit_rows(b).T, 0.0, 2.0).astype(np.float32)


def fit_rows(n: int, max_points: int = DEFAULT_MAX_FIT_POINTS, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Corpus rows a map is fitted on: all of them, or a fixed-seed sample of ``max_points``.

    Example:
        >>> fit_rows(5).tolist(), len(fit_rows(10, max_points=4))
        ([0, 1, 2, 3, 4], 4)
    """
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _subsample_note(n_corpus: int, n_fit: int, seed: int) -> str | None:
    if n_fit >= n_corpus:
        return None
    return (
        f"Map fitted on a random sample of {n_fit:,} of {n_corpus:,} documents (seed {seed}); "
        "the current candidates are always shown."
    )


def _shown_rows(fitted: np.ndarray, include: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.union1d(fitted, np.asarray(include, dtype=np.int64)).astype(np.int64)


def pca_projection(
    vectors: np.ndarray,
    ids: Sequence[str],
    special: Mapping[str, np.ndarray],
    include_rows: Sequence[int] | np.ndarray = (),
    *,
    max_points: int = DEFAULT_MAX_FIT_POINTS,
    seed: int = DEFAULT_SEED,
    notice: str | None = None,
) -> Projection:
    """Projects onto the first two principal components of the (sampled) documents.

    Instant and deterministic: the stand-in while UMAP is not ready, and the map for
    corpora too small for UMAP.

    Args:
        vectors: ``(n, d)`` corpus embeddings.
        ids: Corpus ids aligned with ``vectors``.
        special: Query-side vectors by key (``query``, ``prompt``, ``rocchio``).
        include_rows: Rows always shown (the current candidates).
        max_points: Sample cap, the same as the UMAP fit's, so both show the same documents.
        seed: Sample seed.
        notice: Why PCA is shown, for the plot.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    rows = fit_rows(len(vectors), max_points, seed)
    basis = unit_rows(vectors[rows])
    mean = basis.mean(axis=0)
    _, _, vt = np.linalg.svd(basis - mean, full_matrices=False)
    components = np.zeros((2, vectors.shape[1]), dtype=np.float32)
    components[: min(2, len(vt))] = vt[:2]
    # SVD signs are arbitrary; fixing them keeps the picture from flipping between calls.
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]

    def to_2d(x: np.ndarray) -> np.ndarray:
        return ((unit_rows(x) - mean) @ components.T).astype(np.float32)

    shown = _shown_rows(rows, include_rows)
    return Projection(
        ids=[ids[i] for i in shown],
        rows=shown,
        coords=to_2d(vectors[shown]),
        special={k: to_2d(np.asarray(v)[None])[0] for k, v in special.items()},
        method="pca",
        seed=seed,
        n_corpus=len(vectors),
        n_fit=len(rows),
        method_note=f"PCA: first two principal components of {len(rows):,} document embeddings",
        subsample_note=_subsample_note(len(vectors), len(rows), seed),
        notice=notice,
    )


def _import_umap() -> Any:
    import umap

    # Precomputed cosine distances are deliberate (module docstring); umap warns on every call.
    warnings.filterwarnings("ignore", message=".*precomputed metric.*", category=UserWarning)
    return umap


def fit_map(
    vectors: np.ndarray, rows: np.ndarray, n_neighbors: int = DEFAULT_NEIGHBORS, seed: int = DEFAULT_SEED
) -> FittedMap:
    """Fits UMAP on cosine distances between ``vectors[rows]`` (blocking; seconds).

    Args:
        vectors: ``(n, d)`` corpus embeddings.
        rows: Rows to fit on (see :func:`fit_rows`).
        n_neighbors: UMAP neighbourhood size (capped below the number of points).
        seed: ``random_state`` and ``transform_seed``, so maps and placements repeat exactly.
    """
    umap = _import_umap()
    points = np.asarray(vectors, dtype=np.float32)[rows]
    distances = cosine_distances(points, points)
    np.fill_diagonal(distances, 0.0)
    reducer = umap.UMAP(
        n_neighbors=max(2, min(n_neighbors, len(rows) - 1)),
        metric="precomputed",
        random_state=seed,
        transform_seed=seed,
        n_jobs=1,
    )
    start = time.perf_counter()
    reducer.fit(distances)
    seconds = time.perf_counter() - start
    # transform() on a precomputed metric reads only the training matrix's row count;
    # dropping the n^2 matrix keeps the cached map at ~1 MB instead of up to 36 MB.
    reducer._raw_data = np.empty((len(rows), 0), dtype=np.float32)
    return FittedMap(reducer=reducer, rows=np.asarray(rows, dtype=np.int64), n_corpus=len(vectors), fit_seconds=seconds)


def place_points(fitted: FittedMap, vectors: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Places new vectors on a fitted map with one ``transform`` call.

    Args:
        fitted: The corpus map.
        vectors: The corpus embeddings it was fitted from.
        points: ``(m, d)`` vectors to place.

    Returns:
        ``(m, 2)`` coordinates.
    """
    points = np.atleast_2d(np.asarray(points, dtype=np.float32))
    distances = cosine_distances(points, np.asarray(vectors, dtype=np.float32)[fitted.rows])
    return np.asarray(fitted.reducer.transform(distances), dtype=np.float32)


# --------------------------------------------------------------------------- the projector
class MapProjector:
    """Fits one UMAP map per (corpus, model), caches it, and places queries on it.

    Fits run one at a time in a background thread; :meth:`project` never blocks longer
    than ``wait`` and returns PCA meanwhile. Thread-safe: one projector serves every
    browser session (:func:`default_projector`).

    Args:
        cache_dir: Root folder; maps go to ``cache_dir/umap/``. Defaults to
            :func:`~e2rank_demo.cache.default_cache_dir`. Maps are pickles: only point this
            at a folder the app alone writes.
        n_neighbors: UMAP neighbourhood size.
        seed: UMAP ``random_state`` and subsample seed.
        max_fit_points: Corpora larger than this are subsampled for the fit.
        max_disk_bytes: Cap on the map files in ``cache_dir/umap/`` (``E2RANK_UMAP_CACHE_MB``,
            256 MB); past it the least recently used files are deleted.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        n_neighbors: int = DEFAULT_NEIGHBORS,
        seed: int = DEFAULT_SEED,
        max_fit_points: int = DEFAULT_MAX_FIT_POINTS,
        max_disk_bytes: int = DEFAULT_DISK_BYTES,
    ) -> None:
        if not MIN_UMAP_POINTS <= max_fit_points <= _MAX_EXACT_POINTS:
            raise ValueError(f"max_fit_points must be between {MIN_UMAP_POINTS} and {_MAX_EXACT_POINTS}")
        self.root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.map_dir = self.root / "umap"
        self.n_neighbors = n_neighbors
        self.seed = seed
        self.max_fit_points = max_fit_points
        self.max_disk_bytes = max_disk_bytes
        # A map fitted with other parameters or another umap-learn must not be reused.
        params = f"{_FORMAT_VERSION}:{importlib.metadata.version('umap-learn')}:{n_neighbors}:{seed}:{max_fit_points}"
        self._params_tag = hashlib.sha256(params.encode()).hexdigest()[:8]
        self._memory: OrderedDict[str, FittedMap] = OrderedDict()
        self._pending: dict[str, concurrent.futures.Future[FittedMap]] = {}
        self._warm: concurrent.futures.Future[float] | None = None
        self._compiled = threading.Event()
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap")

    # ------------------------------------------------------------------ warm-up
    def warm_up(self) -> concurrent.futures.Future[float]:
        """Compiles UMAP's numerical code with a tiny fit and transform in the background.

        Idempotent. Fits queue behind it, so a corpus map never pays the compilation twice.

        Returns:
            A future of the seconds the warm-up took.
        """
        with self._lock:
            if self._warm is None:
                self._warm = self._executor.submit(self._warm_job)
            return self._warm

    def _warm_job(self) -> float:
        start = time.perf_counter()
        tiny = np.random.default_rng(0).normal(size=(2 * MIN_UMAP_POINTS, 8)).astype(np.float32)
        fitted = fit_map(tiny, np.arange(len(tiny)), n_neighbors=5, seed=self.seed)
        place_points(fitted, tiny, tiny[:3] + 0.01)
        self._compiled.set()
        return time.perf_counter() - start

    # ------------------------------------------------------------------ cache
    def map_path(self, key: str) -> Path:
        """File the map of corpus ``key`` is saved to (parameters are part of the name)."""
        return self.map_dir / f"{key}-{self._params_tag}.pkl"

    def _remember(self, key: str, fitted: FittedMap) -> None:
        with self._lock:
            self._memory[key] = fitted
            self._memory.move_to_end(key)
            while len(self._memory) > _MEMORY_MAPS:
                self._memory.popitem(last=False)

    def _load(self, key: str, n_corpus: int, rows: np.ndarray) -> FittedMap | None:
        path = self.map_path(key)
        try:
            with path.open("rb") as fh:
                fitted = pickle.load(fh)  # pickle is safe here: only the app's own cache folder
            if not (
                isinstance(fitted, FittedMap)
                and fitted.version == _FORMAT_VERSION
                and fitted.n_corpus == n_corpus
                and np.array_equal(fitted.rows, rows)
                and fitted.embedding.shape == (len(rows), 2)
            ):
                raise ValueError("stale or foreign map file")
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable file means: refit
            logger.warning("UMAP map %s is unusable (%s: %s); refitting", path, type(exc).__name__, exc)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return fitted

    def _save(self, key: str, fitted: FittedMap) -> None:
        path = self.map_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash or a concurrent reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
                pickle.dump(fitted, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(fh.name, path)
        except OSError as exc:
            logger.warning("could not save UMAP map %s (%s); it stays in memory only", path, exc)
        self._prune(keep=path)

    def _prune(self, keep: Path) -> None:
        """Deletes the least recently used map files while they exceed ``max_disk_bytes``."""
        try:
            files = sorted((f.stat().st_mtime, f.stat().st_size, f) for f in self.map_dir.glob("*.pkl"))
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        for _, size, f in files:
            if total <= self.max_disk_bytes:
                break
            if f != keep:
                f.unlink(missing_ok=True)
                total -= size

    # ------------------------------------------------------------------ fitting
    def _fit_job(self, key: str, points: np.ndarray, rows: np.ndarray, n_corpus: int) -> FittedMap:
        try:
            # points holds only the fitted rows; fit_map indexes them 0..len-1.
            fitted = fit_map(points, np.arange(len(rows)), self.n_neighbors, self.seed)
            fitted = FittedMap(fitted.reducer, rows, n_corpus, fitted.fit_seconds)
            self._compiled.set()
            self._remember(key, fitted)
            self._save(key, fitted)
            with self._lock:
                self._pending.pop(key, None)
            return fitted
        except Exception:
            logger.exception("UMAP fit failed for corpus %s", key)
            raise  # kept in the future, so the failure is reported, not retried on every refresh

    def fitted(self, key: str, vectors: np.ndarray, wait: float | None = 0.0) -> FittedMap | None:
        """The map of corpus ``key``: from memory, from disk, or fitted in the background.

        Args:
            key: :func:`corpus_key` of the corpus and model.
            vectors: ``(n, d)`` corpus embeddings.
            wait: Seconds to wait for a background fit; ``None`` waits until it ends.

        Returns:
            The map, or ``None`` while it is being fitted.

        Raises:
            Exception: Whatever the background fit raised.
        """
        rows = fit_rows(len(vectors), self.max_fit_points, self.seed)
        future = self._lookup(key)
        if future is None:
            loaded = self._load(key, len(vectors), rows)
            if loaded is not None:
                self._remember(key, loaded)
                return loaded
            with self._lock:
                # Re-check: another thread may have started or finished this fit meanwhile.
                if key in self._memory:
                    return self._memory[key]
                future = self._pending.get(key)
                if future is None:
                    points = np.array(vectors[rows], dtype=np.float32)
                    future = self._executor.submit(self._fit_job, key, points, rows, len(vectors))
                    self._pending[key] = future
        if isinstance(future, FittedMap):
            return future
        try:
            return future.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            return None

    def _lookup(self, key: str) -> FittedMap | concurrent.futures.Future[FittedMap] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            return self._pending.get(key)

    def is_ready(self, key: str) -> bool:
        """True when the map of corpus ``key`` is in memory (a refresh will show UMAP)."""
        with self._lock:
            return key in self._memory

    # ------------------------------------------------------------------ projecting
    def place(self, key: str, vectors: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Places ``points`` on the ready map of corpus ``key`` (one ``transform``).

        Raises:
            RuntimeError: If the map is not ready (see :meth:`fitted`).
        """
        fitted = self.fitted(key, vectors, wait=0.0)
        if fitted is None:
            raise RuntimeError("the UMAP map of this corpus is not ready yet")
        return place_points(fitted, vectors, points)

    def project(
        self,
        key: str,
        vectors: np.ndarray,
        ids: Sequence[str],
        special: Mapping[str, np.ndarray],
        include_rows: Sequence[int] | np.ndarray = (),
        *,
        wait: float | None = 0.0,
    ) -> Projection:
        """The map of one query: UMAP when ready, PCA (with a ``notice``) until then.

        Documents of the fit keep their fitted coordinates; the query-side vectors and
        any candidates outside the fit sample are placed with one ``transform`` call.

        Args:
            key: :func:`corpus_key` of the corpus and model.
            vectors: ``(n, d)`` corpus embeddings.
            ids: Corpus ids aligned with ``vectors``.
            special: Query-side vectors by key of :data:`SPECIAL_LABELS`.
            include_rows: Rows always shown (the current candidates).
            wait: Seconds to wait for a pending fit; ``None`` waits until it ends.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(vectors)
        pca = functools.partial(
            pca_projection, vectors, ids, special, include_rows, max_points=self.max_fit_points, seed=self.seed
        )
        if n < MIN_UMAP_POINTS:
            return pca(
                notice=f"Only {n} documents: too few for UMAP (needs {MIN_UMAP_POINTS}); showing a PCA projection."
            )
        try:
            fitted = self.fitted(key, vectors, wait)
        except Exception as exc:  # noqa: BLE001 - the map is optional; the page must still render
            return pca(notice=f"UMAP failed ({type(exc).__name__}: {exc}); showing a PCA projection.")
        if fitted is None:
            why = (
                "the UMAP map of this corpus is being computed in the background"
                if self._compiled.is_set()
                else "UMAP is being prepared in the background (its numerical code compiles on first use)"
            )
            return pca(notice=f"Showing a PCA projection: {why}. Refresh in a few seconds for the UMAP map.")

        shown = _shown_rows(fitted.rows, include_rows)
        pos = np.searchsorted(fitted.rows, shown).clip(max=len(fitted.rows) - 1)
        in_fit = fitted.rows[pos] == shown
        coords = np.zeros((len(shown), 2), dtype=np.float32)
        coords[in_fit] = fitted.embedding[pos[in_fit]]
        names = list(special)
        new_points = np.vstack([*(np.asarray(special[k], np.float32) for k in names), vectors[shown[~in_fit]]])
        placed = place_points(fitted, vectors, new_points) if len(new_points) else np.zeros((0, 2), np.float32)
        coords[~in_fit] = placed[len(names) :]
        return Projection(
            ids=[ids[i] for i in shown],
            rows=shown,
            coords=coords,
            special={k: placed[i] for i, k in enumerate(names)},
            method="umap",
            seed=self.seed,
            n_corpus=n,
            n_fit=len(fitted.rows),
            method_note=(
                f"UMAP (cosine, {fitted.reducer.n_neighbors} neighbours, seed {self.seed}) fitted once "
                f"on {len(fitted.rows):,} documents; query vectors placed with transform"
            ),
            subsample_note=_subsample_note(n, len(fitted.rows), self.seed),
        )

    def project_result(self, session: SearchSession, result: QueryResult, *, wait: float | None = 0.0) -> Projection:
        """:meth:`project` for one search: its query, pseudo-query, Rocchio vector and candidates."""
        return self.project(
            session_key(session),
            session.vectors,
            session.ids,
            special_vectors(result),
            result.candidates.rows,
            wait=wait,
        )


def special_vectors(result: QueryResult) -> dict[str, np.ndarray]:
    """The query-side vectors of one search, by key of :data:`SPECIAL_LABELS` (those that ran)."""
    out = {"query": result.query_vector}
    if result.prompt is not None:
        out["prompt"] = result.prompt.vector
    rocchio = result.reranked.get("rocchio")
    if rocchio is not None and "rocchio" in rocchio.vectors:
        out["rocchio"] = rocchio.vectors["rocchio"]
    return out


_default: MapProjector | None = None
_default_lock = threading.Lock()


def default_projector() -> MapProjector:
    """The process-wide projector every browser session shares."""
    global _default  # noqa: PLW0603 - a lazily built singleton; tests swap in a fresh one
    with _default_lock:
        if _default is None:
            _default = MapProjector()
        return _default


def warm_up(projector: MapProjector | None = None) -> concurrent.futures.Future[float]:
    """Call at app start: caches numba's compiled code on disk and compiles UMAP in the background.

    ``NUMBA_CACHE_DIR`` is set (unless already set) to ``<cache dir>/numba``; numba reads
    it once, at import, so this only takes effect before anything imports numba.
    """
    projector = projector or default_projector()
    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(projector.root / "numba"))
    return projector.warm_up()


@dataclass
class PlacementTiming:
    """Seconds per warm placement (one ``transform`` of a query's vectors) on a fitted map."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median seconds per placement."""
        return float(np.median(self.seconds)) if self.seconds else float("nan")


def time_placement(
    session: SearchSession,
    query: str,
    repeats: int = 5,
    *,
    projector: MapProjector | None = None,
    settings: SearchSettings | None = None,
) -> PlacementTiming:
    """Benchmark helper (``umap_place_warm``): warm seconds to place one query's three vectors.

    Runs the search once (untimed) for the query, pseudo-query and Rocchio vectors, waits
    for the corpus map (fitting it if needed) and places them once untimed, so the timed
    placements exclude search, fitting and compilation.

    Args:
        session: The indexed corpus.
        query: The query.
        repeats: Timed placements.
        projector: Defaults to :func:`default_projector`.
        settings: Search settings (defaults as in a search).
    """
    projector = projector or default_projector()
    points = np.stack(list(special_vectors(session.search(query, settings)).values()))
    key = session_key(session)
    projector.fitted(key, session.vectors, wait=None)
    projector.place(key, session.vectors, points)
    timing = PlacementTiming()
    for _ in range(repeats):
        start = time.perf_counter()
        projector.place(key, session.vectors, points)
        timing.seconds.append(time.perf_counter() - start)
    return timing
