"""XSS in the real app: hostile file names, titles, ids, texts, queries and instructions render as text.

Every payload either opens a dialog (``alert``) or leaves an element or attribute that the
test looks for, so a single unescaped spot anywhere on the page (results, corpus panel,
prompt view, relevance picker, Gradio's file list, plot hover text and titles) fails it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)

NAME_XSS = "<img src=x onerror=alert(1)>.txt"
NAME_ENTITIES = "&lt;img src=x onerror=alert(2)&gt;.txt"  # must stay literal text, never be decoded twice
TITLE_XSS = "<img src=x onerror=alert(4)>"
QUERY_XSS = "<img src=x onerror=alert(10)> bread <script>alert(11)</script>"
INSTRUCTION_XSS = "<img src=x onerror=alert(9)> Rank the documents <script>alert(12)</script>"
RECORDS = [
    {"_id": 'x" onmouseover="alert(3)', "title": TITLE_XSS,
     "text": "<script>alert(5)</script> Sourdough bread rises because wild yeast makes carbon dioxide."},
    {"_id": "<svg onload=alert(6)>", "title": "<iframe src=javascript:alert(7)></iframe>",
     "text": '<a href="javascript:alert(8)">click</a> Bread dough rises in a warm oven.'},
    *({"_id": f"doc{i}", "title": f"Filler {i}", "text": f"Bread and yeast fact number {i}: dough rises."}
      for i in range(8)),
]
PAYLOAD_TAGS = ("<img", "<script", "<svg", "<iframe", "<a href")

# Every string plotly holds for a figure (trace text, hover text, names, titles, tick labels, annotations).
PLOT_STRINGS = """sel => {
    const gd = document.querySelector(`${sel} .js-plotly-plot`);
    if (!gd || !gd.data) return null;
    const out = [];
    const walk = v => {
        if (typeof v === 'string') out.push(v);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(gd.data.map(t => [t.name, t.text, t.hovertext, t.hovertemplate, t.customdata]));
    walk([gd.layout.title, gd.layout.annotations, gd.layout.xaxis, gd.layout.yaxis]);
    return out;
}"""


def assert_no_injection(app: AppPage) -> None:
    """No dialog fired and no element or attribute a payload would create exists anywhere in the DOM."""
    page = app.page
    page.wait_for_timeout(500)  # give a stray handler time to fire
    assert app.dialogs == []
    for selector in ("img[src='x']", "[onerror]", "[onload]", "[onmouseover]", "iframe[src^='javascript']",
                     "a[href^='javascript']", "svg[onload]"):
        assert page.locator(selector).count() == 0, selector
    assert not page.evaluate("() => [...document.scripts].some(s => s.textContent.includes('alert('))")


def plot_strings(app: AppPage, selector: str) -> list[str]:
    """The strings plotly holds for the figure under ``selector`` (waits for it to be drawn)."""
    app.page.wait_for_function(f"sel => ({PLOT_STRINGS})(sel)?.length > 0", arg=selector, timeout=120_000)
    return app.page.evaluate(PLOT_STRINGS, selector)


def test_hostile_names_titles_queries_and_instructions_render_as_text(open_app: Callable[..., AppPage],
                                                                     tmp_path: Path) -> None:
    app = open_app()
    page = app.page
    named = tmp_path / NAME_XSS
    named.write_text("<script>alert(13)</script> Bread from a file whose name is markup.")
    entities = tmp_path / NAME_ENTITIES
    entities.write_text("Tides and bread: a file whose name looks like escaped markup.")
    jsonl = tmp_path / "hostile.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))

    app.upload([named, entities, jsonl])
    page.click("#index-files")
    app.wait_for_corpus("3 uploaded files")
    assert_no_injection(app)

    # dispatch_event: the sidebar scrolls on its own, so a header can sit outside the page's viewport.
    page.locator("#settings").get_by_text("Search settings").dispatch_event("click")
    page.get_by_label("Retrieval instruction (used by E2Rank models)").fill(INSTRUCTION_XSS)
    page.get_by_label("Listwise prompt instruction").fill(INSTRUCTION_XSS)
    app.search(QUERY_XSS)
    page.locator("#prompt-acc").get_by_text("Listwise prompt sent to the model").dispatch_event("click")
    page.wait_for_function("() => document.querySelector('#prompt pre')?.textContent.includes('alert(9)')")

    results = page.locator("#results").inner_text()
    assert TITLE_XSS in results and "<script>alert(5)</script>" in results
    assert NAME_ENTITIES in results and "onerror=alert(1).txt" in results  # file names shown literally
    prompt = page.locator("#prompt").inner_text()
    assert "<img src=x onerror=alert(9)>" in prompt and "<script>alert(11)</script>" in prompt
    assert "<iframe src=javascript:alert(7)></iframe>" in page.locator("#relevance").inner_text()
    hostile_row = page.locator("#col-first .e2r-hit").filter(has_text=TITLE_XSS).first
    hostile_row.hover()
    hostile_row.locator("summary").click()
    assert page.locator("#col-e2rank .e2r-hit.is-pinned").count() == 1
    assert_no_injection(app)

    if page.get_by_role("tab", name="Embedding map").count():  # hover text lives in plotly's JSON
        page.get_by_role("tab", name="Embedding map").click()
        for selector in ("#map-plot", "#shift-plot", "#scores-plot"):
            strings = plot_strings(app, selector)
            raw = [s for s in strings if any(tag in s for tag in PAYLOAD_TAGS)]
            assert raw == [], (selector, raw[:3])
            assert any("&lt;img src=x onerror=alert(" in s for s in strings), selector
        hover = "\n".join(plot_strings(app, "#map-plot"))
        assert "<b>&lt;img src=x onerror=alert(4)&gt;</b>" in hover and "&lt;script&gt;alert(5)" in hover
        assert "for: &lt;img src=x onerror=alert(10)&gt;" in hover
        assert_no_injection(app)
    if page.get_by_role("tab", name="Latency").count():  # rendered when first opened
        page.get_by_role("tab", name="Latency").click()
        page.click("#measure-btn")
        page.wait_for_function("() => document.querySelector('#latency-info')?.textContent.includes('Measured')",
                               timeout=120_000)
        raw = [s for s in plot_strings(app, "#latency-plot") if any(tag in s for tag in PAYLOAD_TAGS)]
        assert raw == []
        assert_no_injection(app)
    app.screenshot("security-xss")


EMBEDDINGS_LINE = """() => {
    const dt = [...document.querySelectorAll('#corpus-stats dt')].find(d => d.textContent === 'Embeddings');
    return dt ? dt.nextElementSibling.textContent : null;
}"""


def _upload_and_read_note(app: AppPage, path: Path) -> str:
    """Uploads one file, indexes it and returns the corpus panel's "Embeddings" line, seconds blanked."""
    app.upload([path])
    app.page.click("#index-files")
    app.wait_for_corpus(path.name)
    return re.sub(r"[\d.]+ s\b", "T s", app.page.evaluate(EMBEDDINGS_LINE))


def test_another_users_upload_is_invisible_in_the_corpus_panel(open_app: Callable[..., AppPage],
                                                              tmp_path: Path) -> None:
    """User C uploading a file that user A uploaded sees the same message, and the model embeds the same
    number of passages, as a new user D uploading a file nobody uploaded: uploads are cached per browser
    session. (Each user uploads once: Gradio's file list would add a second upload to the first.)"""
    def records(tag: str) -> str:
        return "".join(json.dumps({"_id": f"p{i}", "title": "", "text": f"{tag} private note {i}: {uuid.uuid4().hex}"})
                       + "\n" for i in range(3))

    shared, fresh = tmp_path / "shared-upload.jsonl", tmp_path / "fresh-upload.jsonl"
    shared.write_text(records("merger"))
    fresh.write_text(records("canteen"))
    assert _upload_and_read_note(open_app(), shared) == "embedded now: 3 in T s (not in the cache)"  # A
    seen_by_c = _upload_and_read_note(open_app(), shared)
    seen_by_d = _upload_and_read_note(open_app(), fresh)
    assert seen_by_c == seen_by_d == "embedded now: 3 in T s (not in the cache)"
