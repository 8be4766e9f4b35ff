"""Shared links, the Present tab and the offline report in headless Chromium (the real app).

Screenshots: ``artifacts/screenshots/shared-link.png`` (and ``shared-link-settings.png``,
``share-panel.png``), ``present-1.png`` ... ``present-5.png`` and ``report.png``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from e2rank_demo.samples import load_sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SHARED = "?corpus=general&q=how%20do%20tides%20work&k=5&n=50&model=minilm&stage=dense&lambda=7"
PRESENT = "?corpus=general&q=how%20do%20bats%20find%20food%20in%20the%20dark&k=10&n=50&model=minilm&present=1"
STEP = "() => document.querySelector('#present-steps [data-step]')?.dataset.step"


def wait_for_step(app: AppPage, n: int, timeout: float = 180_000) -> None:
    """Waits until Present mode shows step ``n``."""
    app.page.wait_for_function(f"s => ({STEP})() === s", arg=str(n), timeout=timeout)


def test_shared_link_reopens_the_search_and_exports_an_offline_report(open_app: Callable[..., AppPage], browser: Any,
                                                                      app_url: str, tmp_path: Path) -> None:
    app = open_app(link=SHARED, wait_ready=False)
    page = app.page
    # The bad lambda=7 is ignored with a plain warning (a toast, shown while the sample loads).
    page.get_by_text("Ignored in this link: lambda=7").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelector('#col-e2rank .e2r-hit') && "
                           "document.querySelector('#search-info')?.textContent.includes('candidates')",
                           timeout=180_000)
    # The same query and settings as the link.
    assert page.locator("#query textarea").input_value() == "how do tides work"
    assert "50 candidates from 102 passages" in page.locator("#search-info").inner_text()
    assert page.locator("#col-e2rank .e2r-hit").count() == 10 and page.locator("#col-first .e2r-hit").count() == 10
    assert "top 5 in the prompt" in page.locator("#col-e2rank .e2r-sub").inner_text()
    assert "General knowledge" in page.locator("#corpus-stats").inner_text()
    app.screenshot("shared-link")
    page.evaluate("""() => {  // open the sidebar (folded at this width) and its Search settings
        const sidebar = document.getElementById('sidebar');
        if (!sidebar.classList.contains('open')) sidebar.querySelector('button')?.click();
    }""")
    page.wait_for_timeout(800)  # the sidebar slides in
    page.locator("#settings").get_by_text("Search settings").first.click()
    k_box = page.get_by_label("number input for Prompt documents k")
    k_box.wait_for(timeout=10_000)
    assert k_box.input_value() == "5"
    assert page.get_by_label("number input for Candidates N").input_value() == "50"
    k_box.scroll_into_view_if_needed()
    app.screenshot("shared-link-settings")

    # Copy link: the same view comes back as a link (box and address bar).
    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#share-link textarea, #share-link input')"
                           "?.value.startsWith('http')", timeout=30_000)
    link = page.locator("#share-link textarea, #share-link input").first.input_value()
    params = dict(parse_qsl(urlsplit(link).query))
    # The link carries the sample's relevance ticks for the query (its judged documents), grade 1 bare.
    sample = load_sample("general")
    judged = sample.qrels[sample.query_id("how do tides work") or ""]
    assert sorted(params.pop("rel").split(",")) == sorted(pid if grade == 1 else f"{pid}:{grade}"
                                                          for pid, grade in judged.items() if grade > 0)
    assert params == {"corpus": "general", "q": "how do tides work", "model": "minilm", "stage": "dense", "n": "50",
                      "k": "5", "task": "web", "lambda": "0", "order": "official", "pool": "query", "rocchio": "0"}
    assert page.url == link

    # Export report, then open it with no network at all.
    page.click("#report-btn")
    anchor = page.locator("#report-file a[href]").first
    anchor.wait_for(timeout=180_000)
    response = app.context.request.get(urljoin(app_url, anchor.get_attribute("href")))
    assert response.ok
    report = tmp_path / "report.html"
    report.write_bytes(response.body())
    page.locator("#share-panel").scroll_into_view_if_needed()
    app.screenshot("share-panel")

    offline = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    try:
        view = offline.new_page()
        attempted: list[str] = []

        def block(route: Any) -> None:
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                attempted.append(route.request.url)
                route.abort()

        view.route("**/*", block)
        errors: list[str] = []
        view.on("pageerror", lambda e: errors.append(str(e)))
        view.goto(report.as_uri())
        view.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3",
                               timeout=60_000)
        assert view.locator('section[data-system="first_stage"] li.hit').count() == 10
        assert view.locator('section[data-system="e2rank"] li.hit').count() == 10
        assert view.locator("#fig-map.js-plotly-plot").count() == 1
        legend = view.evaluate("() => [...document.querySelectorAll('#fig-map .legendtext')].map(e => e.textContent)")
        assert {"Query", "E2Rank pseudo-query"} <= set(legend)
        assert "how do tides work" in view.locator(".query").inner_text()
        assert attempted == [] and errors == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(SCREENSHOTS / "report.png"))
    finally:
        offline.close()
    assert app.dialogs == [] and app.errors == []


def test_present_link_walks_through_seven_steps(open_app: Callable[..., AppPage]) -> None:
    app = open_app(link=PRESENT, wait_ready=False)
    page = app.page
    wait_for_step(app, 1)
    assert page.locator("#present-tab").is_visible()
    assert "how do bats find food in the dark" in page.locator("#present-body .present-query").inner_text()
    assert page.locator("#present-body .e2r-col[data-system='first_stage'] .e2r-hit").count() == 10
    assert page.locator("#present-back").is_disabled()
    app.screenshot("present-1")

    page.click("#present-next")
    wait_for_step(app, 2)
    prompt = page.locator("#present-body .present-prompt-text").inner_text()
    assert "[1]" in prompt and "[10]" in prompt and "Search Query: how do bats find food in the dark" in prompt
    assert page.locator("#present-body .pp-doc").count() == 10
    assert int(page.locator("#present-body [data-tokens]").get_attribute("data-tokens")) > 100
    page.wait_for_timeout(1500)  # the numbered documents appear one by one
    app.screenshot("present-2")

    page.click("#present-next")
    wait_for_step(app, 3)
    page.wait_for_function("() => [...document.querySelectorAll('#present-plot .legendtext')]"
                           ".some(e => e.textContent === 'E2Rank pseudo-query')", timeout=120_000)
    # The pseudo-query animation plays by itself: the moving marker ends on the pseudo-query.
    page.wait_for_function("""() => {
        const gd = document.querySelector('#present-plot .js-plotly-plot');
        const moving = gd?.data.find(t => t.name === 'query → pseudo-query (animated)');
        const target = gd?.data.find(t => t.name === 'E2Rank pseudo-query');
        return moving && target && Math.abs(moving.x[0] - target.x[0]) < 1e-3;
    }""", timeout=30_000)
    app.screenshot("present-3")

    page.click("#present-next")
    wait_for_step(app, 4)
    assert page.locator("#present-body .e2r-col[data-system='e2rank'] .e2r-badge").count() == 10
    assert page.locator("#present-body .e2r-col[data-system='first_stage']").count() == 1
    assert not page.locator("#present-plot").is_visible()
    app.screenshot("present-4")

    page.click("#present-next")
    wait_for_step(app, 5)
    page.wait_for_selector("#present-plot .bars path", timeout=120_000)
    assert "click a bar" in page.locator("#present-extra").inner_text()
    app.screenshot("present-5-influence")

    page.click("#present-next")
    wait_for_step(app, 6)  # why the pseudo-query is read at the query: both poolings of the same prompt
    page.wait_for_function("() => [...document.querySelectorAll('#present-plot .legendtext')]"
                           ".some(e => e.textContent.includes('(flipped)'))", timeout=120_000)
    assert "This model pools" in page.locator("#present-body").inner_text()
    app.screenshot("present-6-pooling")

    page.click("#present-next")
    wait_for_step(app, 7)
    page.wait_for_function("() => [...document.querySelectorAll('#present-plot .legendtext')]"
                           ".some(e => e.textContent === 'prompt encoding')", timeout=180_000)
    reported = page.locator("#present-extra .present-reported").inner_text()
    assert "Reported in the paper (A100) — not measured here" in reported and "0.63" in reported
    assert page.locator("#present-next").is_disabled()
    app.screenshot("present-7")

    # The arrow keys step too (a presenter's clicker sends PageUp / PageDown).
    page.locator("#present-heading").click()
    page.keyboard.press("ArrowLeft")
    wait_for_step(app, 6, timeout=30_000)
    page.keyboard.press("PageDown")
    wait_for_step(app, 7, timeout=30_000)
    assert app.dialogs == [] and app.errors == []


def test_present_start_needs_no_typing(open_app: Callable[..., AppPage]) -> None:
    # After the ready mark: the page-open chain would overwrite a Start clicked before it has run (a
    # race that a loaded CI machine lost once, waiting 180 s for a step that never came).
    app = open_app()
    page = app.page
    page.get_by_role("tab", name="Present").click()
    page.locator("#present-start").click()
    wait_for_step(app, 1)
    assert "why does bread rise" in page.locator("#present-body .present-query").inner_text()
    page.click("#present-next")
    wait_for_step(app, 2)
    page.click("#present-back")
    wait_for_step(app, 1, timeout=30_000)
    assert app.dialogs == [] and app.errors == []


SETUP_FITS = """() => {
    const box = document.querySelector('#present-corpus input');
    const caret = document.querySelector('#present-corpus .icon-wrap').getBoundingClientRect();
    const textEnd = box.getBoundingClientRect().right - parseFloat(getComputedStyle(box).paddingRight);
    return textEnd <= caret.left + 1 && getComputedStyle(box).textOverflow === 'ellipsis';
}"""
PILL_ROWS = """() => {
    const bar = document.querySelector('#present-steps').getBoundingClientRect();
    const rows = {}, outside = [];
    for (const pill of document.querySelectorAll('#present-steps li')) {
        const r = pill.getBoundingClientRect();
        rows[Math.round(r.top)] = (rows[Math.round(r.top)] || 0) + 1;
        if (r.left < bar.left - 1 || r.right > bar.right + 1) outside.push(pill.textContent);
    }
    return {rows: Object.values(rows), outside};
}"""


def test_present_intro_lists_every_step_and_the_setup_fits(open_app: Callable[..., AppPage]) -> None:
    """Before Start: the intro names every step, the corpus title stops before the caret, the pills fit evenly."""
    from e2rank_demo.ui.present import STEPS

    app = open_app({"width": 1280, "height": 800})
    page = app.page
    page.get_by_role("tab", name="Present").click()
    intro = page.locator("#present-heading .present-intro li").all_inner_texts()
    assert intro == [title for title, _, _ in STEPS]
    assert page.locator("#present-heading h2").inner_text() == f"Present E2Rank in {len(STEPS)} steps"
    for sidebar in ("open", "folded"):
        if sidebar == "folded":
            page.evaluate("() => document.querySelector('#sidebar.open button')?.click()")
            page.wait_for_function("() => !document.querySelector('#sidebar.open')")
        # The pills are laid out again when the step bar's width changes (a ResizeObserver): wait for that.
        page.wait_for_function(f"() => ({PILL_ROWS})().outside.length === 0", timeout=10_000)
        assert page.evaluate(SETUP_FITS), sidebar
        rows = page.evaluate(PILL_ROWS)["rows"]
        assert sum(rows) == len(STEPS) and max(rows) - min(rows) <= 1, (sidebar, rows)
        app.screenshot(f"present-intro-sidebar-{sidebar}")
    assert app.dialogs == [] and app.errors == []
