"""Bundled samples: discovery, loading, and stored embeddings used only when they match."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from e2rank_demo import samples
from e2rank_demo.models import ProgressFn


class CountingEmbedder:
    """A deterministic stand-in for a model that counts the texts it embeds."""

    name = "fake"
    dim = 4

    def __init__(self, identity: str = "fake:1") -> None:
        self.identity = self.document_identity = identity
        self.embedded = 0

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32,
                        progress: ProgressFn | None = None) -> np.ndarray:
        self.embedded += len(texts)
        out = np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A samples folder with one complete sample and one still being written."""
    good = tmp_path / "tiny"
    good.mkdir()
    (good / "meta.json").write_text(json.dumps({"title": "Tiny", "description": "Two docs", "licence": "CC0-1.0",
                                                "instruction_preset": "scifact"}))
    (good / "corpus.jsonl").write_text('{"_id": "d1", "title": "Bread", "text": "Yeast makes dough rise."}\n'
                                       '{"_id": "d2", "title": "", "text": "Tides follow the Moon."}\n')
    (good / "queries.jsonl").write_text('{"_id": "q1", "text": "why does bread rise"}\n')
    (good / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "corpus.jsonl").write_text("")
    samples.load_sample.cache_clear()
    yield tmp_path
    samples.load_sample.cache_clear()


def test_only_complete_samples_are_listed(root: Path) -> None:
    """A folder without meta.json/queries is skipped, not an error."""
    infos = samples.available_samples(root)
    assert [i.name for i in infos] == ["tiny"] and infos[0].task == "scifact"


def test_load_sample_reads_documents_queries_and_qrels(root: Path) -> None:
    """Documents keep file order; qrels skip the header row."""
    sample = samples.load_sample("tiny", root)
    assert [d.id for d in sample.documents] == ["d1", "d2"]
    assert sample.qrels == {"q1": {"d1": 2}} and sample.query_id(" why does bread rise ") == "q1"
    assert [p.full_text for p in sample.passages] == ["Bread Yeast makes dough rise.", "Tides follow the Moon."]


@pytest.mark.parametrize("name", ["partial", "../tiny", "nope", ""])
def test_unknown_or_unsafe_names_are_refused(root: Path, name: str) -> None:
    """Only listed sample names load, so a name can never reach outside the folder."""
    with pytest.raises(ValueError, match="no bundled sample"):
        samples.load_sample(name, root)


def test_stored_embeddings_are_used_only_when_they_match(root: Path) -> None:
    """Matching identity and corpus hash skip the model; any change falls back to embedding."""
    sample = samples.load_sample("tiny", root)
    embedder = CountingEmbedder()
    npy = samples.save_embeddings(sample, embedder)  # type: ignore[arg-type]
    assert npy.name == "embeddings-fake.npy" and embedder.embedded == 2
    meta = json.loads(npy.with_suffix(".json").read_text())
    assert meta == {"model_identity": "fake:1", "n": 2,
                    "corpus_sha256": samples.corpus_sha256([p.full_text for p in sample.passages])}

    session, stored = samples.open_session(sample, embedder)  # type: ignore[arg-type]
    assert stored and embedder.embedded == 2 and session.encode_stats.n_encoded == 0
    np.testing.assert_array_equal(session.vectors, np.load(npy))

    other_model = CountingEmbedder(identity="fake:2")
    _, stored = samples.open_session(sample, other_model)  # type: ignore[arg-type]
    assert not stored and other_model.embedded == 2

    (root / "tiny" / "corpus.jsonl").write_text('{"_id": "d1", "title": "Bread", "text": "Changed."}\n'
                                                '{"_id": "d2", "title": "", "text": "Tides follow the Moon."}\n')
    samples.load_sample.cache_clear()
    changed = samples.load_sample("tiny", root)
    assert samples.precomputed_vectors(changed, embedder) is None  # type: ignore[arg-type]


def test_bundled_embeddings_match_the_offline_model(minilm) -> None:  # noqa: ANN001
    """The shipped .npy files are current for every bundled sample (else: run the build script)."""
    infos = samples.available_samples()
    assert infos, "no bundled samples found"
    for info in infos:
        vectors = samples.precomputed_vectors(samples.load_sample(info.name), minilm)
        assert vectors is not None, f"stale {info.name} embeddings: python scripts/build_sample_embeddings.py"
