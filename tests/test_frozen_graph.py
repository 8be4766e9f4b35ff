"""TorchScript graphs of encoder passes (e2rank_demo/models/frozen_graph.py): same outputs as the eager pass."""

from __future__ import annotations

import copy
import gc
import weakref

import numpy as np
import pytest
import torch

from e2rank_demo.models.frozen_graph import GraphCache

TEXTS = [
    "Yeast ferments sugar and carbon dioxide makes bread dough rise in the oven.",
    "Tides.",
    "Alexander Graham Bell patented the telephone in 1876, " * 12,
    "Mars is the fourth planet from the Sun and has two small moons.",
]


def _eager(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return model(**batch).last_hidden_state


def _same(graph_out: torch.Tensor, eager_out: torch.Tensor) -> None:
    """Equal here to the last bit; a tolerance far below anything a ranking could notice, for other CPUs."""
    torch.testing.assert_close(graph_out, eager_out, rtol=0, atol=1e-5)


def _graph_hidden(cache: GraphCache, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return cache.last_hidden(model, batch)


@pytest.fixture()
def model_copy(minilm):
    """A private copy of MiniLM's weights, so that a test may change them."""
    return copy.deepcopy(minilm.model).eval()


@pytest.mark.parametrize(
    "batch_texts",
    [TEXTS[:1], TEXTS[1:2], TEXTS, TEXTS * 5],
    ids=["one-long", "one-short", "padded", "batch-of-20"],
)
def test_graph_equals_eager_pass_on_any_shape(minilm, batch_texts):
    batch = minilm.tokenize(batch_texts, minilm.doc_max_tokens)
    keys = tuple(batch)
    assert minilm._graphs.graph(minilm.model, keys) is not None  # the pass below does run the graph
    _same(_graph_hidden(minilm._graphs, minilm.model, batch), _eager(minilm.model, batch))


def test_graph_equals_eager_pass_on_pairs_with_token_types(minilm):
    batch = dict(minilm.tokenizer(["what makes bread rise"] * 3, TEXTS[:3], padding=True, return_tensors="pt"))
    assert batch["token_type_ids"].any()
    _same(_graph_hidden(minilm._graphs, minilm.model, batch), _eager(minilm.model, batch))


def test_embedder_vectors_unchanged_by_graphs(minilm):
    """The public API on graphs gives the eager vectors: documents, queries and a listwise prompt."""

    def vectors() -> np.ndarray:
        prompt = minilm.build_listwise("what makes bread rise", TEXTS)
        return np.vstack(
            [
                minilm.embed_documents(TEXTS),
                minilm.embed_queries(["what makes bread rise"]),
                minilm.encode_prompts([prompt], 1, "mean")[0].vector,
            ]
        )

    graph_vectors = vectors()
    graphs = minilm._graphs
    try:
        minilm._graphs = GraphCache(minilm.tokenizer, minilm._pad, enabled=False)
        eager_vectors = vectors()
    finally:
        minilm._graphs = graphs
    np.testing.assert_allclose(graph_vectors, eager_vectors, rtol=0, atol=1e-6)


def test_graph_shares_the_models_weights(minilm, model_copy):
    """A weight changed in place (an adapter merged into its base) changes the graph's output as it does the model's."""
    cache = GraphCache(minilm.tokenizer, minilm._pad, enabled=True)
    batch = minilm.tokenize(TEXTS, 64)
    before = _graph_hidden(cache, model_copy, batch)
    with torch.no_grad():
        model_copy.encoder.layer[0].output.dense.weight.mul_(1.5)
    after = _graph_hidden(cache, model_copy, batch)
    assert not torch.equal(before, after)
    _same(after, _eager(model_copy, batch))


def test_training_and_adapters_run_eagerly(minilm, model_copy):
    peft = pytest.importorskip("peft")
    cache = GraphCache(minilm.tokenizer, minilm._pad, enabled=True)
    batch = minilm.tokenize(TEXTS[:2], 64)
    keys = tuple(batch)

    # Outside inference mode (training) the pass keeps autograd.
    with torch.enable_grad():
        assert cache.last_hidden(model_copy, batch).grad_fn is not None
    model_copy.train()
    assert cache.graph(model_copy, keys) is None  # dropout on: not traced

    lora = copy.deepcopy(minilm.model).eval()
    wrapped = peft.get_peft_model(lora, peft.LoraConfig(r=2, target_modules=["query", "value"]))
    assert cache.graph(wrapped, keys) is None  # a PeftModel switches adapters with Python flags
    assert cache.graph(lora, keys) is None  # LoRA layers injected into the plain model


def test_disabled_cache_and_decoders_run_eagerly(minilm, model_copy, tiny_decoder):
    assert GraphCache(minilm.tokenizer, minilm._pad, enabled=False).graph(model_copy, ("input_ids", "attention_mask")) is None
    assert not tiny_decoder.graph_passes
    assert tiny_decoder._graphs.graph(tiny_decoder.model, ("input_ids", "attention_mask")) is None


def test_an_untraceable_model_runs_eagerly(minilm, model_copy, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise RuntimeError("not traceable")

    monkeypatch.setattr(torch.jit, "trace", fail)
    cache = GraphCache(minilm.tokenizer, minilm._pad, enabled=True)
    batch = minilm.tokenize(TEXTS[:2], 64)
    _same(_graph_hidden(cache, model_copy, batch), _eager(model_copy, batch))
    assert "running it eagerly" in caplog.text


def test_graph_goes_with_its_model(minilm):
    model = copy.deepcopy(minilm.model).eval()
    cache = GraphCache(minilm.tokenizer, minilm._pad, enabled=True)
    assert cache.graph(model, tuple(minilm.tokenize(TEXTS[:2], 64))) is not None
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # the graph does not keep a model alive that the app let go


def test_one_graph_serves_two_slots_at_once(minilm, model_copy):
    """Two threads (the CPU's two model slots) run one graph together and each gets the eager output."""
    import concurrent.futures

    cache = GraphCache(minilm.tokenizer, minilm._pad, enabled=True)
    batches = [minilm.tokenize(TEXTS[: 1 + i % 4], 32 + 32 * (i % 3)) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda b: _graph_hidden(cache, model_copy, b), batches))
    for batch, out in zip(batches, outputs, strict=True):
        _same(out, _eager(model_copy, batch))


def test_tracing_does_not_rely_on_the_tokenizers_padding(minilm, model_copy):
    """transformers keeps padding on the tokenizer all threads share, and another thread's call may turn it off
    under a padding call (a search once failed so while visitors uploaded): the example batch is padded apart."""

    class NoPadding:
        def __call__(self, texts, **kwargs):
            assert "padding" not in kwargs and "return_tensors" not in kwargs, "the tokenizer was asked to pad"
            return minilm.tokenizer(texts, **kwargs)

    cache = GraphCache(NoPadding(), minilm._pad, enabled=True)
    batch = minilm.tokenize(TEXTS[:3], 64)
    assert cache.graph(model_copy, tuple(batch)) is not None
    _same(_graph_hidden(cache, model_copy, batch), _eager(model_copy, batch))
