""""Open an index" in headless Chromium: a server that lists stores, as on a Space (no typed addresses)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_server import serve_app

from e2rank_demo.records import Passage
from e2rank_demo.stores import StoreInfo, open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def stores_app(browser: Any, tmp_path_factory: pytest.TempPathFactory, minilm, small_docs) -> Iterator[tuple[str, Path]]:  # noqa: ANN001
    """The app serving a folder with a FAISS and a Milvus Lite store, with ``SPACE_ID`` set."""
    tmp = tmp_path_factory.mktemp("stores-app")
    folder = tmp / "stores"
    passages = [Passage.from_document(d) for d in small_docs]
    vectors = minilm.embed_documents([p.full_text for p in passages])
    for uri in (f"faiss:{folder / 'notes'}", f"milvus:{folder / 'science.db'}"):
        store = open_store(uri, StoreInfo.of(minilm), create=True)
        store.add([p.id for p in passages], [p.title for p in passages], [p.text for p in passages], vectors)
        store.close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "E2RANK_MODEL": "minilm", "E2RANK_STORES_DIR": str(folder),
           "SPACE_ID": "test/e2rank-demo"}
    env.pop("E2RANK_ALLOW_STORE_URI", None)
    with serve_app(env, tmp / "app.log", 120) as (url, _):
        yield url, folder


def test_open_listed_index_from_the_dropdown_and_search(browser: Any, stores_app: tuple[str, Path]) -> None:
    """The picker lists both stores by name; the Milvus one opens, shows its panel and answers a search."""
    url, folder = stores_app
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-e2r-ready='1']", state="attached", timeout=60_000)
        page.locator("#open-index-panel").get_by_text("Open an index").first.click()
        assert not page.locator("#store-uri").is_visible()  # a Space never takes a typed path or URL
        page.locator("#store-name input").click()
        # Gradio marks the selected option with a check mark on its own line.
        assert [t.split("\n")[-1] for t in page.get_by_role("option").all_inner_texts()] == ["notes", "science.db"]
        page.get_by_role("option", name="science.db").click()
        page.click("#open-index")
        page.wait_for_function(
            "() => { const s = document.querySelector('#corpus-stats');"
            " return !!s && !s.querySelector('.progress-text') && !!s.querySelector('dl')?.innerText.includes('Index kind'); }",
            timeout=120_000)
        stats = page.locator("#corpus-stats").inner_text()
        assert f"milvus:{folder.resolve() / 'science.db'}" in stats and "exact (flat)" in stats and "minilm" in stats

        box = page.locator("#query textarea")
        box.fill("why does bread rise")
        box.press("Enter")
        page.wait_for_function("() => document.querySelector('#col-e2rank .e2r-hit') && "
                               "document.querySelector('#search-info')?.textContent.includes('candidates')",
                               timeout=60_000)
        assert "5 candidates from 5 passages" in page.locator("#search-info").inner_text()
        assert page.locator("#col-first .e2r-hit").count() == page.locator("#col-e2rank .e2r-hit").count() == 5
        assert "bread" in page.locator("#col-e2rank .e2r-hit").first.inner_text().lower()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "open-an-index.png"))
    finally:
        context.close()
