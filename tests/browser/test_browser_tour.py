"""Rough edges of a first tour of the app (issue 22), each checked in headless Chromium as a person sees it.

The phone Prompt lab, the search line after a new corpus, hits per projected screen, the
notice when pinning replaces prompt edits, and share links that carry relevance ticks.
Screenshots land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1280, "height": 800}
EDITED = "() => document.querySelector('#prompt-lab-info .e2r-lab')?.dataset.edited === '1'"


def _loaded(open_app: Callable[..., AppPage], viewport: dict[str, int], sample: str = "General",
            query: str | None = "why does bread rise") -> AppPage:
    """The app with a bundled sample loaded (and ``query`` searched)."""
    app = open_app(viewport)
    page = app.page
    if not page.locator("#load-sample").is_visible():  # a phone starts with the sidebar folded
        page.locator("#sidebar button").first.click()
    page.get_by_role("radio", name=sample).check()
    page.locator("#load-sample").click()
    app.wait_for_corpus(sample)
    if query is not None:
        app.search(query)
    return app


def _metrics(app: AppPage, column: str) -> str:
    return app.page.locator(f"#{column} .e2r-metrics").inner_text()


def test_phone_prompt_lab_titles_keep_the_row_width(open_app: Callable[..., AppPage]) -> None:
    """At 390 px every Prompt lab title spans most of its row (it wrapped a few letters per line beside the badge
    and the meta), and the "relevant" badge stays a one-line pill (it grew into a tall oval over the title)."""
    app = _loaded(open_app, PHONE)
    page = app.page
    page.wait_for_selector("#prompt-lab-info .e2r-hit .e2r-rel", timeout=60_000)  # the sample's judgments
    rows = page.evaluate("""() => [...document.querySelectorAll('#prompt-lab-info .e2r-hit')].map(row => {
        const el = sel => row.querySelector(sel);
        const box = sel => el(sel) && el(sel).getBoundingClientRect();
        const em = sel => parseFloat(getComputedStyle(el(sel)).fontSize);
        const [r, t, b] = [box('summary'), box('.e2r-title'), box('.e2r-rel')];
        return {row: r.width, title: t.width, oneLine: t.height <= 2 * em('.e2r-title'),
                badge: b && {tall: b.height > 2 * em('.e2r-rel'),
                             overlaps: b.left < t.right && t.left < b.right && b.top < t.bottom && t.top < b.bottom}};
    })""")
    assert rows
    for row in rows:
        assert row["title"] >= 0.5 * row["row"] or row["oneLine"], row  # a short title may be narrow
        assert not row["badge"] or row["badge"] == {"tall": False, "overlaps": False}, row
    assert any(row["badge"] for row in rows)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate("document.querySelector('#prompt-lab-info .e2r-rel').closest('.e2r-hit').scrollIntoView()")
    app.screenshot("tour-phone-prompt-lab")


def test_a_new_corpus_empties_the_query_and_restates_the_search_line(open_app: Callable[..., AppPage],
                                                                     tmp_path: Path) -> None:
    """After a search on a sample, uploading 7 passages leaves no old query and no "100 candidates from 102
    passages": the search line gives the new corpus and its size."""
    app = _loaded(open_app, PROJECTOR)
    page = app.page
    assert "from 102 passages" in page.locator("#search-info").inner_text()
    notes = tmp_path / "seven-notes.jsonl"
    notes.write_text("".join(json.dumps({"_id": f"n{i}", "title": f"Note {i}", "text": f"Kitchen note {i} about "
                                         "proving dough overnight."}) + "\n" for i in range(7)))
    app.upload([notes])
    page.click("#index-files")
    app.wait_for_corpus("seven-notes.jsonl")
    page.wait_for_function("() => document.querySelector('#search-info')?.innerText.includes('seven-notes')")
    line = page.locator("#search-info").inner_text()
    assert "seven-notes.jsonl: 7 passages ready" in line and "candidates" not in line and "102" not in line
    assert page.locator("#query textarea").input_value() == ""
    assert page.locator("#col-e2rank .e2r-hit").count() == 0
    page.wait_for_function("() => !document.querySelector('#prompt-docs .token')")  # the lab follows too
    page.evaluate("document.getElementById('search-info').scrollIntoView()")
    app.screenshot("tour-search-line-after-upload")


def test_scifact_lists_show_four_hits_per_screen_and_open_on_demand(open_app: Callable[..., AppPage]) -> None:
    """At 1280x800 the screen the app scrolls to after a SciFact search (from the search line down) holds at least
    four whole hits per list, also when the search line says the search reused an earlier one's vectors (the
    example searched twice); Enter on a hit opens its full text and whole title, Enter again closes it."""
    app = _loaded(open_app, PROJECTOR, sample="SciFact", query=None)
    page = app.page
    page.locator("#examples button").first.click()
    page.wait_for_function("() => document.querySelector('#search-info')?.textContent.includes('candidates')",
                           timeout=60_000)
    page.locator("#query textarea").press("Enter")  # the same query again: its vectors are reused
    page.wait_for_function("() => document.querySelector('#search-info')?.textContent.includes('reused')",
                           timeout=60_000)
    # Page coordinates, read at once: the count does not depend on where the smooth scroll has got to.
    fits = page.evaluate("""() => {
        const top = document.querySelector('#search-info').getBoundingClientRect().top + window.scrollY;
        const whole = col => [...document.querySelectorAll(`#${col} .e2r-hit`)].filter(hit => {
            const r = hit.getBoundingClientRect();
            return r.bottom + window.scrollY <= top + window.innerHeight;
        }).length;
        return [whole('col-first'), whole('col-e2rank')];
    }""")
    assert min(fits) >= 4, fits
    page.evaluate("document.getElementById('search-info').scrollIntoView()")
    app.screenshot("tour-scifact-hits")

    hit = page.locator("#col-e2rank .e2r-hit").first
    summary, full = hit.locator("summary"), hit.locator(".e2r-full")
    assert not full.is_visible()
    summary.focus()
    page.keyboard.press("Enter")
    full.wait_for(state="visible")
    title = hit.locator(".e2r-title")
    assert title.evaluate("el => el.scrollHeight <= el.clientHeight + 1")  # no longer clamped
    assert len(full.inner_text()) >= len((hit.locator(".e2r-snippet").text_content() or "").strip("… "))
    page.keyboard.press("Enter")
    full.wait_for(state="hidden")


def test_pinning_says_it_replaced_the_prompt_edits(open_app: Callable[..., AppPage]) -> None:
    """The lab says beforehand that pinning starts again from the top-k; after a removal, pinning names the
    document it put back."""
    app = _loaded(open_app, PROJECTOR)
    page = app.page
    page.locator("#prompt-docs .token .token-remove").first.click()
    page.wait_for_function(EDITED, timeout=60_000)
    assert "replace these edits" in page.locator("#prompt-lab-info .e2r-lab-how").inner_text()
    page.click("#prompt-pin")
    notice = page.locator("#prompt-lab-info .e2r-status.warn")
    notice.wait_for(timeout=60_000)
    assert "replaced your own edits" in notice.inner_text() and "which you had taken out" in notice.inner_text()
    notice.scroll_into_view_if_needed()
    app.screenshot("tour-pin-notice")


def test_a_link_with_relevance_ticks_shows_the_senders_metrics(open_app: Callable[..., AppPage]) -> None:
    """The sender unticks a judged document and ticks another; whoever opens the link sees the same metrics."""
    app = _loaded(open_app, PROJECTOR)
    page = app.page
    before = (_metrics(app, "col-first"), _metrics(app, "col-e2rank"))
    # The picker lists the first-stage top 10 first, in rank order: label i is the row of rank i + 1.
    labels = page.locator("#relevance label")
    ticks = [labels.nth(i).locator("input").is_checked() for i in range(10)]
    untick, tick = ticks.index(True), ticks.index(False)
    labels.nth(untick).click()
    labels.nth(tick).click()
    page.wait_for_function(
        """([off, on]) => {
            const row = rank => document.querySelector(`#col-first .e2r-hit[data-rank='${rank}']`);
            return row(on)?.classList.contains('is-relevant') && !row(off)?.classList.contains('is-relevant');
        }""", arg=[untick + 1, tick + 1], timeout=60_000)
    assert (_metrics(app, "col-first"), _metrics(app, "col-e2rank")) != before
    sent = (_metrics(app, "col-first"), _metrics(app, "col-e2rank"))
    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#share-link textarea, #share-link input')"
                           "?.value.includes('rel=')", timeout=60_000)
    link = page.locator("#share-link textarea, #share-link input").first.input_value()
    other = open_app(PROJECTOR)
    other.page.goto(link)
    other.page.wait_for_selector("body[data-e2r-ready='1']", state="attached", timeout=120_000)
    other.page.wait_for_selector("#col-e2rank .e2r-hit", timeout=60_000)
    assert (_metrics(other, "col-first"), _metrics(other, "col-e2rank")) == sent
    other.screenshot("tour-link-with-ticks")
    assert app.dialogs == [] and other.dialogs == []
