"""The Embedding map and Latency tabs in headless Chromium, on the bundled general-knowledge sample."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from e2rank_demo.models.loading import prompt_defaults

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)
MARKERS = ["Query", "E2Rank pseudo-query", "Rocchio query"]
SCALING_NS_OFF = ["50", "100"]  # keep N = 10 and 20: the scaling run then takes seconds

LEGEND = "sel => [...document.querySelectorAll(`${sel} .legendtext`)].map(e => e.textContent)"
HAS_LEGEND = f"""([sel, names]) => {{
    const shown = ({LEGEND})(sel);
    return names.every(n => shown.includes(n));
}}"""


def legend(app: AppPage, selector: str) -> list[str]:
    return app.page.evaluate(LEGEND, selector)


def wait_for_plot(app: AppPage, selector: str, names: list[str], timeout: float = 60_000) -> None:
    """Waits until the plotly figure under ``selector`` shows every legend entry in ``names``."""
    app.page.wait_for_function(HAS_LEGEND, arg=[selector, names], timeout=timeout)


def animated_x(app: AppPage) -> float:
    """x of the animated marker, as plotly holds it now."""
    return app.page.evaluate("""() => {
        const gd = document.querySelector('#map-plot .js-plotly-plot');
        const trace = gd.data.find(t => t.name === 'query → pseudo-query (animated)');
        return trace.x[0];
    }""")


def marker_x(app: AppPage, name: str) -> float:
    return app.page.evaluate("""name => {
        const gd = document.querySelector('#map-plot .js-plotly-plot');
        return gd.data.find(t => t.name === name).x[0];
    }""", name)


def wide_screenshot(app: AppPage, name: str, anchor: str, height: int) -> None:
    """Sidebar folded and a taller window, so the whole tab section fits one picture."""
    app.page.evaluate("""() => {
        const sidebar = document.getElementById('sidebar');
        if (sidebar?.classList.contains('open')) sidebar.querySelector('button')?.click();
    }""")
    app.page.set_viewport_size({"width": 1280, "height": height})
    app.page.wait_for_timeout(800)  # the sidebar slides away
    app.page.evaluate("window.dispatchEvent(new Event('resize'))")  # plotly then fills the wider column
    app.page.wait_for_timeout(600)
    app.page.evaluate("sel => document.querySelector(sel).scrollIntoView()", anchor)
    app.screenshot(name)


def test_latency_refuses_before_a_corpus_is_loaded(open_app: Callable[..., AppPage]) -> None:
    app = open_app()
    page = app.page
    page.get_by_role("tab", name="Latency").click()
    page.click("#measure-btn")
    page.wait_for_function(
        "() => document.querySelector('#latency-info')?.textContent.includes('No corpus loaded yet')")
    assert page.get_by_text("No corpus loaded yet").count() >= 1
    assert page.locator("#latency-plot .js-plotly-plot").count() == 0
    # The reported A100 numbers are there from the start, labelled as reported.
    reported = page.locator("#reported-latency").inner_text()
    assert "E2Rank-0.6B" in reported and "0.63" in reported
    assert page.get_by_text("Reported in the paper (A100) — not measured here").count() == 1
    assert app.dialogs == []


def test_map_then_latency_after_a_search(open_app: Callable[..., AppPage]) -> None:
    """Map with corpus points and the three markers (PCA, then UMAP), animation, charts; then measured latency."""
    app = open_app()
    page = app.page
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    app.search("animals that sleep through the cold months")

    page.get_by_role("tab", name="Embedding map").click()
    k = prompt_defaults("minilm").k  # the app runs the untrained MiniLM with its own default k
    wait_for_plot(app, "#map-plot", [*MARKERS, "top 10", f"in the listwise prompt (top-{k})"])
    points = page.locator("#map-plot .scatterlayer .point").count()
    assert points >= 102 + k + 3  # every document, the top-k outlines and the three markers
    # PCA may stand in first; the timer swaps in UMAP once its fit is ready.
    page.wait_for_function("() => document.querySelector('#map-info')?.textContent.includes('UMAP (cosine')",
                           timeout=120_000)
    wait_for_plot(app, "#map-plot", MARKERS)
    assert page.locator("#map-plot .xtitle").text_content() == "UMAP 1"
    assert page.locator("#map-plot .modebar-btn[data-title='Download plot as a PNG'], "
                        "#map-plot .modebar-btn[data-title='Download plot as a png']").count() == 1
    cosine = page.locator("#cosine-table").inner_text()
    assert all(name in cosine for name in MARKERS) and "to top-k" in cosine
    assert "stand-in" in page.locator("#cosine-label").inner_text()
    assert "cosine table" in page.locator("#map-caption").inner_text()
    wait_for_plot(app, "#shift-plot", ["moved up"])
    wait_for_plot(app, "#scores-plot", MARKERS)
    assert page.locator("#shift-caption").inner_text() and page.locator("#scores-caption").inner_text()
    wide_screenshot(app, "map", "#map-info", 900)

    # Animate: a Play button slides a marker from the query to the pseudo-query.
    page.locator("#map-animate input").check()
    wait_for_plot(app, "#map-plot", ["query → pseudo-query (animated)"])
    start = animated_x(app)
    assert start == pytest.approx(marker_x(app, "Query"), abs=1e-3)
    page.locator("#map-plot .updatemenu-button").first.click()
    page.wait_for_timeout(3000)
    assert animated_x(app) == pytest.approx(marker_x(app, "E2Rank pseudo-query"), abs=1e-3)
    app.screenshot("map-animated")

    page.get_by_role("tab", name="Latency").click()
    page.click("#measure-btn")
    wait_for_plot(app, "#latency-plot", ["query encoding", "document encoding (once per corpus)"], timeout=120_000)
    assert "Measured just now" in page.locator("#latency-info").inner_text()
    assert "measured just now" in page.locator("#latency-caption").inner_text()

    for n in SCALING_NS_OFF:
        page.locator("#scaling-ns label").filter(has_text=n).locator("input").uncheck()
    started = time.monotonic()
    page.click("#scaling-btn")
    wait_for_plot(app, "#scaling-plot", ["E2Rank", "E2Rank without cached embeddings"], timeout=240_000)
    assert time.monotonic() - started < 30
    assert "N = 10, 20" in page.locator("#latency-info").inner_text()
    assert page.locator("#scaling-plot .xtitle").text_content().endswith("log scale)")
    wide_screenshot(app, "latency", "#latency-info", 1500)
    assert app.dialogs == []


LATENCY_BUTTONS = """() => Object.fromEntries(['measure-btn', 'measure-full-btn', 'scaling-btn', 'measure-cancel-btn']
    .map(id => [id, !document.getElementById(id).disabled]))"""
MEASURING = "() => !!document.querySelector('#latency-plot .progress-text, #latency-plot .progress-level')"


def test_cancel_ends_a_full_measurement_and_the_shipped_vectors_are_worded_alike(
        open_app: Callable[..., AppPage]) -> None:
    """While "Measure in full" runs only Cancel can be pressed; Cancel ends it (buttons back, no more progress,
    the outcome labelled), and a later measurement words the sample's shipped vectors as the corpus panel does.

    How long Cancel takes is measured by ``python -m e2rank_demo bench`` (``latency_cancel_s``), not here.
    """
    app = open_app()
    page = app.page
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    shipped = "precomputed (shipped with the sample)"
    assert shipped in page.locator("#corpus-stats").inner_text()
    app.search("animals that sleep through the cold months")
    page.get_by_role("tab", name="Latency").click()
    assert page.evaluate(LATENCY_BUTTONS) == {"measure-btn": True, "measure-full-btn": True, "scaling-btn": True,
                                              "measure-cancel-btn": False}

    page.click("#measure-full-btn")
    page.wait_for_function(MEASURING, timeout=60_000)
    assert page.evaluate(LATENCY_BUTTONS) == {"measure-btn": False, "measure-full-btn": False, "scaling-btn": False,
                                              "measure-cancel-btn": True}
    page.click("#measure-cancel-btn")
    page.wait_for_function("() => document.querySelector('#latency-info')?.innerText.includes('cancelled')",
                           timeout=60_000)
    page.wait_for_function(f"() => !({MEASURING})()", timeout=10_000)
    page.wait_for_function(f"() => ({LATENCY_BUTTONS})()['measure-btn']", timeout=10_000)
    assert page.evaluate(LATENCY_BUTTONS) == {"measure-btn": True, "measure-full-btn": True, "scaling-btn": True,
                                              "measure-cancel-btn": False}
    info = page.locator("#latency-info").inner_text()
    assert "nothing was measured, so no chart is shown" in info
    app.screenshot("latency-cancelled")
    page.wait_for_timeout(1500)  # room for a stray update from the stopped run: none may come
    assert not page.evaluate(MEASURING) and page.locator("#latency-info").inner_text() == info
    assert page.locator("#latency-plot .js-plotly-plot").count() == 0

    page.click("#measure-btn")  # the next measurement runs (after the stopped one's last batch)
    wait_for_plot(app, "#latency-plot", ["document encoding (once per corpus)"], timeout=180_000)
    ticks = " ".join(page.locator("#latency-plot .y2tick text").all_text_contents())  # the per-corpus panel
    assert shipped in ticks and "cache" not in ticks
    page.get_by_text("Measured seconds per stage (table)").click()
    page.wait_for_function("s => document.querySelector('#latency-table')?.innerText.includes(s)", arg=shipped,
                           timeout=10_000)
    app.screenshot("latency-after-cancel")
    assert app.dialogs == [] and app.errors == []
