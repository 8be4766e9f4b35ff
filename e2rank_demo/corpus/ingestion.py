"""Ingestion: uploaded files or pasted text -> documents with unique ids, never raising."""

from __future__ import annotations

import logging
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from e2rank_demo.corpus.formats import (
    _BINARY_SUFFIXES,
    _TITLE_MAX_CHARS,
    _count,
    _File,
    _gunzip,
    _parse_any,
    _quote,
    _Raw,
)
from e2rank_demo.corpus.limits import Limits, _human_size, _limit
from e2rank_demo.records import Document

logger = logging.getLogger(__name__)


_NAME_MAX_CHARS = 120
_PASTE_TITLE_WORDS = 8


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
            f.note(f"reached the limit of {self.limits.max_documents:,} documents; {dropped:,} more not added")
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
