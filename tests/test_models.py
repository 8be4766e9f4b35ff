"""Backends: exact prompt formats, pooling, truncation budget, presets and safe loading."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from e2rank_demo import models
from e2rank_demo.models import DecoderEmbedder, equal_budget, load_embedder
from e2rank_demo.prompts import TASKS

REPO = Path(__file__).resolve().parents[1]

REFERENCE_PROMPT = (
    "<|im_start|>user\n"
    "Given a web search query and some relevant documents, rerank the documents that answer the query:\n"
    "Documents:\n"
    "[1] The Moon raises tides.\n"
    "[2] Bread rises because yeast ferments sugar.\n"
    "Search Query: how do tides work<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n\n</think>\n\n"
)


def test_decoder_listwise_prompt_matches_reference(tiny_decoder: DecoderEmbedder) -> None:
    """The decoder prompt through the real Qwen3 chat template equals the reference character for character."""
    docs = ["The Moon raises tides.", "Bread rises because yeast ferments sugar."]
    built = tiny_decoder.build_listwise("how do tides work", docs, TASKS["web"].rerank)
    assert built.text == REFERENCE_PROMPT
    assert built.doc_tokens_kept == built.doc_tokens_full


def test_scifact_header_and_instruction_are_the_official_strings() -> None:
    """The SciFact texts, written out from the official evaluation code (note "best" in the header)."""
    assert TASKS["scifact"].rerank == (
        "Given a scientific claim and some relevant documents, rerank the documents that best support or refute "
        "the claim:"
    )
    assert TASKS["scifact"].query == "Given a scientific claim, retrieve documents that support or refute the claim"


def test_decoder_cuts_documents_to_1024_whitespace_words(tiny_decoder: DecoderEmbedder) -> None:
    """Documents: str.split(), the first 1024 words, joined by single spaces (tabs and newlines too)."""
    words = [f"w{i}" for i in range(1100)]
    messy = "  " + "\t".join(words[:600]) + "\n\n " + "   ".join(words[600:]) + " "
    expected = " ".join(words[:1024])
    assert tiny_decoder.format_document(messy) == expected
    assert tiny_decoder.format_document("a\tb\n\nc  d") == "a b c d"
    assert tiny_decoder.format_prompt_document(messy) == expected


def test_decoder_prompt_documents_are_cut_like_documents(tiny_decoder: DecoderEmbedder) -> None:
    """A document inside the listwise prompt gets the same 1024-word cut, before any token budget."""
    tiny_decoder.max_tokens = 10**6  # no token budget: only the word cut applies
    try:
        long_doc = "\n".join(f"w{i}" for i in range(1030))
        text = tiny_decoder.build_listwise("q", ["short\tdoc", long_doc], TASKS["web"].rerank).text
    finally:
        tiny_decoder.set_prompt_cap(models.MAX_PROMPT_TOKENS)
    assert "[1] short doc\n[2] " + " ".join(f"w{i}" for i in range(1024)) + "\nSearch Query: q" in text
    assert "w1024" not in text


def test_decoder_prompt_cap_defaults_to_8192_and_can_be_raised(tiny_decoder: DecoderEmbedder) -> None:
    """8,192 tokens is the default cap (a labelled departure from 32K); set_prompt_cap raises it to the model's limit."""
    if "E2RANK_MAX_PROMPT_TOKENS" not in os.environ:
        assert models.MAX_PROMPT_TOKENS == 8192
    positions = tiny_decoder.model.config.max_position_embeddings
    tiny_decoder.set_prompt_cap(positions + 1000)
    assert tiny_decoder.max_tokens == positions
    tiny_decoder.set_prompt_cap(100)
    assert tiny_decoder.max_tokens == 100
    tiny_decoder.set_prompt_cap(models.MAX_PROMPT_TOKENS)
    with pytest.raises(ValueError, match="at least 1"):
        tiny_decoder.set_prompt_cap(0)


def test_decoder_query_and_document_end_with_eos(tiny_decoder: DecoderEmbedder) -> None:
    """Queries use 'Instruct: ...\\nQuery:...' and both queries and documents end in <|endoftext|>."""
    query = tiny_decoder.format_query("how do tides work", TASKS["web"].query)
    assert query == ("Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
                     "Query:how do tides work")
    batch = tiny_decoder.tokenize([query, "short doc"], tiny_decoder.doc_max_tokens)
    assert (batch["input_ids"][:, -1] == tiny_decoder.eos_id).all()
    long_doc = "word " * 5000
    ids = tiny_decoder.tokenize([long_doc], 64)["input_ids"][0]
    assert len(ids) == 64 and int(ids[-1]) == tiny_decoder.eos_id


def test_decoder_prompt_has_no_eos_after_template(tiny_decoder: DecoderEmbedder) -> None:
    """The prompt input ends with the template's own last token, no <|endoftext|> appended."""
    batch = tiny_decoder.prompt_batch(tiny_decoder.build_listwise(
        "how do tides work", ["The Moon raises tides.", "Bread rises because yeast ferments sugar."], TASKS["web"].rerank))
    assert int(batch["input_ids"][0, -1]) != tiny_decoder.eos_id
    assert tiny_decoder.tokenizer.decode(batch["input_ids"][0]) == REFERENCE_PROMPT


def test_last_token_pooling_is_correct_under_left_padding(tiny_decoder: DecoderEmbedder) -> None:
    """A batch with left padding gives the same vectors as each text alone."""
    texts = ["a short one", "a much longer document " * 12, "mid length text here"]
    batch = tiny_decoder.tokenize(texts, 512)
    assert batch["attention_mask"][0, 0] == 0, "the tokenizer must pad on the left"
    together = tiny_decoder._forward(batch)
    alone = np.stack([tiny_decoder._forward(tiny_decoder.tokenize([t], 512))[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_last_token_pool_right_padding() -> None:
    """Right-padded input pools the last real token, not a pad."""
    import torch

    hidden = torch.arange(12.0).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert models.last_token_pool(hidden, mask).tolist() == [[2.0, 3.0], [10.0, 11.0]]


def test_equal_budget_water_fills() -> None:
    """Short documents keep everything; the rest share the remainder equally."""
    assert equal_budget([5, 100, 100], 65) == [5, 30, 30]
    assert equal_budget([10, 10], 100) == [10, 10]
    assert sum(equal_budget([50] * 20, 460)) <= 460


def test_encoder_prompt_never_truncates_query(minilm) -> None:
    """With 20 long documents the prompt fits 512 tokens and still ends with the whole query."""
    query = "what makes sourdough bread rise without commercial yeast"
    docs = [f"document {i} " + "lorem ipsum dolor sit amet " * 60 for i in range(20)]
    built = minilm.build_listwise(query, docs)
    prompt = minilm.encode_prompt(built)
    assert prompt.n_tokens <= minilm.max_tokens == 512
    assert prompt.text.endswith(f"Search Query: {query}")
    batch = minilm.prompt_batch(built)
    decoded = minilm.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    assert decoded.endswith(f"search query : {query}")
    assert all(k < f for k, f in zip(prompt.doc_tokens_kept, prompt.doc_tokens_full))
    assert max(prompt.doc_tokens_kept) - min(prompt.doc_tokens_kept) <= 1


def test_encoder_prompt_query_first_order(minilm) -> None:
    """The query-first order puts the query right after the header and still fits."""
    prompt = minilm.embed_listwise("tides", ["moon " * 400] * 5, order="query_first")
    assert prompt.text.splitlines()[1] == "Search Query: tides"
    assert prompt.n_tokens <= 512


def test_prompt_too_long_raises(minilm) -> None:
    """A query that leaves no room for documents is refused with a plain error."""
    with pytest.raises(models.PromptTooLongError, match="no room"):
        minilm.build_listwise("word " * 600, ["doc"] * 20)


def test_minilm_matches_sentence_transformers(minilm) -> None:
    """Mean pooling and 256-token truncation reproduce sentence-transformers' own encode."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(minilm.model_dir, device="cpu")
    texts = ["The Moon raises tides.", "long text " * 300]
    ours = minilm.embed_documents(texts)
    theirs = st.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


# What the platform sets (hub-docs spaces-overview.md "Helper environment variables"; ZeroGPU: SPACES_ZERO_GPU).
CPU_SPACE_ENV = {"SPACE_ID": "lecturer/e2rank-demo", "SPACE_AUTHOR_NAME": "lecturer", "SPACE_REPO_NAME": "e2rank-demo",
                 "SPACE_TITLE": "E2Rank demo", "SYSTEM": "spaces"}
ZERO_GPU_SPACE_ENV = {**CPU_SPACE_ENV, "SPACES_ZERO_GPU": "true"}


@pytest.mark.parametrize("cuda", [False, True])
def test_default_model_name_rules(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    """The trained offline preset locally and on a CPU Space, e2rank-0.6b on a GPU or ZeroGPU Space,
    E2RANK_MODEL over all."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert models.default_model_name({}) == "minilm-e2rank"  # a local run keeps the offline default, GPU or not
    assert models.default_model_name(CPU_SPACE_ENV) == ("e2rank-0.6b" if cuda else "minilm-e2rank")
    # ZeroGPU: the serving process may see no CUDA device; the platform's variable says a GPU comes per call.
    assert models.default_model_name(ZERO_GPU_SPACE_ENV) == "e2rank-0.6b"
    assert models.default_model_name({**ZERO_GPU_SPACE_ENV, "SPACES_ZERO_GPU": "false"}) == (
        "e2rank-0.6b" if cuda else "minilm-e2rank")
    assert models.default_model_name({**CPU_SPACE_ENV, "E2RANK_MODEL": "e2rank-8b"}) == "e2rank-8b"


@pytest.mark.parametrize(("env", "opens_on"), [(CPU_SPACE_ENV, "minilm-e2rank"), (ZERO_GPU_SPACE_ENV, "e2rank-0.6b")])
def test_a_space_opens_on_the_model_its_hardware_serves(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                        opens_on: str) -> None:
    """The page's model list on a CPU and a ZeroGPU Space: the default fits the hardware, every preset one choice away."""
    import torch

    from e2rank_demo.ui import callbacks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("E2RANK_MODEL", "SPACES_ZERO_GPU"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    choices, default = callbacks.model_choices()
    assert default == opens_on
    assert [value for _, value in choices] == list(models.PRESETS)


def test_unloadable_model_falls_back_with_notice() -> None:
    """A model that cannot be loaded falls back to minilm with a notice, within the timeout."""
    start = time.perf_counter()
    loaded = load_embedder("e2rank-0.6b", timeout=5)
    assert time.perf_counter() - start < 6
    assert loaded.fell_back and loaded.embedder.name == "minilm"
    assert "e2rank-0.6b" in loaded.notice and "offline default" in loaded.notice


def test_hanging_load_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that hangs is abandoned after the timeout instead of blocking the caller."""
    real = models.build_embedder

    def slow(name: str):  # noqa: ANN202
        if name == "slow-model":
            time.sleep(3)
        return real(name)

    monkeypatch.setattr(models.loading, "build_embedder", slow)
    start = time.perf_counter()
    loaded = load_embedder("slow-model", timeout=0.5)
    assert time.perf_counter() - start < 2.5
    assert "no answer within 0.5 s" in loaded.notice


def test_broken_local_weights_fall_back(tmp_path) -> None:  # noqa: ANN001
    """A local folder with broken weights falls back instead of crashing."""
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "model.safetensors").write_bytes(b"not really weights")
    loaded = load_embedder(str(tmp_path), timeout=10)
    assert loaded.fell_back and loaded.embedder.name == "minilm"


def test_identity_changes_with_weights(tiny_qwen_dir, tmp_path) -> None:  # noqa: ANN001
    """Two checkpoints with the same config but other weights get different cache identities."""
    import shutil

    from transformers import AutoModel

    other = tmp_path / "other"
    shutil.copytree(tiny_qwen_dir, other)
    model = AutoModel.from_pretrained(other)
    for p in model.parameters():
        p.data.add_(0.01)
    model.save_pretrained(other)
    assert models.fingerprint_model_dir(tiny_qwen_dir) != models.fingerprint_model_dir(other)


def test_decoder_presets_label_the_prompt_cap() -> None:
    """The E2Rank column's note for a decoder preset states the 8,192-token cap against the paper's 32K."""
    from e2rank_demo.ui.content import decoder_note, model_note

    assert decoder_note(8192) == model_note("e2rank-0.6b") or models.MAX_PROMPT_TOKENS != 8192
    note = decoder_note(8192)
    assert "8,192 tokens" in note.headline and "32K" in note.headline and "--max-prompt-tokens" in note.details
    minilm = model_note("minilm")
    assert minilm is not None and "8,192" not in minilm.headline + minilm.details


def _reference_build_listwise(embedder, query, documents, header, order):  # noqa: ANN001, ANN202
    """The straightforward fitting (every round tokenises the whole prompt; uncut first): the output to keep."""
    from e2rank_demo.prompts import build_listwise_text

    tok = embedder.tokenizer
    overhead = tok.num_special_tokens_to_add(pair=False) if embedder.kind == "encoder" else 0
    documents = [embedder.format_prompt_document(d) for d in documents]
    doc_ids = tok(documents, add_special_tokens=False)["input_ids"]
    full = [len(ids) for ids in doc_ids]

    def total(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"]) + overhead

    text = embedder.wrap_prompt(build_listwise_text(query, documents, header, order))
    if total(text) <= embedder.max_tokens:
        return text, full, full
    available = embedder.max_tokens - total(embedder.wrap_prompt(build_listwise_text(query, [""] * len(documents),
                                                                                       header, order)))
    for _ in range(8):
        kept = equal_budget(full, available)
        cut = [tok.decode(ids[:n]) if n < len(ids) else documents[i] for i, (ids, n) in enumerate(zip(doc_ids, kept))]
        text = embedder.wrap_prompt(build_listwise_text(query, cut, header, order))
        over = total(text) - embedder.max_tokens
        if over <= 0:
            return text, kept, full
        available -= over
    raise AssertionError("reference could not fit")


class _CountingTokenizer:
    """Delegates to a tokenizer and records every text it was asked to tokenise."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real, self.seen = real, []

    def __call__(self, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204
        self.seen.extend([text] if isinstance(text, str) else list(text))
        return self.real(text, *args, **kwargs)

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(self.real, name)


@pytest.mark.parametrize("backend", ["minilm", "tiny_decoder"])
def test_prompt_fitting_tokenises_each_document_once_with_unchanged_output(backend: str, request) -> None:  # noqa: ANN001
    """Same (text, kept, full) as the straightforward fitting, below, near and far over the window."""
    embedder = request.getfixturevalue(backend)
    words = "yeast ferments sugar and the dough rises while carbon dioxide fills the gluten network".split()
    if backend == "tiny_decoder":
        embedder.set_prompt_cap(160)
    try:
        cases = [[" ".join(words[: 3 + i]) for i in range(5)],  # fits uncut
                 [" ".join(words * (1 + i % 4)) for i in range(20)],  # far over: cut
                 [" ".join(words * 2) for _ in range(3 if backend == "tiny_decoder" else 12)]]  # near the edge
        for docs in cases:
            for order in ("official", "query_first"):
                got = embedder.build_listwise("why does bread rise", docs, TASKS["web"].rerank, order)
                assert got[:3] == _reference_build_listwise(embedder, "why does bread rise", docs,
                                                            TASKS["web"].rerank, order)
                prompt = embedder.encode_prompt(got, "mean")  # the remembered ids: the same vector as a fresh tokenisation
                ids, _ = embedder._prompt_encoding(got.text)
                fresh = embedder._forward(embedder._pad({"input_ids": [ids]}), "mean")[0]
                np.testing.assert_allclose(prompt.vector, fresh, atol=1e-5)
                assert prompt.n_tokens <= embedder.max_tokens
        spy = _CountingTokenizer(embedder.tokenizer)
        embedder.tokenizer = spy
        long_docs = cases[1]
        embedder.build_listwise("why does bread rise", long_docs, TASKS["web"].rerank)
        for doc in set(long_docs):
            assert spy.seen.count(doc) == long_docs.count(doc), "a prompt document was tokenised more than once"
        assert max(len(text) for text in spy.seen) < sum(map(len, long_docs)), "the uncut prompt was tokenised"
    finally:
        if isinstance(embedder.tokenizer, _CountingTokenizer):
            embedder.tokenizer = embedder.tokenizer.real
        if backend == "tiny_decoder":
            embedder.set_prompt_cap(models.MAX_PROMPT_TOKENS)


@pytest.mark.parametrize("backend", ["minilm", "tiny_decoder", "minilm-e2rank"])
def test_leave_one_out_prompts_equal_building_without_each_document(backend: str, request) -> None:  # noqa: ANN001
    """build_leave_one_out gives, for each i, build_listwise without document i, tokenising each document once."""
    from e2rank_demo.models import load_embedder

    embedder = load_embedder(backend).embedder if backend == "minilm-e2rank" else request.getfixturevalue(backend)
    words = "yeast ferments sugar and the dough rises while carbon dioxide fills the gluten network".split()
    docs = [" ".join(words[i % 5:] * (2 + 4 * (i % 3))) + f" loaf {i}" for i in range(8)]
    query = "why does bread rise"
    if backend == "tiny_decoder":
        embedder.set_prompt_cap(300)
    expected = [embedder.build_listwise(query, docs[:i] + docs[i + 1:], TASKS["web"].rerank, "official")
                for i in range(len(docs))]
    assert all(p.doc_tokens_kept != p.doc_tokens_full for p in expected)  # the window cuts them: the fitting path is exercised
    spy = _CountingTokenizer(embedder.tokenizer)
    embedder.tokenizer = spy
    try:
        assert embedder.build_leave_one_out(query, docs, TASKS["web"].rerank, "official") == expected
    finally:
        embedder.tokenizer = spy.real
        if backend == "tiny_decoder":
            embedder.set_prompt_cap(models.MAX_PROMPT_TOKENS)
    prepared = embedder.prompt_documents(query, docs)
    assert all(spy.seen.count(doc) == 1 for doc in prepared)


_SENTENCES = ["Yeast ferments sugar; the dough rises.", "Carbon dioxide fills the gluten network!",
              "Bakers' ovens reach 250°C — a crust forms.",
              "Sourdough uses wild yeast (Lactobacillus sanfranciscensis).", "It's 3x faster with 2.5% salt?",
              "Café crème brûlée, naïve façade.\n\nNew\tparagraph  here"]


def _prose(i: int, n: int) -> str:
    """``n`` sentences of varied text (punctuation last, accents, digits, newlines), starting at sentence ``i``."""
    return " ".join(_SENTENCES[(i + j) % len(_SENTENCES)] for j in range(n))


@pytest.mark.parametrize("backend", ["minilm", "tiny_decoder"])
def test_prompt_from_indexed_token_ids_equals_tokenising_the_documents(backend: str, request) -> None:  # noqa: ANN001
    """Ids computed at indexing give today's BuiltPrompt (text, kept, full, query span) and the same vector, uncut,
    at the window's edge (one token under, at and over it) and far over, in both orders, without tokenising a
    document; leave-one-out prompts too (the five-document cases)."""
    from e2rank_demo.models.embedder import query_mask

    embedder = request.getfixturevalue(backend)
    query, header = "why does bread rise", TASKS["web"].rerank
    uncut = [_prose(i, 1 + i % 2) for i in range(5)]
    far_over = [_prose(i, 3 + i % 7) for i in range(20)] + [" ".join(f"w{i}." for i in range(1100))]
    limit = embedder.max_tokens
    try:
        for order in ("official", "query_first"):
            edge = len(embedder._prompt_encoding(embedder.build_listwise(query, uncut, header, order).text)[0])
            for docs, window, cut in ((uncut, limit, False), (uncut, edge - 1, True), (uncut, edge, False),
                                      (uncut, edge + 1, False), (far_over, min(limit, 200), True)):
                embedder.max_tokens = window
                today = embedder.build_listwise(query, docs, header, order)
                assert today[:3] == _reference_build_listwise(embedder, query, docs, header, order)
                assert (today.doc_tokens_kept != today.doc_tokens_full) == cut
                ids = embedder.prompt_document_ids(docs)
                spy = embedder.tokenizer = _CountingTokenizer(embedder.tokenizer)
                try:
                    built = embedder.build_listwise(query, docs, header, order, ids)
                    loo = embedder.build_leave_one_out(query, docs, header, order, ids) if docs is uncut else []
                finally:
                    embedder.tokenizer = spy.real
                assert not set(embedder.prompt_documents(query, docs)) & set(spy.seen), "a document was tokenised"
                assert built == today
                assert built.text[slice(*built.query_span)] == query
                assert docs is not uncut or loo == embedder.build_leave_one_out(query, docs, header, order)
                if cut:  # the vector of a cut prompt equals that of today's model input, tokenised afresh
                    tokens, offsets = embedder._prompt_encoding(today.text)
                    mask = query_mask(offsets, today.query_span)
                    fresh = embedder._pad({"input_ids": [tokens], "query_mask": [mask]})
                    np.testing.assert_allclose(embedder.encode_prompt(built, "query").vector,
                                               embedder._forward(fresh, "query")[0], atol=1e-5)
    finally:
        embedder.max_tokens = limit


def test_prompt_ids_are_ignored_where_snippets_follow_the_query() -> None:
    """An adapter that reorders sentences by the query has no ids ahead; ids handed to it change nothing."""
    embedder = load_embedder("minilm-e2rank").embedder
    assert embedder.spec.snippets == "query" and embedder.prompt_token_identity is None
    docs = [_prose(i, 4) for i in range(6)]
    stale = [np.asarray(ids, dtype=np.int32) for ids in embedder.tokenizer(docs, add_special_tokens=False)["input_ids"]]
    assert embedder.build_listwise("why does bread rise", docs, token_ids=stale) == \
        embedder.build_listwise("why does bread rise", docs)


# --------------------------------------------------------------------------- prompt pooling
def _pooled_text(embedder, built) -> str:  # noqa: ANN001
    """The text of the tokens ``query`` pooling averages (read back from the batch's query mask)."""
    batch = embedder.prompt_batch(built)
    ids = batch["input_ids"][0][batch["query_mask"][0].bool()]
    return embedder.tokenizer.decode(ids).strip()


@pytest.mark.parametrize("backend", ["minilm", "tiny_decoder"])
@pytest.mark.parametrize("order", ["official", "query_first"])
def test_query_pooling_covers_exactly_the_query_tokens(backend: str, order: str, request) -> None:  # noqa: ANN001
    """The pooled positions are the query's own tokens, in either order, uncut and cut, even when every
    document contains the query text (a string search would find a document's copy first)."""
    embedder = request.getfixturevalue(backend)
    query = "why does bread rise"
    short = [f"{query}? Yeast makes gas.", "Ovens are hot."]
    long = [f"{query} " + "because yeast ferments sugar " * 60 for _ in range(6)]
    if backend == "tiny_decoder":
        embedder.set_prompt_cap(200)
    try:
        for docs in (short, long):
            built = embedder.build_listwise(query, docs, TASKS["web"].rerank, order)
            assert built.text[slice(*built.query_span)] == query
            pooled = _pooled_text(embedder, built)
            assert pooled.lower() == query, (docs is long, pooled)
        assert built.doc_tokens_kept != built.doc_tokens_full  # the long documents were cut
    finally:
        if backend == "tiny_decoder":
            embedder.set_prompt_cap(models.MAX_PROMPT_TOKENS)


def test_prompt_pooling_modes_differ_and_match_their_definitions(minilm) -> None:
    """``mean`` averages every token, ``query`` only the query's; both are what a direct computation gives."""
    import torch

    built = minilm.build_listwise("tides", ["The Moon raises tides.", "Bread rises."])
    batch = minilm.prompt_batch(built)
    with torch.inference_mode():
        hidden = minilm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[0]
    by_mode = {m: minilm.encode_prompt(built, m) for m in ("mean", "query", "last")}
    for mode, rows in (("mean", hidden), ("query", hidden[batch["query_mask"][0].bool()]), ("last", hidden[-1:])):
        expected = torch.nn.functional.normalize(rows.mean(0), dim=-1).numpy()
        np.testing.assert_allclose(by_mode[mode].vector, expected, atol=1e-5)
    assert by_mode["query"].pooled_tokens == 1 and by_mode["mean"].pooled_tokens == by_mode["mean"].n_tokens
    assert float(by_mode["mean"].vector @ by_mode["query"].vector) < 0.999
    with pytest.raises(ValueError, match="pooling"):
        minilm.encode_prompt(built, "max")  # type: ignore[arg-type]


def test_query_pooling_is_padding_invariant_in_a_batch(minilm, tiny_decoder) -> None:
    """Prompts of different lengths batched together pool as each alone (right and left padding)."""
    for embedder in (minilm, tiny_decoder):
        built = [embedder.build_listwise("why does bread rise", ["yeast " * n]) for n in (1, 30, 7)]
        together = [p.vector for p in embedder.encode_prompts(built, pooling="query")]
        alone = [embedder.encode_prompt(p, "query").vector for p in built]
        np.testing.assert_allclose(np.stack(together), np.stack(alone), atol=1e-5)


def test_decoder_defaults_keep_last_token_pooling_and_k_20(tiny_decoder) -> None:
    """E2Rank's decoders pool the last token and take k = 20 by default, and a search resolves to both."""
    from e2rank_demo.pipeline import SearchSettings

    assert (tiny_decoder.prompt_pooling, tiny_decoder.prompt_docs) == ("last", 20)
    settings = SearchSettings().for_model(tiny_decoder)
    assert (settings.prompt_pooling, settings.prompt_docs) == ("last", 20)
    assert SearchSettings(prompt_docs=4, prompt_pooling="query").for_model(tiny_decoder).prompt_docs == 4


def test_importing_the_package_filters_peft_s_deprecated_probe(tiny_qwen_dir: Path) -> None:
    """peft's probe of transformers' deprecated `is_gradient_checkpointing` prints nothing once `e2rank_demo` is imported.

    The filter is installed at package import, in the main thread, before the app's warm-up thread
    loads the adapter: a filter added from that thread was lost when another thread left a
    `catch_warnings()` block, and the warning reached the app's log on CI. A fresh interpreter, as
    the app starts (pytest's own `catch_warnings` around collection would undo the filter here).
    """
    script = (
        "import e2rank_demo\n"
        "from peft import LoraConfig, get_peft_model\n"
        "from transformers import AutoModel\n"
        f"get_peft_model(AutoModel.from_pretrained({str(tiny_qwen_dir)!r}), LoraConfig(r=2, target_modules=['q_proj']))\n"
        "print('wrapped')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "wrapped", run.stderr[-2000:]
    assert "is_gradient_checkpointing" not in run.stderr
