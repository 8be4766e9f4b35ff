"""Corpus ingestion: turn uploaded files, pasted text or a BEIR folder into documents.

Uploads are untrusted. Every reader here works on bytes already in memory, a file name
is only ever a display label (never a path to open or write), and ``ingest_files`` /
``ingest_text`` never raise: a bad file becomes a plain message in the report and the
good files are kept. ``Limits`` bounds what one upload can cost.

The package's parts: :mod:`~e2rank_demo.corpus.formats` (one parser per file suffix),
:mod:`~e2rank_demo.corpus.markup` (Markdown as plain text), :mod:`~e2rank_demo.corpus.titles`
(the title a document gives itself), :mod:`~e2rank_demo.corpus.ingestion` (files or pasted text -> documents),
:mod:`~e2rank_demo.corpus.passages` (documents -> passages), :mod:`~e2rank_demo.corpus.beir`
(BEIR evaluation sets) and :mod:`~e2rank_demo.corpus.limits`. Everything public is
re-exported here.

Example:
    >>> from e2rank_demo.corpus import ingest_text, split_passages
    >>> report = ingest_text("Aspirin reduces fever.\\n\\nIbuprofen eases pain.")
    >>> [d.id for d in report.documents]
    ['paste-1', 'paste-2']
    >>> split_passages(report.documents)[0].id
    'paste-1'
"""

from __future__ import annotations

from e2rank_demo.corpus.beir import BeirDataset, load_beir
from e2rank_demo.corpus.formats import ID_KEYS, SUPPORTED_SUFFIXES, TEXT_KEYS, TITLE_KEY
from e2rank_demo.corpus.ingestion import IngestReport, ingest_files, ingest_text
from e2rank_demo.corpus.limits import KIB, MIB, Limits
from e2rank_demo.corpus.passages import split_passages

__all__ = [
    "ID_KEYS",
    "KIB",
    "MIB",
    "SUPPORTED_SUFFIXES",
    "TEXT_KEYS",
    "TITLE_KEY",
    "BeirDataset",
    "IngestReport",
    "Limits",
    "ingest_files",
    "ingest_text",
    "load_beir",
    "split_passages",
]
