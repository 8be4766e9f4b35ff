"""Reading BEIR-format evaluation sets (a folder or a .zip of one) for evaluation."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from e2rank_demo.corpus.limits import MIB, _human_size, _limit
from e2rank_demo.metrics import binary_relevance_level
from e2rank_demo.records import Document

# Zip members declare their sizes and zipfile enforces them, so this bounds memory.
_BEIR_MAX_BYTES = 4 * 1024 * MIB


@dataclass
class BeirDataset:
    """A BEIR-format evaluation set.

    Attributes:
        name: Dataset name (folder name).
        corpus: The documents, in file order.
        queries: Query id -> text.
        qrels: Split -> query id -> doc id -> relevance grade.
        runs: Run name -> query id -> [(doc id, score)], best first.
        binary_rel: Lowest grade that MRR and Recall count as relevant; by default from
            the name (2 for TREC DL, else 1: :func:`~e2rank_demo.metrics.binary_relevance_level`).
    """

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]]
    runs: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)
    binary_rel: int = 0

    def __post_init__(self) -> None:
        if self.binary_rel < 1:
            self.binary_rel = binary_relevance_level(self.name)

    def split_queries(self, split: str) -> dict[str, str]:
        """Queries with at least one judgement in ``split``.

        Args:
            split: A qrels split name (e.g. ``"test"``).

        Returns:
            Query id -> text, in query-file order.

        Raises:
            ValueError: If the split does not exist.
        """
        if split not in self.qrels:
            available = ", ".join(sorted(self.qrels))
            raise ValueError(f"no qrels split '{split}' in {self.name}; available: {available}")
        judged = self.qrels[split]
        return {qid: text for qid, text in self.queries.items() if judged.get(qid)}


# What reading a member can raise: bad encoding, bad gzip, bad or encrypted zip member.
_BEIR_READ_ERRORS = (
    UnicodeDecodeError,
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)


class _Members:
    """Read-only access to the files of a BEIR folder or zip, by relative name."""

    def __init__(self, name: str, files: dict[str, Callable[[], bytes]], close: Callable[[], None]) -> None:
        self.name = name
        self._files = files
        self.close = close

    def has(self, rel: str) -> bool:
        return rel in self._files

    def under(self, folder: str, suffix: str) -> list[str]:
        return sorted(r for r in self._files if r.startswith(folder + "/") and r.count("/") == 1 and r.endswith(suffix))

    def read(self, rel: str) -> bytes:
        data = self._files[rel]()
        if rel.endswith(".gz"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(_BEIR_MAX_BYTES + 1)
            if len(data) > _BEIR_MAX_BYTES:
                raise ValueError(f"{self.name}/{rel} decompresses to more than {_limit(_BEIR_MAX_BYTES)}")
        return data

    def lines(self, rel: str) -> Iterator[tuple[int, str]]:
        try:
            text = self.read(rel).decode("utf-8-sig")
        except _BEIR_READ_ERRORS as exc:
            raise ValueError(f"{self.name}/{rel} could not be read ({type(exc).__name__})") from None
        for n, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                yield n, line.rstrip("\r")


def _open_beir(path: Path) -> _Members:
    if path.is_dir():
        files = {p.name: p.read_bytes for p in path.iterdir() if p.is_file()}
        for sub in ("qrels", "runs"):
            if (path / sub).is_dir():
                files.update({f"{sub}/{q.name}": q.read_bytes for q in (path / sub).iterdir() if q.is_file()})
        return _Members(path.resolve().name, files, close=lambda: None)
    if not path.is_file():
        raise ValueError(f"BEIR dataset not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path.name} is neither a folder nor a .zip file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path.name} is not a readable zip file ({type(exc).__name__})") from None
    infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    unpacked = sum(i.file_size for i in infos)
    if unpacked > _BEIR_MAX_BYTES:
        zf.close()
        raise ValueError(f"{path.name} unpacks to {_human_size(unpacked)}, over the limit of {_limit(_BEIR_MAX_BYTES)}")
    # Member names are only dictionary keys here; nothing is ever extracted to disk.
    names = {i.filename.replace("\\", "/").lstrip("/"): i for i in infos}
    roots = {
        n.rpartition("/")[0]
        for n in names
        if n.count("/") <= 1 and n.rpartition("/")[2] in {"corpus.jsonl", "corpus.jsonl.gz"}
    }
    name = PurePath(path.name).stem
    prefix = ""
    if len(roots) > 1 and "" not in roots:
        zf.close()
        listed = ", ".join(sorted(roots))
        raise ValueError(f"{path.name} holds several datasets ({listed}); zip one at a time")
    if len(roots) == 1 and "" not in roots:
        name = roots.pop()
        prefix = name + "/"
    files = {
        rel[len(prefix) :]: functools.partial(zf.read, info) for rel, info in names.items() if rel.startswith(prefix)
    }
    return _Members(name, files, close=zf.close)


def _json_line(members: _Members, rel: str, n: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{members.name}/{rel} line {n} is not valid JSON") from None
    if not isinstance(obj, dict) or "_id" not in obj:
        raise ValueError(f"{members.name}/{rel} line {n} is not an object with an '_id'")
    return obj


def _first(members: _Members, *candidates: str) -> str:
    found = next((c for c in candidates if members.has(c)), None)
    if found is None:
        raise ValueError(f"{members.name} is not a BEIR dataset: missing {' or '.join(candidates)}")
    return found


def _qrels_row(cols: list[str]) -> tuple[str, str, int] | None:
    """``(qid, doc_id, grade)`` from a BEIR (3-column) or TREC (4-column) qrels row."""
    if len(cols) == 4:
        cols = [cols[0], cols[2], cols[3]]
    if len(cols) != 3:
        return None
    try:
        return cols[0], cols[1], int(float(cols[2]))
    except (ValueError, OverflowError):
        return None


def _run_row(cols: list[str]) -> tuple[str, str, int, float] | None:
    """``(qid, doc_id, rank, score)`` from a ``qid Q0 docid rank score tag`` line."""
    if len(cols) != 6:
        return None
    try:
        return cols[0], cols[2], int(cols[3]), float(cols[4])
    except ValueError:
        return None


def load_beir(path: str | os.PathLike[str]) -> BeirDataset:
    """Loads a BEIR folder (or a .zip of one) for evaluation.

    Expects ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``
    (``query-id corpus-id score``; a flat ``qrels.tsv`` is read as the test split) and optionally
    ``runs/<name>.trec`` (TREC run format). A zip is read in memory and may hold the files at its top level or inside
    one folder.

    Args:
        path: The dataset folder or zip file.

    Returns:
        The dataset; documents have source ``beir:<name>``.

    Raises:
        ValueError: If required files are missing or a file is malformed.
    """
    members = _open_beir(Path(path))
    try:
        return _read_beir(members)
    finally:
        members.close()


def _read_beir(members: _Members) -> BeirDataset:
    corpus_rel = _first(members, "corpus.jsonl", "corpus.jsonl.gz")
    queries_rel = _first(members, "queries.jsonl", "queries.jsonl.gz")
    qrels_rels = members.under("qrels", ".tsv")
    # The bundled samples keep a single flat qrels.tsv: their test split.
    split_of = {rel: PurePath(rel).stem for rel in qrels_rels}
    if "qrels.tsv" in members._files:
        split_of["qrels.tsv"] = "test"
    qrels_rels = list(split_of)
    if not qrels_rels:
        raise ValueError(f"{members.name} is not a BEIR dataset: missing qrels/<split>.tsv")
    source = f"beir:{members.name}"

    corpus: list[Document] = []
    seen: set[str] = set()
    for n, line in members.lines(corpus_rel):
        obj = _json_line(members, corpus_rel, n, line)
        doc_id = str(obj["_id"])
        if doc_id in seen:
            raise ValueError(f"{members.name}/{corpus_rel} line {n}: duplicate document id '{doc_id}'")
        seen.add(doc_id)
        raw_title = obj.get("title")
        title = raw_title if isinstance(raw_title, str) else ""
        corpus.append(Document(id=doc_id, title=title, text=str(obj.get("text") or ""), source=source))

    queries: dict[str, str] = {}
    for n, line in members.lines(queries_rel):
        obj = _json_line(members, queries_rel, n, line)
        queries[str(obj["_id"])] = str(obj.get("text") or "")

    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for rel in qrels_rels:
        split: dict[str, dict[str, int]] = {}
        for i, (n, line) in enumerate(members.lines(rel)):
            judgement = _qrels_row(line.split())
            if judgement is None:
                if i == 0:  # the 'query-id corpus-id score' header
                    continue
                raise ValueError(f"{members.name}/{rel} line {n}: expected 'query-id corpus-id score'")
            qid, doc_id, grade = judgement
            split.setdefault(qid, {})[doc_id] = grade
        qrels[split_of[rel]] = split

    runs: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for rel in members.under("runs", ".trec"):
        scored: dict[str, list[tuple[float, int, str]]] = {}
        for n, line in members.lines(rel):
            entry = _run_row(line.split())
            if entry is None:
                raise ValueError(f"{members.name}/{rel} line {n}: expected 'qid Q0 docid rank score tag'")
            qid, doc_id, rank, score = entry
            scored.setdefault(qid, []).append((score, rank, doc_id))
        runs[PurePath(rel).stem] = {
            qid: [(doc_id, score) for score, _, doc_id in sorted(rows, key=lambda r: (-r[0], r[1]))]
            for qid, rows in scored.items()
        }
    return BeirDataset(name=members.name, corpus=corpus, queries=queries, qrels=qrels, runs=runs)
