"""The Prompt lab in headless Chromium: edit the listwise prompt, watch the list and the map, reset, share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage
PSEUDO = "E2Rank pseudo-query"
EDITED = "() => document.querySelector('#prompt-lab-info .e2r-lab')?.dataset.edited === '1'"
RESET = "() => document.querySelector('#prompt-lab-info .e2r-lab')?.dataset.edited === '0'"


def prompt_ids(app: AppPage) -> list[str]:
    return app.page.evaluate(
        "() => [...document.querySelectorAll('#prompt-lab-info .e2r-hit')].map(e => e.dataset.pid)")


def e2rank_text(app: AppPage) -> str:
    return app.page.locator("#col-e2rank .e2r-list").inner_text()


def star(app: AppPage, before: list[float] | None = None) -> list[float]:
    """The pseudo-query marker's map position (waits until it differs from ``before``, when given)."""
    app.page.get_by_role("tab", name="Embedding map").click()
    app.page.wait_for_function(
        """([name, before]) => {
            const gd = document.querySelector('#map-plot .js-plotly-plot');
            const t = gd?.data?.find(t => t.name === name);
            return t && (!before || t.x[0] !== before[0] || t.y[0] !== before[1]);
        }""", arg=[PSEUDO, before], timeout=180_000)
    xy = app.page.evaluate("""name => {
        const t = document.querySelector('#map-plot .js-plotly-plot').data.find(t => t.name === name);
        return [t.x[0], t.y[0]];
    }""", PSEUDO)
    app.page.get_by_role("tab", name="Search").click()
    return xy


def test_edit_prompt_map_reset_and_share(open_app: Callable[..., AppPage]) -> None:
    """Remove the top prompt document: the E2Rank list and the map's pseudo-query move; reset restores; links keep it."""
    app = open_app()
    page = app.page
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    app.search("why does bread rise")
    page.wait_for_function(RESET, timeout=30_000)
    original_ids, original_list = prompt_ids(app), e2rank_text(app)
    original_star = star(app)

    page.locator("#prompt-docs .token .token-remove").first.click()
    page.wait_for_function(EDITED, timeout=60_000)
    assert prompt_ids(app) == original_ids[1:]
    assert "edited documents in the prompt" in page.locator("#col-e2rank .e2r-sub").inner_text()
    assert e2rank_text(app) != original_list
    edited_list = e2rank_text(app)
    assert star(app, original_star) != original_star
    app.screenshot("prompt-lab-edited")

    # Influence chart; a click on a bar opens that document in the lab's list.
    page.click("#prompt-influence-btn")
    page.wait_for_selector("#prompt-influence .js-plotly-plot .bars path", timeout=60_000)
    page.wait_for_timeout(800)  # the page script binds the click handler every 0.5 s
    page.locator("#prompt-influence .bars path").first.click(force=True)
    page.wait_for_selector("#prompt-lab-info details[open]", timeout=10_000)

    # The share link carries the edited prompt and reproduces it in a fresh page.
    page.click("#copy-link")
    page.wait_for_function("() => document.querySelector('#share-link textarea, #share-link input')"
                           "?.value.startsWith('http')", timeout=30_000)
    link = page.locator("#share-link textarea, #share-link input").first.input_value()
    assert dict(parse_qsl(urlsplit(link).query))["prompt"] == ",".join(original_ids[1:])
    other = open_app()
    other.page.goto(link)
    other.page.wait_for_function(EDITED, timeout=120_000)
    assert prompt_ids(other) == original_ids[1:] and e2rank_text(other) == edited_list

    page.click("#prompt-reset")
    page.wait_for_function(RESET, timeout=60_000)
    assert prompt_ids(app) == original_ids and e2rank_text(app) == original_list
    assert app.dialogs == [] and other.dialogs == []
