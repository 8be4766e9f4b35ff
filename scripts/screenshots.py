"""Regenerates the README's screenshots in ``docs/screenshots/`` from the running app.

Starts ``python app.py`` on a free port (offline, with the app's default model unless
``--model`` names another), drives it in headless system Chromium and writes:

* ``overview.png``: the Search tab at 1440 px after a search on the General sample;
* ``phone.png``: the same search at 390 px (the compact side-by-side view);
* ``map.png``: the Embedding map tab (UMAP once fitted) after the SciFact sample's first example
  query, at 1280x800 with the sidebar open (a projector's screen): the close-up of the query's move;
* ``latency.png``: the Latency tab after "Measure this query".

Usage::

    python scripts/screenshots.py [--model minilm-e2rank] [--out docs/screenshots] [--map-query TEXT]

Needs Playwright (``requirements-dev.txt``) and Chromium at ``/usr/bin/chromium``
(``E2RANK_CHROMIUM`` overrides). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("E2RANK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
WIDE = {"width": 1440, "height": 900}
PROJECTOR = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
QUERY = "why does bread rise"
SLOW_MS = 600_000  # a busy two-core machine can take minutes to embed, fit UMAP or measure


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(model: str | None, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``app.py`` in a subprocess, offline; returns it and its URL once it answers."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("SPACE_ID", None)
    if model:
        env["E2RANK_MODEL"] = model
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + SLOW_MS / 1000
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"app.py did not answer:\n{log.read_text()[-3000:]}")


def open_searched(browser: Any, url: str, viewport: dict[str, int], sample: str = "General",
                  query: str | None = QUERY) -> Any:
    """A page with ``sample`` loaded and ``query`` searched (``None``: the sample's first example query)."""
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(SLOW_MS)
    page.goto(url)
    page.wait_for_selector("body[data-e2r-ready='1']", state="attached")
    if not page.locator("#load-sample").is_visible():  # a phone starts with the sidebar folded
        page.locator("#sidebar button").first.click()
    page.get_by_role("radio", name=sample).check()
    page.locator("#load-sample").click()
    page.wait_for_function("s => { const p = document.querySelector('#corpus-stats'); return"
                           " !p?.querySelector('.progress-text') && p?.querySelector('dl')?.innerText.includes(s); }",
                           arg=sample)
    if query is None:
        page.locator("#examples button").first.click()
    else:
        box = page.locator("#query textarea")
        box.fill(query)
        box.press("Enter")
    page.wait_for_function("() => document.querySelector('#col-e2rank .e2r-hit') && "
                           "document.querySelector('#search-info')?.textContent.includes('candidates')")
    page.wait_for_timeout(1500)  # the smooth scroll to the results and Gradio's fade-in
    return page


def shoot(page: Any, path: Path, **kwargs: Any) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), **kwargs)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model preset the app starts with (default: the app's own default)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--map-query", help="SciFact query of map.png (default: the sample's first example query)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    proc, url = start_app(args.model, Path(tempfile.mkdtemp()) / "app.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_searched(browser, url, WIDE)
            page.locator("#search-info").scroll_into_view_if_needed()
            shoot(page, args.out / "overview.png")

            projector = open_searched(browser, url, PROJECTOR, sample="SciFact", query=args.map_query)
            projector.get_by_role("tab", name="Embedding map").click()
            projector.wait_for_selector("#cosine-table table")
            # UMAP fits in the background; PCA stands in until then and the tab redraws by itself.
            projector.wait_for_function(
                "() => document.querySelector('#map-info')?.textContent.includes('UMAP (cosine')")
            projector.wait_for_timeout(1500)
            projector.evaluate("() => document.getElementById('map-plot')?.scrollIntoView()")
            shoot(projector, args.out / "map.png")

            page.get_by_role("tab", name="Latency").click()
            page.locator("#measure-btn").click()
            page.wait_for_function("() => document.querySelector('#latency-info')?.textContent.includes('Measured')")
            page.wait_for_timeout(1500)
            page.evaluate("() => document.getElementById('measure-btn')?.scrollIntoView()")
            shoot(page, args.out / "latency.png")

            phone = open_searched(browser, url, PHONE)
            phone.locator("#search-info").scroll_into_view_if_needed()
            shoot(phone, args.out / "phone.png")
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
