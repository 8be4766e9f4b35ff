"""Per-session state (judgments, query ids, temp folder) and the export files."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Candidates, Document, Passage, Ranking, Timings
from e2rank_demo.rerank import SearchSettings
from e2rank_demo.ui import exports
from e2rank_demo.ui.state import Corpus, IndexConfig, UISession


def _index(passages: list[Passage]) -> Any:
    """Enough of a SearchSession for ``UISession.install`` and the exporters."""
    by_id = {p.id: p for p in passages}
    return SimpleNamespace(passages=passages, passage=by_id.__getitem__)


def _result(query: str = "why does bread rise") -> QueryResult:
    ids = ["a", "b c", "=evil"]
    first = Ranking("first_stage", ids, np.array([0.9, 0.8, 0.7], dtype=np.float32))
    e2rank = Ranking("e2rank", ids[::-1], np.array([0.6, 0.5, 0.4], dtype=np.float32))
    return QueryResult(query=query, first_stage=first, reranked={"e2rank": e2rank},
                       query_vector=np.zeros(2, dtype=np.float32), prompt=None,
                       candidates=Candidates(ids, first.scores, np.arange(3)), timings=Timings(),
                       settings=SearchSettings(candidates=100))


PASSAGES = [Passage("a", "a", "A", "bread"), Passage("b c", "b c", "B", "yeast"),
            Passage("=evil", "=evil", "=HYPERLINK(\"x\")", "evil")]


def test_initial_state_is_deep_copyable() -> None:
    """gr.State deep-copies its initial value for every new browser session."""
    copied = copy.deepcopy(UISession())
    assert copied.corpus is None and copied.judgments == {}


def test_only_one_indexing_run_at_a_time() -> None:
    """A second indexing run is refused until the first one ends."""
    state = UISession()
    assert state.begin_indexing() and not state.begin_indexing()
    state.indexing = False
    assert state.begin_indexing()


def test_new_corpus_resets_judgments_and_reindex_keeps_them() -> None:
    """Loading a corpus seeds its known judgments; re-indexing it keeps the user's ticks."""
    state = UISession()
    corpus = Corpus("sample", [Document("a", "A", "bread")], sample="general")
    config = IndexConfig("minilm", False, 0, 0)
    state.install(corpus, _index(PASSAGES), config, known_judgments={"q text": {"a": 2}},
                  known_query_ids={"q text": "q01"})
    assert state.judgments_for("q text") == {"a": 2} and state.query_id("q text") == "q01"
    state.set_relevant("q text", shown=["a", "b c"], ticked=["a", "b c"])
    state.install(corpus, _index(PASSAGES), config)
    assert state.judgments_for("q text") == {"a": 2, "b c": 1}
    state.install(Corpus("other", []), _index(PASSAGES), config)
    assert state.judgments == {} and state.parts == {"a": 1, "b c": 1, "=evil": 1}


def test_unticking_only_touches_shown_documents() -> None:
    """Judgments of documents the user could not see survive a new tick set."""
    state = UISession(judgments={"q": {"hidden": 1, "a": 1}})
    state.set_relevant(" q ", shown=["a", "b"], ticked=["b"])
    assert state.judgments_for("q") == {"hidden": 1, "b": 1}


def test_user_query_ids_never_collide() -> None:
    """User queries get u1, u2, ... skipping ids already taken."""
    state = UISession(query_ids={"a": "u2", "b": "q7"})
    assert state.query_id("mine") == "u3"
    assert state.query_id(" mine ") == "u3" and state.query_id("other") == "u4"
    assert len(set(state.query_ids.values())) == len(state.query_ids)


def test_private_dir_is_removed_on_close() -> None:
    """Exports live in one temp folder per session, deleted with the session."""
    state = UISession()
    folder = state.private_dir()
    (folder / "x.txt").write_text("x")
    assert state.private_dir() == folder
    state.close()
    assert not folder.exists() and state.export_dir is None


def test_exports_write_all_formats(tmp_path: Path) -> None:
    """CSV (formula-safe), JSON, TREC runs and qrels agree on ids and ranks."""
    result, index = _result(), _index(PASSAGES)
    rows = list(csv.reader(exports.write_rankings_csv(result, index, tmp_path / "r.csv").open()))
    assert rows[0] == ["system", "rank", "passage_id", "doc_id", "score", "title"]
    assert rows[3][:3] == ["first_stage", "3", "'=evil"] and rows[3][5].startswith("'=")
    payload = json.loads(exports.write_rankings_json(result, index, "u1", tmp_path / "r.json").read_text())
    assert [r["passage_id"] for r in payload["rankings"]["e2rank"]] == ["=evil", "b c", "a"]
    trec = exports.write_trec_run(result.reranked["e2rank"], "u 1", "e2rank demo", tmp_path / "e.trec")
    assert trec.read_text().splitlines()[1] == "u_1 Q0 b_c 2 0.500000 e2rank_demo"
    qrels = exports.write_qrels({"q": {"b c": 1}, "unknown": {"a": 1}}, {"q": "u1"}, tmp_path / "q.qrels")
    assert qrels.read_text() == "u1 0 b_c 1\n"
    queries = exports.write_queries({"two\nlines": "u1"}, tmp_path / "q.tsv")
    assert queries.read_text() == "u1\ttwo lines\n"
