"""A first run as on a fresh machine: empty caches, the default preset, the SciFact sample, one search."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_MAP_WAIT_S = 240
"""Generous for a loaded machine; the issue's target is 60 s from app start on an idle one (printed below)."""


def test_scifact_sample_loads_from_shipped_vectors_and_the_first_map_is_umap(first_run_app: tuple[Any, float]) -> None:
    """The default preset reads the sample's shipped vectors (no embedding), and the map fitted at start-up is UMAP."""
    app, started = first_run_app
    page = app.page
    page.locator("#sample-name label").filter(has_text="SciFact").locator("input").check()
    page.click("#load-sample")
    app.wait_for_corpus("SciFact")
    stats = page.locator("#corpus-stats").inner_text()
    assert "precomputed (shipped with the sample)" in stats and "E2Rank LoRA" in stats  # the default preset
    app.search("Vitamin D deficiency is linked to depression.")

    page.get_by_role("tab", name="Embedding map").click()
    remaining_ms = max(1.0, FIRST_MAP_WAIT_S - (time.monotonic() - started)) * 1000
    page.wait_for_function("() => document.querySelector('#map-info')?.textContent.includes('UMAP (cosine')",
                           timeout=remaining_ms)
    assert page.locator("#map-plot .xtitle").text_content() == "UMAP 1"  # never asked for: fitted since start-up
    print(f"first map shown as UMAP {time.monotonic() - started:.0f} s after app start")
    app.screenshot("first-run-map")
    assert app.dialogs == []
