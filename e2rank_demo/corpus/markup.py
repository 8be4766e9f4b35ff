"""Markdown as plain text: what a reader of the rendered page sees, without the markup.

Uploaded ``.md`` files used to keep ``**``, ``- `` and link syntax in the text shown in
results (and embedded). The text is parsed with markdown-it-py (CommonMark, plus GFM
tables and strikethrough) and rendered back as text: headings, paragraphs and code as
they read, list items on their own lines after a bullet or their number, table rows as
tab-separated cells, links and images as their words, inline HTML tags dropped and HTML
blocks reduced to their text. The result is plain text: it is HTML-escaped where shown,
like any other document.

Example:
    >>> markdown_text("# Why **Bread** Rises\\n\\n- Yeast makes *gas*.\\n- Gluten [traps](http://x) it.")
    ('Why Bread Rises', 'Why Bread Rises\\n\\n• Yeast makes gas.\\n• Gluten traps it.')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_NESTING = 50
"""Deepest nesting (quotes in lists in quotes ...) read as Markdown; deeper text is kept as written."""
BULLET = "• "
# YAML front matter (Jekyll, Hugo, Hugging Face cards): settings, not text. Only its title is read, one line
# ``title: ...``; a YAML parser would expand aliases an upload could abuse.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable(["table", "strikethrough"])


class _HtmlText(HTMLParser):
    """The text of an HTML fragment (tags dropped, entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(fragment: str) -> str:
    parser = _HtmlText()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _inline_text(token: Token) -> str:
    """An inline token's words: emphasis, link and code markers gone, hard breaks kept as newlines."""
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "image":
            out.append(child.content)  # the alt text
        elif child.type == "softbreak":
            out.append(" ")  # a wrapped source line: one paragraph when rendered
        elif child.type == "hardbreak":
            out.append("\n")
    return "".join(out).strip()


class _Blocks:
    """Collects a token stream's blocks as ``(separator before, text)`` and its first heading."""

    def __init__(self) -> None:
        self.heading = ""
        self.blocks: list[tuple[str, str]] = []
        self.lists: list[str] = []  # one entry per open list: "" for bullets, "." or ")" after numbers
        self.marker = ""  # the bullet or number waiting for a list item's first line
        self.list_start = False  # a top-level list just opened: set apart from what came before
        self.row: list[str] | None = None
        self.rows = 0  # rows of the current table so far

    def add(self, text: str, *, tight: bool = False) -> None:
        """One block; inside a list it is indented under its item, the item's first block gets the marker."""
        if self.lists:
            indent = "  " * (len(self.lists) - 1)
            lead, self.marker = (self.marker or "  "), ""
            text = "\n".join(indent + (lead if n == 0 else "  ") + line for n, line in enumerate(text.split("\n")))
        self.blocks.append(("\n" if tight and not self.list_start else "\n\n", text))
        self.list_start = False

    def feed(self, tokens: Sequence[Token]) -> None:
        for i, token in enumerate(tokens):
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.append(token.markup if kind == "ordered_list_open" else "")
                self.list_start = len(self.lists) == 1
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            elif kind == "list_item_open":
                self.marker = f"{token.info}{self.lists[-1]} " if self.lists[-1] else BULLET
            elif kind == "table_open":
                self.rows = 0
            elif kind == "tr_open":
                self.row = []
            elif kind == "tr_close" and self.row is not None:
                self.add("\t".join(self.row), tight=self.rows > 0)
                self.row, self.rows = None, self.rows + 1
            elif kind == "inline":
                text = _inline_text(token)
                if self.row is not None:
                    self.row.append(text)
                    continue
                opener = tokens[i - 1]
                if opener.type == "heading_open" and not self.heading:
                    self.heading = " ".join(text.split())
                self.add(text, tight=opener.hidden)  # hidden: a tight list's paragraph, one line per item
            elif kind in ("fence", "code_block"):
                self.add(token.content.rstrip("\n"))
            elif kind == "html_block":
                text = _html_text(token.content)
                if text:
                    self.add(text)

    def text(self) -> str:
        return "".join((sep if n else "") + block for n, (sep, block) in enumerate(self.blocks))


def markdown_text(text: str) -> tuple[str, str]:
    r"""The title of a Markdown text (``""`` if none) and the text as a reader sees it.

    The title is the front matter's ``title:``, else the first heading (``#`` or underlined).

    Text nested deeper than :data:`MAX_NESTING` levels cannot be parsed without losing
    it; such a text is returned unchanged (its markup shows, its words stay).

    Example:
        >>> markdown_text("Tides\n=====\n\nThe Moon *pulls*.\n\n| a | b |\n|---|---|\n| 1 | 2 |")
        ('Tides', 'Tides\n\nThe Moon pulls.\n\na\tb\n1\t2')
        >>> markdown_text("1. Knead\n2. Wait, then `bake`")
        ('', '1. Knead\n2. Wait, then bake')
        >>> markdown_text('---\ntitle: "Bread notes"\ntags: [food]\n---\n# Rising\nGas.')
        ('Bread notes', 'Rising\n\nGas.')
    """
    title = ""
    front = _FRONT_MATTER.match(text)
    if front is not None:
        named = _FRONT_TITLE.search(front.group(1) or "")
        title = named.group(1).strip("\"'").strip() if named else ""
        text = text[front.end() :]
    tokens = _parser().parse(text)
    if any(token.level >= MAX_NESTING - 1 for token in tokens):
        return title, text  # the parser stopped reading at its nesting limit: keep every word instead
    blocks = _Blocks()
    blocks.feed(tokens)
    return title or blocks.heading, blocks.text()
