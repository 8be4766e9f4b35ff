"""In the browser: the k slider and the prompt-pooling control follow the model chosen in the sidebar, and the
Prompt lab flips the prompt's pooling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from e2rank_demo.models import PRESETS
from e2rank_demo.models.loading import prompt_defaults
from e2rank_demo.ui.prompt_settings import POOLING_NAMES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage


def _choose(page, dropdown: str, option: str) -> None:  # noqa: ANN001
    page.locator(f"#{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_k_and_pooling_follow_the_model_until_k_is_set(open_app: Callable[..., AppPage]) -> None:
    """Choosing E2Rank-0.6B names its last-token pooling and its k; a k typed by the user survives switching back."""
    app = open_app()
    page = app.page
    page.locator("#index-settings").get_by_text("Model and passages").first.click()
    page.locator("#settings").get_by_text("Search settings").first.click()
    pooling = page.locator("#prompt-pooling input")
    pooling.wait_for(timeout=10_000)
    minilm = prompt_defaults("minilm")  # the browser tests' app opens on MiniLM
    minilm_label = f"Default: {POOLING_NAMES[minilm.pooling]}"
    assert pooling.input_value() == minilm_label
    k_box = page.get_by_label("number input for Prompt documents k")
    assert k_box.input_value() == str(minilm.k)

    _choose(page, "model", PRESETS["e2rank-0.6b"].label)
    page.wait_for_function("() => document.querySelector('#prompt-pooling input')?.value"
                           " === 'Default: last token'", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#prompt-docs-k input[type=number]')?.value === '20'",
                           timeout=30_000)  # the slider moved to E2Rank's k
    assert "model's default, 20" in page.locator("#prompt-docs-k").inner_text()
    page.locator("#prompt-docs-k").scroll_into_view_if_needed()
    app.screenshot("settings-follow-model")

    k_box.fill("7")
    k_box.press("Enter")  # the user's own k
    _choose(page, "model", PRESETS["minilm"].label)
    page.wait_for_function("label => document.querySelector('#prompt-pooling input')?.value === label",
                           arg=minilm_label, timeout=30_000)
    assert k_box.input_value() == "7"  # the user's k stays
    assert app.dialogs == [] and app.errors == []


def test_the_prompt_lab_flips_the_pooling(open_app: Callable[..., AppPage]) -> None:
    """The flip lists the documents that change rank and draws both pseudo-queries on a map."""
    app = open_app()
    page = app.page
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    app.search("why does bread rise")
    page.click("#prompt-flip-pooling")
    page.wait_for_function("() => [...document.querySelectorAll('#prompt-pooling-map .legendtext')]"
                           ".some(e => e.textContent.includes('(flipped)'))", timeout=120_000)
    info = page.locator("#prompt-pooling-flip").inner_text()
    assert "pooling (this search's)" in info and "cos between the two pseudo-queries" in info
    page.locator("#prompt-pooling-flip").scroll_into_view_if_needed()
    app.screenshot("prompt-lab-pooling-flip")
    app.search("how do tides work")  # a new search clears the flip: it was for the old prompt
    page.wait_for_function("() => !document.querySelector('#prompt-pooling-flip')?.innerText.trim()",
                           timeout=60_000)
    assert app.dialogs == [] and app.errors == []
