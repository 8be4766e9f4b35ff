"""The real app in headless Chromium: upload, search, escaping, relevance and layout."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)
PHONE = {"width": 390, "height": 844}

HOSTILE = ("<img src=x onerror=alert(1)> <script>alert(2)</script> Starter cultures for sourdough bread are "
           "fed with flour and water every day.")


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with real, extractable text (Helvetica, written by hand)."""

    def literal(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({literal(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_upload_search_badges_and_escaping(open_app: Callable[..., AppPage], tmp_path: Path) -> None:
    """A .txt, a .pdf and a hostile .txt index and search; markup in documents renders as text."""
    app = open_app()
    page = app.page
    notes = tmp_path / "tides.txt"
    notes.write_text("The gravity of the Moon pulls on the oceans and causes high and low tides twice a day.")
    pdf = tmp_path / "bread.pdf"
    pdf.write_bytes(minimal_pdf(["Bread rises because yeast ferments sugar in the dough.",
                                 "The carbon dioxide gas is trapped by a network of gluten."]))
    hostile = tmp_path / "hostile.txt"
    hostile.write_text(HOSTILE)

    app.upload([notes, pdf, hostile])
    page.click("#index-files")
    app.wait_for_corpus("3 uploaded files")
    app.screenshot("01-uploaded")

    app.search("why does sourdough bread rise")
    first = page.locator("#col-first .e2r-hit")
    reranked = page.locator("#col-e2rank .e2r-hit")
    assert first.count() == reranked.count() == 3
    assert page.locator("#col-e2rank .e2r-badge").count() == 3
    assert "bread" in page.locator("#col-first").inner_text().lower()

    results = page.locator("#results")
    text = results.inner_text()
    assert "<img src=x onerror=alert(1)>" in text and "<script>alert(2)</script>" in text
    assert results.locator("img").count() == 0
    assert results.locator("script").count() == 0
    assert page.locator("[onerror]").count() == 0

    # Hovering a row lights up the same passage in the other column; clicking opens it.
    row = first.first
    pid = row.get_attribute("data-pid")
    row.hover()
    assert page.locator("#col-e2rank .e2r-hit.is-linked").get_attribute("data-pid") == pid
    row.locator("summary").click()
    assert row.locator("details").get_attribute("open") is not None
    assert page.locator("#col-e2rank .e2r-hit.is-pinned").get_attribute("data-pid") == pid
    app.screenshot("02-upload-results")
    page.wait_for_timeout(300)  # give a stray onerror handler the time to fire
    assert app.dialogs == []


def _ndcg_at_10(ranks: list[int], n_relevant: int) -> float:
    gain = sum(1 / math.log2(r + 1) for r in ranks if r <= 10)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(n_relevant, 10)))
    return gain / ideal


def _shown_ndcg(app: AppPage, column: str) -> str:
    locator = app.page.locator(f"#{column} [data-metric='ndcg@10'] b")
    return locator.inner_text() if locator.count() else ""


def _expected_ndcg(app: AppPage, column: str, pids: list[str]) -> float:
    ranks = [int(app.page.locator(f"#{column} .e2r-hit[data-pid='{pid}']").get_attribute("data-rank"))
             for pid in pids if app.page.locator(f"#{column} .e2r-hit[data-pid='{pid}']").count()]
    return _ndcg_at_10(ranks, len(pids))


def test_marking_documents_relevant_updates_ndcg(open_app: Callable[..., AppPage]) -> None:
    """Ticking two documents shows nDCG@10 in both columns, with the right values."""
    app = open_app()
    page = app.page
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    app.search("animals that sleep through the cold months")
    assert _shown_ndcg(app, "col-first") == _shown_ndcg(app, "col-e2rank") == ""

    ticked: list[str] = []
    for first_stage_rank in (3, 1):
        pid = page.locator(f"#col-first .e2r-hit[data-rank='{first_stage_rank}']").get_attribute("data-pid")
        before = (_shown_ndcg(app, "col-first"), _shown_ndcg(app, "col-e2rank"))
        page.locator("#relevance label").nth(first_stage_rank - 1).click()
        ticked.append(pid)
        page.wait_for_function(
            """before => {
                const v = id => document.querySelector(`#${id} [data-metric='ndcg@10'] b`)?.textContent ?? '';
                return v('col-first') !== before[0] && v('col-e2rank') !== '';
            }""", arg=list(before), timeout=30_000)
        for column in ("col-first", "col-e2rank"):
            shown = float(_shown_ndcg(app, column))
            assert shown == pytest.approx(_expected_ndcg(app, column, ticked), abs=0.0015), column
    assert page.locator("#col-first .e2r-hit.is-relevant").count() == 2
    page.locator("#search-info").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('search-info').scrollIntoView()")
    app.screenshot("03-relevance-metrics")
    page.evaluate("window.scrollTo(0, 0)")
    app.screenshot("00-overview")
    assert app.dialogs == []


def test_phone_layout_with_example_query(open_app: Callable[..., AppPage]) -> None:
    """At phone width the sidebar folds after indexing, an example query searches, nothing overflows."""
    app = open_app(PHONE)
    page = app.page
    app.screenshot("04-phone-start")
    page.click("#load-sample")
    app.wait_for_corpus("General knowledge")
    page.locator("#examples button").first.click()
    page.wait_for_selector("#col-e2rank .e2r-hit", timeout=60_000)
    assert page.locator("#query textarea").input_value()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#col-e2rank").is_visible()
    page.evaluate("document.getElementById('search-info').scrollIntoView()")
    app.screenshot("05-phone-results")
    assert app.dialogs == []
