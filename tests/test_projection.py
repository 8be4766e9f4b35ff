"""Projection: UMAP fitted once per corpus and model, placed per query, cached; PCA stand-in; cosine table."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import MagicMock, patch

import numpy as np
import pytest

from e2rank_demo.cosines import cosine_table
from e2rank_demo.projection import (
    MIN_UMAP_POINTS,
    MapProjector,
    corpus_key,
    fit_rows,
    pca_projection,
    session_key,
    time_placement,
)
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Document

umap = pytest.importorskip("umap")


def make_corpus(n: int = 40, dim: int = 12, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Unit vectors in four clusters, so UMAP has structure to find."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dim))
    x = centres[np.arange(n) % 4] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), [f"d{i}" for i in range(n)]


def query_vectors(vectors: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: vectors[i] + 0.05 * rng.normal(size=vectors.shape[1]).astype(np.float32)
            for i, key in enumerate(("query", "prompt", "rocchio"))}


@contextmanager
def counting() -> Iterator[tuple[MagicMock, MagicMock]]:
    """Counts real ``UMAP.fit`` and ``UMAP.transform`` calls (from any thread)."""
    with patch.object(umap.UMAP, "fit", autospec=True, side_effect=umap.UMAP.fit) as fit, \
         patch.object(umap.UMAP, "transform", autospec=True, side_effect=umap.UMAP.transform) as transform:
        yield fit, transform


VECTORS, IDS = make_corpus()
KEY = corpus_key("model-a", IDS, IDS)


def test_fit_once_per_corpus_and_model_transform_per_query(tmp_path: Path) -> None:
    """Two queries on one corpus fit once and transform twice; another model fits again."""
    projector = MapProjector(tmp_path)
    with counting() as (fit, transform):
        first = projector.project(KEY, VECTORS, IDS, query_vectors(VECTORS, 1), [0, 1, 2], wait=None)
        second = projector.project(KEY, VECTORS, IDS, query_vectors(VECTORS, 2), [3, 4], wait=None)
        assert (fit.call_count, transform.call_count) == (1, 2)
        other_model = corpus_key("model-b", IDS, IDS)
        projector.project(other_model, VECTORS, IDS, query_vectors(VECTORS, 1), wait=None)
        assert (fit.call_count, transform.call_count) == (2, 3)
    assert first.method == second.method == "umap"
    assert first.ids == IDS and np.array_equal(first.coords, second.coords)  # documents never move
    assert set(first.special) == {"query", "prompt", "rocchio"}
    assert all(np.isfinite(xy).all() and xy.shape == (2,) for xy in first.special.values())
    assert "seed 42" in first.method_note and first.subsample_note is None and first.notice is None


def test_disk_cache_reload_places_identically(tmp_path: Path) -> None:
    """A new projector (a restarted app) loads the saved map: no refit, same coordinates."""
    specials = query_vectors(VECTORS, 3)
    before = MapProjector(tmp_path).project(KEY, VECTORS, IDS, specials, wait=None)
    with counting() as (fit, _):
        after = MapProjector(tmp_path).project(KEY, VECTORS, IDS, specials, wait=0.0)
    assert fit.call_count == 0 and after.method == "umap"
    np.testing.assert_allclose(after.coords, before.coords)
    np.testing.assert_allclose(after.special["prompt"], before.special["prompt"], atol=1e-5)


def test_corrupted_cache_file_is_refit(tmp_path: Path) -> None:
    """A garbage map file is discarded and refit, and the new file loads."""
    projector = MapProjector(tmp_path)
    path = projector.map_path(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x05not a pickle at all")
    with counting() as (fit, _):
        projection = projector.project(KEY, VECTORS, IDS, query_vectors(VECTORS, 1), wait=None)
        assert fit.call_count == 1 and projection.method == "umap"
        assert MapProjector(tmp_path).fitted(KEY, VECTORS) is not None
        assert fit.call_count == 1


def test_pca_stands_in_until_the_background_fit_ends(tmp_path: Path) -> None:
    """While the fit runs the caller gets PCA with a notice; a later call gets UMAP."""
    release = threading.Event()
    original_fit = umap.UMAP.fit

    def slow_fit(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        release.wait(30)
        return original_fit(self, *args, **kwargs)

    projector = MapProjector(tmp_path)
    with patch.object(umap.UMAP, "fit", autospec=True, side_effect=slow_fit):
        pending = projector.project(KEY, VECTORS, IDS, query_vectors(VECTORS, 1), [5], wait=0.0)
        assert pending.method == "pca" and not projector.is_ready(KEY)
        assert "PCA" in pending.notice and "Refresh" in pending.notice
        assert pending.axis_labels == ("PC 1", "PC 2") and set(pending.special) == {"query", "prompt", "rocchio"}
        release.set()
        ready = projector.project(KEY, VECTORS, IDS, query_vectors(VECTORS, 1), [5], wait=None)
    assert ready.method == "umap" and ready.notice is None and projector.is_ready(KEY)
    assert pending.ids == ready.ids  # both show the same documents


def test_failed_fit_falls_back_to_pca(tmp_path: Path) -> None:
    """A fit that raises leaves the page working: PCA with the reason."""
    with patch.object(umap.UMAP, "fit", autospec=True, side_effect=RuntimeError("boom")):
        projection = MapProjector(tmp_path).project(KEY, VECTORS, IDS, query_vectors(VECTORS, 1), wait=None)
    assert projection.method == "pca" and "UMAP failed" in projection.notice and "boom" in projection.notice


def test_large_corpus_is_subsampled_and_candidates_are_placed(tmp_path: Path) -> None:
    """Over the cap the fit uses a seeded sample; candidates outside it are still shown."""
    vectors, ids = make_corpus(60, seed=4)
    projector = MapProjector(tmp_path, max_fit_points=30)
    sample = fit_rows(60, 30, projector.seed)
    outside = [r for r in range(60) if r not in set(sample)][:5]
    key = corpus_key("m", ids, ids)
    with counting() as (_, transform):
        projection = projector.project(key, vectors, ids, query_vectors(vectors, 1), outside, wait=None)
    assert transform.call_count == 1  # the three vectors and the outside candidates in one call
    assert projection.n_fit == 30 and projection.n_corpus == 60
    assert "30 of 60" in projection.subsample_note and "seed 42" in projection.subsample_note
    assert set(outside) <= set(projection.rows.tolist()) and len(projection.ids) == 35
    assert np.isfinite(projection.coords).all()
    pca = pca_projection(vectors, ids, query_vectors(vectors, 1), outside, max_points=30)
    assert pca.ids == projection.ids and pca.subsample_note == projection.subsample_note


def test_tiny_corpus_uses_pca_without_fitting(tmp_path: Path) -> None:
    """Too few documents for a neighbour graph: PCA, said so, no fit started."""
    vectors, ids = make_corpus(MIN_UMAP_POINTS - 1)
    with counting() as (fit, _):
        projection = MapProjector(tmp_path).project("k", vectors, ids, {"query": vectors[0]}, wait=None)
    assert fit.call_count == 0 and projection.method == "pca" and "too few" in projection.notice


def test_warm_up_is_idempotent(tmp_path: Path) -> None:
    """warm_up compiles in the background once; later calls return the same future."""
    projector = MapProjector(tmp_path)
    future = projector.warm_up()
    assert projector.warm_up() is future and future.result(timeout=300) > 0


def test_time_placement_on_a_real_session(tiny_decoder, tmp_path: Path) -> None:  # noqa: ANN001
    """The benchmark helper searches, fits once, and returns one time per repeat (no timing asserted)."""
    docs = [Document(f"d{i}", f"Doc {i}", f"Passage {i} on bread, tides or planets, variant {i % 3}.")
            for i in range(2 * MIN_UMAP_POINTS)]
    session = SearchSession.from_documents(docs, tiny_decoder)
    projector = MapProjector(tmp_path)
    with counting() as (fit, transform):
        timing = time_placement(session, "why does bread rise", repeats=3, projector=projector,
                                settings=SearchSettings(candidates=5, prompt_docs=3))
    assert len(timing.seconds) == 3 and timing.median > 0
    assert (fit.call_count, transform.call_count) == (1, 4)  # one untimed placement, three timed
    assert projector.is_ready(session_key(session))


def test_cosine_table_exact_values() -> None:
    """Hand-made example: the means, the gaps and the changes against the query."""
    docs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 2]], dtype=np.float32)  # unnormalised on purpose
    table = cosine_table(np.array([1.0, 0, 0]), np.array([0.6, 0.8, 0]), np.array([0, 0, 3.0]), docs,
                         [True, True, False])
    query, prompt, rocchio = table.rows
    assert (query.to_relevant, query.to_rest, query.change_relevant) == (0.5, 0.0, 0.0)
    assert prompt.label == "E2Rank pseudo-query"
    assert prompt.to_relevant == pytest.approx(0.7) and prompt.to_rest == 0.0
    assert prompt.change_relevant == pytest.approx(0.2) and prompt.gap == pytest.approx(0.7)
    assert (rocchio.to_relevant, rocchio.to_rest) == (0.0, 1.0)
    assert (rocchio.change_relevant, rocchio.change_rest) == (-0.5, 1.0)
    assert (table.group_label, table.stand_in, table.n_relevant, table.n_rest) == ("judged relevant", False, 2, 1)
    assert table.headers()[1] == "mean cos to judged relevant" and table.as_rows()[1][1] == 0.7


def test_cosine_table_stand_in_and_missing_vectors() -> None:
    """Nothing judged: the top-k stand in and the label says so; absent vectors give no row."""
    docs = np.eye(3, dtype=np.float32)
    table = cosine_table(docs[0], None, None, docs, [True, True, True], stand_in=True)
    assert table.stand_in and table.group_label == "top-3 (stand-in: nothing judged)"
    assert len(table.rows) == 1 and np.isnan(table.rows[0].to_rest)
    with pytest.raises(ValueError, match="3 documents"):
        cosine_table(docs[0], None, None, docs, [True])
