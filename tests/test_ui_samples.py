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
    prompt_token_identity = None  # no tokenizer: no prompt token ids are computed at indexing

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


def test_stored_embeddings_are_found_by_document_identity_not_preset_name(root: Path) -> None:
    """A preset that shares document weights with the one that built the file loads it from disk."""
    sample = samples.load_sample("tiny", root)
    samples.save_embeddings(sample, CountingEmbedder())  # type: ignore[arg-type]
    adapted = CountingEmbedder()
    adapted.name = "fake-adapted"  # another preset name, the same document identity
    announced: list[tuple[int, float]] = []
    _, stored = samples.open_session(sample, adapted, announce=lambda n, s: announced.append((n, s)))  # type: ignore[arg-type]
    assert stored and adapted.embedded == 0 and announced == []


def test_a_sample_without_matching_vectors_says_how_long_embedding_takes_first(root: Path, tmp_path: Path) -> None:
    """The estimate comes before the model embeds the corpus, and the probe's vectors are not wasted."""
    from e2rank_demo.cache import EmbeddingCache

    sample = samples.load_sample("tiny", root)
    embedder = CountingEmbedder(identity="fake:new")
    announced: list[tuple[int, float, int]] = []
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    session, stored = samples.open_session(
        sample, embedder, cache,  # type: ignore[arg-type]
        announce=lambda n, s: announced.append((n, s, embedder.embedded)))
    assert not stored and len(announced) == 1
    n, seconds, embedded_before = announced[0]
    assert n == 2 and seconds >= 0.0 and embedded_before <= 2
    assert embedder.embedded == 2 and session.encode_stats.n_cached == embedded_before


def test_default_preset_loads_the_scifact_sample_without_embedding(tmp_path: Path) -> None:
    """`minilm-e2rank` embeds documents with the base weights, so the shipped MiniLM vectors serve it."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.models import default_model_name, load_embedder

    embedder = load_embedder(default_model_name({})).embedder
    assert embedder.name == "minilm-e2rank"

    def no_model(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the model embedded documents")

    embedder.embed_documents = no_model  # type: ignore[method-assign]
    try:
        session, stored = samples.open_session(samples.load_sample("scifact"), embedder,
                                               EmbeddingCache(tmp_path / "empty.sqlite"),
                                               announce=lambda n, s: no_model())
    finally:
        del embedder.embed_documents
    assert stored and session.encode_stats.n_encoded == 0 and len(session.ids) == 1200


def test_start_up_prefit_makes_the_first_search_map_umap(minilm, tmp_path: Path) -> None:  # noqa: ANN001
    """The app's start-up fit of a bundled sample's map means the first search's map is UMAP, not PCA."""
    import shutil

    from e2rank_demo import projection
    from e2rank_demo.pipeline import SearchSettings

    root = tmp_path / "samples"
    shutil.copytree(samples.SAMPLES_DIR / "general", root / "general")
    assert samples.prefit_maps(minilm, first="general", root=root) == ["general"]
    session, stored = samples.open_session(samples.load_sample("general", root), minilm)
    assert stored
    projector = projection.default_projector()
    projector.fitted(projection.session_key(session), session.vectors, wait=None)  # the start-up fit ends
    result = session.search("why does bread rise", SearchSettings(candidates=20, prompt_docs=5))
    assert projector.project_result(session, result, wait=0.0).method == "umap"
    assert projector.map_path(projection.session_key(session)).is_file()  # cached on disk for the next start
