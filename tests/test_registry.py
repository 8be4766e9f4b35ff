"""The reranker registry: one registered toy reranker shows up in all five places that list rerankers.

The toy ranks the candidates in reverse first-stage order, so its ranking differs from
every other system's and its presence cannot be mistaken for another list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from e2rank_demo import plots, report
from e2rank_demo.cli import main
from e2rank_demo.evaluation import evaluate
from e2rank_demo.corpus import BeirDataset
from e2rank_demo.models import TokenIds
from e2rank_demo.pipeline import SearchSession, SearchSettings
from e2rank_demo.records import Candidates, Ranking
from e2rank_demo.rerank import RERANKERS, RerankerSpec, rank_by
from e2rank_demo.timing import StageTimer
from e2rank_demo.ui import callbacks
from e2rank_demo.ui import evaluate as evaluate_tab
from e2rank_demo.ui.layout import build_demo
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession

LABEL = "Reversed first stage (toy)"
TITLE = "Reversed"
TOGGLE = "Also run the reversed toy"


class ReversedReranker:
    """Scores the candidates by their reverse first-stage position."""

    name = "reversed"

    def rerank(self, query: str, query_vector: np.ndarray, candidates: Candidates, doc_vectors: np.ndarray,
               doc_texts: Sequence[str], timer: StageTimer | None = None,
               doc_tokens: Sequence[TokenIds | None] | None = None) -> Ranking:
        return rank_by(self.name, candidates, np.arange(len(candidates), dtype=np.float32))


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RerankerSpec]:
    """The toy, registered for one test (the registry is restored afterwards)."""
    spec = RerankerSpec("reversed", LABEL, TITLE, lambda settings, embedder: ReversedReranker(), (),
                        lambda result: "first-stage order, reversed", search_toggle=TOGGLE)
    monkeypatch.setitem(RERANKERS, spec.name, spec)
    yield spec


def test_toy_reranker_runs_in_the_pipeline_plots_and_report(toy: RerankerSpec, minilm, small_docs) -> None:  # noqa: ANN001
    """Registered once, the toy runs by default and is named in the rank-shift chart and the report."""
    session = SearchSession.from_documents(small_docs, minilm, cache=None)
    result = session.search("why does bread rise", SearchSettings(candidates=5, prompt_docs=3))
    assert result.reranked["reversed"].ids == result.first_stage.ids[::-1]
    plain = session.search("why does bread rise", SearchSettings(candidates=5, prompt_docs=3, rerankers=("e2rank",)))
    added, was_added = session.add_reranker(plain, "reversed")
    assert was_added and "reversed" not in plain.reranked  # the given result is never changed
    assert added.reranked["reversed"].ids == plain.first_stage.ids[::-1]
    assert session.add_reranker(added, "reversed") == (added, False)
    figure = plots.rank_shift(result, session, reranker="reversed")
    assert any(f"→ {TITLE} " in str(trace.hovertext) for trace in figure.fig.data)
    page = report.build_report_html(session, result, include_map=False)
    assert f"<h3>{LABEL}</h3>" in page and "first-stage order, reversed" in page


def test_toy_reranker_in_the_cli(toy: RerankerSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`search` runs every registered reranker by default and prints the toy's list."""
    (tmp_path / "tides.txt").write_text("The Moon's gravity pulls the oceans and causes the tides.")
    (tmp_path / "bread.md").write_text("Yeast ferments sugar, and the gas makes bread rise.")
    assert main(["search", "--corpus", str(tmp_path), "--query", "why does bread rise", "--json",
                 "--model", "minilm"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [hit["id"] for hit in out["reversed"]] == [hit["id"] for hit in out["first_stage"]][::-1]


def test_toy_reranker_in_evaluate(toy: RerankerSpec, minilm, small_docs) -> None:  # noqa: ANN001
    """The Evaluate tab offers the toy and its metrics table names it by its title."""
    dataset = BeirDataset("toy", list(small_docs), {"q1": "why does bread rise"}, {"test": {"q1": {"bread": 1}}})
    measured = evaluate(dataset, minilm, "dense", SearchSettings(candidates=5, prompt_docs=3))
    assert "reversed" in measured.metrics
    table = evaluate_tab.metrics_view(measured, "toy", None)
    assert f'<tr data-system="reversed"><th scope="row">{TITLE}</th>' in table
    with gr.Blocks():
        tab = evaluate_tab.build_tab()
    assert (LABEL, "reversed") in [tuple(choice) for choice in tab.rerankers.choices]


def test_toy_reranker_in_the_search_tab(toy: RerankerSpec, minilm, small_docs) -> None:  # noqa: ANN001
    """The Search tab gets the toy's checkbox and column; ticking it runs the toy and renders its list."""
    demo = build_demo()
    labels = [getattr(block, "label", None) for block in demo.blocks.values()]
    assert TOGGLE in labels and f"{LABEL} baseline" in labels
    state = UISession()
    state.install(Corpus("toy", list(small_docs)), SearchSession.from_documents(small_docs, minilm, cache=None),
                  IndexConfig("minilm", False, 0, 0))
    outputs = callbacks.search("why does bread rise", "dense", 10, 3, "web", "", "", 0.0, "official", False, False,
                               state, True)
    assert len(outputs) == callbacks.n_result_outputs() + 1
    assert set(state.result.reranked) == {"e2rank", "reversed"}
    toy_column = outputs[5]
    assert f"{LABEL}" in toy_column and "first-stage order, reversed" in toy_column
    assert "Turn on Rocchio PRF" in outputs[2]  # Rocchio's column keeps its place, not ticked
