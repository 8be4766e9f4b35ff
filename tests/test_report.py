"""The one-file HTML report (``e2rank_demo.report``) and the package's lazy notebook API.

Reports are built on the tiny random-weight Qwen3 (fast); the browser test
``tests/browser/test_browser_present.py`` opens an exported report offline in Chromium.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2rank_demo import report
from e2rank_demo.latency import measure_latency
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.projection import pca_projection, special_vectors
from e2rank_demo.records import Document

REPO = Path(__file__).resolve().parents[1]
ATTACK = "<img src=x onerror=alert(1)>"
SCRIPT_BREAK = "</script><script>alert(2)</script>"
DOCS = [
    Document("evil", ATTACK, f"Bread {SCRIPT_BREAK} rises because yeast makes gas."),
    Document("bread", "Bread", "Yeast ferments sugar and carbon dioxide makes bread dough rise in the oven."),
    Document("tides", "Tides", "The gravity of the Moon pulls on the oceans and causes high and low tides."),
    Document("phone", "Telephone", "Alexander Graham Bell patented the telephone in 1876."),
    Document("sourdough", "Sourdough", "Sourdough bread uses wild yeast and lactic acid bacteria."),
    Document("mars", "Mars", "Mars is the fourth planet from the Sun and has two small moons."),
]
QUERY = f"why does bread rise {SCRIPT_BREAK}"
WHEN = dt.datetime(2025, 11, 3, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def searched(tiny_decoder):  # noqa: ANN001
    session = SearchSession.from_documents(DOCS, tiny_decoder)
    result = session.search(QUERY, SearchSettings(candidates=6, prompt_docs=3, rerankers=("e2rank", "rocchio")))
    return session, result


@pytest.fixture(scope="module")
def page(searched) -> str:  # noqa: ANN001
    session, result = searched
    proj = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    latency = measure_latency(session, QUERY, SearchSettings(candidates=6, prompt_docs=3), warmup=False)
    return report.build_report_html(session, result, relevance={"bread": 2, "tides": 0}, latency=latency,
                                    projection=proj, model_name="tiny", corpus_label=f"test {ATTACK}", created=WHEN)


def scripts(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>.*?</script>", html, flags=re.S)


def test_user_text_is_escaped_everywhere(page: str) -> None:
    assert ATTACK not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # No user string can end a script element early: every <script> holds plotly or the page's own code.
    for body in scripts(page):
        assert "alert(" not in body or "\\u003c\\u002fscript\\u003e" in body or "&lt;" in body
    assert page.count("<script") == page.count("</script>")
    assert SCRIPT_BREAK not in page


def test_plotly_is_inline_not_from_a_cdn(page: str) -> None:
    # Nothing is fetched: no external script, stylesheet or image (plotly.js itself names its CDN as a default
    # for geo maps only, which these charts never use).
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page.replace("\\u003c", ""))
    assert all("src=" not in tag and "href=" not in tag for tag in tags), tags
    assert len(page) > 3_000_000  # plotly.js itself (about 4.7 MB) is in the file
    assert page.count("Plotly.newPlot(") == 4  # map, rank shift, score curves, latency
    assert "Plotly.addFrames" in page  # the map's query → pseudo-query animation


def test_report_holds_lists_prompt_settings_timings_and_provenance(page: str, searched) -> None:  # noqa: ANN001
    session, result = searched
    for heading in ("First stage", "E2Rank (listwise reranked)", "Rocchio PRF", "Listwise prompt sent to the model",
                    "Settings", "Timings (measured for this search)", "Reported in the paper (A100) — not measured here"):
        assert heading in page
    assert page.count('data-system="first_stage"') == 1 and page.count('data-system="e2rank"') == 1
    assert page.count('class="hit') == 3 * 6  # three lists of six candidates
    assert "✓ relevant" in page and "nDCG@10" in page
    assert re.search(r'class="badge (up|down|same|new)"', page)
    assert "2025-11-03T09:30:00+00:00" in page
    assert session.embedder.identity in page and "e2rank_demo 0.1.0" in page and "plotly " in page
    assert f"<b>{result.prompt.n_tokens}</b> tokens" in page and "prompt documents k</td><td>3" in page
    assert "total per query" in page and "document encoding, once per corpus" in page
    assert "asked for: tiny" in page and "test &lt;img" in page
    assert 'data-format="svg"' in page  # each chart also saves as SVG


def test_report_and_exports_show_the_k_and_pooling_used(page: str, searched, tmp_path: Path) -> None:  # noqa: ANN001
    """The settings table gives the resolved k and prompt pooling, each against the model's default, and the
    JSON export carries them (from the result's settings)."""
    import json

    from e2rank_demo.ui.exports import write_rankings_json

    session, result = searched
    assert "prompt documents k</td><td>3 (the model&#x27;s default: 20)" in page
    assert "prompt pooling (how the prompt becomes one vector)</td><td>last (the model&#x27;s default)" in page
    exported = json.loads(write_rankings_json(result, session, "q1", tmp_path / "r.json").read_text())
    assert (exported["settings"]["prompt_docs"], exported["settings"]["prompt_pooling"]) == (3, "last")
    other = session.search(QUERY, SearchSettings(candidates=6, prompt_pooling="query", rerankers=("e2rank",)))
    rows = dict(report.settings_rows(other, session.embedder))
    assert rows["prompt pooling (how the prompt becomes one vector)"] == "query (the model's default: last)"
    assert rows["prompt documents k"] == "20 (the model's default)"


def test_figures_carry_download_config(page: str) -> None:
    # Each chart's config: the camera button saves a named PNG at twice the size.
    assert len(re.findall(r'"toImageButtonOptions": \{"format": "png", "filename": "[\w-]+", "scale": 2\}', page)) == 4


def test_report_without_latency_or_map(searched) -> None:  # noqa: ANN001
    session, result = searched
    page = report.build_report_html(session, result, include_map=False)
    assert page.count("Plotly.newPlot(") == 2 and "Reported in the paper" not in page
    assert "Nothing is judged for this query" in page
    assert "<script" in page and page.index("plotly.js") < page.index("Plotly.newPlot(")


def map_caption_of(page: str) -> str:
    """The caption printed under the report's embedding map."""
    return re.search(r'id="fig-map".*?<p class="hint">(.*?)</p>', page, flags=re.S)[1]


@pytest.mark.parametrize("rerankers", [("e2rank",), ("e2rank", "rocchio")])
def test_map_caption_names_only_what_the_map_draws(searched, rerankers: tuple[str, ...]) -> None:  # noqa: ANN001
    """Without Rocchio (the Present tab's search) the map has no square, and its caption names none."""
    session, _ = searched
    result = session.search(QUERY, SearchSettings(candidates=6, prompt_docs=3, rerankers=rerankers))
    proj = pca_projection(session.vectors, session.ids, special_vectors(result), result.candidates.rows)
    caption = map_caption_of(report.build_report_html(session, result, projection=proj, created=WHEN))
    assert "the star is your query" in caption and "the diamond the E2Rank pseudo-query" in caption
    with_rocchio = "rocchio" in rerankers
    assert ("square" in caption) is with_rocchio and ("Rocchio" in caption) is with_rocchio
    assert ("the arrows show where each rewrite" in caption) is with_rocchio
    assert ("the arrow shows where the rewrite" in caption) is not with_rocchio


def test_default_map_falls_back_to_pca_for_a_tiny_corpus(searched) -> None:  # noqa: ANN001
    session, result = searched
    page = report.build_report_html(session, result, map_wait=0.0)
    assert page.count("Plotly.newPlot(") == 3 and "PC 1" in page


def test_write_report_to_a_folder_or_a_file(searched, tmp_path: Path) -> None:  # noqa: ANN001
    session, result = searched
    path = report.write_report(session, result, tmp_path, include_map=False, created=WHEN)
    assert path.parent == tmp_path and path.name == "e2rank-report-why-does-bread-rise-script-script-alert-2-script-" \
                                                     "20251103-093000.html"
    other = report.write_report(session, result, tmp_path / "mine.html", include_map=False)
    assert other.name == "mine.html" and other.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_notebook_names_import_lazily() -> None:
    code = ("import sys, e2rank_demo\n"
            "heavy = [m for m in ('torch', 'transformers', 'plotly', 'gradio', 'faiss') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from e2rank_demo import SearchSession, SearchSettings, load_embedder, load_sample, build_report_html\n"
            "assert 'gradio' not in sys.modules and 'torch' not in sys.modules\n"
            "assert build_report_html.__module__ == 'e2rank_demo.report'\n"
            "assert set(e2rank_demo.__all__) <= set(dir(e2rank_demo))\n"
            "try:\n    e2rank_demo.nope\nexcept AttributeError:\n    print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
