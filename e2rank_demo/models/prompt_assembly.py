"""A listwise prompt's token ids assembled from its pieces' ids, for tokenizers where that is exact.

Fitting a prompt used to tokenise the whole prompt text once more, to check that it fits and to
find the query's tokens: about 1 ms for 512 MiniLM tokens, the largest part of a rerank's cost
beside its one forward pass. A BERT WordPiece tokenizer splits text at whitespace before it looks
at words, and every document in a listwise prompt sits between whitespace (``"[3] "`` before it,
a newline after it). So the prompt's ids are the ids of the prompt without documents (its
*skeleton*, tokenised anyway to measure the instruction and query) with each document's ids put
in at its place: the documents' ids come from indexing, cut by slicing.

That holds for a cut document too, because WordPiece picks the longest matching vocabulary entry
from a word's start: the pieces of a word's prefix that ends on a piece boundary are that word's
first pieces, so decoding a slice and tokenising the text again gives the slice back.
``tests/test_prompt_assembly.py`` checks both against tokenising the text, on the bundled samples'
passages and on punctuation, accents, CJK, emoji, control characters and special-token names.
Tokenizers without that guarantee (byte-level BPE, as in Qwen3, attaches a space to the word
after it and merges punctuation with newlines) keep tokenising the whole text.

The cut documents' texts come from a :class:`PieceTexts` table: a WordPiece decoder turns each
token into its text on its own (``"##"`` pieces join the word, others get a space), so a slice's
text is its tokens' texts joined. The table holds each token's text as the tokenizer's own decoder
gives it, first and later in a sequence; joining is about 8 times faster than the decoder's call,
which made strings of every token again.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

Encoding = tuple[list[int], list[tuple[int, int]]]
"""A prompt's model-input token ids and each token's character span in the text ((0, 0): special).

In an assembled prompt a document's tokens carry an empty span at the document's start: their
characters are never looked up (only the query's tokens are, for ``query`` pooling)."""

_MARK = "\x00"  # stands for a document while the places of the documents are found


def splits_at_whitespace(tokenizer: Any) -> bool:
    """Whether a text's ids are its whitespace-separated parts' ids joined, and a slice decodes and tokenises back
    to itself: a fast BERT WordPiece tokenizer whose only added tokens are its special tokens.

    Example:
        >>> class Plain: backend_tokenizer = None
        >>> splits_at_whitespace(Plain())
        False
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    kinds = (
        type(backend.normalizer).__name__,
        type(backend.pre_tokenizer).__name__,
        type(backend.model).__name__,
        type(backend.decoder).__name__,
    )
    added = set(tokenizer.get_added_vocab())
    return kinds == ("BertNormalizer", "BertPreTokenizer", "WordPiece", "WordPiece") and added <= set(
        tokenizer.all_special_tokens
    )


class PieceTexts:
    """Each token's text in a WordPiece tokenizer's decoding, at a sequence's start and after another token.

    Built once per tokenizer from its own decoder (0.2 s for MiniLM's 30,522 tokens). For a
    :func:`splits_at_whitespace` tokenizer whose ``decode`` cleans up nothing, each of ``texts(pieces)``
    equals ``tokenizer.decode`` of its id list.
    """

    def __init__(self, tokenizer: Any) -> None:
        backend = tokenizer.backend_tokenizer
        every = [[i] for i in range(backend.get_vocab_size(with_added_tokens=True))]
        self._first = backend.decode_batch(every, skip_special_tokens=False)
        # After any token, a token's text is what it adds to that token's text: measured after token 0.
        head = len(self._first[0])
        later = backend.decode_batch([[0, i] for i in range(len(every))], skip_special_tokens=False)
        self._later = [text[head:] for text in later]

    def texts(self, pieces: Sequence[list[int]]) -> list[str]:
        """The text of each id list."""
        later = self._later
        return [self._first[ids[0]] + "".join([later[i] for i in ids[1:]]) if ids else "" for ids in pieces]


def document_starts(build: Callable[[Sequence[str]], str], count: int) -> list[int] | None:
    """Where each of ``count`` documents starts in the text ``build(documents)`` makes of empty documents.

    ``None`` when the text already holds the marker character (a query with a NUL in it), as the places
    are then unknown.

    Example:
        >>> document_starts(lambda docs: "Docs:\\n" + "\\n".join(f"[{i}] {d}" for i, d in enumerate(docs)), 2)
        [10, 15]
    """
    if _MARK in build([""] * count):
        return None
    marked = build([_MARK] * count)
    starts, at = [], -1
    for i in range(count):
        at = marked.index(_MARK, at + 1)
        starts.append(at - i * len(_MARK))
    return starts


def assemble(
    skeleton: Encoding, starts: Sequence[int], pieces: Sequence[list[int]], lengths: Sequence[int]
) -> Encoding | None:
    """The encoding of the skeleton's text with piece ``i`` (its ids, ``lengths[i]`` characters) put in at
    character ``starts[i]``, as :func:`splits_at_whitespace` tokenizers give it.

    ``None`` if a skeleton token spans a start (the pieces are then not between whitespace).

    Example:
        >>> skeleton = ([101, 7, 8, 102], [(0, 0), (0, 3), (5, 8), (0, 0)])  # "abc  xyz"; 6 characters go in at 4
        >>> assemble(skeleton, [4], [[40, 41]], [6])
        ([101, 7, 40, 41, 8, 102], [(0, 0), (0, 3), (4, 4), (4, 4), (11, 14), (0, 0)])
    """
    ids, offsets = skeleton
    real = [i for i, (a, b) in enumerate(offsets) if b > a]
    real_starts = [offsets[i][0] for i in real]
    at = []  # the token index each piece goes in before
    for start in starts:
        j = bisect_left(real_starts, start)
        if j and offsets[real[j - 1]][1] > start:
            return None
        at.append(real[j] if j < len(real) else (real[-1] + 1 if real else len(ids)))
    out_ids: list[int] = []
    out_offsets: list[tuple[int, int]] = []
    shift = 0
    done = 0
    for token, piece, start, length in zip(at, pieces, starts, lengths, strict=True):
        _shifted(ids, offsets, done, token, shift, out_ids, out_offsets)
        out_ids.extend(piece)
        out_offsets.extend([(start + shift, start + shift)] * len(piece))
        shift += length
        done = token
    _shifted(ids, offsets, done, len(ids), shift, out_ids, out_offsets)
    return out_ids, out_offsets


def _shifted(
    ids: list[int],
    offsets: list[tuple[int, int]],
    begin: int,
    end: int,
    shift: int,
    out_ids: list[int],
    out_offsets: list[tuple[int, int]],
) -> None:
    """Appends skeleton tokens ``begin:end``, their spans moved ``shift`` characters on (special tokens' stay)."""
    out_ids.extend(ids[begin:end])
    out_offsets.extend((a + shift, b + shift) if b > a else (a, b) for a, b in offsets[begin:end])
