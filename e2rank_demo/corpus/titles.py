"""The title a document gives itself: a title line, a PDF's metadata or its largest heading.

An upload used to be titled by its file name even when its first line said what it is
(``notes-v3.txt`` instead of "Why bread rises"). These rules read what the document
says and return ``""`` when it says nothing usable, so that the caller falls back to
the file name. They never invent text: a title is always a line or string the file holds.

Example:
    >>> first_line_title("Why Bread Rises\\n\\nYeast ferments sugar into gas.")
    'Why Bread Rises'
    >>> first_line_title("Yeast ferments sugar.\\nThe gas is trapped.")  # a sentence, not a title
    ''
    >>> metadata_title("Microsoft Word - draft2.docx", stem="draft2")
    ''
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TITLE_LINE_MAX_CHARS = 120
"""Longest first line that can be a title (longer ones are the start of a paragraph)."""
TITLE_LINE_MAX_WORDS = 16
HEADING_MAX_CHARS = 250
"""Longest text in a PDF's largest font accepted as its heading (a long run is body text set large)."""
HEADING_SIZE_RATIO = 1.15
"""How much larger than the body text a PDF's heading font must be."""

# A line made only of one repeated adornment character ("=====", "-----"): an underline, not words.
_ADORNMENT = re.compile(r"^\s*([=\-~*#^_+])\1{2,}\s*$")
# Sentence-ending or joining punctuation: a first line ending so is the start of the body, not a title.
_RUN_ON_END = (".", ",", ";", ":", "…")
_FILE_NAME = re.compile(r"\.(pdf|docx?|odt|rtf|txt|tex|dvi|ps|indd|pages|pptx?|key|xlsx?|md|html?)$", re.IGNORECASE)
_PLACEHOLDERS = frozenset(
    {
        "untitled",
        "untitled document",
        "no title",
        "title",
        "document",
        "presentation",
        "powerpoint presentation",
        "slide 1",
        "none",
        "null",
        "unknown",
        "default",
        "new document",
        "blank",
        "microsoft word",
        "word document",
    }
)
_TOOL_PREFIX = re.compile(r"^(microsoft (word|powerpoint|excel)|untitled)\s*[-–:]", re.IGNORECASE)


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def _short_line(line: str) -> bool:
    """A line short enough to be a title, with words in it, not ending mid-sentence."""
    return (
        0 < len(line) <= TITLE_LINE_MAX_CHARS
        and len(line.split()) <= TITLE_LINE_MAX_WORDS
        and _letters(line) >= 2
        and not line.endswith(_RUN_ON_END)
    )


def first_line_title(text: str) -> str:
    r"""The first line of a plain text when it is set apart as a title, else ``""``.

    A title is the first non-empty line when it is short (at most
    :data:`TITLE_LINE_MAX_CHARS` characters and :data:`TITLE_LINE_MAX_WORDS` words),
    does not end like a sentence or a clause (``. , ; : …``) and a body follows it,
    either after a blank line or an underline (``=====``), or on the next line when
    that line starts a new sentence (a capital letter or a digit; a lower-case start
    means the first line was cut from a wrapped paragraph).

    Example:
        >>> first_line_title("Tides\n=====\nThe Moon pulls the oceans.")
        'Tides'
        >>> first_line_title("Tides and the Moon\nThe Moon pulls the oceans.")
        'Tides and the Moon'
        >>> first_line_title("The gravity of the Moon pulls on the\noceans twice a day")
        ''
        >>> first_line_title("Only a title, no body")
        ''
    """
    lines = text.lstrip().split("\n")
    first = " ".join(lines[0].split())
    rest = lines[1:]
    if not _short_line(first) or not any(line.strip() for line in rest):
        return ""
    following = rest[0]
    if not following.strip() or _ADORNMENT.match(following):
        return first
    start = following.lstrip()[:1]
    return first if start.isupper() or start.isdigit() else ""


def metadata_title(value: object, *, stem: str = "") -> str:
    """A PDF's ``/Title`` when it names the document, else ``""``.

    Authoring tools fill the field with placeholders ("Untitled", "PowerPoint
    Presentation") or the source file's name ("Microsoft Word - draft2.docx"); those
    say nothing a reader can use, nor does a title equal to the file's own stem.

    Example:
        >>> metadata_title("  E2Rank: Your Text Embedding can Also be a Reranker ")
        'E2Rank: Your Text Embedding can Also be a Reranker'
        >>> [metadata_title(v) for v in ("Untitled", "report_final.pdf", "1234", None)]
        ['', '', '', '']
    """
    if not isinstance(value, str):
        return ""
    title = " ".join(value.split())
    plain = title.lower().strip(" .")
    if (
        len(title) > HEADING_MAX_CHARS
        or _letters(title) < 2
        or plain in _PLACEHOLDERS
        or _FILE_NAME.search(title)
        or _TOOL_PREFIX.match(title)
        or plain == stem.lower()
    ):
        return ""
    return title


def largest_font_heading(runs: Sequence[tuple[float, str]]) -> str:
    """The first block of text set in a page's largest font, when that font is a heading's.

    Args:
        runs: ``(font size in points, text)`` in drawing order, as a PDF page draws them.

    Returns:
        The joined text of the first consecutive runs in the largest size, when that size
        is at least :data:`HEADING_SIZE_RATIO` times the body's (the size most characters
        use) and the text is a plausible heading (words, at most :data:`HEADING_MAX_CHARS`
        characters); else ``""``.

    Example:
        >>> largest_font_heading([(24.8, "Shared MIME-info"), (24.8, "\\n"), (24.8, "Database\\n"),
        ...                       (10, "This is version 0.21 of the specification.")])
        'Shared MIME-info Database'
        >>> largest_font_heading([(12, "All text"), (12, "in one size.")])
        ''
    """
    # Chunks carry the spaces and line breaks the extractor put between them: joined with "" they read as
    # the page does. A chunk of only whitespace belongs to no size and never ends a block.
    runs = [(round(size, 1), text) for size, text in runs if text and size > 0]
    chars: dict[float, int] = {}
    for size, text in runs:
        if text.strip():
            chars[size] = chars.get(size, 0) + len(text.strip())
    if not chars:
        return ""
    body = max(chars, key=lambda size: chars[size])
    top = max(chars)
    if top < body * HEADING_SIZE_RATIO:
        return ""
    start = next(i for i, (size, text) in enumerate(runs) if size == top and text.strip())
    block = []
    for size, text in runs[start:]:
        if size != top and text.strip():
            break
        block.append(text)
    heading = " ".join("".join(block).split())
    return heading if _letters(heading) >= 2 and len(heading) <= HEADING_MAX_CHARS else ""
