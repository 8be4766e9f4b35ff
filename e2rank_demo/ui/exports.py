"""Export files: both rankings as CSV, JSON and TREC runs; the judgments as qrels.

Files go only into the folder the caller passes (the session's private temp folder).
TREC and qrels files are whitespace-separated, so whitespace inside ids becomes ``_``
in both, consistently, and they still evaluate together (e.g. with ``trec_eval``).

Example:
    >>> trec_id("my notes#2")
    'my_notes#2'
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path

from e2rank_demo.pipeline import SearchSession
from e2rank_demo.query_result import QueryResult
from e2rank_demo.records import Ranking

_SPACE = re.compile(r"\s+")
# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def trec_id(value: str) -> str:
    """An id safe for whitespace-separated TREC files."""
    return _SPACE.sub("_", value.strip()) or "_"


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _systems(result: QueryResult) -> dict[str, Ranking]:
    return {"first_stage": result.first_stage, **result.reranked}


def write_rankings_csv(result: QueryResult, session: SearchSession, path: Path) -> Path:
    """One row per (system, rank): passage and document ids, score and title."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["system", "rank", "passage_id", "doc_id", "score", "title"])
        for system, ranking in _systems(result).items():
            for rank, (pid, score) in enumerate(ranking.top(len(ranking.ids)), start=1):
                passage = session.passage(pid)
                writer.writerow([system, rank, _cell(pid), _cell(passage.doc_id), f"{score:.6f}", _cell(passage.title)])
    return path


def write_rankings_json(result: QueryResult, session: SearchSession, qid: str, path: Path) -> Path:
    """The query, settings and every ranking with ids, scores and titles."""
    payload = {
        "query_id": qid,
        "query": result.query,
        "settings": result.settings.as_dict(),
        "rankings": {
            system: [
                {
                    "rank": rank,
                    "passage_id": pid,
                    "doc_id": session.passage(pid).doc_id,
                    "score": score,
                    "title": session.passage(pid).title,
                }
                for rank, (pid, score) in enumerate(ranking.top(len(ranking.ids)), start=1)
            ]
            for system, ranking in _systems(result).items()
        },
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_trec_run(ranking: Ranking, qid: str, tag: str, path: Path) -> Path:
    """``qid Q0 docid rank score tag`` lines, best first."""
    lines = [
        f"{trec_id(qid)} Q0 {trec_id(pid)} {rank} {score:.6f} {trec_id(tag)}"
        for rank, (pid, score) in enumerate(ranking.top(len(ranking.ids)), start=1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_qrels(judgments: Mapping[str, Mapping[str, int]], query_ids: Mapping[str, str], path: Path) -> Path:
    """``qid 0 docid grade`` lines for every judged query of the session."""
    lines = [
        f"{trec_id(query_ids[query])} 0 {trec_id(pid)} {grade}"
        for query, graded in judgments.items()
        if query in query_ids
        for pid, grade in graded.items()
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_queries(query_ids: Mapping[str, str], path: Path) -> Path:
    """``qid<TAB>text`` for every query the other files mention."""
    lines = [f"{trec_id(qid)}\t{_SPACE.sub(' ', query)}" for query, qid in query_ids.items()]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
