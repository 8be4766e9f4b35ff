""""Open an index" in headless Chromium: a server that lists stores, as on a Space (no typed addresses).

It lists a FAISS and a Milvus Lite store from ``E2RANK_STORES_DIR`` and, in ``E2RANK_STORES``, a
collection on a Milvus server (``milvus-lite server`` on loopback, this module's own, since one test
freezes it), which the app reaches over gRPC.

Screenshots: ``artifacts/screenshots/open-an-index.png``, ``open-an-index-server.png`` and
``index-server-frozen.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_server import serve_app
from milvus_server import MilvusServer, serve_milvus

from e2rank_demo.records import Passage
from e2rank_demo.stores import StoreInfo, open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SEARCH_DEADLINE_S = 20
"""The app's E2RANK_MILVUS_SEARCH_TIMEOUT: how long a search of the frozen server waits before its message."""
# innerText is what a person sees: the panel's old text stays (hidden) under Gradio's progress overlay.
CORPUS_SHOWS = ("label => { const s = document.querySelector('#corpus-stats'); return !!s"
                " && !s.querySelector('.progress-text') && !!s.querySelector('dl')?.innerText.includes(label); }")
# The search line is rewritten by every search; a hit's text says which query filled the column.
RESULTS_FOR = ("word => { const hit = document.querySelector('#col-e2rank .e2r-hit');"
               " return !!hit && hit.innerText.toLowerCase().includes(word)"
               " && !!document.querySelector('#search-info')?.textContent.includes('candidates'); }")


class StoresApp:
    """The served app: its URL, each listed name's URI, and the Milvus server behind the last one."""

    def __init__(self, url: str, listed: dict[str, str], server: MilvusServer) -> None:
        self.url = url
        self.listed = listed
        self.server = server


@pytest.fixture(scope="module")
def stores_app(browser: Any, tmp_path_factory: pytest.TempPathFactory,
               minilm, small_docs) -> Iterator[StoresApp]:  # noqa: ANN001
    """The app, with ``SPACE_ID`` set, listing a FAISS and a Milvus Lite store and a Milvus server's collection."""
    tmp = tmp_path_factory.mktemp("stores-app")
    folder = tmp / "stores"
    with serve_milvus(tmp) as server:
        remote = server.uri("browser_science")
        listed = {"notes": f"faiss:{folder.resolve() / 'notes'}",
                  "science.db": f"milvus:{folder.resolve() / 'science.db'}", remote: remote}
        passages = [Passage.from_document(d) for d in small_docs]
        vectors = minilm.embed_documents([p.full_text for p in passages])
        for uri in listed.values():
            store = open_store(uri, StoreInfo.of(minilm), create=True)
            store.add([p.id for p in passages], [p.title for p in passages], [p.text for p in passages], vectors)
            store.close()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(tmp / "gradio"), "E2RANK_MODEL": "minilm", "E2RANK_STORES_DIR": str(folder),
               "E2RANK_STORES": remote, "E2RANK_MILVUS_SEARCH_TIMEOUT": str(SEARCH_DEADLINE_S),
               "SPACE_ID": "test/e2rank-demo"}
        env.pop("E2RANK_ALLOW_STORE_URI", None)
        with serve_app(env, tmp / "app.log", 120) as (url, _):
            yield StoresApp(url, listed, server)


def _page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-e2r-ready='1']", state="attached", timeout=60_000)
    return page


def _open_listed(page: Any, app: StoresApp, name: str) -> None:
    """Picks ``name`` under "Open an index", opens it and waits for the corpus panel to show the index."""
    page.locator("#open-index-panel").get_by_text("Open an index").first.click()
    assert not page.locator("#store-uri").is_visible()  # a Space never takes a typed path or URL
    page.locator("#store-name input").click()
    # Gradio marks the selected option with a check mark on its own line.
    assert [t.split("\n")[-1] for t in page.get_by_role("option").all_inner_texts()] == list(app.listed)
    page.get_by_role("option", name=name, exact=True).click()
    page.click("#open-index")
    page.wait_for_function(CORPUS_SHOWS, arg="Index kind", timeout=120_000)
    stats = page.locator("#corpus-stats").inner_text()
    assert app.listed[name] in stats and "exact (flat)" in stats and "minilm" in stats


def _search(page: Any, query: str, *, wait_for: str | None) -> None:
    """Types ``query`` and presses Enter; with ``wait_for``, waits until the E2Rank column's top hit contains it."""
    box = page.locator("#query textarea")
    box.fill(query)
    box.press("Enter")
    if wait_for is not None:
        page.wait_for_function(RESULTS_FOR, arg=wait_for, timeout=60_000)


@pytest.mark.parametrize("server", [False, True], ids=["milvus-lite-file", "milvus-server"])
def test_open_listed_index_from_the_dropdown_and_search(browser: Any, stores_app: StoresApp, server: bool) -> None:
    """The picker lists every store by name; a Milvus one (a Lite file, or a server over the wire) opens,
    shows its panel and answers a search."""
    name = list(stores_app.listed)[2 if server else 1]
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = _page(context, stores_app.url)
        _open_listed(page, stores_app, name)
        _search(page, "why does bread rise", wait_for="bread")
        assert "5 candidates from 5 passages" in page.locator("#search-info").inner_text()
        assert page.locator("#col-first .e2r-hit").count() == page.locator("#col-e2rank .e2r-hit").count() == 5
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"open-an-index{'-server' if server else ''}.png"))
    finally:
        context.close()


def test_a_frozen_index_server_is_a_message_others_still_search_and_search_resumes(browser: Any,
                                                                                   stores_app: StoresApp) -> None:
    """The Milvus server is frozen (SIGSTOP) while a visitor has its index open: their search ends in a plain
    message (no traceback) with the index and the last results still shown, another visitor indexes pasted
    text and searches meanwhile, and once the server runs again the first visitor's search answers."""
    remote = list(stores_app.listed)[2]
    first = browser.new_context(viewport={"width": 1280, "height": 720})
    other = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = _page(first, stores_app.url)
        _open_listed(page, stores_app, remote)
        _search(page, "why does bread rise", wait_for="bread")
        hits = page.locator("#col-e2rank .e2r-hit")
        before = hits.all_inner_texts()

        stores_app.server.pause()
        try:
            _search(page, "how do tides work", wait_for=None)  # in flight while the other visitor works
            visitor = _page(other, stores_app.url)
            visitor.get_by_role("tab", name="Paste").click()
            visitor.locator("#paste-text textarea").fill("Glaciers carve valleys as they move.\n\n"
                                                         "Volcanoes erupt when magma rises to the surface.")
            visitor.locator("#index-text").click()
            visitor.wait_for_function(CORPUS_SHOWS, arg="pasted text", timeout=120_000)
            _search(visitor, "why do volcanoes erupt", wait_for="volcano")

            message = page.get_by_text("the Milvus server does not answer").first
            message.wait_for(timeout=(SEARCH_DEADLINE_S + 120) * 1000)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "index-server-frozen.png"))
            text = message.inner_text()
            assert remote in text and "try again once it is back" in text
            assert "Traceback" not in page.content()
            assert remote in page.locator("#corpus-stats").inner_text()  # the index stays open
            assert hits.all_inner_texts() == before  # and the last results stay
        finally:
            stores_app.server.resume()
        _search(page, "how do tides work", wait_for="tides")
        assert "5 candidates from 5 passages" in page.locator("#search-info").inner_text()
    finally:
        first.close()
        other.close()
