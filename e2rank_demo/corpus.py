"""Corpus ingestion: turn uploaded files, pasted text or a BEIR folder into documents.

Uploads are untrusted. Every reader here works on bytes already in memory, a file name
is only ever a display label (never a path to open or write), and ``ingest_files`` /
``ingest_text`` never raise: a bad file becomes a plain message in the report and the
good files are kept. ``Limits`` bounds what one upload can cost.

Example:
    >>> from e2rank_demo.corpus import ingest_text, split_passages
    >>> report = ingest_text("Aspirin reduces fever.\\n\\nIbuprofen eases pain.")
    >>> [d.id for d in report.documents]
    ['paste-1', 'paste-2']
    >>> split_passages(report.documents)[0].id
    'paste-1'
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from e2rank_demo.records import Document, Passage

__all__ = [
    "BeirDataset",
    "IngestReport",
    "Limits",
    "ingest_files",
    "ingest_text",
    "load_beir",
    "split_passages",
]

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB

TEXT_KEYS = ("text", "body", "content", "passage", "abstract", "document", "doc", "sentence")
ID_KEYS = ("_id", "id", "doc_id", "docid")
TITLE_KEY = "title"

_TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
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
_NAME_MAX_CHARS = 120
_ID_MAX_CHARS = 200
_TITLE_MAX_CHARS = 1000
_PASTE_TITLE_WORDS = 8
# A .docx is a zip; its XML may legitimately unpack to a few times the upload size.
_DOCX_UNPACK_FACTOR = 5
# Zip members declare their sizes and zipfile enforces them, so this bounds memory.
_BEIR_MAX_BYTES = 4 * 1024 * MIB


@dataclass
class Limits:
    """Input limits for one ingestion call.

    Attributes:
        max_file_bytes: Largest single file (after gzip decompression).
        max_total_bytes: Largest sum of file sizes on disk in one call.
        max_documents: Most documents one call returns.
        max_passages: Most passages the indexing step accepts (enforced by its caller
            after ``split_passages``).
        max_doc_chars: Longest document text; longer ones are truncated.
    """

    max_file_bytes: int = 20 * MIB
    max_total_bytes: int = 100 * MIB
    max_documents: int = 20_000
    max_passages: int = 50_000
    max_doc_chars: int = 2_000_000

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, overridden by environment variables where set.

        Reads ``E2RANK_MAX_FILE_MB``, ``E2RANK_MAX_TOTAL_MB``, ``E2RANK_MAX_DOCUMENTS``
        and ``E2RANK_MAX_PASSAGES``; values that are not positive numbers are ignored
        (with a logged warning).

        Returns:
            The limits to use.
        """
        limits = cls()
        for var, attr, scale in (
            ("E2RANK_MAX_FILE_MB", "max_file_bytes", MIB),
            ("E2RANK_MAX_TOTAL_MB", "max_total_bytes", MIB),
            ("E2RANK_MAX_DOCUMENTS", "max_documents", 1),
            ("E2RANK_MAX_PASSAGES", "max_passages", 1),
        ):
            raw = os.environ.get(var)
            if raw is None:
                continue
            try:
                value = float(raw) if scale != 1 else int(raw)
            except ValueError:
                logger.warning("ignoring %s=%r: not a number", var, raw)
                continue
            if not value > 0 or value == float("inf"):
                logger.warning("ignoring %s=%r: must be a positive number", var, raw)
                continue
            setattr(limits, attr, max(1, int(value * scale)))
        return limits


@dataclass
class IngestReport:
    """What an ingestion call produced.

    Attributes:
        documents: The accepted documents, ids unique.
        messages: Plain, user-facing lines, one per problem or notable fact, each
            starting with the display name it concerns.
        skipped_files: Files that contributed no document.
        skipped_records: Rows, lines or records that were dropped.
    """

    documents: list[Document] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    skipped_files: int = 0
    skipped_records: int = 0

    @property
    def ok(self) -> bool:
        """Whether at least one document was accepted."""
        return bool(self.documents)


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


class _IdRegistry:
    """Hands out ids unique within one call, suffixing repeats with -2, -3, ..."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._next: dict[str, int] = {}

    def claim(self, wanted: str) -> str:
        if wanted not in self._seen:
            self._seen.add(wanted)
            return wanted
        n = self._next.get(wanted, 2)
        while f"{wanted}-{n}" in self._seen:
            n += 1
        self._next[wanted] = n + 1
        unique = f"{wanted}-{n}"
        self._seen.add(unique)
        return unique


def _human_size(n: float, *, trim: bool = False) -> str:
    for unit, scale in (("GB", 1024 * MIB), ("MB", MIB), ("KB", KIB)):
        if n >= scale:
            shown = f"{n / scale:.1f}"
            return f"{shown.removesuffix('.0') if trim else shown} {unit}"
    return f"{int(n)} bytes"


def _limit(n: int) -> str:
    return _human_size(n, trim=True)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _quote(value: str) -> str:
    """A file-supplied label (column name, id) on one short line for a message."""
    value = " ".join(value.split())
    return f"'{value[:60]}…'" if len(value) > 60 else f"'{value}'"


def _display_name(raw: object, fallback: str) -> str:
    """A safe label: the last path component, printable, at most 120 characters."""
    text = os.fsdecode(raw) if isinstance(raw, (str, bytes, os.PathLike)) else ""
    base = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    # Cc/Cf/Cs cover control characters, bidi overrides that can spoof an extension,
    # and lone surrogates that would break UTF-8 output.
    base = "".join(ch for ch in base if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    base = " ".join(base.split())
    if base in {"", ".", ".."}:
        base = fallback
    if len(base) > _NAME_MAX_CHARS:
        suffix = PurePath(base).suffix
        if len(suffix) > 16:
            suffix = ""
        base = base[: _NAME_MAX_CHARS - len(suffix) - 1] + "…" + suffix
    return base


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


def _parse_text(data: bytes, f: _File) -> list[_Raw]:
    text = _decode(data, f)
    if text is None:
        return []
    text = f.clean(text)
    if not text.strip():
        f.fail("empty file")
        return []
    return [_Raw(f.stem, f.stem, text)]


# ------------------------------------------------------------------- csv / json


def _pick_column(header: list[str], candidates: Sequence[str], exclude: set[int]) -> int | None:
    lower = [h.strip().lower() for h in header]
    for cand in candidates:
        for i, h in enumerate(lower):
            if h == cand and i not in exclude:
                return i
    return None


def _parse_csv(data: bytes, f: _File, *, sniff: bool) -> list[_Raw]:
    text = _decode(data, f)
    if text is None:
        return []
    text = f.clean(text)
    if not text.strip():
        f.fail("empty file")
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
    try:
        for row in reader:
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
    title_col = _pick_column(header, [TITLE_KEY], {c for c in (text_col, id_col) if c is not None})
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
    except Exception as exc:  # pypdf raises many types on malformed input
        f.fail(f"malformed PDF, cannot read ({type(exc).__name__})")
        return []
    texts: list[str] = []
    chars = 0
    failed = 0
    for page in pages:
        # Pages past the per-document limit would be truncated away anyway.
        if chars > f.limits.max_doc_chars:
            break
        try:
            page_text = page.extract_text() or ""
        except Exception:  # one broken page should not lose the others
            failed += 1
            continue
        texts.append(page_text)
        chars += len(page_text)
    if failed:
        f.note(f"could not extract text from {failed} of {len(pages)} pages")
    text = f.clean("\n\n".join(texts))
    if not text.strip():
        f.fail("no extractable text (image-only or empty PDF)")
        return []
    return [_Raw(f.stem, f.stem, text)]


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
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                blocks.extend("\t".join(cell.text for cell in row.cells) for row in block.rows)
            else:
                blocks.append(block.text)
    except Exception as exc:  # python-docx/lxml raise many types on malformed input
        f.fail(f"malformed .docx, cannot read ({type(exc).__name__})")
        return []
    text = f.clean("\n".join(blocks))
    if not text.strip():
        f.fail("empty document")
        return []
    return [_Raw(f.stem, f.stem, text)]


_Parser = Callable[[bytes, _File], list[_Raw]]

_PARSERS: dict[str, _Parser] = {
    **{s: _parse_text for s in _TEXT_SUFFIXES},
    ".csv": lambda data, f: _parse_csv(data, f, sniff=True),
    ".tsv": lambda data, f: _parse_csv(data, f, sniff=False),
    ".json": _parse_json,
    ".jsonl": _parse_jsonl,
    ".ndjson": _parse_jsonl,
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
}


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


# ----------------------------------------------------------------------- ingest


class _Collector:
    """Adds parsed records to a report, enforcing ids and document limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.report = IngestReport()
        self.ids = _IdRegistry()

    @property
    def full(self) -> bool:
        return len(self.report.documents) >= self.limits.max_documents

    def add(self, f: _File, records: Sequence[_Raw], source: str) -> int:
        room = max(self.limits.max_documents - len(self.report.documents), 0)
        kept = records[:room]
        if len(records) > room:
            dropped = len(records) - room
            f.note(
                f"reached the limit of {self.limits.max_documents:,} documents; "
                f"{dropped:,} more not added"
            )
            f.skipped_records += dropped
        truncated = 0
        renamed: list[tuple[str, str]] = []
        for rec in kept:
            text = rec.text
            if len(text) > self.limits.max_doc_chars:
                text = text[: self.limits.max_doc_chars]
                truncated += 1
            wanted = rec.id or f.stem
            doc_id = self.ids.claim(wanted)
            if doc_id != wanted:
                renamed.append((wanted, doc_id))
            self.report.documents.append(Document(id=doc_id, title=rec.title, text=text, source=source))
        if truncated:
            f.note(
                f"truncated {_count(truncated, 'document')} to the "
                f"per-document limit of {self.limits.max_doc_chars:,} characters"
            )
        if len(renamed) == 1:
            f.note(f"id {_quote(renamed[0][0])} was already used, renamed to {_quote(renamed[0][1])}")
        elif renamed:
            f.note(f"renamed {len(renamed):,} duplicate ids (suffix -2, -3, …)")
        return len(kept)

    def finish_file(self, f: _File, added: int) -> None:
        if f.removed_controls:
            f.note(f"removed {_count(f.removed_controls, 'NUL/control character')}")
        if not added:
            self.report.skipped_files += 1
            if not f.failed:
                f.note("no documents found")
        self.report.messages.extend(f.messages)
        self.report.skipped_records += f.skipped_records


def _read_file(path: str, f: _File, total_so_far: int) -> bytes | None:
    """Reads one upload, checking its size against the limits before reading it."""
    limits = f.limits
    try:
        info = os.stat(path)
    except FileNotFoundError:
        f.fail("file not found")
        return None
    except ValueError:
        f.fail("cannot open (invalid path)")
        return None
    except OSError as exc:
        f.fail(f"cannot open ({exc.strerror or type(exc).__name__})")
        return None
    if not stat.S_ISREG(info.st_mode):
        f.fail("not a regular file")
        return None
    if info.st_size > limits.max_file_bytes:
        f.fail(f"{_human_size(info.st_size)} exceeds the per-file limit of {_limit(limits.max_file_bytes)}")
        return None
    if total_so_far + info.st_size > limits.max_total_bytes:
        f.fail(f"skipped, the files together exceed the total limit of {_limit(limits.max_total_bytes)}")
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except OSError as exc:
        f.fail(f"cannot open ({exc.strerror or type(exc).__name__})")
        return None
    if len(data) > limits.max_file_bytes:
        f.fail(f"exceeds the per-file limit of {_limit(limits.max_file_bytes)}")
        return None
    return data


def ingest_files(
    paths: Sequence[str | os.PathLike[str]],
    limits: Limits | None = None,
    *,
    text_column: str | None = None,
    names: Sequence[str] | None = None,
) -> IngestReport:
    """Reads uploaded files into documents, never raising for any content or name.

    Supported: ``.txt .md .markdown .rst`` (and other text-like files), ``.pdf``,
    ``.docx``, ``.csv``, ``.tsv``, ``.json``, ``.jsonl``/``.ndjson``, and any of these
    gzipped (``.jsonl.gz`` ...). Ids are made unique across files (``-2``, ``-3``).

    Args:
        paths: Files on disk (e.g. Gradio temp upload paths); only these are opened.
        limits: Input limits; ``Limits.from_env()`` when ``None``.
        text_column: Column (CSV/TSV) or key (JSON) holding the text, when the usual
            names (``text``, ``body``, ``content`` ...) do not apply.
        names: Display names aligned with ``paths`` (the user's original file names);
            the basename of each path otherwise. They decide the format and label
            messages, and are never used to build a path.

    Returns:
        The documents plus one message per problem or notable fact.
    """
    limits = limits if limits is not None else Limits.from_env()
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    if isinstance(names, str):
        names = [names]
    collector = _Collector(limits)
    total = 0
    for i, path in enumerate(list(paths)):
        label = names[i] if names is not None and i < len(names) and names[i] else None
        try:
            path_str = os.fsdecode(path)
        except TypeError:
            path_str = ""
        name = _display_name(label if label is not None else path_str, fallback=f"file {i + 1}")
        suffix = PurePath(name).suffix.lower() or PurePath(path_str).suffix.lower()
        f = _File(name=name, stem=PurePath(name).stem or name, limits=limits, text_column=text_column)
        added = 0
        try:
            if collector.full:
                f.fail(f"not read, the limit of {limits.max_documents:,} documents was already reached")
            else:
                records, size = _load(path_str, f, suffix, total)
                total += size
                added = collector.add(f, records, source=name)
        except Exception as exc:  # last-resort guard: one file must never sink the upload
            logger.exception("ingesting %s failed", name)
            f.fail(f"could not be read ({type(exc).__name__})")
        collector.finish_file(f, added)
    return collector.report


def _load(path: str, f: _File, suffix: str, total_so_far: int) -> tuple[list[_Raw], int]:
    """Parses one upload; returns its records and the bytes it counts toward the total."""
    inner = PurePath(f.stem).suffix.lower() if suffix == ".gz" else ""
    if suffix in _BINARY_SUFFIXES or inner in _BINARY_SUFFIXES or inner == ".gz":
        f.fail(f"unsupported file type {inner}{suffix}")
        return [], 0
    if not path:
        f.fail("no file path given")
        return [], 0
    data = _read_file(path, f, total_so_far)
    if data is None:
        return [], 0
    size = len(data)
    if suffix == ".gz":
        f.stem = PurePath(f.stem).stem or f.stem
        suffix = inner
        data = _gunzip(data, f)
        if data is None:
            return [], size
    return _parse_any(data, f, suffix), size


def ingest_text(text: str, limits: Limits | None = None, *, name: str = "pasted text") -> IngestReport:
    """Turns pasted text into documents, one per blank-line-separated paragraph.

    Ids are ``paste-1`` .. ``paste-n`` and titles the first few words. Never raises.

    Args:
        text: The pasted text.
        limits: Input limits; ``Limits.from_env()`` when ``None``.
        name: Display label for messages and the documents' source.

    Returns:
        The documents plus any messages.
    """
    limits = limits if limits is not None else Limits.from_env()
    label = _display_name(name, fallback="pasted text")
    f = _File(name=label, stem="paste", limits=limits, text_column=None)
    collector = _Collector(limits)
    added = 0
    try:
        if not isinstance(text, str):
            text = ""
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > limits.max_file_bytes:
            f.fail(f"{_human_size(size)} exceeds the per-file limit of {_limit(limits.max_file_bytes)}")
        else:
            cleaned = f.clean(text)
            paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", cleaned) if p.strip()]
            if not paragraphs:
                f.fail("empty text")
            else:
                if len(paragraphs) > 1:
                    f.note(f"split into {len(paragraphs):,} documents at blank lines")
                records = [_Raw(f"paste-{n}", _paste_title(p), p) for n, p in enumerate(paragraphs, start=1)]
                added = collector.add(f, records, source=label)
    except Exception as exc:  # last-resort guard: pasting must never crash the UI
        logger.exception("ingesting pasted text failed")
        f.fail(f"could not be read ({type(exc).__name__})")
    collector.finish_file(f, added)
    return collector.report


def _paste_title(paragraph: str) -> str:
    words = paragraph.split()
    title = " ".join(words[:_PASTE_TITLE_WORDS])
    return (title + " …" if len(words) > _PASTE_TITLE_WORDS else title)[:_TITLE_MAX_CHARS]


# ---------------------------------------------------------------------- passages


def split_passages(documents: Sequence[Document], max_words: int = 200, overlap: int = 40) -> list[Passage]:
    """Splits long documents into overlapping word windows.

    A document of at most ``max_words`` whitespace-separated words stays one passage
    with the document's id; a longer one becomes windows of ``max_words`` words, each
    sharing ``overlap`` words with the previous, with ids ``f"{doc_id}#{position}"``.

    Args:
        documents: Documents to split (not modified).
        max_words: Words per passage, at least 10.
        overlap: Words shared by consecutive windows, ``0 <= overlap < max_words``.

    Returns:
        Passages in document order.

    Raises:
        ValueError: If the window arguments are invalid.
    """
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 10:
        raise ValueError(f"max_words must be a whole number of at least 10, got {max_words!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < max_words:
        raise ValueError(
            f"overlap must be a whole number from 0 to max_words - 1 ({max_words - 1}), got {overlap!r}"
        )
    step = max_words - overlap
    passages: list[Passage] = []
    for doc in documents:
        words = doc.text.split()
        if len(words) <= max_words:
            passages.append(Passage.from_document(doc))
            continue
        for position, start in enumerate(range(0, len(words), step)):
            passages.append(
                Passage(
                    id=f"{doc.id}#{position}",
                    doc_id=doc.id,
                    title=doc.title,
                    text=" ".join(words[start : start + max_words]),
                    position=position,
                    source=doc.source,
                )
            )
            if start + max_words >= len(words):
                break
    return passages


# -------------------------------------------------------------------------- BEIR


@dataclass
class BeirDataset:
    """A BEIR-format evaluation set.

    Attributes:
        name: Dataset name (folder name).
        corpus: The documents, in file order.
        queries: Query id -> text.
        qrels: Split -> query id -> doc id -> relevance grade.
        runs: Run name -> query id -> [(doc id, score)], best first.
    """

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]]
    runs: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)

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
    UnicodeDecodeError, OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError, RuntimeError
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
        return sorted(
            r for r in self._files if r.startswith(folder + "/") and r.count("/") == 1 and r.endswith(suffix)
        )

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
        raise ValueError(
            f"{path.name} unpacks to {_human_size(unpacked)}, over the limit of {_limit(_BEIR_MAX_BYTES)}"
        )
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
        rel[len(prefix) :]: (lambda info=info: zf.read(info))
        for rel, info in names.items()
        if rel.startswith(prefix)
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
    (``query-id corpus-id score``; a flat ``qrels.tsv`` is read as the test split) and optionally ``runs/<name>.trec`` (TREC run
    format). A zip is read in memory and may hold the files at its top level or inside
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
        title = obj.get("title") if isinstance(obj.get("title"), str) else ""
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
