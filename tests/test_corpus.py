"""Tests for corpus ingestion, passage splitting and BEIR loading."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from e2rank_demo.corpus import (
    SUPPORTED_SUFFIXES,
    BeirDataset,
    IngestReport,
    Limits,
    ingest_files,
    ingest_text,
    load_beir,
    split_passages,
)
from e2rank_demo.records import Document

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Writes a test file and returns its path."""
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def pdf_with_text(text: str) -> bytes:
    """A minimal hand-written one-page PDF showing ``text`` in Helvetica."""
    return pdf_with_lines([(24, text)])


def pdf_with_lines(lines: list[tuple[float, str]], *, font_scale: float = 1) -> bytes:
    """A minimal hand-written one-page PDF showing each ``(font size, text)`` line in Helvetica.

    ``font_scale`` draws with a font size of ``size / font_scale`` scaled back up by the text matrix,
    as some producers do (``/F1 1 Tf 24 0 0 24 x y Tm``).
    """
    body = []
    y = 700.0
    for size, text in lines:
        body.append(f"BT /F1 {size / font_scale:g} Tf {font_scale:g} 0 0 {font_scale:g} 72 {y:g} Tm ({text}) Tj ET")
        y -= size * 1.5
    stream = " ".join(body).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def encrypted(pdf: bytes, user_password: str) -> bytes:
    """``pdf`` encrypted with pypdf's writer."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def messages_about(report: IngestReport, name: str) -> list[str]:
    """The report's messages for one display name."""
    return [m for m in report.messages if m.startswith(f"{name}: ")]


# ------------------------------------------------------------------- text files


def test_txt_file_becomes_one_document(tmp_path: Path) -> None:
    """A .txt file becomes one document titled and identified by its stem."""
    report = ingest_files([write(tmp_path, "notes.txt", "Aspirin reduces fever.\nSecond line.")])
    assert report.ok and report.messages == []
    (doc,) = report.documents
    assert (doc.id, doc.title, doc.source) == ("notes", "notes", "notes.txt")
    assert doc.text == "Aspirin reduces fever.\nSecond line."


def test_markdown_and_rst_are_text(tmp_path: Path) -> None:
    """Markdown and reStructuredText files are read as plain text."""
    paths = [write(tmp_path, n, f"# {n}\nbody") for n in ("a.md", "b.markdown", "c.rst")]
    report = ingest_files(paths)
    assert [d.id for d in report.documents] == ["a", "b", "c"]


def test_markdown_titles_come_from_the_first_heading_and_markers_go(tmp_path: Path) -> None:
    """A Markdown file is titled by its first heading; '#' markers and underlines never reach the text."""
    content = "Intro line.\n\n# Why Bread Rises #\n\nYeast makes gas.\n\n## Gluten\nIt traps the gas.\n"
    setext = "Tides\n=====\n\nThe Moon pulls.\n\nSpring tides\n------------\nStronger.\n"
    plain = "No heading here, only text with a #hashtag.\n"
    report = ingest_files([write(tmp_path, "bread.md", content), write(tmp_path, "tides.markdown", setext),
                           write(tmp_path, "plain.md", plain)])
    bread, tides, other = report.documents
    assert (bread.id, bread.title) == ("bread", "Why Bread Rises")
    assert bread.text == "Intro line.\n\nWhy Bread Rises\n\nYeast makes gas.\n\nGluten\n\nIt traps the gas."
    assert (tides.title, tides.text) == ("Tides", "Tides\n\nThe Moon pulls.\n\nSpring tides\n\nStronger.")
    assert (other.title, other.text) == ("plain", plain.strip())


def test_markdown_is_shown_as_text_not_markup(tmp_path: Path) -> None:
    """Emphasis, list markers, links, code ticks, tables and inline HTML leave only their words."""
    content = ("# Notes on **Sourdough**\n\nThe *starter* is [fed daily](https://example.org) with `flour`.\n"
               "Wrapped line.\n\n- **Flour**: strong white\n- Water, ~~hot~~ warm\n  - nested <br> item\n\n"
               "1. Mix\n2. Wait\n\n| step | hours |\n|---|---|\n| proof | 4 |\n\n"
               "> Quoted <b>&lt;advice&gt;</b> &amp; more\n\n<div align=\"center\"><i>Baked</i> loaf</div>\n\n"
               "```\nkeep **this** as written\n```\n")
    (doc,) = ingest_files([write(tmp_path, "sourdough.md", content)]).documents
    assert doc.title == "Notes on Sourdough"
    assert doc.text == ("Notes on Sourdough\n\nThe starter is fed daily with flour. Wrapped line.\n\n"
                        "• Flour: strong white\n• Water, hot warm\n  • nested  item\n\n1. Mix\n2. Wait\n\n"
                        "step\thours\nproof\t4\n\nQuoted <advice> & more\n\nBaked loaf\n\nkeep **this** as written")


def test_markdown_title_from_front_matter_and_its_settings_are_not_text(tmp_path: Path) -> None:
    """YAML front matter's ``title:`` names the document; the front matter itself is not shown."""
    content = "---\ntitle: 'Bread, a field guide'\nlayout: post\n---\n\n# Chapter one\n\nFlour and water.\n"
    (doc,) = ingest_files([write(tmp_path, "guide.md", content)]).documents
    assert (doc.title, doc.text) == ("Bread, a field guide", "Chapter one\n\nFlour and water.")


def test_markdown_without_heading_uses_a_title_line_and_deep_nesting_keeps_every_word(tmp_path: Path) -> None:
    """No heading: a short first line set apart titles it. Nesting past the parser's limit keeps the raw text."""
    titled = "Bread notes\n\nFlour, water and *salt*.\n"
    deep = "> " * 80 + "deep words survive\n"
    first, nested = ingest_files([write(tmp_path, "a.md", titled), write(tmp_path, "b.md", deep)]).documents
    assert (first.title, first.text) == ("Bread notes", "Bread notes\n\nFlour, water and salt.")
    assert nested.title == "b" and "deep words survive" in nested.text


def test_markdown_of_only_markup_is_reported(tmp_path: Path) -> None:
    """A Markdown file with no words (rules, empty front matter) is skipped with a reason."""
    report = ingest_files([write(tmp_path, "rules.md", "---\n---\n\n***\n\n- \n")])
    assert report.documents == [] and report.messages == ["rules.md: no text (only Markdown markup)"]


def test_markdown_is_cut_at_the_document_limit_before_parsing(tmp_path: Path) -> None:
    """A Markdown file longer than the per-document limit is cut first, and says so."""
    limits = Limits(max_doc_chars=100)
    report = ingest_files([write(tmp_path, "long.md", "# Long\n\n" + "word " * 200)], limits=limits)
    (doc,) = report.documents
    assert doc.title == "Long" and len(doc.text) <= 100
    assert report.messages == ["long.md: truncated to the per-document limit of 100 characters before reading the "
                               + "Markdown"]


@pytest.mark.parametrize(("content", "title"), [
    ("Why Bread Rises\n\nYeast ferments sugar into gas.", "Why Bread Rises"),
    ("Tides and the Moon\nThe Moon pulls the oceans twice a day.", "Tides and the Moon"),
    ("TIDES\n=====\nThe Moon pulls.", "TIDES"),
    ("\n\n  Spaced   Title  \n\nBody text.", "Spaced Title"),
    ("Is bread alive?\n\nSort of: yeast is.", "Is bread alive?"),
    ("Aspirin reduces fever.\nSecond line.", "notes"),  # a sentence: the body starts at once
    ("Notes:\n\nbuy flour", "notes"),  # a lead-in, not a title
    ("The gravity of the Moon pulls on the\noceans and causes tides.", "notes"),  # a wrapped paragraph
    ("Just one short line", "notes"),  # nothing follows it
    (" ".join(["word"] * 30) + "\n\nBody.", "notes"),  # too long for a title
    ("<img src=x onerror=alert(1)>\n\nBody.", "<img src=x onerror=alert(1)>"),  # kept as text; escaped on display
])
def test_txt_title_is_a_short_first_line_set_apart(tmp_path: Path, content: str, title: str) -> None:
    """A .txt is titled by its first line when that line is a title, else by its file name; the text is unchanged."""
    (doc,) = ingest_files([write(tmp_path, "notes.txt", content)]).documents
    assert (doc.id, doc.title, doc.text) == ("notes", title, content)


def test_docx_title_is_its_first_heading(tmp_path: Path) -> None:
    """A .docx is titled by its first Title/Heading paragraph, else by its file name."""
    import docx

    document = docx.Document()
    document.add_paragraph("A line before the heading.")
    document.add_heading("Why Bread Rises", level=1)
    document.add_heading("Gluten", level=2)
    document.add_paragraph("It traps the gas.")
    document.save(str(tmp_path / "memo.docx"))
    untitled = docx.Document()
    untitled.add_paragraph("Only body text.")
    untitled.save(str(tmp_path / "plain.docx"))
    titled, plain = ingest_files([tmp_path / "memo.docx", tmp_path / "plain.docx"]).documents
    assert (titled.id, titled.title) == ("memo", "Why Bread Rises") and "Gluten" in titled.text
    assert (plain.id, plain.title) == ("plain", "plain")


def test_every_supported_suffix_has_a_reader(tmp_path: Path) -> None:
    """Each suffix the upload widget accepts is parsed, never read as an unknown type (.text included)."""
    assert ".text" in SUPPORTED_SUFFIXES and ".gz" in SUPPORTED_SUFFIXES
    samples = {".pdf": pdf_with_text("Hello"), ".csv": "text\nhello", ".tsv": "text\nhello", ".json": '["hello"]',
               ".jsonl": '"hello"', ".ndjson": '"hello"'}
    for suffix in SUPPORTED_SUFFIXES:
        if suffix in {".gz", ".docx"}:  # covered by the gzip and docx tests
            continue
        report = ingest_files([write(tmp_path, f"doc{suffix}", samples.get(suffix, "hello"))])
        assert report.ok, (suffix, report.messages)
        assert not any("unknown file type" in m for m in report.messages), suffix


def test_unknown_text_extension_is_read_as_text(tmp_path: Path) -> None:
    """A text file with an unknown extension is read, and the message says so."""
    report = ingest_files([write(tmp_path, "server.log", "started\nstopped")])
    assert report.documents[0].text == "started\nstopped"
    assert report.messages == ["server.log: unknown file type .log, read as plain text"]


def test_cp1252_file_is_decoded_with_message(tmp_path: Path) -> None:
    """A cp1252 file is decoded correctly and the message names the encoding."""
    text = "Le café coûte 3 €. Déjà vu, naïve façade, “quoted” — très élégant. " * 5
    report = ingest_files([write(tmp_path, "notes.txt", text.encode("cp1252"))])
    assert report.documents[0].text == text
    (message,) = messages_about(report, "notes.txt")
    assert message.startswith("notes.txt: decoded as ") and message.endswith("(not UTF-8)")


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    """A latin-1 file without cp1252-only characters decodes to the same text."""
    text = "Äpfel und Birnen für Müller, Größe über alles. " * 5
    report = ingest_files([write(tmp_path, "de.txt", text.encode("latin-1"))])
    assert report.documents[0].text == text
    assert "(not UTF-8)" in report.messages[0]


def test_utf8_bom_is_removed(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark does not end up in the text and is not worth a message."""
    report = ingest_files([write(tmp_path, "bom.txt", b"\xef\xbb\xbfhello")])
    assert report.documents[0].text == "hello" and report.messages == []


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    """A UTF-16 file with a byte-order mark is decoded instead of rejected as binary."""
    report = ingest_files([write(tmp_path, "wide.txt", "héllo wörld".encode("utf-16"))])
    assert report.documents[0].text == "héllo wörld"
    assert report.messages == ["wide.txt: decoded as UTF-16 (not UTF-8)"]


def test_nul_and_control_characters_are_stripped(tmp_path: Path) -> None:
    """NUL and other C0 control characters are removed; newlines and tabs are kept."""
    content = b"first\x00 line\tcol\r\nsecond\x07 line with enough ordinary text to stay text"
    report = ingest_files([write(tmp_path, "nul.txt", content)])
    assert report.documents[0].text == "first line\tcol\nsecond line with enough ordinary text to stay text"
    assert report.messages == ["nul.txt: removed 2 NUL/control characters"]


def test_rtl_and_emoji_text_is_preserved(tmp_path: Path) -> None:
    """Right-to-left scripts and emoji survive ingestion unchanged."""
    text = "שלום עולם — مرحبا بالعالم 👋🏽 👨‍👩‍👧 café"
    report = ingest_files([write(tmp_path, "intl.txt", text)])
    assert report.documents[0].text == text and report.messages == []


def test_binary_content_is_rejected(tmp_path: Path) -> None:
    """A .txt holding binary bytes is refused with a plain message."""
    report = ingest_files([write(tmp_path, "blob.txt", bytes(range(256)) * 8)])
    assert not report.ok and report.skipped_files == 1
    assert report.messages == ["blob.txt: looks like a binary file"]


def test_empty_file_is_skipped(tmp_path: Path) -> None:
    """An empty or whitespace-only file is skipped with "empty file"."""
    report = ingest_files([write(tmp_path, "a.txt", ""), write(tmp_path, "b.txt", " \n\t\n")])
    assert report.messages == ["a.txt: empty file", "b.txt: empty file"]
    assert report.skipped_files == 2


def test_huge_single_line_is_read_and_truncated(tmp_path: Path) -> None:
    """A multi-megabyte single line is read and cut at the per-document limit."""
    report = ingest_files([write(tmp_path, "line.txt", "word " * 600_000)], Limits(max_doc_chars=1_000_000))
    assert len(report.documents[0].text) == 1_000_000
    assert report.messages == [
        "line.txt: truncated 1 document to the per-document limit of 1,000,000 characters"
    ]


def test_unsupported_extensions_are_refused(tmp_path: Path) -> None:
    """Binary formats such as .exe and .png are refused by type."""
    paths = [write(tmp_path, "tool.exe", b"MZ\x90\x00" * 10), write(tmp_path, "pic.png", b"not really a png")]
    report = ingest_files(paths)
    assert report.messages == ["tool.exe: unsupported file type .exe", "pic.png: unsupported file type .png"]
    assert report.skipped_files == 2


def test_unknown_binary_extension_is_unsupported(tmp_path: Path) -> None:
    """An unknown extension with binary content is reported as an unsupported type."""
    report = ingest_files([write(tmp_path, "data.xyz", b"\x00\x01\x02\x03" * 100)])
    assert report.messages == ["data.xyz: unsupported file type .xyz"]


# ------------------------------------------------------------------- pdf / docx


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    """Text of a real PDF page is extracted with pypdf."""
    report = ingest_files([write(tmp_path, "paper.pdf", pdf_with_text("Hello PDF world"))])
    (doc,) = report.documents
    assert (doc.id, doc.title) == ("paper", "paper")
    assert "Hello PDF world" in doc.text


def with_metadata_title(pdf: bytes, title: str) -> bytes:
    """``pdf`` with ``/Title`` set in its document information."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PAPER = [(8, "Journal of Baking 12 (2024) 1-9"), (20, "Why Sourdough"), (20, "Bread Rises"),
         (10, "Wild yeast and lactic bacteria ferment the sugars of the flour into gas and acids."),
         (10, "The gas is trapped by the gluten network, and the dough rises over several hours.")]


@pytest.mark.parametrize(("metadata", "scale", "title"), [
    ("Sourdough Fermentation: A Review", 1, "Sourdough Fermentation: A Review"),  # meaningful metadata wins
    ("Microsoft Word - draft3.docx", 1, "Why Sourdough Bread Rises"),  # a tool's default: the largest heading
    ("Untitled", 24, "Why Sourdough Bread Rises"),  # size set by the text matrix (1 pt font scaled up)
    ("paper", 1, "Why Sourdough Bread Rises"),  # the file's own name says nothing new
    (None, 1, "Why Sourdough Bread Rises"),
])
def test_pdf_title_from_metadata_else_its_largest_heading(tmp_path: Path, metadata: str | None, scale: float,
                                                          title: str) -> None:
    """A PDF is titled by a meaningful /Title, else by the text in its first page's largest font."""
    pdf = pdf_with_lines(PAPER, font_scale=scale)
    if metadata is not None:
        pdf = with_metadata_title(pdf, metadata)
    (doc,) = ingest_files([write(tmp_path, "paper.pdf", pdf)]).documents
    assert (doc.id, doc.title) == ("paper", title)
    assert "Wild yeast" in doc.text


def test_pdf_in_one_font_size_is_titled_by_a_title_line_else_its_name(tmp_path: Path) -> None:
    """One font size has no heading: a short first line followed by a sentence titles it; a sentence does not."""
    titled = pdf_with_lines([(12, "Sourdough Notes"), (12, "Wild yeast ferments the flour.")])
    untitled = pdf_with_lines([(12, "Wild yeast ferments the flour."), (12, "The dough rises.")])
    first, second = ingest_files([write(tmp_path, "a.pdf", titled), write(tmp_path, "b.pdf", untitled)]).documents
    assert (first.title, second.title) == ("Sourdough Notes", "b")


def test_blank_pdf_has_no_extractable_text(tmp_path: Path) -> None:
    """A PDF with only a blank page is skipped with the no-text message."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    report = ingest_files([write(tmp_path, "scan.pdf", out.getvalue())])
    assert report.messages == ["scan.pdf: no extractable text (image-only or empty PDF)"]


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    """A password-protected PDF is refused with a plain message."""
    report = ingest_files([write(tmp_path, "secret.pdf", encrypted(pdf_with_text("Top secret"), "pw"))])
    assert report.messages == ["secret.pdf: encrypted PDF, cannot read"]


def test_encrypted_pdf_with_empty_password_is_read(tmp_path: Path) -> None:
    """A PDF encrypted with an empty user password opens without asking."""
    report = ingest_files([write(tmp_path, "open.pdf", encrypted(pdf_with_text("Readable anyway"), ""))])
    assert "Readable anyway" in report.documents[0].text


def test_malformed_pdf_is_refused(tmp_path: Path) -> None:
    """A file with a PDF header and garbage body is refused as malformed."""
    report = ingest_files([write(tmp_path, "bad.pdf", b"%PDF-1.7\n" + b"garbage " * 50)])
    assert not report.ok
    assert report.messages[0].startswith("bad.pdf: malformed PDF, cannot read")


def test_docx_paragraphs_and_tables_are_read(tmp_path: Path) -> None:
    """A real .docx yields its paragraphs, then table rows, joined by newlines."""
    import docx

    document = docx.Document()
    document.add_paragraph("First paragraph.")
    document.add_paragraph("Second paragraph.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "cell a", "cell b"
    document.save(str(tmp_path / "memo.docx"))
    (doc,) = ingest_files([tmp_path / "memo.docx"]).documents
    assert (doc.id, doc.text) == ("memo", "First paragraph.\nSecond paragraph.\ncell a\tcell b")


def test_malformed_docx_is_refused(tmp_path: Path) -> None:
    """A .docx that is not a valid package is refused as malformed."""
    report = ingest_files([write(tmp_path, "memo.docx", b"PK\x03\x04 this is not a zip")])
    assert report.messages == ["memo.docx: malformed .docx, cannot read"]


def test_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    """A .docx whose parts unpack far past the upload limits is refused before parsing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * (2 * 1024 * 1024))
    report = ingest_files([write(tmp_path, "bomb.docx", buffer.getvalue())], Limits(max_file_bytes=100 * 1024))
    assert report.messages == [
        "bomb.docx: unpacks to 2.0 MB, over the limit of 500 KB (5 × the per-file limit of 100 KB)"
    ]


# ------------------------------------------------------------------------- csv


def test_csv_uses_common_text_title_and_id_columns(tmp_path: Path) -> None:
    """A CSV's text, title and id columns are found by their usual names."""
    content = "id,title,abstract,year\nd1,Aspirin,Reduces fever.,2001\nd2,Ibuprofen,Eases pain.,2003\n"
    report = ingest_files([write(tmp_path, "papers.csv", content)])
    assert [(d.id, d.title, d.text) for d in report.documents] == [
        ("d1", "Aspirin", "Reduces fever."),
        ("d2", "Ibuprofen", "Eases pain."),
    ]
    assert report.messages == ["papers.csv: text from column 'abstract', titles from 'title', ids from 'id'"]


def test_csv_name_column_gives_titles(tmp_path: Path) -> None:
    """A 'name' (or 'headline') column titles the rows when there is no 'title' column."""
    content = "id,name,text\na1,Bread,Yeast makes dough rise.\na2,Tides,The Moon pulls the oceans.\n"
    report = ingest_files([write(tmp_path, "notes.csv", content)])
    assert [(d.id, d.title) for d in report.documents] == [("a1", "Bread"), ("a2", "Tides")]
    assert report.messages == ["notes.csv: text from column 'text', titles from 'name', ids from 'id'"]


def test_csv_broken_quoting_is_reported_with_its_line(tmp_path: Path) -> None:
    """A quote left open merges the rows after it: the message names the line; real multi-line fields pass."""
    broken = ('id,title,text\na1,Bread,"Yeast makes dough rise.\na2,Tides,The Moon pulls the oceans.\n'
              'a3,Bats,"Bats hibernate in caves."\na4,Solar,Panels turn light into power.\n')
    report = ingest_files([write(tmp_path, "broken.csv", broken)])
    assert [d.id for d in report.documents] == ["a1", "a4"]  # 4 rows became 2 documents ...
    assert report.messages[0] == ("broken.csv: line 2: a quote opened there is only closed on line 4, so 2 lines "
                                  'were read into one row; check the quoting ("" inside a quoted field)')
    fine = 'id,title,text\na1,Bread,"Yeast makes\ndough rise."\na2,Tides,"He said ""hi"", twice."\n'
    report = ingest_files([write(tmp_path, "fine.csv", fine)])
    assert [d.text for d in report.documents] == ["Yeast makes\ndough rise.", 'He said "hi", twice.']
    assert not any("quote" in m for m in report.messages)


def test_csv_text_column_argument_wins(tmp_path: Path) -> None:
    """An explicit ``text_column`` overrides the usual names; ids fall back to stem-row."""
    content = "text,summary\nlong original,short one\nanother,second\n"
    report = ingest_files([write(tmp_path, "s.csv", content)], text_column="summary")
    assert [(d.id, d.text) for d in report.documents] == [("s-1", "short one"), ("s-2", "second")]
    assert report.messages == ["s.csv: text from column 'summary'"]


def test_csv_missing_text_column_argument_falls_back(tmp_path: Path) -> None:
    """A ``text_column`` that does not exist is reported and the usual choice is used."""
    report = ingest_files([write(tmp_path, "s.csv", "body\nhello\n")], text_column="nope")
    assert report.documents[0].text == "hello"
    assert report.messages == ["s.csv: column 'nope' not found", "s.csv: text from column 'body'"]


def test_csv_falls_back_to_longest_column(tmp_path: Path) -> None:
    """Without a known text column, the column with the longest values is used."""
    content = "code,remark\nA1,a much longer remark about the thing\nB2,another fairly long remark\n"
    report = ingest_files([write(tmp_path, "x.csv", content)])
    assert [d.text for d in report.documents] == [
        "a much longer remark about the thing",
        "another fairly long remark",
    ]
    assert report.messages == ["x.csv: text from column 'remark' (the column with the longest values)"]


def test_csv_delimiter_is_sniffed(tmp_path: Path) -> None:
    """A semicolon-separated .csv is recognised."""
    content = "title;text\nOne;first body, with a comma\nTwo;second body\n"
    report = ingest_files([write(tmp_path, "semi.csv", content)])
    assert [(d.title, d.text) for d in report.documents] == [
        ("One", "first body, with a comma"),
        ("Two", "second body"),
    ]


def test_tsv_uses_tabs(tmp_path: Path) -> None:
    """A .tsv is split on tabs even when values contain commas."""
    report = ingest_files([write(tmp_path, "t.tsv", "docid\ttext\na\tx, y, z\nb\tw\n")])
    assert [(d.id, d.text) for d in report.documents] == [("a", "x, y, z"), ("b", "w")]


def test_csv_ragged_and_empty_rows_are_counted(tmp_path: Path) -> None:
    """Rows with the wrong field count or empty text are skipped and counted."""
    content = "id,text\n1,good one\n2,too,many\n3\n4,\n5,good two\n"
    report = ingest_files([write(tmp_path, "r.csv", content)])
    assert [d.id for d in report.documents] == ["1", "5"]
    assert report.skipped_records == 3
    assert report.messages[-1] == (
        "r.csv: skipped 3 rows of 5: 2 with the wrong number of fields (expected 2), 1 with empty text"
    )


def test_csv_huge_field_is_read(tmp_path: Path) -> None:
    """A field larger than the csv module's default limit (128 KB) is read."""
    big = "lorem " * 50_000
    report = ingest_files([write(tmp_path, "big.csv", f'text\n"{big}"\n')])
    assert report.documents[0].text == big


# ------------------------------------------------------------------------ json


def test_json_list_of_strings(tmp_path: Path) -> None:
    """A JSON list of strings gives one document each, ids stem-n."""
    report = ingest_files([write(tmp_path, "l.json", json.dumps(["alpha", "beta"]))])
    assert [(d.id, d.text) for d in report.documents] == [("l-1", "alpha"), ("l-2", "beta")]


def test_json_list_of_objects(tmp_path: Path) -> None:
    """A JSON list of objects uses their text, title and id fields."""
    records = [{"_id": "a", "title": "T", "text": "x"}, {"id": 7, "content": "y"}, {"other": 1}]
    report = ingest_files([write(tmp_path, "o.json", json.dumps(records))])
    assert [(d.id, d.title, d.text) for d in report.documents] == [("a", "T", "x"), ("7", "", "y")]
    assert report.skipped_records == 1
    assert report.messages[0].startswith("o.json: skipped 1 record of 3 without text")


def test_json_object_mapping_ids_to_text(tmp_path: Path) -> None:
    """A JSON object of id -> text gives one document per key."""
    report = ingest_files([write(tmp_path, "m.json", json.dumps({"q1": "first", "q2": "second"}))])
    assert [(d.id, d.text) for d in report.documents] == [("q1", "first"), ("q2", "second")]


def test_json_documents_key(tmp_path: Path) -> None:
    """A JSON object with a ``documents`` list reads that list."""
    content = json.dumps({"name": "set", "documents": [{"text": "inside"}]})
    assert [d.text for d in ingest_files([write(tmp_path, "d.json", content)]).documents] == ["inside"]


def test_json_single_record_object(tmp_path: Path) -> None:
    """A JSON object that is itself a record gives one document, not one per key."""
    content = json.dumps({"title": "Only", "text": "one record"})
    report = ingest_files([write(tmp_path, "r.json", content)])
    assert [(d.id, d.title, d.text) for d in report.documents] == [("r-1", "Only", "one record")]


def test_invalid_json_is_reported(tmp_path: Path) -> None:
    """Truncated JSON is refused with the parser's position."""
    report = ingest_files([write(tmp_path, "t.json", '[{"text": "unfinished')])
    (message,) = report.messages
    assert message.startswith("t.json: not valid JSON (") and "line 1" in message


def test_jsonl_beir_records(tmp_path: Path) -> None:
    """BEIR-style JSONL records keep their ids and titles."""
    lines = [{"_id": "d1", "title": "A", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}]
    content = "\n".join(json.dumps(r) for r in lines)
    report = ingest_files([write(tmp_path, "corpus.jsonl", content)])
    assert [(d.id, d.title, d.text) for d in report.documents] == [("d1", "A", "alpha"), ("d2", "", "beta")]


def test_jsonl_malformed_lines_are_skipped_with_count(tmp_path: Path) -> None:
    """Malformed JSONL lines are skipped and counted; good lines are kept."""
    good = [json.dumps({"_id": str(i), "text": f"doc {i}"}) for i in range(7)]
    content = "\n".join(good[:3] + ['{"_id": "x", "text": ', "not json", "[1, 2]"] + good[3:]) + "\n"
    report = ingest_files([write(tmp_path, "data.jsonl", content)])
    assert [d.id for d in report.documents] == [str(i) for i in range(7)]
    assert report.messages == ["data.jsonl: skipped 3 malformed lines of 10"]
    assert report.skipped_records == 3


def test_ndjson_strings(tmp_path: Path) -> None:
    """An .ndjson file of strings gives one document per line."""
    report = ingest_files([write(tmp_path, "s.ndjson", '"one"\n"two"\n')])
    assert [(d.id, d.text) for d in report.documents] == [("s-1", "one"), ("s-2", "two")]


# ------------------------------------------------------------------------ gzip


def test_gzipped_jsonl_is_decompressed(tmp_path: Path) -> None:
    """A .jsonl.gz is decompressed and parsed as JSONL."""
    content = gzip.compress(b'{"_id": "z1", "text": "zipped"}\n')
    report = ingest_files([write(tmp_path, "corpus.jsonl.gz", content)])
    assert [(d.id, d.text, d.source) for d in report.documents] == [("z1", "zipped", "corpus.jsonl.gz")]


def test_gzipped_text_uses_inner_stem(tmp_path: Path) -> None:
    """A .txt.gz becomes one document named after the inner file."""
    report = ingest_files([write(tmp_path, "notes.txt.gz", gzip.compress(b"hello"))])
    assert [(d.id, d.title, d.text) for d in report.documents] == [("notes", "notes", "hello")]


def test_gzip_bomb_is_refused(tmp_path: Path) -> None:
    """A gzip that inflates past the per-file limit is refused without inflating it all."""
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)
    report = ingest_files([write(tmp_path, "bomb.txt.gz", bomb)], Limits(max_file_bytes=1024 * 1024))
    assert report.messages == ["bomb.txt.gz: decompresses to more than the per-file limit of 1 MB"]


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    """A .gz that is not gzip data is reported."""
    report = ingest_files([write(tmp_path, "x.csv.gz", b"plain text")])
    assert report.messages == ["x.csv.gz: not a valid gzip file"]


# ------------------------------------------------------------ mixed / security


def test_bad_file_among_good_files_keeps_the_good_ones(tmp_path: Path) -> None:
    """One broken file costs only itself; the others are kept."""
    paths = [
        write(tmp_path, "a.txt", "first"),
        write(tmp_path, "b.pdf", b"%PDF-1.4 broken"),
        tmp_path / "missing.txt",
        write(tmp_path, "c.jsonl", '{"_id": "c1", "text": "third"}'),
    ]
    report = ingest_files(paths)
    assert [d.id for d in report.documents] == ["a", "c1"]
    assert report.skipped_files == 2
    assert "missing.txt: file not found" in report.messages


def test_duplicate_ids_across_files_get_suffixes(tmp_path: Path) -> None:
    """Repeated ids are renamed -2, -3 instead of dropped."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    paths = [
        write(tmp_path, "notes.txt", "one"),
        write(tmp_path / "x", "notes.md", "two"),
        write(tmp_path / "y", "notes.txt", "three"),
    ]
    report = ingest_files(paths)
    assert [(d.id, d.text) for d in report.documents] == [
        ("notes", "one"),
        ("notes-2", "two"),
        ("notes-3", "three"),
    ]
    assert "notes.md: id 'notes' was already used, renamed to 'notes-2'" in report.messages


def test_path_traversal_names_are_only_labels(tmp_path: Path) -> None:
    """Hostile display names are sanitised to basenames and never opened or written."""
    upload = write(tmp_path, "upload", "safe content")
    decoy = write(tmp_path, "decoy.txt", "must not be read")
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd_before = sorted(os.listdir())
    report = ingest_files([upload, upload, upload], names=["../../etc/passwd", "/abs/x.txt", str(decoy)])
    assert [(d.source, d.text) for d in report.documents] == [
        ("passwd", "safe content"),
        ("x.txt", "safe content"),
        ("decoy.txt", "safe content"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(os.listdir()) == cwd_before


def test_display_names_drop_control_characters_and_are_capped(tmp_path: Path) -> None:
    """Control and bidi characters are removed from names and long names are capped at 120."""
    upload = write(tmp_path, "u.txt", "text")
    long_name = "a" * 300 + ".txt"
    hostile = ["evil\n\x00name\u202egnp.txt", long_name, "..\\..\\win.txt"]
    report = ingest_files([upload, upload, upload], names=hostile)
    sources = [d.source for d in report.documents]
    assert sources[0] == "evilnamegnp.txt"
    assert len(sources[1]) == 120 and sources[1].endswith("….txt")
    assert sources[2] == "win.txt"


# ---------------------------------------------------------------------- limits


def test_per_file_limit_names_the_limit(tmp_path: Path) -> None:
    """A file over the per-file limit is refused before reading, naming the limit."""
    path = write(tmp_path, "big.txt", b"x" * (3 * 1024 * 1024))
    report = ingest_files([path], Limits(max_file_bytes=2 * 1024 * 1024))
    assert report.messages == ["big.txt: 3.0 MB exceeds the per-file limit of 2 MB"]


def test_total_limit_names_the_limit(tmp_path: Path) -> None:
    """Files past the total size limit are skipped, naming the limit."""
    paths = [write(tmp_path, f"{n}.txt", b"y" * 600) for n in "abc"]
    report = ingest_files(paths, Limits(max_total_bytes=1024))
    assert [d.id for d in report.documents] == ["a"]
    assert report.messages == [
        "b.txt: skipped, the files together exceed the total limit of 1 KB",
        "c.txt: skipped, the files together exceed the total limit of 1 KB",
    ]


def test_document_limit_stops_adding(tmp_path: Path) -> None:
    """Documents past the limit are dropped with a message naming the limit."""
    rows = "\n".join(json.dumps({"_id": str(i), "text": "t"}) for i in range(5))
    paths = [write(tmp_path, "d.jsonl", rows), write(tmp_path, "later.txt", "more")]
    report = ingest_files(paths, Limits(max_documents=3))
    assert [d.id for d in report.documents] == ["0", "1", "2"]
    assert report.messages == [
        "d.jsonl: reached the limit of 3 documents; 2 more not added",
        "later.txt: not read, the limit of 3 documents was already reached",
    ]
    assert (report.skipped_records, report.skipped_files) == (2, 1)


def test_document_chars_limit_truncates(tmp_path: Path) -> None:
    """Over-long documents are truncated with a message naming the limit."""
    rows = "\n".join(json.dumps({"text": "z" * n}) for n in (50, 150, 200))
    report = ingest_files([write(tmp_path, "d.jsonl", rows)], Limits(max_doc_chars=100))
    assert [len(d.text) for d in report.documents] == [50, 100, 100]
    assert report.messages == ["d.jsonl: truncated 2 documents to the per-document limit of 100 characters"]


def test_limits_from_env_reads_overrides_and_ignores_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment overrides apply; unparsable or non-positive values are ignored."""
    monkeypatch.setenv("E2RANK_MAX_FILE_MB", "5")
    monkeypatch.setenv("E2RANK_MAX_TOTAL_MB", "lots")
    monkeypatch.setenv("E2RANK_MAX_DOCUMENTS", "-3")
    monkeypatch.setenv("E2RANK_MAX_PASSAGES", "1234")
    limits = Limits.from_env()
    assert limits == Limits(max_file_bytes=5 * 1024 * 1024, max_passages=1234)


def test_paths_that_are_not_files_are_reported(tmp_path: Path) -> None:
    """A folder passed as a path is reported instead of read."""
    (tmp_path / "folder.txt").mkdir()
    report = ingest_files([tmp_path / "folder.txt"])
    assert report.messages == ["folder.txt: not a regular file"] and report.skipped_files == 1


# ------------------------------------------------------------------ pasted text


def test_ingest_text_splits_paragraphs() -> None:
    """Pasted paragraphs separated by blank lines become paste-1..n with short titles."""
    text = "One two three four five six seven eight nine ten.\n\n  \n\nSecond doc\nstill second."
    report = ingest_text(text)
    assert [(d.id, d.title, d.text, d.source) for d in report.documents] == [
        ("paste-1", "One two three four five six seven eight …", text.split("\n")[0], "pasted text"),
        ("paste-2", "Second doc still second.", "Second doc\nstill second.", "pasted text"),
    ]
    assert report.messages == ["pasted text: split into 2 documents at blank lines"]


def test_ingest_text_single_paragraph() -> None:
    """Text without blank lines is one document and no message."""
    report = ingest_text("just one\nparagraph")
    assert [d.id for d in report.documents] == ["paste-1"] and report.messages == []


def test_ingest_text_empty_is_reported() -> None:
    """Empty or whitespace-only pastes give a message, not an error."""
    report = ingest_text(" \n\n\t ")
    assert not report.ok and report.messages == ["pasted text: empty text"]


def test_ingest_text_applies_limits() -> None:
    """Pasted text obeys the document-count and size limits."""
    report = ingest_text("a\n\nb\n\nc", Limits(max_documents=2))
    assert [d.id for d in report.documents] == ["paste-1", "paste-2"]
    assert "pasted text: reached the limit of 2 documents; 1 more not added" in report.messages
    big = ingest_text("x" * 2048, Limits(max_file_bytes=1024))
    assert big.messages == ["pasted text: 2.0 KB exceeds the per-file limit of 1 KB"]


# -------------------------------------------------------------------- passages


def test_short_document_stays_one_passage() -> None:
    """A document within max_words is one passage with the document's id."""
    doc = Document(id="d1", title="T", text="a few words here", source="s")
    (passage,) = split_passages([doc], max_words=10, overlap=2)
    assert (passage.id, passage.doc_id, passage.position, passage.text) == ("d1", "d1", 0, "a few words here")


def test_long_document_becomes_overlapping_windows() -> None:
    """A long document becomes max_words windows sharing overlap words, ids doc#pos."""
    words = [f"w{i}" for i in range(24)]
    doc = Document(id="d", title="T", text=" ".join(words), source="src")
    passages = split_passages([doc], max_words=10, overlap=3)
    assert [p.id for p in passages] == ["d#0", "d#1", "d#2"]
    assert [p.text.split() for p in passages] == [words[0:10], words[7:17], words[14:24]]
    assert {(p.doc_id, p.title, p.source) for p in passages} == {("d", "T", "src")}
    assert [p.position for p in passages] == [0, 1, 2]


def test_windows_cover_the_whole_document() -> None:
    """Every word of a long document appears in some window and none is lost at the end."""
    words = [f"w{i}" for i in range(101)]
    passages = split_passages([Document(id="d", title="", text=" ".join(words))], max_words=20, overlap=5)
    covered = {w for p in passages for w in p.text.split()}
    assert covered == set(words)
    assert passages[-1].text.split()[-1] == "w100"


def test_split_passages_validates_arguments() -> None:
    """Invalid window settings raise ValueError with a plain message."""
    docs = [Document(id="d", title="", text="x")]
    with pytest.raises(ValueError, match="max_words"):
        split_passages(docs, max_words=5, overlap=0)
    with pytest.raises(ValueError, match="overlap"):
        split_passages(docs, max_words=20, overlap=20)
    with pytest.raises(ValueError, match="overlap"):
        split_passages(docs, max_words=20, overlap=-1)


# ------------------------------------------------------------------------ BEIR


def make_beir(folder: Path) -> Path:
    """Writes a tiny BEIR dataset into ``folder``."""
    folder.mkdir(parents=True)
    corpus = [{"_id": "d1", "title": "Aspirin", "text": "reduces fever"}, {"_id": "d2", "text": "eases pain"}]
    write(folder, "corpus.jsonl", "\n".join(json.dumps(r) for r in corpus) + "\n")
    queries = [{"_id": "q1", "text": "fever"}, {"_id": "q2", "text": "pain"}, {"_id": "q3", "text": "none"}]
    write(folder, "queries.jsonl", "\n".join(json.dumps(q) for q in queries) + "\n")
    (folder / "qrels").mkdir()
    write(folder / "qrels", "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")
    write(folder / "qrels", "train.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\n")
    (folder / "runs").mkdir()
    write(folder / "runs", "bm25.trec", "q1 Q0 d2 2 1.5 bm25\nq1 Q0 d1 1 3.0 bm25\n")
    return folder


def check_tiny_beir(dataset: BeirDataset, name: str) -> None:
    """Asserts the contents written by ``make_beir``."""
    assert dataset.name == name
    assert [(d.id, d.title, d.text, d.source) for d in dataset.corpus] == [
        ("d1", "Aspirin", "reduces fever", f"beir:{name}"),
        ("d2", "", "eases pain", f"beir:{name}"),
    ]
    assert dataset.queries == {"q1": "fever", "q2": "pain", "q3": "none"}
    assert dataset.qrels == {"test": {"q1": {"d1": 2, "d2": 0}}, "train": {"q2": {"d2": 1}}}
    assert dataset.runs == {"bm25": {"q1": [("d1", 3.0), ("d2", 1.5)]}}
    assert dataset.split_queries("test") == {"q1": "fever"}


def test_load_beir_folder(tmp_path: Path) -> None:
    """A BEIR folder loads corpus, queries, qrels per split and runs sorted best first."""
    check_tiny_beir(load_beir(make_beir(tmp_path / "tiny")), "tiny")


def test_load_beir_gzipped_corpus(tmp_path: Path) -> None:
    """corpus.jsonl.gz is read like corpus.jsonl."""
    folder = make_beir(tmp_path / "tiny")
    corpus = folder / "corpus.jsonl"
    write(folder, "corpus.jsonl.gz", gzip.compress(corpus.read_bytes()))
    corpus.unlink()
    check_tiny_beir(load_beir(folder), "tiny")


def test_load_beir_zip_with_top_folder(tmp_path: Path) -> None:
    """A zip holding one dataset folder is read in memory without extracting."""
    folder = make_beir(tmp_path / "src" / "tiny")
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"tiny/{path.relative_to(folder).as_posix()}")
        zf.writestr("../evil.txt", "never extracted")
    before = sorted(p.name for p in tmp_path.iterdir())
    check_tiny_beir(load_beir(archive), "tiny")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_load_beir_flat_zip(tmp_path: Path) -> None:
    """A zip with the files at its top level is named after the zip."""
    folder = make_beir(tmp_path / "src")
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    check_tiny_beir(load_beir(archive), "flat")


def test_load_beir_zip_with_two_datasets_raises(tmp_path: Path) -> None:
    """A zip holding two dataset folders is refused rather than guessed."""
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/corpus.jsonl", "")
        zf.writestr("b/corpus.jsonl", "")
    with pytest.raises(ValueError, match="holds several datasets"):
        load_beir(archive)


def test_load_beir_missing_files_raise(tmp_path: Path) -> None:
    """Missing corpus, queries or qrels raise a plain ValueError."""
    folder = make_beir(tmp_path / "tiny")
    (folder / "queries.jsonl").unlink()
    with pytest.raises(ValueError, match="missing queries.jsonl"):
        load_beir(folder)
    with pytest.raises(ValueError, match="not found"):
        load_beir(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="neither a folder nor a .zip"):
        load_beir(write(tmp_path, "x.txt", "hi"))


def test_load_beir_malformed_line_raises(tmp_path: Path) -> None:
    """A malformed corpus line raises ValueError naming the file and line."""
    folder = make_beir(tmp_path / "tiny")
    write(folder, "corpus.jsonl", '{"_id": "d1", "text": "ok"}\n{broken\n')
    with pytest.raises(ValueError, match=r"tiny/corpus.jsonl line 2"):
        load_beir(folder)


def test_split_queries_unknown_split_raises(tmp_path: Path) -> None:
    """Asking for a split without qrels raises ValueError listing the available ones."""
    dataset = load_beir(make_beir(tmp_path / "tiny"))
    with pytest.raises(ValueError, match="available: test, train"):
        dataset.split_queries("dev")


@pytest.mark.data
def test_real_scifact_counts() -> None:
    """The shared SciFact copy has 5,183 docs, 300 test queries (339 qrels) and 809 train queries."""
    if not (SHARED_DATA / "scifact").is_dir():
        pytest.skip("shared/data/scifact not present")
    dataset = load_beir(SHARED_DATA / "scifact")
    assert dataset.name == "scifact" and len(dataset.corpus) == 5183
    assert len(dataset.split_queries("test")) == 300
    assert sum(len(j) for j in dataset.qrels["test"].values()) == 339
    assert len(dataset.split_queries("train")) == 809
    assert dataset.corpus[0].source == "beir:scifact"


@pytest.mark.data
def test_real_trec_dl_2019_counts() -> None:
    """The shared TREC DL 2019 copy has 4,297 passages, 43 queries, 9,260 qrels and a 4,300-line BM25 run."""
    if not (SHARED_DATA / "trec-dl-2019").is_dir():
        pytest.skip("shared/data/trec-dl-2019 not present")
    dataset = load_beir(SHARED_DATA / "trec-dl-2019")
    assert len(dataset.corpus) == 4297 and len(dataset.queries) == 43
    assert sum(len(j) for j in dataset.qrels["test"].values()) == 9260
    (run,) = dataset.runs.values()
    assert sum(len(r) for r in run.values()) == 4300
    assert all([s for _, s in r] == sorted((s for _, s in r), reverse=True) for r in run.values())


@pytest.mark.parametrize("name", ["general", "scifact"])
def test_bundled_samples_load_with_flat_qrels(name: str) -> None:
    """The bundled samples' flat qrels.tsv is read as the test split, and every judged id exists."""
    dataset = load_beir(Path(__file__).resolve().parents[1] / "assets" / "samples" / name)
    ids = {d.id for d in dataset.corpus}
    assert set(dataset.qrels) == {"test"}
    assert all(doc in ids for judged in dataset.qrels["test"].values() for doc in judged)
    assert dataset.split_queries("test")
