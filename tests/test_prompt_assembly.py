"""A prompt's ids assembled from its documents' ids equal tokenising the prompt text, where assembly is used."""

from __future__ import annotations

import random

import pytest

from e2rank_demo.models.embedder import query_mask
from e2rank_demo.models.prompt_assembly import PieceTexts, assemble, document_starts, splits_at_whitespace
from e2rank_demo.prompts import TASKS
from e2rank_demo.samples import available_samples, load_sample

_AWKWARD = [
    "Yeast ferments sugar; the dough rises.", "can n't do it , I 'm sure ' s", "a . b ? c ! d -- e --- f",
    "Café naïve résumé crème brûlée", "中文字符 mixed with 日本語 text", "emoji 😀🍞 inside",
    "[MASK] and [UNK] and [SEP]", "ctrl\x07char\ttab\r\nnew line", "##foo ##bar ##",
    "x" * 150 + " beyond a hundred characters", "don't won't it's we've", "e\u0301 combining accent",
    "ﬁ ligature ½ ² ™ ©", "", "   ", " leading and trailing spaces ", "[2] a fake label\n[3]",
    "Query: a fake query label", "250°C — 3x faster with 2.5% salt?", "\u200bzero\u200dwidth\ufeff marks",
]


def _assert_assembled_like_tokenised(embedder, query: str, docs: list[str], order: str = "official") -> bool:  # noqa: ANN001
    """Builds the prompt from indexed ids; its remembered ids and query mask equal a fresh tokenisation of its
    text. Returns whether a document was cut."""
    built = embedder.build_listwise(query, docs, TASKS["web"].rerank, order, embedder.prompt_document_ids(docs))
    ids, offsets = embedder._fitted_prompts[built.text]
    fresh_ids, fresh_offsets = embedder._prompt_encoding(built.text)
    assert ids == fresh_ids, f"assembled ids differ from the text's for {docs!r}"
    assert query_mask(offsets, built.query_span) == query_mask(fresh_offsets, built.query_span)
    return built.doc_tokens_kept != built.doc_tokens_full


def test_only_bert_wordpiece_tokenizers_assemble(minilm, tiny_decoder) -> None:  # noqa: ANN001
    """MiniLM's tokenizer splits at whitespace first; Qwen3's byte-level BPE attaches spaces to words."""
    assert splits_at_whitespace(minilm.tokenizer) and minilm._assembles_prompts
    assert not splits_at_whitespace(tiny_decoder.tokenizer) and not tiny_decoder._assembles_prompts


def test_a_prompt_is_assembled_without_tokenising_it(minilm) -> None:  # noqa: ANN001
    """With indexed ids, the whole prompt text is never tokenised: only its skeleton (the prompt without documents)."""
    docs = [" ".join(_AWKWARD[i % 5 :]) * 3 for i in range(20)]
    ids = minilm.prompt_document_ids(docs)
    seen: list[str] = []
    real = minilm._prompt_encoding
    minilm._prompt_encoding = lambda text: seen.append(text) or real(text)
    try:
        built = minilm.build_listwise("why does bread rise", docs, token_ids=ids)
    finally:
        del minilm._prompt_encoding
    assert built.doc_tokens_kept != built.doc_tokens_full
    assert len(seen) == 1 and len(seen[0]) < len(built.text) / 4, "the prompt text was tokenised"


@pytest.mark.parametrize("order", ["official", "query_first"])
def test_awkward_documents_assemble_like_their_text(minilm, order: str) -> None:  # noqa: ANN001
    """Punctuation, accents, CJK, emoji, control characters, special-token names, fake labels, long words and
    empty documents, uncut and cut at every budget from 1 token per document up."""
    query = "why does the dough rise?"
    cut = 0
    window = minilm.max_tokens
    try:
        for window_size in (512, 300, 200, 150, 120, 90):
            minilm.max_tokens = window_size
            for start in range(0, len(_AWKWARD), 3):
                docs = [_AWKWARD[(start + i) % len(_AWKWARD)] * (1 + i % 4) for i in range(12)]
                cut += _assert_assembled_like_tokenised(minilm, query, docs, order)
    finally:
        minilm.max_tokens = window
    assert cut >= 10, "the cases must cut documents"


@pytest.mark.parametrize("sample", [s.name for s in available_samples()])
def test_sample_passages_assemble_like_their_text(minilm, sample: str) -> None:  # noqa: ANN001
    """The bundled samples' passages, 20 to a prompt in a random order, under the model's window and tighter ones,
    with the samples' own queries."""
    loaded = load_sample(sample)
    texts = [p.text for p in loaded.passages]
    queries = list(loaded.queries.values())
    rng = random.Random(0)
    window = minilm.max_tokens
    try:
        for i in range(40):
            minilm.max_tokens = (512, 256, 160)[i % 3]
            assert _assert_assembled_like_tokenised(minilm, queries[i % len(queries)], rng.sample(texts, 20))
    finally:
        minilm.max_tokens = window


def test_a_query_with_the_marker_character_tokenises_the_prompt(minilm) -> None:  # noqa: ANN001
    """A NUL in the query hides where the documents go: the prompt is tokenised, as before assembly."""
    docs = ["yeast ferments sugar " * 40] * 3
    assert document_starts(lambda texts: "\x00 " + " ".join(texts), 3) is None
    _assert_assembled_like_tokenised(minilm, "bread \x00 rise", docs)


def test_assembly_refuses_a_start_inside_a_token() -> None:
    """A document that would start inside a skeleton token is not between whitespace: no assembly."""
    skeleton = ([101, 7, 102], [(0, 0), (0, 6), (0, 0)])
    assert assemble(skeleton, [3], [[9]], [2]) is None
    assert assemble(skeleton, [6], [[9]], [2]) == ([101, 7, 9, 102], [(0, 0), (0, 6), (6, 6), (0, 0)])


def test_piece_texts_join_like_the_decoder(minilm) -> None:  # noqa: ANN001
    """Joined token texts equal ``tokenizer.decode`` on random id sequences over the whole vocabulary (special
    tokens included) and on the samples' passages cut at random."""
    table = PieceTexts(minilm.tokenizer)
    rng = random.Random(1)
    size = len(minilm.tokenizer)
    pieces = [[rng.randrange(size) for _ in range(rng.randint(0, 40))] for _ in range(5000)]
    for sample in available_samples():
        for ids in minilm.prompt_document_ids([p.text for p in load_sample(sample.name).passages]):
            pieces.append(ids[: rng.randint(1, max(1, len(ids)))].tolist())
    assert table.texts(pieces) == [minilm.tokenizer.decode(ids) for ids in pieces]
