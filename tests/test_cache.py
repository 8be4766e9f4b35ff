"""Embedding cache: hits on re-open, size cap with eviction, survival of a corrupted file."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import numpy as np

from e2rank_demo.cache import EmbeddingCache, text_hash
from e2rank_demo.pipeline import SearchSession
from e2rank_demo.records import Document

DOCS = [Document(f"d{i}", "", f"document number {i} about topic {i % 3}") for i in range(12)]


def test_cache_hit_on_reopen(tmp_path: Path, tiny_decoder) -> None:  # noqa: ANN001
    """Re-opening the same corpus reads every vector from the cache and never calls the model."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = SearchSession.from_documents(DOCS, tiny_decoder, cache)
    assert first.encode_stats.n_encoded == len(DOCS)
    reopened = EmbeddingCache(tmp_path / "c.sqlite")
    with patch.object(tiny_decoder, "_forward", wraps=tiny_decoder._forward) as forward:
        second = SearchSession.from_documents(DOCS, tiny_decoder, reopened)
    assert forward.call_count == 0
    assert second.encode_stats.cache_hit and second.encode_stats.n_cached == len(DOCS)
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_partial_hit_encodes_only_new_texts(tmp_path: Path, tiny_decoder) -> None:  # noqa: ANN001
    """Adding documents to a cached corpus encodes only the new ones."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    SearchSession.from_documents(DOCS[:8], tiny_decoder, cache)
    session = SearchSession.from_documents(DOCS, tiny_decoder, cache)
    assert (session.encode_stats.n_cached, session.encode_stats.n_encoded) == (8, 4)


def test_prompt_token_ids_are_cached_beside_the_vectors(tmp_path: Path, tiny_decoder) -> None:  # noqa: ANN001
    """Indexing computes the passages' prompt token ids; opening the corpus again reads them from the cache without
    tokenising, under the model's key and the corpus's scope, as the vectors are."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = SearchSession.from_documents(DOCS, tiny_decoder, cache)
    expected = tiny_decoder.prompt_document_ids(first.texts)
    assert first.tokens is not None and first.tokens.ids.dtype == np.int32  # Qwen3's ids pass 65,535
    assert [row.tolist() for row in first.tokens.rows(range(len(DOCS)))] == [ids.tolist() for ids in expected]
    with patch.object(tiny_decoder, "prompt_document_ids", wraps=tiny_decoder.prompt_document_ids) as tokenise:
        second = SearchSession.from_documents(DOCS, tiny_decoder, EmbeddingCache(tmp_path / "c.sqlite"))
        assert tokenise.call_count == 0
        SearchSession.from_documents(DOCS, tiny_decoder, cache, scope="someone's upload")
        assert tokenise.call_count == 1  # another scope does not see them
    np.testing.assert_array_equal(second.tokens.ids, first.tokens.ids)
    np.testing.assert_array_equal(second.tokens.starts, first.tokens.starts)


def test_cache_reads_arrays_back_in_their_type(tmp_path: Path) -> None:
    """Token ids stored as uint16 or int32 come back unchanged when read as the same type."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("small-vocab", {"h": np.array([0, 101, 65535])}, np.uint16)
    cache.put_many("large-vocab", {"h": np.array([0, 151643])}, np.int32)
    assert cache.get_many("small-vocab", ["h"], np.uint16)["h"].tolist() == [0, 101, 65535]
    assert cache.get_many("large-vocab", ["h"], np.int32)["h"].tolist() == [0, 151643]
    assert cache.size_bytes() == 3 * 2 + 2 * 4


def test_cache_is_keyed_by_model(tmp_path: Path) -> None:
    """A vector stored for one model is not returned for another."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("model-a", {text_hash("x"): np.ones(4, np.float32)})
    assert cache.get_many("model-b", [text_hash("x")]) == {}


def test_size_cap_evicts_least_recently_used(tmp_path: Path) -> None:
    """Past the byte cap the least recently used vectors go first."""
    cache = EmbeddingCache(tmp_path / "c.sqlite", max_bytes=3 * 16)
    cache.put_many("m", {"old": np.zeros(4, np.float32)})
    cache.put_many("m", {"mid": np.zeros(4, np.float32)})
    cache.get_many("m", ["old"])  # touch: "mid" is now the least recently used
    cache.put_many("m", {"new1": np.zeros(4, np.float32), "new2": np.zeros(4, np.float32)})
    assert cache.size_bytes() <= 3 * 16
    kept = cache.get_many("m", ["old", "mid", "new1", "new2"])
    assert "mid" not in kept and "new1" in kept


def test_corrupted_cache_file_is_rebuilt(tmp_path: Path) -> None:
    """A garbage cache file is set aside and replaced, not a crash."""
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a sqlite database" * 100)
    cache = EmbeddingCache(path)
    assert cache.get_many("m", ["h"]) == {}
    cache.put_many("m", {"h": np.ones(2, np.float32)})
    assert "h" in EmbeddingCache(path).get_many("m", ["h"])
