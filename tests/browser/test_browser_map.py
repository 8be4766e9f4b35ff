"""The embedding map on a projector's screen (1280x800, sidebar open) and the charts in the dark theme.

Nothing here assumes where a point lands (the model and its adapter change): the tests read the
drawn figure and check what holds for any placement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)
PROJECTOR = {"width": 1280, "height": 800}
SPECIALS = ["Rocchio query", "E2Rank pseudo-query", "Query"]  # drawn in this order: the query on top
MAP = "#map-plot .js-plotly-plot"

BOX = "e => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }"
# The drawn map: plot area, legend, panel, each trace's drawn points (one g.trace per data trace, in data
# order), the annotations and the axis ranges, read from plotly's own DOM and figure.
READ_MAP = f"""sel => {{
    const box = {BOX};
    const gd = document.querySelector(sel);
    const groups = [...gd.querySelectorAll('.scatterlayer .trace')];
    const points = groups.map(g => [...g.querySelectorAll('path.point')].map(box));
    return {{
        panel: box(document.querySelector('#map-plot')), plot: box(gd.querySelector('.nsewdrag')),
        legend: box(gd.querySelector('.legend')), names: gd.data.map(t => t.name), points,
        data: gd._fullData.map(t => ({{x: Array.from(t.x ?? []), y: Array.from(t.y ?? [])}})),  // decoded arrays
        arrows: gd.layout.annotations.filter(a => a.showarrow).length,
        labels: [...gd.querySelectorAll('.annotation')].filter(a => a.textContent)
            .map(a => ({{text: a.textContent, ...box(a.querySelector('.annotation-text-g'))}})),
        annotationsAbovePoints: !!(gd.querySelector('.infolayer')?.compareDocumentPosition(
            gd.querySelector('.scatterlayer')) & Node.DOCUMENT_POSITION_PRECEDING),
        range: {{x: gd._fullLayout.xaxis.range.slice(), y: gd._fullLayout.yaxis.range.slice()}},
        title: gd.layout.title.text,
    }};
}}"""
COSINE_FITS = """() => {
    const wrap = document.querySelector('#cosine-table .e2r-cosine-wrap');
    const table = wrap.querySelector('table').getBoundingClientRect();
    const box = document.querySelector('#cosine-table').getBoundingClientRect();
    return wrap.scrollWidth <= wrap.clientWidth && table.right <= box.right + 0.5 && table.left >= box.left - 0.5;
}"""


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def inside(x: float, y: float, r: dict[str, list[float]]) -> bool:
    return min(r["x"]) <= x <= max(r["x"]) and min(r["y"]) <= y <= max(r["y"])


def open_map(app: AppPage, sample: str) -> None:
    """Loads ``sample``, searches its first example query and opens the map once UMAP is drawn."""
    page = app.page
    page.get_by_role("radio", name=sample).check()
    page.click("#load-sample")
    app.wait_for_corpus(sample)
    page.locator("#examples button").first.click()  # its first example query: no assumption on its text
    page.wait_for_function("() => document.querySelector('#col-e2rank .e2r-hit')"
                           " && document.querySelector('#search-info')?.textContent.includes('candidates')",
                           timeout=120_000)
    page.get_by_role("tab", name="Embedding map").click()
    # The samples' maps are fitted at start-up; until then PCA stands in and the tab redraws by itself.
    page.wait_for_function("() => document.querySelector('#map-info')?.textContent.includes('UMAP (cosine')",
                           timeout=180_000)
    page.wait_for_function("sel => document.querySelector(sel)?.data?.some(t => t.name === 'Query')"
                           " && document.querySelector(sel).querySelector('.annotation')", arg=MAP)


def test_map_shows_the_move_on_a_projector(open_app: Callable[..., AppPage]) -> None:
    """SciFact at 1280x800 with the sidebar open: a large plot with the legend below it, the query marker on
    top and inside the view, labels apart, arrows above the points, a close-up holding the query, its
    rewrites, the judged relevant and at least half of the prompt documents, the whole map one click away,
    the cosine table within its box, and a plot that grows when the sidebar folds."""
    app = open_app(PROJECTOR)
    page = app.page
    open_map(app, "SciFact")
    page.evaluate("() => document.querySelector('#map-plot').scrollIntoView()")
    drawn = page.evaluate(READ_MAP, MAP)

    panel, plot, legend = drawn["panel"], drawn["plot"], drawn["legend"]
    assert plot["w"] >= 0.85 * panel["w"] and plot["h"] >= 300  # was ~230x300 beside a side legend
    assert plot["w"] * plot["h"] >= 0.35 * panel["w"] * panel["h"]
    assert legend["y"] >= plot["y"] + plot["h"]  # the legend is under the plot area, not in or beside it

    names = drawn["names"]
    order = [names.index(name) for name in SPECIALS]
    assert order == sorted(order) and order[-1] == len(names) - 1  # the query is drawn last: nothing covers it
    (query,) = drawn["points"][order[-1]]
    centre = (query["x"] + query["w"] / 2, query["y"] + query["h"] / 2)
    assert plot["x"] <= centre[0] <= plot["x"] + plot["w"] and plot["y"] <= centre[1] <= plot["y"] + plot["h"]
    assert min(query["w"], query["h"]) >= 12
    labels = drawn["labels"]
    assert sorted(label["text"] for label in labels) == ["E2Rank", "Query", "Rocchio"]
    assert not any(overlaps(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
    assert drawn["arrows"] == 2 and drawn["annotationsAbovePoints"]

    # The close-up holds the query, its rewrites, the judged relevant documents and most prompt documents.
    view = drawn["range"]
    data = dict(zip(names, drawn["data"], strict=True))
    for name in SPECIALS:
        assert inside(data[name]["x"][0], data[name]["y"][0], view)
    relevant = data["judged relevant"]  # SciFact's known judgments are ticked on load
    assert relevant["x"] and all(inside(x, y, view) for x, y in zip(relevant["x"], relevant["y"], strict=True))
    ring = next(data[n] for n in names if n.startswith("in the listwise prompt"))
    assert 2 * sum(inside(x, y, view) for x, y in zip(ring["x"], ring["y"], strict=True)) >= len(ring["x"])
    assert "Close-up:" in drawn["title"]

    # "Whole map" shows every point; "Close-up" returns to the framed view.
    every = [(x, y) for trace in drawn["data"] for x, y in zip(trace["x"], trace["y"], strict=True)]
    page.locator("#map-plot .updatemenu-button", has_text="Whole map").click()
    page.wait_for_function("sel => document.querySelector(sel)._fullLayout.xaxis.autorange === true", arg=MAP)
    whole = page.evaluate(READ_MAP, MAP)["range"]
    assert all(inside(x, y, whole) for x, y in every)
    page.locator("#map-plot .updatemenu-button", has_text="Close-up").click()
    page.wait_for_function("sel => document.querySelector(sel)._fullLayout.xaxis.autorange === false", arg=MAP)
    assert page.evaluate(READ_MAP, MAP)["range"] == pytest.approx(view)

    assert page.evaluate(COSINE_FITS)
    app.screenshot("map-projector")

    # Folding the sidebar widens the column; the plot follows it (no window resize happens).
    page.locator("#sidebar button").first.click()
    page.wait_for_function(
        "([sel, w]) => document.querySelector(sel).querySelector('.nsewdrag').getBoundingClientRect().width > w + 200",
        arg=[MAP, plot["w"]])
    assert page.evaluate(COSINE_FITS)
    assert app.errors == [] and app.dialogs == []


def test_charts_follow_the_dark_theme(open_app: Callable[..., AppPage]) -> None:
    """With Gradio's dark theme every chart of the map tab is drawn on plotly's dark template (and the query's
    black star turns light); switching the page back to light redraws them light, without a new search."""
    app = open_app(PROJECTOR, link="?__theme=dark")
    page = app.page
    assert page.evaluate("() => document.body.classList.contains('dark')")
    open_map(app, "General")
    charts = ["#map-plot", "#shift-plot", "#scores-plot"]
    read = """sels => sels.map(sel => {
        const gd = document.querySelector(`${sel} .js-plotly-plot`);
        const rgb = c => {  // any CSS colour ('white', '#f2f5fa', 'rgb(17,17,17)'), as the browser reads it
            const probe = document.createElement('i');
            probe.style.color = c;
            document.body.append(probe);
            const read = getComputedStyle(probe).color.match(/[0-9.]+/g).slice(0, 3).map(Number);
            probe.remove();
            return read;
        };
        const lum = c => { const [r, g, b] = rgb(c); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
        const query = gd?._fullData?.find(t => t.name === 'Query' && t.mode === 'markers');
        return gd && gd._fullLayout ? {paper: lum(gd._fullLayout.paper_bgcolor), plot: lum(gd._fullLayout.plot_bgcolor),
                font: lum(gd._fullLayout.font.color), query: query ? lum(query.marker.color) : null} : null;
    })"""
    page.wait_for_function(f"sels => ({read})(sels).every(c => c && c.paper < 0.2)", arg=charts)
    for chart in page.evaluate(read, charts):
        assert chart["paper"] < 0.2 and chart["plot"] < 0.2 and chart["font"] > 0.7
    assert page.evaluate(read, ["#map-plot"])[0]["query"] > 0.8  # the query's star is drawn in light ink
    app.screenshot("map-dark")

    page.evaluate("() => document.body.classList.remove('dark')")
    page.wait_for_function(f"sels => ({read})(sels).every(c => c && c.paper > 0.9)", arg=charts)
    assert page.evaluate(read, ["#map-plot"])[0]["query"] < 0.2
    assert app.errors == [] and app.dialogs == []
