"""Query-term highlighting and snippets, escaped first (shared by the app and the HTML report).

Example:
    >>> highlight("Bread <b>rises</b>", ["bread"])
    '<mark>Bread</mark> &lt;b&gt;rises&lt;/b&gt;'
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does did for from has have how i in is it its of on or so that the "
    "their there these this those to was we were what when where which who why will with you your".split()
)


def query_terms(query: str) -> list[str]:
    """Lower-cased content words of a query, longest first.

    Example:
        >>> query_terms("Why does bread rise?")
        ['bread', 'rise']
    """
    terms = {w.lower() for w in _WORD.findall(query) if len(w) > 1 and w.lower() not in _STOPWORDS}
    return sorted(terms, key=lambda t: (-len(t), t))


def highlight(text: str, terms: Sequence[str]) -> str:
    """Escapes ``text``, then wraps words starting with a query term in ``<mark>``.

    The look-behind keeps matches out of entities such as ``&amp;`` and ``&#x27;``.
    """
    escaped = html.escape(text, quote=True)
    if not terms:
        return escaped
    pattern = re.compile(r"(?<![\w&#])(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)


def snippet(text: str, terms: Sequence[str], words: int = 40) -> str:
    """About ``words`` words around the first query term, escaped and highlighted."""
    tokens = text.split()
    if len(tokens) <= words:
        return highlight(" ".join(tokens), terms)
    bare = [re.sub(r"^\W+", "", t).lower() for t in tokens]
    first = next((i for i, t in enumerate(bare) if any(t.startswith(term) for term in terms)), 0)
    start = max(0, min(first - words // 4, len(tokens) - words))
    body = highlight(" ".join(tokens[start : start + words]), terms)
    return ("… " if start else "") + body + (" …" if start + words < len(tokens) else "")


def rank_change(rank: int, before: int, top: int) -> tuple[str, str]:
    """The kind (``new``, ``up``, ``down`` or ``same``) and text of a rank-change badge.

    One rule for the app's columns and the HTML report: a document entering the top
    ``top`` from below it is "new", else the badge shows how many places it moved.

    Example:
        >>> rank_change(2, 5, 10), rank_change(4, 23, 10), rank_change(3, 3, 10)
        (('up', '▲3'), ('new', 'new in top-10'), ('same', '='))
    """
    if rank <= top < before:
        return "new", f"new in top-{top}"
    if before > rank:
        return "up", f"▲{before - rank}"
    if before < rank:
        return "down", f"▼{rank - before}"
    return "same", "="
