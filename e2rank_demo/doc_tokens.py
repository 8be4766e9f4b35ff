"""Documents' prompt token ids, computed once per corpus (through the embedding cache).

The listwise prompt is built from its documents' token ids: a document is cut to its budget
by slicing them, and where the tokenizer allows it (MiniLM's WordPiece) the prompt's own ids
are assembled from the slices (:mod:`e2rank_demo.models.prompt_assembly`). Tokenising the
same documents again for every query cost more than the rest of the prompt's preparation,
so a corpus's ids are computed when it is indexed, kept
with its passages in one compact :class:`TokenTable`, and stored in the embedding cache
beside the vectors (keyed, like them, by the model's identity and the text hash), so a
corpus opened again is not tokenised again.

Example:
    >>> import numpy as np
    >>> table = TokenTable.of([np.array([5, 6, 7]), np.array([8])], np.uint16)
    >>> table[0].tolist(), len(table), table.nbytes
    ([5, 6, 7], 2, 32)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from e2rank_demo.cache import EmbeddingCache, scoped_key, text_hash
from e2rank_demo.models import Embedder

_CHUNK = 2048  # texts tokenised per call: a tokenizer's Python lists cost ~36 bytes a token until packed


class TokenTable:
    """The token ids of many documents in one flat array (2 or 4 bytes a token, 8 a document).

    Args:
        ids: Every document's ids, one after another.
        starts: Where each document starts in ``ids``, then ``len(ids)``.
    """

    def __init__(self, ids: np.ndarray, starts: np.ndarray) -> None:
        self.ids = ids
        self.starts = starts

    @classmethod
    def of(cls, rows: Sequence[np.ndarray], dtype: type[np.integer]) -> TokenTable:
        """Packs per-document id arrays."""
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=starts[1:])
        ids = np.concatenate(rows).astype(dtype, copy=False) if rows else np.zeros(0, dtype=dtype)
        return cls(ids, starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, row: int) -> np.ndarray:
        """One document's ids (a view, not a copy)."""
        return self.ids[self.starts[row] : self.starts[row + 1]]

    def rows(self, rows: Iterable[int]) -> list[np.ndarray]:
        """The ids of several documents, in the given order."""
        return [self[int(r)] for r in rows]

    @property
    def nbytes(self) -> int:
        """Memory held by the ids and their starts."""
        return int(self.ids.nbytes + self.starts.nbytes)


def corpus_tokens(
    embedder: Embedder, texts: Sequence[str], cache: EmbeddingCache | None = None, scope: str = ""
) -> TokenTable | None:
    """The texts' prompt token ids (:meth:`~e2rank_demo.models.Embedder.prompt_document_ids`), cached.

    Args:
        embedder: The model whose tokenizer and prompt-document form the ids follow.
        texts: The corpus texts (title and body joined), as embedded.
        cache: Where ids are read and stored, beside the vectors; ``None``: tokenise everything.
        scope: Cache scope, as for the vectors (:func:`~e2rank_demo.cache.scoped_key`).

    Returns:
        The ids aligned with ``texts``, or ``None`` when the model's prompt documents depend on
        the query (:attr:`~e2rank_demo.models.Embedder.prompt_token_identity`), so the prompt
        tokenises them itself.
    """
    identity = embedder.prompt_token_identity
    if identity is None:
        return None
    key, dtype = scoped_key(identity, scope), embedder.token_dtype
    rows: list[np.ndarray] = []
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        hashes = [text_hash(t) for t in chunk]
        found = cache.get_many(key, hashes, dtype) if cache is not None else {}
        missing = [i for i, h in enumerate(hashes) if h not in found]
        fresh: dict[str, np.ndarray] = {}
        if missing:
            fresh = dict(
                zip(
                    (hashes[i] for i in missing), embedder.prompt_document_ids([chunk[i] for i in missing]), strict=True
                )
            )
            if cache is not None:
                cache.put_many(key, fresh, dtype)
        rows.extend(found[h] if h in found else fresh[h] for h in hashes)
    return TokenTable.of(rows, dtype)
