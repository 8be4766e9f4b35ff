"""File formats: one parser per suffix turning bytes into raw records.

Parsers work on bytes already in memory; a file name is only a display label. A parser
records problems on its :class:`_File` context instead of raising.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from e2rank_demo.corpus.limits import KIB, Limits, _human_size, _limit
from e2rank_demo.corpus.markup import markdown_text
from e2rank_demo.corpus.titles import first_line_title, largest_font_heading, metadata_title

TEXT_KEYS = ("text", "body", "content", "passage", "abstract", "document", "doc", "sentence")
ID_KEYS = ("_id", "id", "doc_id", "docid")
TITLE_KEY = "title"
TITLE_KEYS = (TITLE_KEY, "name", "headline", "heading")

_TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
# Refused without reading: sniffing these as text could only produce garbage.
_BINARY_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .bmp .tif .tiff .webp .ico .heic .psd "
    ".zip .tar .tgz .bz2 .xz .7z .rar .zst .lz4 "
    ".exe .dll .so .dylib .bin .o .a .class .jar .pyc .whl .dmg .iso .msi .apk .deb .rpm "
    ".mp3 .mp4 .wav .avi .mov .mkv .flac .ogg .webm .m4a "
    ".doc .xls .xlsx .ppt .pptx .odt .ods .odp .rtf .epub "
    ".sqlite .db .parquet .arrow .feather .npy .npz .pkl .pickle .pt .pth .safetensors .h5 .onnx".split()
)

_SNIFF_BYTES = 8 * KIB
# Share of C0 control bytes above which a file is treated as binary; real text has ~0.
_BINARY_CONTROL_RATIO = 0.05
_CONTROL_BYTES = frozenset(set(range(0x00, 0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B})
# C0/C1 controls are never meaningful in text; lone surrogates would break UTF-8 output.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CP1252_CHAOS_MARGIN = 0.1
_ID_MAX_CHARS = 200
_TITLE_MAX_CHARS = 1000
# A .docx is a zip; its XML may legitimately unpack to a few times the upload size.
_DOCX_UNPACK_FACTOR = 5


class _Raw(NamedTuple):
    """One parsed record before ids are made unique and limits applied."""

    id: str | None
    title: str
    text: str


@dataclass
class _File:
    """Per-file parsing context: the display name and the notes gathered so far."""

    name: str
    stem: str
    limits: Limits
    text_column: str | None
    messages: list[str] = field(default_factory=list)
    skipped_records: int = 0
    removed_controls: int = 0
    failed: bool = False

    def note(self, message: str) -> None:
        """Records a notable fact about this file."""
        self.messages.append(f"{self.name}: {message}")

    def fail(self, message: str) -> None:
        """Records why (part of) this file could not be used."""
        self.failed = True
        self.note(message)

    def clean(self, text: str) -> str:
        """Normalises newlines and strips control characters, counting them."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text, removed = _CONTROL_CHARS.subn("", text)
        self.removed_controls += removed
        return text.lstrip("\ufeff")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _quote(value: str) -> str:
    """A file-supplied label (column name, id) on one short line for a message."""
    value = " ".join(value.split())
    return f"'{value[:60]}…'" if len(value) > 60 else f"'{value}'"


def _clean_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = " ".join(_CONTROL_CHARS.sub("", str(value)).split())[:_ID_MAX_CHARS]
    return text or None


def _clean_title(f: _File, value: object) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(f.clean(value).split())[:_TITLE_MAX_CHARS]


# --------------------------------------------------------------------------- text


def _wide_codec(data: bytes) -> tuple[str, str] | None:
    """The UTF-16/32 codec and label announced by a byte-order mark, if any."""
    # UTF-32 first: its little-endian mark starts with the UTF-16 one.
    for bom, codec, label in (
        (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
    ):
        if data.startswith(bom):
            return codec, label
    return None


def _looks_binary(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if not sample or _wide_codec(sample) is not None:
        return False
    controls = sum(1 for b in sample if b in _CONTROL_BYTES)
    return controls / len(sample) > _BINARY_CONTROL_RATIO


def _guess_legacy(data: bytes) -> tuple[str, str | None]:
    """charset-normalizer's guess for non-UTF-8 bytes, preferring cp1252 on near ties.

    On Western text charset-normalizer often ranks a rarer code page (cp1257, cp1250)
    first by a hair; cp1252 is by far the more likely source (Windows exports, and the
    fallback browsers use), so it wins whenever it is nearly as plausible.
    """
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return "", None
    if any(
        m.chaos <= best.chaos + _CP1252_CHAOS_MARGIN and "cp1252" in (m.could_be_from_charset or [m.encoding])
        for m in matches
    ):
        try:
            return "cp1252", data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    try:
        return best.encoding, str(best)
    except (LookupError, UnicodeDecodeError):
        return "", None


def _decode(data: bytes, f: _File) -> str | None:
    """Decodes text bytes, noting any non-UTF-8 encoding; ``None`` when binary."""
    wide = _wide_codec(data)
    if wide is not None:
        f.note(f"decoded as {wide[1]} (not UTF-8)")
        return data.decode(wide[0], errors="replace")
    if _looks_binary(data):
        f.fail("looks like a binary file")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    encoding, text = _guess_legacy(data)
    if text is not None:
        f.note(f"decoded as {encoding} (not UTF-8)")
        return text
    f.note("not valid UTF-8 and the encoding could not be detected; unreadable bytes were replaced")
    return data.decode("utf-8", errors="replace")


def _readable_text(data: bytes, f: _File) -> str | None:
    """Decoded, cleaned text of a plain-text file; ``None`` (and the reason noted on ``f``) when unusable."""
    text = _decode(data, f)
    if text is None:
        return None
    text = f.clean(text)
    if not text.strip():
        f.fail("empty file")
        return None
    return text


def _parse_text(data: bytes, f: _File) -> list[_Raw]:
    text = _readable_text(data, f)
    if text is None:
        return []
    return [_Raw(f.stem, _clean_title(f, first_line_title(text)) or f.stem, text)]


def _parse_markdown(data: bytes, f: _File) -> list[_Raw]:
    source = _readable_text(data, f)
    if source is None:
        return []
    limit = f.limits.max_doc_chars
    if len(source) > limit:  # the text is cut there anyway; parsing the rest would only cost time
        source = source[:limit]
        f.note(f"truncated to the per-document limit of {limit:,} characters before reading the Markdown")
    heading, text = markdown_text(source)
    if not text.strip():
        f.fail("no text (only Markdown markup)")
        return []
    return [_Raw(f.stem, _clean_title(f, heading) or _clean_title(f, first_line_title(text)) or f.stem, text)]


# ------------------------------------------------------------------- csv / json


def _pick_column(header: list[str], candidates: Sequence[str], exclude: set[int]) -> int | None:
    lower = [h.strip().lower() for h in header]
    for cand in candidates:
        for i, h in enumerate(lower):
            if h == cand and i not in exclude:
                return i
    return None


def _parse_csv(data: bytes, f: _File, *, sniff: bool) -> list[_Raw]:
    text = _readable_text(data, f)
    if text is None:
        return []
    # The limit is process-wide; raising it to the file-size cap only ever allows more.
    csv.field_size_limit(max(csv.field_size_limit(), min(f.limits.max_file_bytes, 2**31 - 1)))
    dialect: type[csv.Dialect] = csv.excel_tab
    if sniff:
        # A small sample keeps the sniffer's regular expressions cheap.
        sample = text[:4096]
        if "\n" in sample:
            sample = sample[: sample.rindex("\n")]
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows: list[list[str]] = []
    spans: list[tuple[int, int]] = []  # first and last line of each row, for messages
    try:
        for row in reader:
            spans.append((spans[-1][1] + 1 if spans else 1, reader.line_num))
            rows.append(row)
    except csv.Error as exc:
        f.note(f"stopped reading at line {reader.line_num} ({exc}); kept the rows before it")
    start = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if start is None:
        f.fail("no header row")
        return []
    header = [h.strip() for h in rows[start]]
    body = rows[start + 1 :]
    width = len(header)
    _warn_merged_rows(f, body, spans[start + 1 :], dialect.delimiter, width)
    good = [r for r in body if len(r) == width]
    blank = sum(1 for r in body if not r)
    wrong_width = len(body) - len(good) - blank

    text_col: int | None = None
    how = ""
    if f.text_column is not None:
        text_col = _pick_column(header, [f.text_column.strip().lower()], set())
        if text_col is None:
            f.note(f"column {_quote(f.text_column)} not found")
    if text_col is None:
        text_col = _pick_column(header, TEXT_KEYS, set())
    id_col = _pick_column(header, ID_KEYS, {text_col} if text_col is not None else set())
    title_col = _pick_column(header, TITLE_KEYS, {c for c in (text_col, id_col) if c is not None})
    if text_col is None:
        others = [i for i in range(width) if i not in {id_col, title_col}] or list(range(width))
        text_col = max(others, key=lambda i: sum(len(r[i]) for r in good))
        id_col = None if id_col == text_col else id_col
        title_col = None if title_col == text_col else title_col
        how = " (the column with the longest values)"
    parts = [f"text from column {_quote(header[text_col])}{how}"]
    if title_col is not None:
        parts.append(f"titles from {_quote(header[title_col])}")
    if id_col is not None:
        parts.append(f"ids from {_quote(header[id_col])}")
    f.note(", ".join(parts))

    records: list[_Raw] = []
    empty = 0
    for n, row in enumerate(good, start=1):
        body_text = row[text_col]
        if not body_text.strip():
            empty += 1
            continue
        doc_id = _clean_id(row[id_col]) if id_col is not None else None
        title = _clean_title(f, row[title_col]) if title_col is not None else ""
        records.append(_Raw(doc_id or f"{f.stem}-{n}", title, body_text))
    data_rows = len(body) - blank
    if wrong_width or empty:
        reasons = []
        if wrong_width:
            reasons.append(f"{wrong_width:,} with the wrong number of fields (expected {width})")
        if empty:
            reasons.append(f"{empty:,} with empty text")
        f.note(f"skipped {_count(wrong_width + empty, 'row')} of {data_rows:,}: " + ", ".join(reasons))
        f.skipped_records += wrong_width + empty
    return records


def _warn_merged_rows(
    f: _File, body: Sequence[list[str]], spans: Sequence[tuple[int, int]], delimiter: str, width: int
) -> None:
    """Notes rows that swallowed the lines after them through a quote left open.

    A quoted field may span lines legitimately; one whose inner lines look like whole rows
    (as many delimiters as a row has) almost always means an unclosed quote merged rows.
    """
    for row, (first, last) in zip(body, spans, strict=True):
        if last == first:
            continue
        swallowed = [line for cell in row for line in cell.split("\n")[1:] if line.count(delimiter) >= width - 1]
        if swallowed:
            f.note(
                f"line {first}: a quote opened there is only closed on line {last}, so "
                f'{_count(last - first, "line")} were read into one row; check the quoting ("" inside a '
                "quoted field)"
            )


def _text_field(f: _File, value: dict[Any, Any]) -> str | None:
    keys = ([f.text_column] if f.text_column else []) + list(TEXT_KEYS)
    return next((value[k] for k in keys if isinstance(value.get(k), str)), None)


def _record(f: _File, key_id: str | None, value: object) -> _Raw | None:
    """One JSON value as a record; ``None`` when it holds no usable text."""
    if isinstance(value, str):
        return _Raw(key_id, "", f.clean(value))
    if not isinstance(value, dict):
        return None
    text = _text_field(f, value)
    if text is None:
        return None
    doc_id = next((c for c in (_clean_id(value.get(k)) for k in ID_KEYS) if c), None)
    return _Raw(doc_id or key_id, _clean_title(f, value.get(TITLE_KEY)), f.clean(text))


def _collect(f: _File, items: Sequence[tuple[str | None, object]], what: str) -> list[_Raw]:
    records: list[_Raw] = []
    unusable = 0
    for n, (key_id, value) in enumerate(items, start=1):
        rec = _record(f, key_id, value)
        if rec is None or not rec.text.strip():
            unusable += 1
            continue
        records.append(rec if rec.id else rec._replace(id=f"{f.stem}-{n}"))
    if unusable:
        f.note(
            f"skipped {_count(unusable, what)} of {len(items):,} without text "
            f"(expected a string or an object with one of: {', '.join(TEXT_KEYS)})"
        )
        f.skipped_records += unusable
    return records


def _parse_json(data: bytes, f: _File) -> list[_Raw]:
    text = _decode(data, f)
    if text is None:
        return []
    if not text.strip():
        f.fail("empty file")
        return []
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        f.fail(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
        return []
    except RecursionError:
        f.fail("not readable JSON (nested too deeply)")
        return []
    if isinstance(obj, dict):
        nested = next((obj[k] for k in ("documents", "corpus") if isinstance(obj.get(k), (list, dict))), None)
        if nested is not None:
            obj = nested
        elif _text_field(f, obj) is not None:
            obj = [obj]
    if isinstance(obj, list):
        items: list[tuple[str | None, object]] = [(None, v) for v in obj]
    elif isinstance(obj, dict):
        items = [(_clean_id(k), v) for k, v in obj.items()]
    else:
        f.fail("unsupported JSON layout (expected a list, an object of id -> text, or 'documents')")
        return []
    return _collect(f, items, "record")


def _parse_jsonl(data: bytes, f: _File) -> list[_Raw]:
    text = _decode(data, f)
    if text is None:
        return []
    # split("\n"), not splitlines(): JSON strings may hold raw U+2028 and friends.
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        f.fail("empty file")
        return []
    items: list[tuple[str | None, object]] = []
    malformed = 0
    for line in lines:
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            malformed += 1
            continue
        if isinstance(value, (str, dict)):
            items.append((None, value))
        else:
            malformed += 1
    if malformed:
        f.note(f"skipped {_count(malformed, 'malformed line')} of {len(lines):,}")
        f.skipped_records += malformed
    return _collect(f, items, "line") if items else []


# -------------------------------------------------------------------- pdf / docx


def _parse_pdf(data: bytes, f: _File) -> list[_Raw]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            f.fail("encrypted PDF, cannot read")
            return []
        pages = list(reader.pages)
    except (FileNotDecryptedError, DependencyError):
        f.fail("encrypted PDF, cannot read")
        return []
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on malformed input
        f.fail(f"malformed PDF, cannot read ({type(exc).__name__})")
        return []
    texts: list[str] = []
    chars = 0
    failed = 0
    runs: list[tuple[float, str]] = []  # (font size, text) of the first page with text: its heading
    for page in pages:
        # Pages past the per-document limit would be truncated away anyway.
        if chars > f.limits.max_doc_chars:
            break
        try:
            page_text = page.extract_text(visitor_text=None if runs else _text_runs(runs)) or ""
        except Exception:  # noqa: BLE001 - one broken page should not lose the others
            failed += 1
            continue
        if not page_text.strip():
            runs.clear()
        texts.append(page_text)
        chars += len(page_text)
    if failed:
        f.note(f"could not extract text from {failed} of {len(pages)} pages")
    text = f.clean("\n\n".join(texts))
    if not text.strip():
        f.fail("no extractable text (image-only or empty PDF)")
        return []
    title = _metadata_title(reader, f.stem) or largest_font_heading(runs) or first_line_title(text)
    return [_Raw(f.stem, _clean_title(f, title) or f.stem, text)]


def _metadata_title(reader: Any, stem: str) -> str:
    """The PDF's ``/Title`` when it names the document (a broken info dictionary counts as none)."""
    try:
        info = reader.metadata
        return metadata_title(info.get("/Title") if info else None, stem=stem)
    except Exception:  # noqa: BLE001 - pypdf raises many types on malformed input; the pages were readable
        return ""


def _text_runs(runs: list[tuple[float, str]]) -> Callable[..., None]:
    """A pypdf text visitor appending ``(font size in points, text)`` to ``runs``."""

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], _font: object, size: float) -> None:
        # The size on the page: the font size scaled by the text and transformation matrices' vertical axis.
        scale = math.hypot(tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
        runs.append((float(size) * scale, text))

    return visit


def _parse_docx(data: bytes, f: _File) -> list[_Raw]:
    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        f.fail("malformed .docx, cannot read")
        return []
    cap = _DOCX_UNPACK_FACTOR * f.limits.max_file_bytes
    if unpacked > cap:
        f.fail(
            f"unpacks to {_human_size(unpacked)}, over the limit of {_limit(cap)} "
            f"({_DOCX_UNPACK_FACTOR} × the per-file limit of {_limit(f.limits.max_file_bytes)})"
        )
        return []
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading = ""
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                blocks.extend("\t".join(cell.text for cell in row.cells) for row in block.rows)
            else:
                blocks.append(block.text)
                style = (block.style.name if block.style is not None else "") or ""
                if not heading and block.text.strip() and style.startswith(("Title", "Heading")):
                    heading = block.text
    except Exception as exc:  # noqa: BLE001 - python-docx/lxml raise many types on malformed input
        f.fail(f"malformed .docx, cannot read ({type(exc).__name__})")
        return []
    text = f.clean("\n".join(blocks))
    if not text.strip():
        f.fail("empty document")
        return []
    return [_Raw(f.stem, _clean_title(f, heading) or _clean_title(f, first_line_title(text)) or f.stem, text)]


_Parser = Callable[[bytes, _File], list[_Raw]]

_PARSERS: dict[str, _Parser] = {
    **dict.fromkeys(_TEXT_SUFFIXES, _parse_text),
    **dict.fromkeys(_MARKDOWN_SUFFIXES, _parse_markdown),
    ".csv": lambda data, f: _parse_csv(data, f, sniff=True),
    ".tsv": lambda data, f: _parse_csv(data, f, sniff=False),
    ".json": _parse_json,
    ".jsonl": _parse_jsonl,
    ".ndjson": _parse_jsonl,
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
}
SUPPORTED_SUFFIXES: tuple[str, ...] = (*sorted(_PARSERS), ".gz")
"""Every suffix a parser reads (``.gz`` wraps any of them); the upload widget accepts exactly these."""


def _gunzip(data: bytes, f: _File) -> bytes | None:
    limit = f.limits.max_file_bytes
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            # Reading one byte past the limit is enough to refuse a gzip bomb.
            out = gz.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        f.fail("not a valid gzip file")
        return None
    if len(out) > limit:
        f.fail(f"decompresses to more than the per-file limit of {_limit(limit)}")
        return None
    return out


def _parse_any(data: bytes, f: _File, suffix: str) -> list[_Raw]:
    parser = _PARSERS.get(suffix)
    if parser is not None:
        return parser(data, f)
    if _looks_binary(data):
        f.fail(f"unsupported file type {suffix or '(no extension)'}")
        return []
    if suffix:
        f.note(f"unknown file type {suffix}, read as plain text")
    else:
        f.note("no file extension, read as plain text")
    return _parse_text(data, f)
