"""HTML rendering: escaping everywhere, highlighting, badges, metrics and panels."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest

from e2rank_demo.highlight import query_terms
from e2rank_demo.index import EncodeStats
from e2rank_demo.pipeline import CorpusStats
from e2rank_demo.records import ListwisePrompt, Passage, Ranking
from e2rank_demo.samples import SampleInfo
from e2rank_demo.ui import render

HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'


class Tags(HTMLParser):
    """Collects the tag names and attribute names of an HTML fragment."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: set[str] = set()
        self.feed(fragment)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.update(name for name, _ in attrs)


class Passages:
    """The one method of SearchSession that rendering uses."""

    def __init__(self, passages: list[Passage]) -> None:
        self.by_id = {p.id: p for p in passages}

    def passage(self, pid: str) -> Passage:
        return self.by_id[pid]


def _context(passages: list[Passage], first: Ranking, reranked: Ranking, **overrides: object) -> render.RowContext:
    values: dict[str, object] = dict(session=Passages(passages), parts={}, terms=["bread"], relevant={},
                                     first_stage=first, reranked=reranked, recall_at=100, limit=10)
    values.update(overrides)
    return render.RowContext(**values)  # type: ignore[arg-type]


def test_highlight_escapes_before_marking() -> None:
    """Markup in the text is escaped; only whole-word-prefix matches get <mark>."""
    out = render.highlight(f"Bread {HOSTILE} breadth", ["bread"])
    assert Tags(out).tags == ["mark", "mark"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in out


@pytest.mark.parametrize("term", ["amp", "lt", "quot", "x27"])
def test_highlight_never_matches_inside_an_entity(term: str) -> None:
    """Query terms that spell entity names leave the escaped entities intact."""
    out = render.highlight("""fish & chips < "said" 'single'""", [term])
    assert "<mark>" not in out


def test_query_terms_drop_stopwords_and_repeat() -> None:
    """Stopwords and one-letter words are dropped; the rest come longest first."""
    assert query_terms("What is the Moon's pull on a tide? tide!") == ["moon", "pull", "tide"]


def test_snippet_centres_on_the_first_match() -> None:
    """A long text is cut around the first query term, with ellipses."""
    text = " ".join(f"w{i}" for i in range(200)) + " yeast makes bread rise " + " ".join("z" * 3 for _ in range(100))
    out = render.snippet(text, ["bread"], words=20)
    assert out.startswith("… ") and out.endswith(" …") and "<mark>bread</mark>" in out
    assert len(out.split()) < 30


@pytest.mark.parametrize(("rank", "before", "text", "cls"), [
    (1, 4, "▲3", "up"), (6, 4, "▼2", "down"), (3, 3, "=", "same"), (2, 40, "new in top-10", "new"),
    (12, 40, "▲28", "up"),
])
def test_rank_badges(rank: int, before: int, text: str, cls: str) -> None:
    """Badges compare with the first-stage rank; entering the top 10 says so."""
    badge = render.rank_badge(rank, before)
    assert f'class="e2r-badge {cls}"' in badge and f">{text}<" in badge


def test_results_column_escapes_every_user_field() -> None:
    """Ids, titles, text and file names with markup render as text, never as elements."""
    evil = Passage(id=f'd"1{HOSTILE}', doc_id=f"doc{HOSTILE}", title=f"T {HOSTILE}", text=f"bread {HOSTILE}",
                   position=1, source=f"{HOSTILE}.txt")
    plain = Passage(id="p", doc_id="p", title="Plain", text="Plain bread.")
    first = Ranking("first_stage", [evil.id, plain.id], np.array([0.9, 0.5], dtype=np.float32))
    reranked = Ranking("e2rank", [plain.id, evil.id], np.array([0.8, 0.7], dtype=np.float32))
    ctx = _context([evil, plain], first, reranked, parts={evil.doc_id: 3}, relevant={evil.id: 2})
    for column in (render.Column("first_stage", "First", "sub", first),
                   render.Column("e2rank", "E2Rank", "sub", reranked, note=render.Note(HOSTILE, HOSTILE))):
        html = render.results_column(column, ctx)
        tags = Tags(html)
        assert "img" not in tags.tags and "script" not in tags.tags
        assert "onerror" not in tags.attrs
        assert "passage 2 of 3" in html and "✓ relevant" in html
    e2rank_html = render.results_column(render.Column("e2rank", "E2Rank", "sub", reranked), ctx)
    assert e2rank_html.count("e2r-badge") == 2 and "▲1" in e2rank_html and "▼1" in e2rank_html


def test_results_column_limits_rows_and_offers_the_rest() -> None:
    """Only ``limit`` rows render; a note says how many candidates exist."""
    passages = [Passage(id=f"p{i}", doc_id=f"p{i}", title=f"T{i}", text="bread") for i in range(15)]
    ranking = Ranking("first_stage", [p.id for p in passages], np.linspace(1, 0, 15, dtype=np.float32))
    html = render.results_column(render.Column("first_stage", "First", "sub", ranking),
                                 _context(passages, ranking, ranking))
    assert html.count('class="e2r-hit') == 10 and "Showing 10 of 15 candidates" in html


def test_metrics_line_shows_differences_with_a_real_minus() -> None:
    """Metrics show three decimals and their change against the first stage."""
    values = {"ndcg@10": 0.5, "mrr@10": 1.0, "recall@50": 1.0}
    base = {"ndcg@10": 0.75, "mrr@10": 1.0, "recall@50": 1.0}
    html = render.metrics_line(values, base, 50)
    assert "nDCG@10 <b>0.500</b>" in html and "\u22120.250" in html and "Recall@50" in html
    assert "tick relevant documents" in render.metrics_line(None, None, 50)


def test_prompt_view_escapes_and_counts() -> None:
    """The prompt text is shown escaped, with kept/full token counts per document."""
    prompt = ListwisePrompt(text=f"Documents:\n[1] {HOSTILE}", vector=np.zeros(2, dtype=np.float32), n_tokens=500,
                            doc_tokens_kept=[10, 30], doc_tokens_full=[40, 30], max_tokens=512)
    html = render.prompt_view(prompt, ["a", f"b{HOSTILE}"])
    assert "img" not in Tags(html).tags and "script" not in Tags(html).tags
    assert "500 tokens of a 512-token window; 2 documents, 1 of them cut to fit." in html


def test_stats_and_sample_card_escape() -> None:
    """Corpus labels, notices and sample metadata are escaped."""
    stats = CorpusStats(n_documents=2, n_passages=5, n_tokens=1234, model="minilm", encode=EncodeStats(0.1, 0, 5))
    html = render.stats_view(HOSTILE, stats, "MiniLM", "embedded now", f"fallback {HOSTILE}")
    assert "img" not in Tags(html).tags and "1,234" in html and 'role="alert"' in html
    info = SampleInfo(name="x", title=HOSTILE, description=HOSTILE, licence="CC-BY-NC-2.0", attribution=HOSTILE,
                      task="web", path=None)  # type: ignore[arg-type]
    card = render.sample_card(info)
    assert "img" not in Tags(card).tags and "non-commercial" in card
