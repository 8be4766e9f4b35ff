""""Open an index" in the app: a read-only store as the session's corpus, searched through the UI callbacks.

Stores are built here from five short documents with the real offline model (``minilm``),
in FAISS and Milvus Lite, inside a folder the tests name as ``E2RANK_STORES_DIR``, and on a
Milvus server (``milvus-lite server`` on loopback) named in ``E2RANK_STORES``.
"""

from __future__ import annotations

import html
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from e2rank_demo.prompts import TASKS
from e2rank_demo.records import Passage
from e2rank_demo.stores import StoreInfo, open_store
from e2rank_demo.stores.catalog import listed_stores, typed_uri_allowed
from e2rank_demo.ui import callbacks, share, visuals
from e2rank_demo.ui.state import UISession

REPO = Path(__file__).resolve().parents[1]
BACKENDS = {"faiss": "docs", "milvus": "docs.db"}


def _build(uri: str, embedder: Any, documents: list[Any]) -> None:
    passages = [Passage.from_document(d) for d in documents]
    store = open_store(uri, StoreInfo.of(embedder), create=True)
    store.add([p.id for p in passages], [p.title for p in passages], [p.text for p in passages],
              embedder.embed_documents([p.full_text for p in passages]))
    store.optimize()
    store.close()


@pytest.fixture(scope="module")
def stores_dir(tmp_path_factory: pytest.TempPathFactory, minilm, small_docs) -> Path:  # noqa: ANN001
    """A server folder with a FAISS store, a Milvus Lite store and a folder that is no store."""
    folder = tmp_path_factory.mktemp("stores")
    _build(f"faiss:{folder / BACKENDS['faiss']}", minilm, small_docs)
    _build(f"milvus:{folder / BACKENDS['milvus']}", minilm, small_docs)
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("not a store", encoding="utf-8")
    return folder


@pytest.fixture
def served(stores_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of a public server: listed stores only, no typed addresses."""
    monkeypatch.setenv("E2RANK_STORES_DIR", str(stores_dir))
    monkeypatch.delenv("E2RANK_STORES", raising=False)
    monkeypatch.setenv("E2RANK_ALLOW_STORE_URI", "0")
    return stores_dir


def _search(state: UISession, first_stage: str = "dense", *, rocchio: bool = False) -> tuple[Any, ...]:
    web = TASKS["web"]
    return callbacks.search("why does bread rise", first_stage, 100, 3, "web", web.query, web.rerank, 0.0,
                            "official", rocchio, False, state)


def _error(fn: Callable[..., Any], *args: Any) -> str:
    with pytest.raises(gr.Error) as info:
        fn(*args)
    return str(info.value.message)


def test_server_lists_stores_by_name_and_skips_other_folders(served: Path) -> None:
    """Only store folders and .db files one level down are offered; the picker shows names, not paths."""
    assert [(e.name, e.uri.split(":", 1)[0]) for e in listed_stores()] == [("docs", "faiss"), ("docs.db", "milvus")]
    assert callbacks.store_picker().choices == [("docs", "docs"), ("docs.db", "docs.db")]


def test_page_has_one_store_picker_and_hides_typing_on_a_public_server(served: Path) -> None:
    """The sidebar holds exactly one labelled picker with the listed names and no visible address box."""
    from e2rank_demo.ui import build_demo

    blocks = build_demo().blocks.values()
    dropdowns = [b for b in blocks if isinstance(b, gr.Dropdown) and b.choices == [("docs", "docs"),
                                                                                      ("docs.db", "docs.db")]]
    assert [(d.elem_id, d.label) for d in dropdowns] == [("store-name", "Index on this server")]
    assert [b.visible for b in blocks if getattr(b, "elem_id", None) == "store-uri"] == [False]


def test_typed_addresses_only_where_allowed() -> None:
    """A Space or a non-loopback host refuses typed URIs unless the operator allows them."""
    assert typed_uri_allowed({}) is True
    assert typed_uri_allowed({"GRADIO_SERVER_NAME": "0.0.0.0"}) is False
    assert typed_uri_allowed({"SPACE_ID": "someone/e2rank"}) is False
    assert typed_uri_allowed({"SPACE_ID": "someone/e2rank", "E2RANK_ALLOW_STORE_URI": "1"}) is True
    assert typed_uri_allowed({"E2RANK_ALLOW_STORE_URI": "0"}) is False


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_open_listed_store_then_search_rerank_judge_and_export(backend: str, served: Path) -> None:
    """The panel shows the index; searches come from the store and every reranker runs on its vectors."""
    state = UISession()
    stats, status, *_ = callbacks.open_index(BACKENDS[backend], "", "minilm", state)
    uri = state.corpus.store
    assert uri is not None and uri.startswith(f"{backend}:") and str(served) in uri
    assert html.escape(uri, quote=False) in stats
    assert "<dd>5</dd>" in stats and "exact (flat)" in stats and "minilm" in stats
    assert "Opened the index (5 passages)" in status

    *_, line = _search(state, rocchio=True)
    result = state.result
    assert result is not None and result.first_stage.ids[0] in {"bread", "sourdough"}
    assert {"e2rank", "rocchio"} <= set(result.reranked) and len(result.first_stage.ids) == 5
    assert "5 candidates from 5 passages" in line

    # Judging, re-rendering and exporting read the passages the store returned.
    columns = callbacks.mark_relevant(["bread"], False, state)
    assert state.judgments_for(result.query) == {"bread": 1} and "e2r-metric" in columns[0]
    names = sorted(Path(p).name for p in callbacks.export_files(state))
    assert "rankings.csv" in names and ",Sourdough\n" in (state.private_dir() / "rankings.csv").read_text()
    _, notes = share.view_for_link(state, "", "dense", 100, 3, "web", "", "", 0.0, "official", False, "minilm")
    assert "cannot open an index" in notes[0]
    report = Path(share.export_report(True, state)).read_text(encoding="utf-8")
    assert "5 passages in a document store" in report and "is an opened index" in report


def test_features_needing_the_corpus_in_memory_say_so(served: Path) -> None:
    """BM25 and the map are refused in plain words; the opened index stays."""
    state = UISession()
    callbacks.open_index("docs", "", "minilm", state)
    assert "BM25 needs every text in memory" in _error(_search, state, "bm25")
    _search(state)
    assert "not available here" in visuals.refusal(state, "map")
    assert state.corpus.store is not None and state.result is not None


def test_wrong_model_is_refused_naming_both_and_keeps_the_corpus(served: Path, tiny_qwen_dir: Path) -> None:
    """Opening (or re-indexing) with another model names both models; the previous corpus survives."""
    state = UISession()
    callbacks.paste_text("Bread rises.\n\nTides follow the Moon.", 200, 40, "minilm", state)
    corpus, index = state.corpus, state.index
    message = _error(callbacks.open_index, "docs.db", "", str(tiny_qwen_dir), state)
    assert "built with model minilm" in message and "Choose minilm" in message
    assert state.corpus is corpus and state.index is index and not state.indexing

    callbacks.open_index("docs", "", "minilm", state)
    opened = state.index
    assert "built with model minilm" in _error(callbacks.reindex, str(tiny_qwen_dir), 200, 40, state)
    assert state.index is opened


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("name", "typed", "allow", "expected"), [
    (None, "", "0", "choose an index first"),
    ("../../etc", "", "0", "is not an index this server lists"),
    ("notes", "", "0", "is not an index this server lists"),
    ("docs", "faiss:/etc", "0", "does not open typed store addresses"),
    (None, "faiss:{dir}/notes", "1", "no FAISS store at"),
    (None, "faiss:{dir}/missing", "1", "no FAISS store at"),
    (None, "milvus:{dir}/missing.db", "1", "no Milvus Lite store at"),
    (None, "http://example.org", "1", "unknown store"),
    (None, "milvus:http://127.0.0.1:{port}", "1", "cannot open"),
])
def test_bad_choices_get_a_clear_message_and_keep_the_corpus(served: Path, monkeypatch: pytest.MonkeyPatch,
                                                             name: str | None, typed: str, allow: str,
                                                             expected: str) -> None:
    """Unlisted names, typed addresses on a public server, non-stores and a dead server: messages, no change."""
    monkeypatch.setenv("E2RANK_ALLOW_STORE_URI", allow)
    monkeypatch.setenv("E2RANK_MILVUS_TIMEOUT", "2")
    state = UISession()
    callbacks.open_index("docs", "", "minilm", state)
    _search(state)
    before = (state.corpus, state.index, state.result)
    typed = typed.format(dir=served, port=_closed_port())
    assert expected in _error(callbacks.open_index, name, typed, "minilm", state)
    assert (state.corpus, state.index, state.result) == before and not state.indexing


@pytest.mark.slow
def test_index_server_going_away_mid_session_is_a_message_and_search_resumes_when_it_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm, small_docs) -> None:  # noqa: ANN001
    """A Milvus server's index listed in ``E2RANK_STORES``: opened and searched over the wire. The server stops:
    a search gets a plain message, the opened index and last result stay, another visitor still searches and the
    CLI says the same without a traceback. Restarted on the same port and data: the same session searches again."""
    from milvus_server import serve_milvus

    with serve_milvus(tmp_path) as server:
        uri = server.uri("docs")
        _build(uri, minilm, small_docs)
        monkeypatch.delenv("E2RANK_STORES_DIR", raising=False)
        monkeypatch.setenv("E2RANK_STORES", uri)
        monkeypatch.setenv("E2RANK_ALLOW_STORE_URI", "0")
        monkeypatch.setenv("E2RANK_MILVUS_TIMEOUT", "2")
        assert callbacks.store_picker().choices == [(uri, uri)]
        state, other = UISession(), UISession()
        stats, status, *_ = callbacks.open_index(uri, "", "minilm", state)
        assert state.corpus.store == uri and html.escape(uri, quote=False) in stats
        assert "Opened the index (5 passages)" in status
        callbacks.paste_text("Bread rises in the oven.\n\nTides follow the Moon.", 200, 40, "minilm", other)
        _search(state)
        before = state.result
        assert before is not None and before.first_stage.ids[0] in {"bread", "sourdough"}

        server.stop()
        message = _error(_search, state)
        assert f"{uri}: the Milvus server does not answer" in message and "try again once it is back" in message
        assert state.corpus.store == uri and state.result is before and not state.indexing
        _search(other)  # another visitor's in-memory corpus is not held up
        assert other.result is not None and other.result.query == "why does bread rise"
        cli = subprocess.run([sys.executable, "-m", "e2rank_demo", "search", "--store", uri, "--query", "bread"],
                             check=False, capture_output=True, text=True, timeout=600, cwd=REPO)
        assert cli.returncode == 2 and "the Milvus server does not answer" in cli.stderr
        assert "Traceback" not in cli.stderr and "MilvusException" not in cli.stderr, cli.stderr

        server.start()  # same port, same data directory
        _search(state)
        assert state.result is not before and state.result.first_stage.ids == before.first_stage.ids
