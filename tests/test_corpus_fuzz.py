"""Fuzz tests: ingestion survives hostile files, names and pasted text."""

from __future__ import annotations

import copy
import gzip
import json
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2rank_demo.corpus import IngestReport, Limits, ingest_files, ingest_text
from e2rank_demo.records import Document

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EXTENSIONS = [
    ".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".pdf", ".docx",
    ".gz", ".txt.gz", ".jsonl.gz", ".csv.gz", ".exe", ".png", ".xyz", ".zip", "",
]
HOSTILE_NAMES = [
    "../../etc/passwd", "/abs/x.txt", "..", ".", "", "C:\\Windows\\system.ini", "a\x00b.txt",
    "\u202egnp.exe.txt", "שלום.md", "😀.jsonl", "x" * 500 + ".csv", "dir/", "\n\r\t.json", "\udcff.txt",
]

tricky_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            ["\x00", "\r", "\n", "\t", "\u202e", "\ufeff", "\u2028", "\ud800", ",", '"', ";", "שלום", "مرحبا", "👨‍👩‍👧"]
        ),
    ),
    max_size=60,
).map("".join)
record = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.one_of(st.text(max_size=8), st.integers(), st.none(), st.booleans()),
        "title": st.one_of(tricky_text, st.integers()),
        "text": st.one_of(tricky_text, st.lists(st.integers(), max_size=2)),
        "body": tricky_text,
    },
)
json_value = st.one_of(
    st.lists(st.one_of(record, tricky_text, st.integers()), max_size=6),
    st.dictionaries(st.text(max_size=6), st.one_of(tricky_text, record), max_size=6),
    st.fixed_dictionaries({"documents": st.lists(record, max_size=4)}),
    record,
    st.integers(),
)


@st.composite
def truncated_json(draw: st.DrawFn) -> bytes:
    """A JSON document cut at a random point."""
    raw = json.dumps(draw(json_value), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return raw[: draw(st.integers(0, len(raw)))]


@st.composite
def jsonl(draw: st.DrawFn) -> bytes:
    """JSON lines mixing good records, strings, truncated lines and garbage."""
    lines = draw(
        st.lists(
            st.one_of(
                record.map(json.dumps),
                tricky_text.map(json.dumps),
                truncated_json().map(lambda b: b.decode("utf-8", "replace")),
                tricky_text,
            ),
            max_size=8,
        )
    )
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def ragged_csv(draw: st.DrawFn) -> bytes:
    """Delimited rows of random width, with quotes, blanks and odd headers."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    columns = st.sampled_from(["text", "title", "id", "body", "x", "", '"q', "Text"])
    header = draw(st.lists(columns, max_size=4))
    rows = draw(st.lists(st.lists(tricky_text, max_size=4), max_size=5))
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    return "\n".join(lines).encode(draw(st.sampled_from(["utf-8", "utf-16", "cp1252"])), "replace")


fake_pdf = st.binary(max_size=400).map(lambda b: b"%PDF-1.4\n" + b + b"\n%%EOF")
fake_zip = st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b)
text_bytes = st.tuples(tricky_text, st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"])).map(
    lambda t: t[0].encode(t[1], "replace")
)
content = st.one_of(
    st.binary(max_size=600), truncated_json(), jsonl(), ragged_csv(), fake_pdf, fake_zip, text_bytes
)


@st.composite
def upload(draw: st.DrawFn) -> tuple[str, bytes]:
    """An extension and a body, the body gzipped (or not) when the extension says .gz."""
    ext = draw(st.sampled_from(EXTENSIONS))
    body = draw(content)
    if ext.endswith(".gz") and draw(st.booleans()):
        body = gzip.compress(body)
    return ext, body


names = st.one_of(
    st.none(),
    st.lists(st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=40)), min_size=1, max_size=4),
)
limits = st.one_of(
    st.just(Limits()),
    st.builds(
        Limits,
        max_file_bytes=st.integers(50, 5000),
        max_total_bytes=st.integers(50, 8000),
        max_documents=st.integers(1, 5),
        max_doc_chars=st.integers(5, 500),
    ),
)


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Document]]:
    """A good file and the corpus loaded from it before any fuzzing."""
    good = tmp_path_factory.mktemp("good") / "good.jsonl"
    good.write_text('{"_id": "g1", "title": "Good", "text": "kept"}\n{"_id": "g2", "text": "also kept"}\n')
    report = ingest_files([good], Limits())
    assert [d.id for d in report.documents] == ["g1", "g2"]
    return good, report.documents


def check_report(report: IngestReport) -> None:
    """Invariants every report satisfies, whatever went in."""
    assert isinstance(report, IngestReport)
    if not report.documents:
        assert report.messages, "an input that yields no document must say why"
    ids = [d.id for d in report.documents]
    assert len(ids) == len(set(ids)), "document ids must be unique"
    for doc in report.documents:
        for value in (doc.id, doc.title, doc.text, doc.source):
            value.encode("utf-8")
            assert "\x00" not in value
        assert doc.text.strip()
    for message in report.messages:
        message.encode("utf-8")
        assert not any(unicodedata.category(ch) == "Cc" for ch in message), repr(message)


@FUZZ
@given(
    uploads=st.lists(upload(), min_size=1, max_size=3),
    names=names,
    limits=limits,
    text_column=st.sampled_from([None, "text", "x", ""]),
)
def test_ingest_files_survives_hostile_input(
    previous: tuple[Path, list[Document]],
    uploads: list[tuple[str, bytes]],
    names: list[str] | None,
    limits: Limits,
    text_column: str | None,
) -> None:
    """Hostile files and names never raise, always explain a miss, and leave earlier corpora alone."""
    good, corpus = previous
    snapshot = copy.deepcopy(corpus)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (ext, body) in enumerate(uploads):
            path = Path(folder) / f"f{i}{ext}"
            path.write_bytes(body)
            paths.append(str(path))
        paths_before, names_before = list(paths), copy.copy(names)
        for i, path in enumerate(paths):
            name = names[i : i + 1] if names else None
            one = ingest_files([path], limits, names=name, text_column=text_column)
            check_report(one)
        check_report(ingest_files(paths, limits, names=names, text_column=text_column))
        assert paths == paths_before and names == names_before
        assert sorted(p.name for p in Path(folder).iterdir()) == sorted(Path(p).name for p in paths)
    assert corpus == snapshot
    assert ingest_files([good], Limits()).documents == corpus


@FUZZ
@given(
    text=st.one_of(tricky_text, st.text(max_size=2000), st.none()),
    limits=limits,
    name=st.sampled_from(HOSTILE_NAMES),
)
def test_ingest_text_survives_hostile_input(text: str, limits: Limits, name: str) -> None:
    """Any pasted text gives documents or a message, never an exception."""
    check_report(ingest_text(text, limits, name=name))
