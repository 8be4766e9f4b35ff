"""The app's API endpoints through ``gradio_client``: samples, uploads, isolation, errors, exports.

The app runs in-process (``launch(prevent_thread_lock=True)``); each ``Client`` is its own
browser-like session with its own ``gr.State``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from e2rank_demo.prompts import TASKS
from e2rank_demo.ui import build_demo, callbacks, launch_options
from e2rank_demo.ui.state import UISession

gradio_client = pytest.importorskip("gradio_client")

ENDPOINTS = {"/load_sample", "/upload", "/paste", "/open_index", "/reindex", "/search", "/set_relevant", "/export",
             "/map", "/prompt_influence"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(minilm) -> Iterator[str]:  # noqa: ANN001 - the model is loaded before the app serves
    demo = build_demo()
    demo.queue(default_concurrency_limit=4)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(), quiet=True,
                            **launch_options())
    yield url
    demo.close()


def _client(url: str) -> Any:
    return gradio_client.Client(url, verbose=False, download_files=False)


def _search(client: Any, query: str, task: str = "web", candidates: int = 100) -> tuple[Any, ...]:
    return client.predict(query, "dense", candidates, 20, task, TASKS[task].query, TASKS[task].rerank, 0.0,
                          "official", False, False, api_name="/search")


def test_endpoints_have_stable_api_names(app_url: str) -> None:
    """The functions gradio_client drives are published under fixed names."""
    named = _client(app_url).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert ENDPOINTS <= set(named)


def test_every_api_output_has_a_label(app_url: str) -> None:
    """view_api names each output after its component, never Gradio's fallback ``value_<id>`` (a gr.Timer, such
    as the map's UMAP poll, takes no label)."""
    named = _client(app_url).view_api(print_info=False, return_format="dict")["named_endpoints"]
    unlabelled = {name: [r["label"] for r in ep["returns"] if re.fullmatch(r"value_\d+", str(r["label"]))
                         and r["component"] != "Timer"] for name, ep in named.items()}
    assert {name: labels for name, labels in unlabelled.items() if labels} == {}
    assert [r["label"] for r in named["/search"]["returns"]][:3] == [
        "First-stage results", "E2Rank results", "Rocchio PRF results"]


def test_export_before_any_search_is_a_clear_error(app_url: str) -> None:
    """/export in a session that has not searched says so (it used to return a bare update dict)."""
    with pytest.raises(Exception, match="Nothing to export yet: search first"):
        _client(app_url).predict(api_name="/export")


def test_first_search_on_a_bundled_sample(app_url: str) -> None:
    """SciFact loads from its shipped embeddings and its known judgments give metrics at once."""
    client = _client(app_url)
    stats, _, _, task, *_ = client.predict("scifact", "minilm", api_name="/load_sample")
    assert "precomputed" in stats and "1,200" in stats and task == "scifact"
    claim = "ADAR1 binds to Dicer to cleave pre-miRNA."
    first, e2rank, _, picker, prompt, info = _search(client, claim, task="scifact")
    assert first.count('class="e2r-hit') == 10 and e2rank.count("e2r-badge") == 10
    assert 'data-metric="ndcg@10"' in first and 'data-metric="ndcg@10"' in e2rank
    assert "never trained on listwise prompts" in e2rank
    assert "Given a scientific claim" in prompt and "100 candidates" in info


def test_concurrent_sessions_never_share_documents(app_url: str) -> None:
    """Two sessions index different texts at the same time and only ever see their own."""
    texts = {"alpha": "Zebras graze on the savanna grass.\n\nZebra stripes confuse biting flies.",
             "beta": "Quasars are bright galactic nuclei.\n\nQuasar light left them billions of years ago."}
    clients = {name: _client(app_url) for name in texts}

    def run(name: str) -> str:
        client = clients[name]
        client.predict(texts[name], 200, 40, "minilm", api_name="/paste")
        first, e2rank, *_ = _search(client, "what do we know about them")
        return first + e2rank

    with ThreadPoolExecutor(max_workers=2) as pool:
        seen = dict(zip(texts, pool.map(run, texts)))
    assert "Zebra" in seen["alpha"] and "Quasar" not in seen["alpha"]
    assert "Quasar" in seen["beta"] and "Zebra" not in seen["beta"]


def test_failures_keep_the_loaded_corpus(app_url: str, tmp_path: Path) -> None:
    """An unreadable upload and invalid passage settings leave the previous corpus searchable."""
    client = _client(app_url)
    client.predict("Sourdough bread rises thanks to wild yeast.", 200, 40, "minilm", api_name="/paste")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    outputs = client.predict([gradio_client.handle_file(str(empty))], callbacks.AUTO_COLUMN, 200, 40, "minilm",
                             api_name="/upload")
    assert "empty file" in outputs[1]
    with pytest.raises(Exception, match="overlap"):
        client.predict("Some other text entirely.", 50, 60, "minilm", api_name="/paste")
    first, *_ = _search(client, "bread")
    assert "Sourdough" in first


def test_a_new_corpus_empties_the_query_and_restates_the_search_line(app_url: str, tmp_path: Path) -> None:
    """After a search, indexing other documents empties the query box and the search line gives the new corpus's
    size; a re-index keeps the query, and a file that yields nothing changes neither."""
    client = _client(app_url)
    client.predict("general", "minilm", api_name="/load_sample")
    *_, searched = _search(client, "why does bread rise")
    assert "candidates from" in searched
    *_, line, query = client.predict("Sourdough bread rises.\n\nTides follow the Moon.", 200, 40, "minilm",
                                     api_name="/paste")
    assert query == "" and "pasted text: 2 passages ready" in line and "candidates" not in line
    *_, line = client.predict("minilm", 200, 40, api_name="/reindex")  # same corpus: no query output at all
    assert "pasted text: 2 passages ready" in line
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    state = UISession()
    with pytest.warns(UserWarning, match="No readable documents"):
        outputs = callbacks.clearing_query(callbacks.upload_files)([str(empty)], callbacks.AUTO_COLUMN, 200, 40,
                                                                   "minilm", state)
    assert len(outputs) == callbacks.n_index_outputs() + 1
    assert isinstance(outputs[-1], type(gr.skip())) and isinstance(outputs[-2], type(gr.skip()))


def test_upload_splits_long_documents_into_passages(app_url: str, tmp_path: Path) -> None:
    """A long upload becomes overlapping passages; results say which document and part they are."""
    client = _client(app_url)
    long_doc = tmp_path / "essay.md"
    long_doc.write_text(" ".join(f"word{i}" for i in range(400)) + " volcanoes erupt molten lava")
    stats, *_ = client.predict([gradio_client.handle_file(str(long_doc))], callbacks.AUTO_COLUMN, 100, 20, "minilm",
                               api_name="/upload")
    assert "<dt>Documents</dt><dd>1</dd>" in stats and "<dt>Passages</dt><dd>5</dd>" in stats
    first, *_ = _search(client, "volcanoes lava")
    assert "passage 5 of 5" in first and "essay.md" in first


def test_relevance_and_export(app_url: str) -> None:
    """Ticked judgments feed the metrics and the qrels export; runs export in TREC format."""
    client = _client(app_url)
    client.predict("general", "minilm", api_name="/load_sample")
    _, _, _, picker, *_ = _search(client, "sleeping through winter")
    ids = [value for _, value in picker["choices"]][:2]
    first, e2rank, _ = client.predict(ids, False, api_name="/set_relevant")
    assert first.count("is-relevant") == 2 and 'data-metric="ndcg@10"' in e2rank
    # download_files=False gives the server's paths, readable here since the app runs in-process.
    files = {Path(f["path"]).name: Path(f["path"]) for f in client.predict(api_name="/export")}
    assert set(files) == {"rankings.csv", "rankings.json", "first_stage.trec", "e2rank.trec", "judgments.qrels",
                          "queries.tsv"}
    qid = next(line.split("\t")[0] for line in files["queries.tsv"].read_text().splitlines()
               if line.endswith("\tsleeping through winter"))
    qrels = files["judgments.qrels"].read_text().splitlines()
    assert {f"{qid} 0 {pid} 1" for pid in ids} <= set(qrels) and "q01 0 gen-006 2" in qrels
    run = [line.split() for line in files["e2rank.trec"].read_text().splitlines()]
    assert len(run) == 100 and all(len(fields) == 6 for fields in run)
    assert run[0][:2] == [qid, "Q0"] and run[0][3] == "1" and run[0][5] == "e2rank-demo-e2rank"


def test_search_is_refused_while_indexing() -> None:
    """A search arriving during indexing of the same session changes nothing."""
    state = UISession(indexing=True)
    with pytest.warns(UserWarning, match="Indexing is still running"):
        outputs = callbacks.search("query", "dense", 100, 20, "web", "", "", 0.0, "official", False, False, state)
    assert all(isinstance(o, type(gr.skip())) for o in outputs) and state.result is None


def test_a_long_embedding_is_announced_first_with_its_measured_rate(monkeypatch: pytest.MonkeyPatch,
                                                                    minilm) -> None:  # noqa: ANN001
    """Before a long embedding the visitor reads how many passages, with what, where, for about how long and
    where the figure comes from; the timed probe leaves the corpus panel's "embedded now" count true."""
    said: list[str] = []
    monkeypatch.setattr(callbacks, "LONG_EMBEDDING_S", 0.0)  # every upload counts as long here
    monkeypatch.setattr(gr, "Info", said.append)
    stats, *_ = callbacks.paste_text("Bread rises.\n\nTides follow the Moon.\n\nMars has two moons.", 200, 40,
                                     "minilm", UISession())
    assert len(said) == 1, said
    assert said[0].startswith("Embedding 3 passages with all-MiniLM-L6-v2") and "on this server's CPU: about" in said[0]
    assert "passages/s, estimated from 3 passages timed just now" in said[0] and "one choice away" in said[0]
    assert "embedded now: 3" in stats
    monkeypatch.setattr(callbacks, "LONG_EMBEDDING_S", float("inf"))
    callbacks.paste_text("Chess has sixteen pieces a side.", 200, 40, "minilm", UISession())
    assert len(said) == 1  # a short one is not announced


def test_unavailable_model_falls_back_with_a_visible_notice(app_url: str) -> None:
    """Asking for an E2Rank model offline re-indexes with MiniLM and says why."""
    client = _client(app_url)
    client.predict("Sourdough bread rises thanks to wild yeast.", 200, 40, "minilm", api_name="/paste")
    stats, *_ = client.predict("e2rank-0.6b", 200, 40, api_name="/reindex")
    assert 'role="alert"' in stats and "Could not load model" in stats and "all-MiniLM-L6-v2" in stats
    first, e2rank, *_ = _search(client, "bread")
    assert "Sourdough" in first and "never trained on listwise prompts" in e2rank


def test_csv_upload_offers_its_columns(tmp_path: Path) -> None:
    """The text-column picker lists the header of uploaded CSV/TSV files."""
    (tmp_path / "notes.csv").write_text("id;title;body\n1;Bread;Yeast makes dough rise.\n")
    (tmp_path / "more.tsv").write_text("body\tsource\nTides follow the Moon.\tatlas\n")
    dropdown = callbacks.csv_columns([str(tmp_path / "notes.csv"), str(tmp_path / "more.tsv"), "x.pdf"])
    assert [value for _, value in dropdown.choices] == [callbacks.AUTO_COLUMN, "id", "title", "body", "source"]
