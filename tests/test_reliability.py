"""Reliability and security (issue 6): hostile files, limits, file-system safety, model faults, shared work.

Most tests drive the UI callbacks in-process with the real offline model, exactly as a
Gradio event would. The ``served_app`` tests start ``python app.py`` in a subprocess on
127.0.0.1 inside a sandbox folder (Gradio temp dir, cache, ``TMPDIR``, ``HOME`` and
``HF_HOME`` all inside it) with the Hugging Face Hub pointed at a local socket that
accepts connections and never answers: a hub that hangs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import os
import re
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import gradio as gr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_server import serve_app
from e2rank_demo import models, projection, samples
from e2rank_demo.pipeline import MAX_INSTRUCTION_CHARS, MAX_QUERY_CHARS
from e2rank_demo.prompts import TASKS
from e2rank_demo.ui import callbacks, common
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession
from test_corpus_fuzz import HOSTILE_NAMES, upload  # the ingestion fuzzer's strategies

XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
GOOD_TEXT = "Sourdough bread rises because wild yeast makes carbon dioxide.\n\nThe Moon's gravity causes the tides."


# ----------------------------------------------------------------------------- helpers


def _search(state: UISession, query: str = "why does bread rise", *, query_instruction: str = "",
            rerank_instruction: str = "") -> tuple[Any, ...]:
    web = TASKS["web"]
    return callbacks.search(query, "dense", 100, 20, "web", query_instruction or web.query,
                            rerank_instruction or web.rerank, 0.0, "official", False, False, state)


def _error(fn: Callable[..., Any], *args: Any) -> str:
    """The message of the ``gr.Error`` a callback raises."""
    with pytest.raises(gr.Error) as info:
        fn(*args)
    return str(info.value.message)


@pytest.fixture(scope="module")
def loaded(minilm) -> tuple[Corpus, Any, IndexConfig, Any]:  # noqa: ANN001 - the model, loaded once
    """A pasted corpus, indexed and searched once: what a session holds before a bad upload."""
    state = UISession()
    callbacks.paste_text(GOOD_TEXT, 200, 40, "minilm", state)
    _search(state)
    assert state.index is not None and state.result is not None
    return state.corpus, state.index, state.config, state.result


def _session_with(loaded: tuple[Corpus, Any, IndexConfig, Any]) -> UISession:
    corpus, index, config, result = loaded
    state = UISession()
    state.install(corpus, index, config)
    state.result = result
    return state


def _safe_name(name: str, i: int) -> str:
    """A hostile display name that can exist on disk (no ``/``, no NUL, not ``.``/``..``)."""
    cleaned = name.replace("/", "").replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:150]
    return cleaned if cleaned.strip(".") else f"dots{i}"


# ----------------------------------------------------------------------------- 2. robust parsing, through the UI


@pytest.mark.slow
@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(uploads=st.lists(upload(), min_size=1, max_size=3),
       names=st.lists(st.sampled_from([*HOSTILE_NAMES, XSS + ".txt", SCRIPT + ".jsonl"]), min_size=3, max_size=3))
def test_hostile_uploads_never_drop_or_corrupt_the_loaded_corpus(
    loaded: tuple[Corpus, Any, IndexConfig, Any], uploads: list[tuple[str, bytes]], names: list[str],
) -> None:
    """200 malformed uploads (hostile names too) through the upload callback: a failed upload leaves the
    loaded corpus, index and last result exactly as they were; a successful one holds only the new files'
    documents; the session is never left "indexing"; no output carries live markup."""
    with tempfile.TemporaryDirectory() as folder, \
            patch.dict(os.environ, {"E2RANK_MAX_DOCUMENTS": "4", "E2RANK_MAX_FILE_MB": "0.01"}):
        paths = []
        for i, (ext, body) in enumerate(uploads):
            path = Path(folder) / f"{i}-{_safe_name(names[i], i)}{ext}"
            path.write_bytes(body)
            paths.append(str(path))
        state = _session_with(loaded)
        before = (state.corpus, state.index, state.config, state.result, state.judgments)
        try:
            outputs = callbacks.upload_files(paths, callbacks.AUTO_COLUMN, 200, 40, "minilm", state)
        except gr.Error as exc:  # a plain message, and nothing changed
            assert "Traceback" not in exc.message
            outputs = None
        assert not state.indexing
        if outputs is None or isinstance(outputs[0], dict):  # gr.skip(): the corpus panel was not replaced
            assert (state.corpus, state.index, state.config, state.result, state.judgments) == before
            assert state.corpus is before[0] and state.index is before[1] and state.result is before[3]
        else:
            assert state.corpus is not before[0] and state.result is None
            assert len(state.corpus.documents) <= 4
            assert {p.doc_id for p in state.index.passages} == {d.id for d in state.corpus.documents}
            assert not any(d.source == "pasted text" for d in state.corpus.documents)
        for value in outputs or ():
            if isinstance(value, str):
                assert "<img" not in value and "<script" not in value


def test_a_bad_file_among_good_ones_keeps_the_good_ones(loaded, tmp_path: Path) -> None:  # noqa: ANN001
    """Good files index even when others in the same upload are broken; an all-bad upload changes nothing."""
    (tmp_path / "notes.txt").write_text("Volcanoes erupt molten lava from the mantle.")
    (tmp_path / "corpus.jsonl").write_text('{"_id": "j1", "title": "Glaciers", "text": "Glaciers carve valleys."}\n'
                                           "{not json\n")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage")
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    state = _session_with(loaded)
    paths = [str(tmp_path / n) for n in ("notes.txt", "broken.pdf", "corpus.jsonl", "tool.exe")]
    _, status, *_ = callbacks.upload_files(paths, callbacks.AUTO_COLUMN, 200, 40, "minilm", state)
    assert sorted(d.id for d in state.corpus.documents) == ["j1", "notes"]
    assert "broken.pdf" in status and "tool.exe" in status and "corpus.jsonl" in status
    good = (state.corpus, state.index)
    with pytest.warns(UserWarning, match="current corpus is unchanged"):
        callbacks.upload_files([paths[1], paths[3]], callbacks.AUTO_COLUMN, 200, 40, "minilm", state)
    assert (state.corpus, state.index) == good
    assert "Glaciers" in _search(state, "glacier valleys")[0]


# ----------------------------------------------------------------------------- 1. limits, in the app path


def test_passage_limit_is_enforced_after_splitting(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """E2RANK_MAX_PASSAGES counts passages after splitting (pasting and re-indexing alike); the corpus stays."""
    monkeypatch.setenv("E2RANK_MAX_PASSAGES", "3")
    state = _session_with(loaded)
    long_doc = " ".join(f"w{i}" for i in range(200))  # one document, five 50-word passages
    message = _error(callbacks.paste_text, long_doc, 50, 10, "minilm", state)
    assert "5 passages exceed the limit of 3 (E2RANK_MAX_PASSAGES)" in message
    assert state.corpus is loaded[0] and state.index is loaded[1] and not state.indexing
    monkeypatch.setenv("E2RANK_MAX_PASSAGES", "1")
    assert "limit of 1" in _error(callbacks.reindex, "minilm", 200, 40, state)
    assert state.index is loaded[1]


def test_document_file_and_total_limits_say_which_and_how_much(loaded, tmp_path: Path,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Document count, per-file and total size limits each name the limit and its value."""
    monkeypatch.setenv("E2RANK_MAX_DOCUMENTS", "2")
    state = _session_with(loaded)
    _, status, *_ = callbacks.paste_text("one a\n\ntwo b\n\nthree c\n\nfour d", 200, 40, "minilm", state)
    assert len(state.corpus.documents) == 2 and "limit of 2 documents" in status
    monkeypatch.delenv("E2RANK_MAX_DOCUMENTS")
    monkeypatch.setenv("E2RANK_MAX_FILE_MB", "0.001")  # 1 KB
    monkeypatch.setenv("E2RANK_MAX_TOTAL_MB", "0.0015")  # 1.5 KB
    small, big, second = tmp_path / "small.txt", tmp_path / "big.txt", tmp_path / "second.txt"
    small.write_text("tiny text about rivers " * 40)  # 920 bytes
    big.write_text("x " * 2000)
    second.write_text("more text about lakes " * 40)  # 880 bytes: together over 1.5 KB
    _, status, *_ = callbacks.upload_files([str(small), str(big), str(second)], callbacks.AUTO_COLUMN, 200, 40,
                                           "minilm", state)
    assert "big.txt: 3.9 KB exceeds the per-file limit of 1 KB" in status
    assert "second.txt: skipped, the files together exceed the total limit of 1.5 KB" in status
    assert [d.id for d in state.corpus.documents] == ["small"]


def test_query_instruction_and_prompt_limits(loaded) -> None:  # noqa: ANN001
    """Query length, instruction length and the model's prompt window each refuse with the limit named."""
    state = _session_with(loaded)
    message = _error(_search, state, "q" * (MAX_QUERY_CHARS + 1))
    assert f"the limit is {MAX_QUERY_CHARS:,} (E2RANK_MAX_QUERY_CHARS)" in message
    message = _error(lambda: _search(state, rerank_instruction="r" * (MAX_INSTRUCTION_CHARS + 1)))
    assert "listwise prompt instruction" in message and "(E2RANK_MAX_INSTRUCTION_CHARS)" in message
    words = " ".join(f"word{i}" for i in range(150))  # ~450 MiniLM tokens each
    message = _error(lambda: _search(state, words[:MAX_QUERY_CHARS], rerank_instruction=words))
    assert "512-token window" in message
    assert state.result is loaded[3]


def test_decoder_prompt_window_is_capped(tiny_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E2RANK_MAX_PROMPT_TOKENS caps a decoder's listwise-prompt window below its 2,048 positions."""
    monkeypatch.setattr(models.decoder, "MAX_PROMPT_TOKENS", 96)
    decoder = models.build_embedder(str(tiny_qwen_dir))
    assert decoder.max_tokens == 96
    with pytest.raises(models.PromptTooLongError, match="96-token window"):
        decoder.build_listwise("query " * 120, ["a document"] * 3)


def test_error_messages_are_escaped_for_the_toast(minilm) -> None:  # noqa: ANN001
    """Gradio renders error messages as HTML; a message quoting user input carries no live markup."""
    message = _error(callbacks.load_sample_corpus, XSS, "minilm", UISession())
    assert "<img" not in message and html.escape(XSS, quote=False) in message


# ----------------------------------------------------------------------------- 4. rendering, 5. model faults


def test_hostile_file_names_and_titles_render_as_text(minilm, tmp_path: Path) -> None:  # noqa: ANN001
    """A hostile file name and a hostile JSONL title/id/text show up escaped in every HTML output."""
    named = tmp_path / f"{XSS}.txt"
    named.write_text(f"{SCRIPT} Bread dough rises with yeast.")
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(f'{{"_id": "x\\" onmouseover=\\"alert(1)", "title": "{XSS}", "text": "{SCRIPT} yeast"}}\n')
    state = UISession()
    outputs = callbacks.upload_files([str(named)], callbacks.AUTO_COLUMN, 200, 40, "minilm", state)
    assert html.escape(f"{XSS}.txt") in outputs[0]
    outputs += callbacks.upload_files([str(named), str(jsonl)], callbacks.AUTO_COLUMN, 200, 40, "minilm", state)
    outputs += _search(state, f"{XSS} yeast")
    text = "".join(o for o in outputs if isinstance(o, str))
    assert "<img" not in text and "<script" not in text and 'x" onmouseover' not in text
    assert "&lt;script&gt;" in text and 'data-pid="x&quot; onmouseover=&quot;alert(1)"' in text


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")])
def test_out_of_memory_while_loading_falls_back(minilm, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                                error: Exception) -> None:
    """A model that runs out of memory while loading falls back to MiniLM with a notice on the corpus panel."""
    real = models.build_embedder

    def build(name: str) -> Any:
        if name == "huge-model":
            raise error
        return real(name)

    monkeypatch.setattr(models.loading, "build_embedder", build)
    monkeypatch.setattr(models.loading, "_loading", dict(models.loading._loading))  # forget this test's failed load afterwards
    state = UISession()
    stats, *_ = callbacks.paste_text(GOOD_TEXT, 200, 40, "huge-model", state)
    assert 'role="alert"' in stats and "not enough memory for this model" in stats and "all-MiniLM-L6-v2" in stats
    assert state.index is not None and state.index.embedder is minilm


def test_out_of_memory_during_a_search_keeps_the_session(loaded,  # noqa: ANN001
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An OOM in a forward pass is a message; the session keeps its corpus and last result."""
    state = _session_with(loaded)
    monkeypatch.setattr(type(state.index.embedder), "_forward", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    message = _error(_search, state, "tides")
    assert "MemoryError" in message and "unchanged" in message
    assert state.result is loaded[3] and state.index is loaded[1]


# ----------------------------------------------------------------------------- 6. shared work done once


def _at_once(n: int, fn: Callable[[], Any]) -> list[Any]:
    """Runs ``fn`` in ``n`` threads released together; returns their results."""
    barrier = threading.Barrier(n)

    def run() -> Any:
        barrier.wait()
        return fn()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run) for _ in range(n)]]


def test_model_loads_once_when_many_sessions_ask_together(minilm,  # noqa: ANN001
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight sessions asking for an unloaded model at the same moment share one load."""
    calls = []

    def build(name: str) -> Any:
        calls.append(name)
        time.sleep(0.5)
        return minilm

    monkeypatch.setattr(models.loading, "build_embedder", build)
    monkeypatch.setattr(models.loading, "_loaded", dict(models.loading._loaded))
    monkeypatch.setattr(models.loading, "_loading", dict(models.loading._loading))
    results = _at_once(8, lambda: models.load_embedder("shared-model", timeout=30))
    assert calls == ["shared-model"]
    assert all(r.embedder is minilm and r.notice is None for r in results)


def test_bundled_sample_is_read_once_for_simultaneous_sessions(minilm,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight sessions loading the general sample together read its files once and each get their own index."""
    reads = []
    real = samples.load_beir

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(samples, "load_beir", counting)
    samples.load_sample.cache_clear()
    try:
        states = [UISession() for _ in range(8)]
        it = iter(states)
        lock = threading.Lock()

        def load() -> UISession:
            with lock:
                state = next(it)
            callbacks.load_sample_corpus("general", "minilm", state)
            return state

        done = _at_once(8, load)
    finally:
        samples.load_sample.cache_clear()
    assert len(reads) == 1
    assert len({id(s.index) for s in done}) == 8 and all(s.index.embedder is minilm for s in done)


def _fake_fit(fits: list[int], seconds: float = 0.0) -> Callable[..., projection.FittedMap]:
    """A stand-in for ``projection.fit_map`` that records its calls (no numba, no UMAP)."""

    def fit(points: np.ndarray, rows: np.ndarray, n_neighbors: int, seed: int) -> projection.FittedMap:
        fits.append(len(rows))
        time.sleep(seconds)
        reducer = SimpleNamespace(embedding_=np.zeros((len(rows), 2), np.float32), n_neighbors=n_neighbors)
        return projection.FittedMap(reducer, np.asarray(rows), len(points), seconds)

    return fit


def test_umap_map_of_a_corpus_is_fitted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight sessions asking for the map of one corpus at the same moment start one fit and share it."""
    fits: list[int] = []
    monkeypatch.setattr(projection, "fit_map", _fake_fit(fits, 0.5))
    projector = projection.MapProjector(tmp_path)
    vectors = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    maps = _at_once(8, lambda: projector.fitted("corpus-key", vectors, wait=None))
    assert fits == [40] and all(np.array_equal(m.rows, maps[0].rows) for m in maps)
    assert projector.map_path("corpus-key").is_file()


def test_umap_disk_cache_is_capped_least_recently_used_first(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Map files past E2RANK_UMAP_CACHE_MB are deleted, least recently used first; a corrupt one is refit."""
    monkeypatch.setattr(projection, "fit_map", _fake_fit([]))
    vectors = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    projection.MapProjector(tmp_path / "probe").fitted("k", vectors, wait=None)
    size = next((tmp_path / "probe" / "umap").glob("*.pkl")).stat().st_size

    def projector() -> projection.MapProjector:  # a restarted app: nothing in memory
        return projection.MapProjector(tmp_path, max_disk_bytes=int(2.5 * size))

    for key in ("a", "b"):
        projector().fitted(key, vectors, wait=None)
        time.sleep(0.02)
    assert projector().fitted("a", vectors, wait=0.0) is not None  # read from disk: "a" is now the newest
    time.sleep(0.02)
    projector().fitted("c", vectors, wait=None)
    kept = {p.name.split("-")[0] for p in (tmp_path / "umap").glob("*.pkl")}
    assert kept == {"a", "c"}
    projector().map_path("a").write_bytes(b"\x80\x05 not a pickle")
    assert projector().fitted("a", vectors, wait=None) is not None


def test_embedding_cache_of_zero_megabytes_keeps_nothing(tmp_path: Path) -> None:
    """E2RANK_CACHE_MB=0 (SECURITY.md: no cross-session reuse at all) stores no vector."""
    from e2rank_demo.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "c.sqlite", max_bytes=0)
    cache.put_many("m", {"h": np.ones(4, np.float32)})
    assert cache.get_many("m", ["h"]) == {} and cache.size_bytes() == 0


def test_embedding_cache_is_opened_once() -> None:
    """The shared embedding cache is one object even when the first sessions arrive together."""
    common._open_cache.cache_clear()
    caches = _at_once(8, common.embedding_cache)
    assert all(c is caches[0] for c in caches)


def _embeddings_line(stats_html: str) -> str:
    """The corpus panel's "Embeddings" entry, with the seconds blanked out."""
    found = re.search(r"<dt>Embeddings</dt><dd>(.*?)</dd>", stats_html)
    assert found, stats_html
    return re.sub(r"[\d.]+ s\b", "T s", found.group(1))


def test_another_users_upload_changes_neither_the_message_nor_the_embedding_work(minilm) -> None:  # noqa: ANN001
    """Uploads are cached in the uploader's own scope (SECURITY.md): a text Alice pasted is embedded afresh
    for Bob, with the same message and the same model work as a text nobody pasted; each session's own
    re-index is still a cache hit, and the UMAP map key differs too."""
    secret = f"Private memo {uuid.uuid4().hex}: the merger closes on Friday.\n\nSecond paragraph {uuid.uuid4().hex}."
    fresh = f"Unrelated note {uuid.uuid4().hex}: the canteen opens at noon.\n\nAnother line {uuid.uuid4().hex}."
    alice, bob, carol = UISession(), UISession(), UISession()
    assert "embedded now: 2" in callbacks.paste_text(secret, 200, 40, "minilm", alice)[0]
    bob_stats = callbacks.paste_text(secret, 200, 40, "minilm", bob)[0]
    carol_stats = callbacks.paste_text(fresh, 200, 40, "minilm", carol)[0]
    assert _embeddings_line(bob_stats) == _embeddings_line(carol_stats) == "embedded now: 2 in T s (not in the cache)"
    assert (bob.index.encode_stats.n_encoded, bob.index.encode_stats.n_cached) == (2, 0)
    assert (carol.index.encode_stats.n_encoded, carol.index.encode_stats.n_cached) == (2, 0)
    assert projection.session_key(alice.index) != projection.session_key(bob.index)
    assert "cache hit: all 2" in callbacks.reindex("minilm", 200, 40, alice)[0]
    assert "cache hit: all 2" in callbacks.reindex("minilm", 200, 40, bob)[0]  # bob's own copy now
    assert alice.upload_scope() != bob.upload_scope() != carol.upload_scope()


def test_each_session_gets_its_own_upload_scope_from_a_deep_copied_default() -> None:
    """gr.State deep-copies one initial UISession into every session: the scope must still differ."""
    import copy

    initial = UISession()
    one, two = copy.deepcopy(initial), copy.deepcopy(initial)
    assert len(one.upload_scope()) == 32 and one.upload_scope() != two.upload_scope()
    assert one.upload_scope() == one.upload_scope()


# ----------------------------------------------------------------------------- the served app, in a sandbox


def app_env(**extra: str) -> dict[str, str]:
    """The test process's environment for the app, minus Spaces and hub settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPACE_ID", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "E2RANK_MODEL")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", TOKENIZERS_PARALLELISM="false", **extra)
    return env


@contextlib.contextmanager
def hanging_hub() -> Iterator[str]:
    """A 127.0.0.1 endpoint that accepts connections and never answers (an unreachable hub that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in held:
            conn.close()


HUB_MODEL = "Alibaba-NLP/E2Rank-0.6B"
LOAD_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app served with a hub that hangs, every folder it may write inside one sandbox."""
    root = tmp_path_factory.mktemp("sandbox")
    dirs = {name: root / name for name in ("srv/gradio", "cache", "tmp", "home", "hf")}
    for folder in dirs.values():
        folder.mkdir(parents=True)
    with hanging_hub() as hub:
        env = app_env(GRADIO_TEMP_DIR=str(dirs["srv/gradio"]), E2RANK_CACHE_DIR=str(dirs["cache"]),
                      TMPDIR=str(dirs["tmp"]), HOME=str(dirs["home"]), HF_HOME=str(dirs["hf"]), HF_ENDPOINT=hub,
                      E2RANK_MODEL=HUB_MODEL, E2RANK_LOAD_TIMEOUT=str(LOAD_TIMEOUT_S))
        with serve_app(env, root / "app.log") as (url, proc):
            yield {"url": url, "proc": proc, "root": root, "dirs": dirs, "log": root / "app.log"}


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hanging_hub_model_falls_back_within_the_timeout(sandbox: dict[str, Any]) -> None:
    """E2RANK_MODEL names a hub model and the hub hangs: the app serves, indexing with that model returns
    MiniLM and the visible notice within E2RANK_LOAD_TIMEOUT (plus indexing), twice, and keeps serving."""
    client = _client(sandbox["url"])
    client.predict("Warm-up text about rivers.", 200, 40, "minilm", api_name="/paste")  # MiniLM loaded, timed apart
    for _ in range(2):  # the second request meets the same hanging load
        start = time.monotonic()
        stats, *_ = client.predict(GOOD_TEXT, 200, 40, HUB_MODEL, api_name="/paste")
        elapsed = time.monotonic() - start
        assert 'role="alert"' in stats and f"Could not load model &#x27;{HUB_MODEL}&#x27;" in stats
        assert f"no answer within {LOAD_TIMEOUT_S} s" in stats and "all-MiniLM-L6-v2" in stats
        assert LOAD_TIMEOUT_S - 0.5 <= elapsed < LOAD_TIMEOUT_S + 20, elapsed
    first, *_ = client.predict("why does bread rise", "dense", 100, 20, "web", TASKS["web"].query,
                               TASKS["web"].rerank, 0.0, "official", False, False, api_name="/search")
    assert "Sourdough" in first and sandbox["proc"].poll() is None


def _post_upload(url: str, name: str, body: bytes) -> tuple[int, Any]:
    """Uploads one file under an arbitrary multipart file name, as a hostile client could."""
    import httpx

    response = httpx.post(url + "gradio_api/upload", files=[("files", (name, body))], timeout=30)
    return response.status_code, response.json()


def _call(url: str, api: str, data: list[Any]) -> tuple[str, Any]:
    """One raw ``/gradio_api/call`` request, bypassing gradio_client's own file handling.

    Returns:
        The last server-sent event's name (``complete`` or ``error``) and its data.
    """
    import json

    import httpx

    event = httpx.post(url + f"gradio_api/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
    with httpx.stream("GET", url + f"gradio_api/call/{api}/{event}", timeout=120) as stream:
        text = "".join(stream.iter_text())
    name = data_line = ""
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data_line = line.removeprefix("data: ")
    return name, json.loads(data_line) if data_line else None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hostile_upload_names_and_paths_write_nothing_outside_the_apps_folders(sandbox: dict[str, Any]) -> None:
    """Traversal names stay inside Gradio's temp dir, server paths outside it are refused, the app fetches
    no URL it is handed, and everything the app wrote lies in its temp/cache folders (HOME untouched)."""
    url, root, dirs = sandbox["url"], sandbox["root"], sandbox["dirs"]
    stored = []
    for name in ("../../escape1.txt", "/abs/escape2.txt", "..\\..\\escape3.txt", f"{XSS}.txt"):
        status, body = _post_upload(url, name, f"volcano lava document named {name!r}".encode())
        assert status == 200, (name, body)
        stored += body
    assert all(Path(p).resolve().is_relative_to(dirs["srv/gradio"].resolve()) for p in stored)
    assert _post_upload(url, "..", b"x")[0] == 400
    assert all(p.resolve().is_relative_to(dirs["srv/gradio"].resolve()) for p in root.glob("**/escape*"))

    files = [{"path": p, "meta": {"_type": "gradio.FileData"}} for p in stored]
    event, outputs = _call(url, "upload", [files, callbacks.AUTO_COLUMN, 200, 40, "minilm"])
    assert event == "complete" and "<dd>4 uploaded files</dd>" in outputs[0] and "<dd>4</dd>" in outputs[0]
    assert "<img" not in outputs[0] + outputs[1] and "../" not in outputs[0] + outputs[1]
    with socket.socket() as probe:  # a URL the app must not fetch
        probe.bind(("127.0.0.1", 0))
        probe.listen(1)
        probe.settimeout(0.5)
        bait = f"http://127.0.0.1:{probe.getsockname()[1]}/secret.txt"
        for path in ("/etc/hostname", str(dirs["srv/gradio"]) + "/../../../../../etc/hostname", bait,
                     "file:///etc/hostname"):
            event, _ = _call(url, "upload", [[{"path": path, "meta": {"_type": "gradio.FileData"}}],
                                             callbacks.AUTO_COLUMN, 200, 40, "minilm"])
            assert event == "error", path
        with pytest.raises(TimeoutError):
            probe.accept()

    client = _client(url)
    client.predict(GOOD_TEXT, 200, 40, "minilm", api_name="/paste")
    client.predict("bread", "dense", 100, 20, "web", TASKS["web"].query, TASKS["web"].rerank, 0.0, "official",
                   False, False, api_name="/search")
    exported = [Path(f["path"]) for f in client.predict(api_name="/export")]
    assert exported and all(p.resolve().is_relative_to(dirs["srv/gradio"].resolve()) for p in exported)
    assert list(dirs["tmp"].glob("e2rank-session-*/rankings.csv"))

    allowed = [dirs[name].resolve() for name in ("srv/gradio", "cache", "tmp")]
    written = [p for p in root.rglob("*") if p.is_file() and p != sandbox["log"]]
    outside = [p for p in written if not any(p.resolve().is_relative_to(a) for a in allowed)]
    assert outside == [], outside
    assert not any(dirs["home"].iterdir()) and not any(dirs["hf"].rglob("*.txt"))
    assert (dirs["cache"] / "embeddings.sqlite").is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_deletes_uploads_and_exports(tmp_path: Path) -> None:
    """Stopping the server with SIGTERM (docker stop) removes the uploads and session export folders."""
    gradio_dir, tmp = tmp_path / "gradio", tmp_path / "tmp"
    tmp.mkdir()
    env = app_env(GRADIO_TEMP_DIR=str(gradio_dir), E2RANK_CACHE_DIR=str(tmp_path / "cache"), TMPDIR=str(tmp),
                  HF_HUB_OFFLINE="1", E2RANK_MODEL="minilm")
    with serve_app(env, tmp_path / "app.log") as (url, proc):
        from gradio_client import handle_file

        doc = tmp_path / "upload.txt"
        doc.write_text("Confidential notes about tides and the Moon.")
        client = _client(url)
        client.predict([handle_file(str(doc))], callbacks.AUTO_COLUMN, 200, 40, "minilm", api_name="/upload")
        client.predict("tides", "dense", 100, 20, "web", TASKS["web"].query, TASKS["web"].rerank, 0.0, "official",
                       False, False, api_name="/search")
        client.predict(api_name="/export")
        assert list(gradio_dir.rglob("upload.txt")) and list(gradio_dir.rglob("rankings.csv"))
        assert list(tmp.glob("e2rank-session-*"))
        proc.send_signal(signal.SIGTERM)

        def leftovers() -> list[Path]:
            return [*gradio_dir.rglob("upload.txt"), *gradio_dir.rglob("rankings.csv"), *tmp.glob("e2rank-session-*")]

        deadline = time.monotonic() + 60
        while leftovers() and time.monotonic() < deadline:  # cleaned up when the server stops, before exit
            time.sleep(0.5)
        assert leftovers() == []
        assert proc.wait(timeout=15) == 0  # promptly, even with background work still running
        assert "stopping (Ctrl+C or SIGTERM)" in (tmp_path / "app.log").read_text()
