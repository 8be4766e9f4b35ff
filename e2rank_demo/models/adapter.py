"""Trained E2Rank adapters (PEFT/LoRA) attached on top of a base embedder."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from e2rank_demo.models.decoder import DecoderEmbedder
from e2rank_demo.models.embedder import Embedder, ProgressFn
from e2rank_demo.models.encoder import EncoderEmbedder
from e2rank_demo.records import PromptPooling

ADAPTER_SPEC_FILE = "e2rank_adapter.json"
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were what which "
    "with does do how why who when where not no can".split()
)


@dataclass(frozen=True)
class AdapterSpec:
    """How a trained E2Rank adapter is applied on top of its base model.

    Stored as ``e2rank_adapter.json`` beside the PEFT adapter files.

    Attributes:
        base: Preset (or folder) of the base model the adapter was trained on.
        documents: ``"base"``: documents are embedded by the base model (adapter off),
            so only queries and listwise prompts change; ``"adapted"``: one model for all.
        snippets: ``"lead"``: prompt documents are cut from their start (the paper);
            ``"query"``: their sentences are reordered by overlap with the query first.
        prompt_pooling: The listwise prompt's pooling it was trained with (its default);
            ``None``: the base model's.
        prompt_docs: The k it was trained with (its default); ``None``: the base model's.
    """

    base: str
    documents: Literal["base", "adapted"] = "base"
    snippets: Literal["lead", "query"] = "lead"
    prompt_pooling: PromptPooling | None = None
    prompt_docs: int | None = None

    @classmethod
    def read(cls, folder: str | Path) -> AdapterSpec:
        """Reads the spec from ``folder/e2rank_adapter.json``."""
        data = json.loads((Path(folder) / ADAPTER_SPEC_FILE).read_text(encoding="utf-8"))
        return cls(
            base=data["base"],
            documents=data.get("documents", "base"),
            snippets=data.get("snippets", "lead"),
            prompt_pooling=data.get("prompt_pooling"),
            prompt_docs=data.get("prompt_docs"),
        )


def training_record(folder: str | Path) -> dict[str, Any]:
    """What ``python -m e2rank_demo train`` stored about an adapter: its settings and the
    measured validation figures (``validation_ndcg@10``); ``{}`` when there is none.

    The app and docs/RESULTS.md show these figures from here, so they follow a retrained
    adapter without anyone copying numbers.
    """
    try:
        data = json.loads((Path(folder) / ADAPTER_SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    record = data.get("training")
    return dict(record) if isinstance(record, dict) else {}


def query_snippet(query: str, text: str) -> str:
    """Reorders a document's sentences so those sharing most query words come first.

    The listwise prompt keeps only each document's first tokens; with this ordering
    those tokens are the query-relevant part. Ties keep the original order.

    Example:
        >>> query_snippet("why does bread rise", "Ovens are hot. Yeast makes bread rise.")
        'Yeast makes bread rise. Ovens are hot.'
    """
    terms = {w for w in _WORD.findall(query.lower()) if w not in _STOP_WORDS}
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    if len(sentences) < 2 or not terms:
        return text
    overlap = [len(terms & set(_WORD.findall(s.lower()))) for s in sentences]
    order = sorted(range(len(sentences)), key=lambda i: -overlap[i])
    return " ".join(sentences[i] for i in order)


class _AdapterMixin(Embedder):
    """A base embedder with a trained PEFT adapter (E2Rank Stage II) attached.

    While training, the model is a ``peft.PeftModel`` and documents (with
    ``spec.documents == "base"``) are embedded with the adapter disabled. For inference
    (:func:`merged_adapter`) the adapter is merged into a copy of the weights, which saves
    LoRA's extra matrix products on every query and prompt, and documents go through the
    untouched base model (:attr:`document_model`), so they equal the base model's document
    embeddings.
    """

    spec: AdapterSpec
    adapter_fingerprint: str
    _document_model: Any

    def _attach(self, spec: AdapterSpec, adapter_fingerprint: str, document_model: Any = None) -> None:
        self.spec = spec
        self.prompt_pooling = spec.prompt_pooling or self.prompt_pooling
        self.prompt_docs = spec.prompt_docs or self.prompt_docs
        self.adapter_fingerprint = adapter_fingerprint
        self._document_model = document_model

    @property
    def identity(self) -> str:
        """The base identity plus the adapter's content hash and how it is applied."""
        if self._identity is None:
            self._identity = f"{self._base_identity()}+lora:{self.adapter_fingerprint}:{self.spec.documents}"
        return self._identity

    @property
    def document_identity(self) -> str:
        """The base model's identity when documents are embedded with the adapter off."""
        if self.spec.documents == "base":
            return self._base_identity()
        return self.identity

    @property
    def document_model(self) -> Any:
        """The untouched base model when the spec embeds documents with the base (else the adapted model)."""
        if self.spec.documents == "base" and self._document_model is not None:
            return self._document_model
        return self.model

    def embed_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Embeds documents; with the adapter off when the spec says documents use the base."""
        if self.spec.documents == "base" and self._document_model is None:  # training: the PeftModel itself
            with self._lock.exclusive(), self.model.disable_adapter():  # no other pass sees it switched off
                return super().embed_documents(texts, batch_size, progress)
        return super().embed_documents(texts, batch_size, progress)

    @property
    def prompt_token_identity(self) -> str | None:
        """``None`` with query snippets (a prompt document's sentence order depends on the query)."""
        return None if self.spec.snippets == "query" else super().prompt_token_identity

    def prompt_documents(self, query: str, documents: Sequence[str]) -> list[str]:
        """The base's prompt documents, over query-focused snippets when the spec asks for them."""
        if self.spec.snippets == "query":
            documents = [query_snippet(query, d) for d in documents]
        return super().prompt_documents(query, documents)


class AdaptedEncoderEmbedder(_AdapterMixin, EncoderEmbedder):
    """:class:`EncoderEmbedder` with a trained adapter (e.g. ``minilm-e2rank``)."""

    def __init__(
        self,
        name: str,
        model_dir: str | Path,
        model: Any,
        tokenizer: Any,
        device: str,
        *,
        spec: AdapterSpec,
        adapter_fingerprint: str,
        document_model: Any = None,
    ) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self._attach(spec, adapter_fingerprint, document_model)


class AdaptedDecoderEmbedder(_AdapterMixin, DecoderEmbedder):
    """:class:`DecoderEmbedder` with a trained adapter (e.g. LoRA on Qwen3-Embedding)."""

    def __init__(
        self,
        name: str,
        model_dir: str | Path,
        model: Any,
        tokenizer: Any,
        device: str,
        *,
        spec: AdapterSpec,
        adapter_fingerprint: str,
        document_model: Any = None,
    ) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self._attach(spec, adapter_fingerprint, document_model)


def with_adapter(
    base: Embedder,
    model: Any,
    spec: AdapterSpec,
    adapter_fingerprint: str,
    name: str | None = None,
    document_model: Any = None,
) -> Embedder:
    """Wraps a loaded base embedder and its model with an attached PEFT adapter (trainable).

    Args:
        base: The base embedder (its tokenizer, folder and device are reused).
        model: ``base.model`` with the adapter attached (``peft.PeftModel``), or merged into it.
        spec: How the adapter is applied.
        adapter_fingerprint: Content hash of the adapter (part of the cache identity).
        name: Name of the result; defaults to the base name.
        document_model: The model that embeds documents when ``spec.documents == "base"``
            and ``model`` has no switchable adapter (a merged copy).
    """
    cls = AdaptedEncoderEmbedder if base.kind == "encoder" else AdaptedDecoderEmbedder
    return cls(
        name or base.name,
        base.model_dir,
        model,
        base.tokenizer,
        base.device,
        spec=spec,
        adapter_fingerprint=adapter_fingerprint,
        document_model=document_model,
    )


def merged_adapter(
    base: Embedder, peft_model: Any, spec: AdapterSpec, adapter_fingerprint: str, name: str | None = None
) -> Embedder:
    """Like :func:`with_adapter`, for inference: the adapter merged into the weights.

    With ``spec.documents == "base"`` the base weights are kept beside the merged copy
    (documents use them), so a small model is held twice; otherwise the merge is in place.

    Args:
        base: The base embedder (its tokenizer, folder and device are reused).
        peft_model: ``base.model`` with the adapter attached (``peft.PeftModel``); consumed.
        spec: How the adapter is applied.
        adapter_fingerprint: Content hash of the adapter (part of the cache identity).
        name: Name of the result; defaults to the base name.
    """
    document_model = None
    if spec.documents == "base":
        merged = copy.deepcopy(peft_model).merge_and_unload().eval()
        document_model = peft_model.unload().eval()  # the LoRA layers taken out, base weights untouched
    else:
        merged = peft_model.merge_and_unload().eval()
    return with_adapter(base, merged, spec, adapter_fingerprint, name, document_model)
