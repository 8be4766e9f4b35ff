"""Browser-test fixtures: the real app in a subprocess and headless system Chromium.

Playwright's own browser download cannot work here, so the system Chromium is used.
Without it the browser tests skip, unless ``E2RANK_REQUIRE_BROWSER=1`` (set in CI) makes
them fail instead. Screenshots land in ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from app_server import serve_app

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("E2RANK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
DESKTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
APP_START_TIMEOUT_S = 120


def _unavailable(reason: str) -> None:
    """Fails in CI (``E2RANK_REQUIRE_BROWSER=1``), skips elsewhere."""
    if os.environ.get("E2RANK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless system Chromium driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def app_url(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py --port <free port>`` in a subprocess, once HTTP 200 comes back."""
    tmp = tmp_path_factory.mktemp("app")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "E2RANK_MODEL": "minilm"}
    env.pop("SPACE_ID", None)
    with serve_app(env, tmp / "app.log", APP_START_TIMEOUT_S) as (url, _):
        yield url


class AppPage:
    """A fresh browser context on the app that records every JavaScript dialog and page error.

    Args:
        wait_ready: Wait for the page's ready mark (the page-open chain of sample picker, URL and
            pending search has run: it would overwrite a click made before). A test reading a link's
            toasts waits only for the page itself, since the toasts are gone by the ready mark.
    """

    def __init__(self, browser: Any, url: str, viewport: dict[str, int] = DESKTOP, *, wait_ready: bool = True) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url)
        if wait_ready:
            self.page.wait_for_selector("body[data-e2r-ready='1']", state="attached", timeout=60_000)
        else:
            self.page.wait_for_selector("#load-sample", timeout=60_000)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        """Saves a PNG under ``artifacts/screenshots/``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.wait_for_timeout(400)  # let Gradio's fade-in of updated outputs finish
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def upload(self, paths: Sequence[Path]) -> None:
        """Chooses ``paths`` in the sidebar's Upload tab and waits until the upload has finished.

        Waits for the state that lasts: Gradio's file table, one row per file, drawn once the
        component holds the uploaded files. A file's full name is on the page only while it is
        being sent (the upload progress lists it); the table then splits it into stem and
        extension, so a wait for the full name passed only if it looked during the upload and
        never ended when the upload was quicker than its first look.
        """
        self.page.get_by_role("tab", name="Upload").click()
        self.page.locator("#upload-files input[type=file]").set_input_files([str(p) for p in paths])
        self.page.wait_for_function(
            "n => document.querySelectorAll('#upload-files .file-preview tr').length === n"
            " && !document.querySelector('#upload-files .uploading')", arg=len(paths), timeout=60_000)

    def wait_for_corpus(self, label: str) -> None:
        """Waits until the corpus panel shows ``label`` as the indexed corpus and no progress is left."""
        # The panel's old text stays in the page (hidden) under Gradio's progress overlay while it loads, and
        # the new text is hidden until Gradio drops its pending class: innerText is what a person sees.
        self.page.wait_for_function(
            "label => { const s = document.querySelector('#corpus-stats');"
            " return !!s && !s.querySelector('.progress-text') && !!s.querySelector('dl')?.innerText.includes(label); }",
            arg=label, timeout=120_000)

    def search(self, query: str) -> None:
        """Types a query, presses Enter and waits for both columns to fill."""
        box = self.page.locator("#query textarea")
        box.fill(query)
        box.press("Enter")
        self.page.wait_for_function(
            "q => document.querySelector('#col-e2rank .e2r-hit') && "
            "document.querySelector('#search-info')?.textContent.includes('candidates')",
            arg=query, timeout=60_000)


@pytest.fixture
def open_app(browser: Any, app_url: str) -> Iterator[Callable[..., AppPage]]:
    """Opens the app (``link``: a share link's query string) in new, isolated browser contexts, closed after the test."""
    opened: list[AppPage] = []

    def factory(viewport: dict[str, int] = DESKTOP, *, link: str = "", wait_ready: bool = True) -> AppPage:
        app = AppPage(browser, app_url + link, viewport, wait_ready=wait_ready)
        opened.append(app)
        return app

    yield factory
    for app in opened:
        app.context.close()



@pytest.fixture
def first_run_app(browser: Any, tmp_path: Path) -> Iterator[tuple[AppPage, float]]:
    """A brand-new app as on a fresh machine: default preset, empty embedding, map and numba caches.

    Yields the page and the ``time.monotonic()`` at which ``app.py`` was started.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "E2RANK_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("SPACE_ID", "E2RANK_MODEL", "NUMBA_CACHE_DIR"):
        env.pop(name, None)
    started = time.monotonic()
    with serve_app(env, tmp_path / "app.log", APP_START_TIMEOUT_S) as (url, _):
        app = AppPage(browser, url)
        try:
            yield app, started
        finally:
            app.context.close()
