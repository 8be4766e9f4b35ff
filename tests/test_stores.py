"""Document stores (FAISS on disk, Milvus Lite, a Milvus server): protocol, identity, resumable indexing, search.

``milvus-server`` is the network path: a ``milvus-lite server`` on loopback (tests/milvus_server.py),
reached as ``milvus:http://127.0.0.1:PORT#collection`` like a Milvus server or cluster.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from e2rank_demo.stores import StoreInfo, open_store, parse_uri
from e2rank_demo.stores.indexer import CorpusStream, index_corpus

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ["faiss", "milvus"]
SERVER = "milvus-server"
WIRE = [*BACKENDS, SERVER]
UriFn = Callable[..., str]


def _uri(backend: str, folder: Path, name: str = "store") -> str:
    return f"faiss:{folder / name}" if backend == "faiss" else f"milvus:{folder / name}.db"


@pytest.fixture
def uri_for(request: pytest.FixtureRequest, tmp_path: Path) -> UriFn:
    """``uri_for(backend, name="store")``: a store URI of this test's own; a server collection for ``milvus-server``."""
    def uri(backend: str, name: str = "store") -> str:
        if backend == SERVER:  # the session's server, started on first use; collections named per test
            return request.getfixturevalue("milvus_server").uri(f"{tmp_path.name}_{name}")
        return _uri(backend, tmp_path, name)

    return uri


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", WIRE)
def test_search_returns_exact_top_n_with_stored_vectors(backend: str, uri_for: UriFn) -> None:
    """Top-N ids and scores equal brute force, and the vectors are the ones added."""
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 300, 16)
    ids = [f"d{i}" for i in range(300)]
    store = open_store(uri_for(backend), StoreInfo("ident", "m", 16), create=True)
    try:
        assert store.add(ids, [""] * 300, [f"text {i}" for i in range(300)], vectors) == 300
        query = _unit(rng, 1, 16)[0]
        hits = store.search(query, 10)
        order = np.argsort(-(vectors @ query))[:10]
        assert hits.ids == [ids[i] for i in order]
        np.testing.assert_allclose(hits.scores, (vectors @ query)[order], atol=1e-5)
        np.testing.assert_array_equal(hits.vectors, vectors[order])
        assert hits.texts == [f"text {i}" for i in order]
        assert store.count() == 300
    finally:
        store.close()


@pytest.mark.parametrize("backend", WIRE)
def test_add_skips_stored_and_repeated_ids_and_survives_reopen(backend: str, uri_for: UriFn) -> None:
    """Adding an id twice (same batch or later) keeps the first; a reopened store has the same rows."""
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 4, 8)
    uri = uri_for(backend)
    store = open_store(uri, StoreInfo("ident", "m", 8), create=True)
    assert store.add(["a", "b", "a"], ["", "", ""], ["1", "2", "3"], vectors[:3]) == 2
    assert store.add(["b", "c"], ["", ""], ["4", "5"], vectors[2:4]) == 1
    assert store.missing(["a", "x", "c", "it's \"quoted\""]) == ["x", "it's \"quoted\""]
    store.close()
    reopened = open_store(uri, StoreInfo("ident", "m", 8))
    try:
        assert reopened.count() == 3
        hits = reopened.search(vectors[1], 3)
        assert sorted(hits.ids) == ["a", "b", "c"]
        np.testing.assert_array_equal(hits.vectors[hits.ids.index("b")], vectors[1])
    finally:
        reopened.close()


@pytest.mark.parametrize("backend", WIRE)
def test_store_built_with_minilm_refuses_another_model(backend: str, uri_for: UriFn, minilm, tiny_decoder) -> None:  # noqa: ANN001
    """Opening a store with a model that embeds documents differently names both models."""
    uri = uri_for(backend)
    open_store(uri, StoreInfo.of(minilm), create=True).close()
    with pytest.raises(ValueError) as err:
        open_store(uri, StoreInfo.of(tiny_decoder))
    assert minilm.name in str(err.value) and tiny_decoder.name in str(err.value)
    open_store(uri, StoreInfo.of(minilm)).close()  # the building model is still welcome


def test_missing_store_and_bad_uri_are_clear_errors(tmp_path: Path) -> None:
    """No store there, or an unknown form, is a ValueError that says what to do."""
    with pytest.raises(ValueError, match="index --store"):
        open_store(f"faiss:{tmp_path / 'none'}")
    with pytest.raises(ValueError, match="index --store"):
        open_store(f"milvus:{tmp_path / 'none.db'}")
    with pytest.raises(ValueError, match="milvus:<file>.db"):
        parse_uri("sqlite:/tmp/x")
    with pytest.raises(ValueError, match=".db"):
        open_store(f"milvus:{tmp_path / 'plain'}")


@pytest.mark.parametrize("backend", WIRE)
def test_store_session_reranks_with_stored_vectors_not_the_model(backend: str, uri_for: UriFn, minilm,
                                                                 small_docs) -> None:  # noqa: ANN001
    """Search through a store equals the in-memory session and never calls embed_documents."""
    from unittest.mock import patch

    from e2rank_demo.pipeline import SearchSession, SearchSettings
    from e2rank_demo.stores.session import StoreSession

    memory = SearchSession.from_documents(small_docs, minilm, cache=None)
    store = open_store(uri_for(backend), StoreInfo.of(minilm), create=True)
    try:
        store.add(memory.ids, [p.title for p in memory.passages], [p.text for p in memory.passages], memory.vectors)
        settings = SearchSettings(candidates=5, prompt_docs=3)
        expected = memory.search("why does bread rise", settings)
        with patch.object(minilm, "embed_documents", wraps=minilm.embed_documents) as encode:
            got = StoreSession(store, minilm).search("why does bread rise", settings)
        assert encode.call_count == 0
        assert got.first_stage.ids == expected.first_stage.ids
        for name in ("e2rank", "rocchio", "dense"):
            assert got.reranked[name].ids == expected.reranked[name].ids
            np.testing.assert_allclose(got.reranked[name].scores, expected.reranked[name].scores, atol=1e-5)
        assert got.prompt.text == expected.prompt.text
    finally:
        store.close()


def _corpus(folder: Path, n: int) -> Path:
    path = folder / "corpus.jsonl"
    topics = ["bread and yeast", "ocean tides", "planets and moons", "telephones", "rivers and deltas"]
    path.write_text("\n".join(json.dumps({"_id": f"doc{i}", "title": f"Title {i}",
                                          "text": f"Passage {i} about {topics[i % 5]}, number {i * 7}."})
                              for i in range(n)) + "\n", encoding="utf-8")
    return path


def _stored(uri: str, info: StoreInfo, ids: list[str]) -> tuple[int, dict[str, np.ndarray]]:
    store = open_store(uri, info)
    try:
        hits = store.search(np.ones(info.dim, dtype=np.float32) / np.sqrt(info.dim), len(ids) + 10)
        assert len(set(hits.ids)) == len(hits.ids), "an id is stored twice"
        return store.count(), dict(zip(hits.ids, hits.vectors))
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", WIRE)
def test_index_killed_mid_way_resumes_without_duplicates_or_gaps(backend: str, tmp_path: Path, uri_for: UriFn,
                                                                request: pytest.FixtureRequest, minilm) -> None:  # noqa: ANN001
    """SIGKILL during `index`, then run it again: every corpus id once, vectors equal to a clean build."""
    n = 120
    corpus = _corpus(tmp_path, n)
    uri = uri_for(backend, "killed")
    server = request.getfixturevalue("milvus_server") if backend == SERVER else None
    # The kill waits for the progress bar's counts: TQDM_DISABLE (a bench run in the same process once set it)
    # would silence them, and the index would finish unkilled.
    env = {**{k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"},
           "E2RANK_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "e2rank_demo", "index", "--corpus", str(corpus), "--store", uri,
           "--model", "minilm", "--batch-size", "10", "--no-cache"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    seen = b""
    assert proc.stderr is not None
    while True:  # wait until some batches are committed, then kill without warning
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
        done = [int(m) for m in re.findall(rb"(\d+)/%d" % n, seen)]
        if done and 20 <= max(done) < n - 40:
            if server is not None:  # frozen first, so the client may die with an insert sent but not answered
                server.pause()
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    if server is not None:
        server.resume()
    assert proc.returncode == -signal.SIGKILL, seen.decode(errors="replace")[-2000:]
    info = StoreInfo.of(minilm)
    partial, _ = _stored(uri, info, [])
    assert 0 < partial < n

    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{n:,} passages" in rerun.stdout
    # The rerun skipped at least what was committed (Milvus Lite replaces a repeated id, so a store
    # could not show a second row; the report shows whether stored passages were added again).
    added, skipped = (int(x.replace(",", "")) for x in re.findall(r"added ([\d,]+) and skipped ([\d,]+)", rerun.stdout)[0])
    assert added + skipped == n and skipped >= partial

    clean = uri_for(backend, "clean")
    store = open_store(clean, info, create=True)
    index_corpus(CorpusStream(corpus), store, minilm, batch_size=10)
    store.close()
    ids = [f"doc{i}" for i in range(n)]
    count, resumed = _stored(uri, info, ids)
    _, reference = _stored(clean, info, ids)
    assert count == n and sorted(resumed) == sorted(ids)
    for pid in ids:
        np.testing.assert_allclose(resumed[pid], reference[pid], atol=1e-5)


def test_corpus_stream_reads_folders_and_renames_colliding_ids(tmp_path: Path) -> None:
    """A folder streams file by file, sorted; equal file stems get -2 as one upload would."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "note.txt").write_text("first note", encoding="utf-8")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "note.txt").write_text("second note", encoding="utf-8")
    stream = CorpusStream(tmp_path)
    passages = list(stream.passages())
    assert stream.total == 2 and stream.done == 2
    assert [p.text for p in passages] == ["first note", "second note"]
    assert len({p.id for p in passages}) == 2


@pytest.mark.parametrize("backend", ["faiss", SERVER])
def test_cli_index_search_and_store_model_default(backend: str, tmp_path: Path, uri_for: UriFn,
                                                  capsys) -> None:  # noqa: ANN001
    """`index` then `search --store` (model taken from the store) prints the stored passages."""
    from e2rank_demo.cli import main

    corpus = _corpus(tmp_path, 20)
    uri = uri_for(backend, "cli")
    assert main(["index", "--corpus", str(corpus), "--store", uri, "--model", "minilm", "--no-cache"]) == 0
    assert "20 passages" in capsys.readouterr().out
    assert main(["index", "--corpus", str(corpus), "--store", uri, "--no-cache"]) == 0
    assert "added 0 and skipped 20" in capsys.readouterr().out
    assert main(["search", "--store", uri, "--query", "ocean tides", "--top", "3", "--json",
                 "--rerankers", "e2rank"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "minilm"
    assert int(payload["first_stage"][0]["id"][3:]) % 5 == 1  # a passage about ocean tides
    assert main(["search", "--store", uri_for(backend, "nothing"), "--query", "x"]) == 2
    assert "index --store" in capsys.readouterr().err


def test_scale_markdown_renders_every_row_the_target_and_one_line_per_complete_store() -> None:
    """RESULTS.md's scaling section: each measured row, the 1M verdict, charts only for stores at every size."""
    from e2rank_demo.stores.bench_scale import markdown

    def row(store: str, n: int, p50: float) -> dict:
        return {"store": store, "n": n, "add_s": 1.0, "build_s": n / 1e4, "p50_ms": p50, "p95_ms": 2 * p50,
                "peak_rss_mb": 100.0, "recall@100": 0.9}

    data = {"meta": {"cpus": 2, "dim": 384, "queries": 50, "top": 100, "skipped": ["milvus-lite at 1,000,000: x"]},
            "prompt_forward": {"p50_ms": 120.0, "model": "minilm", "k": 20},
            "rows": [row("faiss-hnsw", 10_000, 1.5), row("faiss-hnsw", 1_000_000, 61.0), row("milvus-lite", 10_000, 17.0)]}
    text = "\n".join(markdown(data))
    assert text.count("| faiss-hnsw |") == 2 and text.count("| milvus-lite |") == 1
    assert "faiss-hnsw, 61.00 ms: not met." in text
    assert "Not measured: milvus-lite at 1,000,000: x." in text
    charts = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert len(charts) == 2
    # milvus-lite lacks the 1M point, so each chart draws faiss-hnsw's line only.
    assert [re.findall(r"line \[(.*)\]", c) for c in charts] == [["1.50, 61.00"], ["1.0, 100.0"]]


@pytest.mark.slow
def test_scale_run_replaces_only_the_pairs_it_measures(tmp_path: Path) -> None:
    """``bench --scale --stores``: a run keeps other stores' rows and drops the notes it supersedes."""
    from e2rank_demo.stores.bench_scale import run

    path = tmp_path / "scale.json"
    old_row = {"store": "milvus-lite", "n": 2_000, "add_s": 1.0, "build_s": 2.0, "p50_ms": 3.0, "p95_ms": 4.0,
               "peak_rss_mb": 5.0, "recall@100": 0.5}
    path.write_text(json.dumps({"meta": {"skipped": ["faiss-hnsw at 2,000: over 1 s", "milvus-lite at 9,000: x"]},
                                "rows": [old_row, dict(old_row, store="faiss-hnsw")]}), encoding="utf-8")
    assert run([2_000], str(path), stores=("faiss-hnsw",)) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert old_row in data["rows"] and len(data["rows"]) == 2
    fresh = next(r for r in data["rows"] if r["store"] == "faiss-hnsw")
    assert fresh["n"] == 2_000 and fresh["p50_ms"] != 3.0 and 0 < fresh["recall@100"] <= 1
    assert data["meta"]["skipped"] == ["milvus-lite at 9,000: x"]
    with pytest.raises(ValueError, match="unknown store"):
        run([2_000], str(path), stores=("qdrant",))


def test_milvus_optimize_accepts_a_retried_index_call_whose_first_attempt_landed(tmp_path: Path,
                                                                               monkeypatch) -> None:  # noqa: ANN001
    """pymilvus retries an RPC whose connection failed: the retry then meets the index the first attempt built."""
    from pymilvus.exceptions import MilvusException

    store = open_store(_uri("milvus", tmp_path), StoreInfo("ident", "m", 8), create=True)
    try:
        store.add([f"d{i}" for i in range(50)], [""] * 50, ["t"] * 50, _unit(np.random.default_rng(1), 50, 8))
        client, calls = store._client, []  # noqa: SLF001
        real_create, real_drop = client.create_index, client.drop_index

        def create_twice(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append("create")
            real_create(*args, **kwargs)
            raise MilvusException(code=35, message="index already exists for field 'vector'; call drop_index first")

        def drop_twice(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append("drop")
            real_drop(*args, **kwargs)
            raise MilvusException(code=36, message="no index to drop")

        monkeypatch.setattr(client, "create_index", create_twice)
        monkeypatch.setattr(client, "drop_index", drop_twice)
        assert store.optimize("hnsw") == "hnsw" and calls == ["drop", "create"]
        assert store._current_kind() == "hnsw"  # noqa: SLF001
        assert store.search(_unit(np.random.default_rng(2), 1, 8)[0], 5).ids  # loaded and searchable
        # A refusal that is not a landed retry still surfaces.
        monkeypatch.setattr(client, "create_index", lambda *a, **k: (_ for _ in ()).throw(
            MilvusException(code=35, message="index already exists for field 'vector'")))
        monkeypatch.setattr(client, "drop_index", real_drop)
        with pytest.raises(MilvusException):
            store.optimize("ivf")
    finally:
        store.close()


def test_a_frozen_milvus_server_is_a_clear_error_after_the_search_deadline_and_search_resumes(
        milvus_server, monkeypatch: pytest.MonkeyPatch, minilm, small_docs) -> None:  # noqa: ANN001
    """The server paused (SIGSTOP: it holds the connection and answers nothing): a search and a count raise
    StoreUnreachableError naming the store and the deadline, the session keeps its last candidates; resumed, the
    same session and store search again with the same results."""
    from e2rank_demo.pipeline import SearchSettings
    from e2rank_demo.records import Passage
    from e2rank_demo.stores import StoreUnreachableError
    from e2rank_demo.stores.milvus_store import SEARCH_TIMEOUT_ENV
    from e2rank_demo.stores.session import StoreSession

    uri = milvus_server.uri("frozen")
    passages = [Passage.from_document(d) for d in small_docs]
    store = open_store(uri, StoreInfo.of(minilm), create=True)
    try:
        store.add([p.id for p in passages], [p.title for p in passages], [p.text for p in passages],
                  minilm.embed_documents([p.full_text for p in passages]))
        session = StoreSession(store, minilm)
        settings = SearchSettings(candidates=5, prompt_docs=3)
        before = session.search("why does bread rise", settings)
        milvus_server.pause()
        try:
            # The deadline is set only while the server is frozen, so no search of a live server can miss it.
            # Short, too, so it falls before gRPC's keep-alive (a ping every 10 s, 5 s for its answer) could
            # notice the frozen server first and fail the call as unreachable instead.
            monkeypatch.setenv(SEARCH_TIMEOUT_ENV, "1")
            for call in (lambda: session.search("how do tides work", settings), store.count):
                with pytest.raises(StoreUnreachableError) as info:
                    call()
                assert str(info.value) == (f"{uri}: the Milvus server does not answer (no reply within 1 s, "
                                           f"{SEARCH_TIMEOUT_ENV}); try again once it is back")
            assert session.ids == before.first_stage.ids  # the last candidates stay for the open result
        finally:
            monkeypatch.delenv(SEARCH_TIMEOUT_ENV)
            milvus_server.resume()
        again = session.search("why does bread rise", settings)
        assert again.first_stage.ids == before.first_stage.ids
        assert again.reranked["e2rank"].ids == before.reranked["e2rank"].ids
        assert store.count() == len(passages)
    finally:
        store.close()
