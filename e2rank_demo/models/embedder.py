"""The :class:`Embedder` protocol every backend implements, and the listwise token budget."""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import functools
import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from e2rank_demo.models.frozen_graph import GraphCache, use_graphs
from e2rank_demo.models.model_lock import ModelLock, model_slots
from e2rank_demo.models.presets import PRESETS
from e2rank_demo.models.prompt_assembly import (
    Encoding,
    PieceTexts,
    assemble,
    document_starts,
    splits_at_whitespace,
)
from e2rank_demo.models.vector_memo import VectorMemo, memo_key, prompt_key, reuse_enabled
from e2rank_demo.prompts import TASKS, build_listwise_text, query_span
from e2rank_demo.records import PROMPT_POOLINGS, BuiltPrompt, ListwisePrompt, PromptOrder, PromptPooling

if TYPE_CHECKING:
    import torch


ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while documents are embedded."""
TokenIds = np.ndarray | list[int]
"""One document's token ids (a 1-D integer array when computed at indexing)."""

_T = TypeVar("_T")
_FITTED_PROMPTS_KEPT = 64  # leave-one-out influence builds k prompts, then embeds them together


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
        prompt_pooling: The listwise prompt's default pooling (documents and plain queries
            always use the model's own :meth:`pool`).
        prompt_docs: The default k, documents in the listwise prompt.
    """

    name: str
    kind: Literal["encoder", "decoder"]
    dim: int
    max_tokens: int
    doc_max_tokens: int
    prompt_pooling: PromptPooling = "mean"
    prompt_docs: int = 20
    graph_passes: bool = False
    """Whether inference on a CPU runs as TorchScript graphs (:mod:`~e2rank_demo.models.frozen_graph`)."""

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str) -> None:
        self.name = name
        self.model_dir = str(model_dir)
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self._identity: str | None = None
        self._base_id: str | None = None
        # The model is shared read-only by all sessions; calls take turns for its slots (interactive ones first:
        # a search never waits behind other visitors' bulk work).
        self._lock = ModelLock(model_slots(device))
        self._graphs = GraphCache(tokenizer, self._pad, self.graph_passes and use_graphs(device))
        self._fitted_prompts: OrderedDict[str, Encoding] = OrderedDict()
        self._fitted_lock = threading.Lock()
        # Vectors of identical earlier inputs, for the calls that may reuse them (models/vector_memo.py).
        self._prompt_memo: VectorMemo[ListwisePrompt] = VectorMemo()
        self._query_memo: VectorMemo[np.ndarray] = VectorMemo()

    # ----------------------------------------------------------------- identity
    @property
    def identity(self) -> str:
        """A key that changes whenever the embeddings would change (for the cache)."""
        if self._identity is None:
            self._identity = self._base_identity()
        return self._identity

    def _base_identity(self) -> str:
        """Identity of the weights in :attr:`model_dir` with this backend's truncation.

        Hashed once per instance: every corpus load asks for it, and hashing the weight files took most
        of a sample load's time.
        """
        if self._base_id is None:
            self._base_id = f"{self.kind}:{self.doc_max_tokens}:{fingerprint_model_dir(self.model_dir)}"
        return self._base_id

    @property
    def document_identity(self) -> str:
        """Identity of the document embeddings: the cache key for corpus vectors.

        Equal to :attr:`identity` unless a model embeds documents with another model's
        weights (an adapter trained for queries and prompts only).
        """
        return self.identity

    @property
    def prompt_token_identity(self) -> str | None:
        """Cache key of :meth:`prompt_document_ids`: the model's :attr:`identity` (its tokenizer files are in the
        fingerprint, its kind fixes the prompt-document form) and the id type; ``None`` when a prompt document
        depends on the query (its ids cannot be computed ahead, so they are tokenised when the prompt is built)."""
        return f"{self.identity}|prompt-ids:{np.dtype(self.token_dtype).str}"

    @functools.cached_property
    def token_dtype(self) -> type[np.integer]:
        """The narrowest type that holds every token id (``uint16`` for MiniLM, ``int32`` for Qwen3)."""
        return np.uint16 if len(self.tokenizer) <= 1 << 16 else np.int32

    @property
    def label(self) -> str:
        """Short display label."""
        return PRESETS[self.name].label if self.name in PRESETS else self.name

    # ----------------------------------------------------------------- forward
    def _forward(
        self, batch: dict[str, torch.Tensor], pooling: PromptPooling | None = None, model: Any = None
    ) -> np.ndarray:
        """One model call on a tokenised batch; returns L2-normalised embeddings."""
        import torch

        with self._lock, torch.inference_mode():
            pooled = self.embed_batch(batch, pooling, model)
        return pooled.cpu().numpy().astype(np.float32)

    def embed_batch(
        self, batch: dict[str, torch.Tensor], pooling: PromptPooling | None = None, model: Any = None
    ) -> torch.Tensor:
        """Forward, pooling and L2 norm of a tokenised batch, as a tensor (training calls it with gradients).

        Args:
            batch: From :meth:`tokenize` (pooled by :meth:`pool`) or :meth:`prompt_batch`.
            pooling: A listwise prompt's pooling (needs the batch's ``query_mask`` for ``query``);
                ``None`` uses the model's own :meth:`pool`.
            model: The module to run (default :attr:`model`; documents use :attr:`document_model`).
        """
        import torch

        inputs = {k: v.to(self.device) for k, v in batch.items() if k != "query_mask"}
        hidden = self.last_hidden(inputs, model)
        mask = inputs["attention_mask"]
        if pooling is None:
            pooled = self.pool(hidden, mask)
        elif pooling == "last":
            pooled = last_token_pool(hidden, mask)
        elif pooling == "mean":
            pooled = masked_mean(hidden, mask)
        else:
            pooled = masked_mean(hidden, batch["query_mask"].to(self.device))
        return torch.nn.functional.normalize(pooled.float(), p=2, dim=-1)

    def last_hidden(self, inputs: dict[str, torch.Tensor], model: Any = None) -> torch.Tensor:
        """The model's last hidden states (the bare forward pass): in inference mode on a CPU, through the
        model's TorchScript graph where :attr:`graph_passes` allows one.

        Args:
            inputs: Model inputs on :attr:`device` (no ``query_mask``).
            model: The module to run (default :attr:`model`).
        """
        return self._graphs.last_hidden(self.model if model is None else model, inputs)

    @abstractmethod
    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The model's pooling of last hidden states (public: training reuses inference's pooling)."""

    @abstractmethod
    def _features(self, texts: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
        """Unpadded model inputs of full texts, cut to ``max_length`` (with the backend's special or end tokens)."""

    def _pad(self, features: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
        """Pads unpadded inputs into one batch, on the tokenizer's padding side.

        Ids are padded with the tokenizer's pad token, token types with its pad type and anything
        else (a ``query_mask``) with zeros; the attention mask marks the real tokens. Built with
        numpy rather than ``tokenizer.pad``, which took 0.25 ms of a one-prompt rerank.
        """
        import torch

        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"{self.name}'s tokenizer has no padding token")
        lengths = np.array([len(row) for row in features["input_ids"]])
        width = int(lengths.max(initial=0))
        columns = np.arange(width)
        real = (
            columns >= (width - lengths)[:, None]
            if self.tokenizer.padding_side == "left"
            else columns < lengths[:, None]
        )
        fill = {"input_ids": self.tokenizer.pad_token_id, "token_type_ids": self.tokenizer.pad_token_type_id}
        batch = {}
        for key, rows in features.items():
            if key != "attention_mask":
                padded = np.full((len(lengths), width), fill.get(key, 0), dtype=np.int64)
                if width:
                    padded[real] = np.concatenate([np.asarray(row, dtype=np.int64) for row in rows])
                batch[key] = torch.from_numpy(padded)
        batch["attention_mask"] = torch.from_numpy(real.astype(np.int64))
        return batch

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        """Tokenises full inputs into one padded batch."""
        return self._pad(self._features(texts, max_length))

    def _encode(
        self, texts: Sequence[str], batch_size: int, progress: ProgressFn | None = None, model: Any = None
    ) -> np.ndarray:
        return self._encode_features(self._features(texts, self.doc_max_tokens), batch_size, progress, model)

    def _encode_features(
        self,
        features: dict[str, list[list[int]]],
        batch_size: int,
        progress: ProgressFn | None = None,
        model: Any = None,
    ) -> np.ndarray:
        """Embeds tokenised inputs in batches of similar token counts (all texts are tokenised in one call), one
        batch per model slot at a time."""
        ids = features["input_ids"]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        # Sorting by token count keeps padding (and so wasted compute) small within a batch.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        batches = [order[start : start + batch_size] for start in range(0, len(ids), batch_size)]

        def encoded(idx: list[int]) -> tuple[list[int], np.ndarray]:
            batch = self._pad({key: [rows[i] for i in idx] for key, rows in features.items()})
            return idx, self._forward(batch, model=model)

        done = 0
        for idx, vectors in self._in_slots(encoded, batches):
            out[idx] = vectors
            done += len(idx)
            if progress is not None:
                progress(done, len(ids))
        return out

    def _in_slots(self, fn: Callable[[list[int]], _T], items: Sequence[list[int]]) -> Iterator[_T]:
        """``fn`` of each item, as many at once as the model has slots (a one-core pass per slot would
        otherwise leave the other cores idle); results in the order they finish. A thread that holds the model
        already (an :meth:`~ModelLock.exclusive` block) runs them itself: helpers would wait for it forever."""
        if self._lock.slots == 1 or len(items) < 2 or self._lock.holder_depth():
            yield from map(fn, items)
            return
        pool = concurrent.futures.ThreadPoolExecutor(self._lock.slots, thread_name_prefix="e2rank-slot")
        try:
            # Each call runs in a copy of this context: a bulk() marker holds there too.
            futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # ----------------------------------------------------------------- public API
    def embed_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Embeds documents (title + text already joined), L2-normalised, float32."""
        return self._encode([self.format_document(t) for t in texts], batch_size, progress, self.document_model)

    @property
    def document_model(self) -> Any:
        """The module that embeds documents (:attr:`model`, unless an adapter keeps documents on its base)."""
        return self.model

    def embed_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        """Embeds retrieval queries; ``instruction`` is used by instruction-tuned models."""
        return self._encode([self.format_query(t, instruction) for t in texts], batch_size=64)

    def embed_query(self, text: str, instruction: str | None = None) -> tuple[np.ndarray, float | None]:
        """One query's vector, and ``None``; inside :func:`~e2rank_demo.models.vector_memo.reusing`, an identical
        earlier query's vector may come back instead, with the seconds its forward pass took then."""
        if not reuse_enabled():
            return self.embed_queries([text], instruction)[0], None
        return self._query_memo.reuse(
            memo_key(self.identity, "query", self.format_query(text, instruction)),
            lambda: self.embed_queries([text], instruction)[0],
        )

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

    def prompt_batch(self, *built: BuiltPrompt) -> dict[str, torch.Tensor]:
        """Tokenises fitted prompts without truncation into one padded batch.

        The batch carries a ``query_mask``: 1 at each token whose characters lie in the
        prompt's :attr:`~e2rank_demo.records.BuiltPrompt.query_span` (``query`` pooling).
        Prompts tokenised while fitting are not tokenised again.
        """
        encodings = []
        for prompt in built:
            with self._fitted_lock:
                known = self._fitted_prompts.get(prompt.text)
            encodings.append(known if known is not None else self._prompt_encoding(prompt.text))
        return self._pad(
            {
                "input_ids": [ids for ids, _ in encodings],
                "query_mask": [
                    query_mask(offsets, p.query_span) for (_, offsets), p in zip(encodings, built, strict=True)
                ],
            }
        )

    @abstractmethod
    def _prompt_encoding(self, text: str) -> Encoding:
        """The model-input token ids of a prompt text, uncut (special tokens included), and their character spans."""

    def _remember_prompt(self, text: str, encoding: Encoding) -> None:
        """Keeps a fitted prompt's tokens for :meth:`prompt_batch` (the last few, shared by all sessions)."""
        with self._fitted_lock:
            self._fitted_prompts[text] = encoding
            self._fitted_prompts.move_to_end(text)
            while len(self._fitted_prompts) > _FITTED_PROMPTS_KEPT:
                self._fitted_prompts.popitem(last=False)

    def _wrap_margins(self) -> tuple[int, int]:
        """Characters :meth:`wrap_prompt` puts before and after a prompt body."""
        marker = "\x00"
        wrapped = self.wrap_prompt(marker)
        before = wrapped.index(marker)
        return before, len(wrapped) - before - len(marker)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text without special tokens."""
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def prompt_documents(self, query: str, documents: Sequence[str]) -> list[str]:
        """The candidates' texts as they enter the listwise prompt (before any token budget)."""
        return [self.format_prompt_document(d) for d in documents]

    def build_listwise(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
        token_ids: Sequence[TokenIds | None] | None = None,
    ) -> BuiltPrompt:
        """Builds the listwise prompt text that fits :attr:`max_tokens`.

        Documents that do not fit share the free space equally (a document shorter than
        its share gives the rest back), so the instruction and the query are never cut.
        A document is cut by slicing its token ids and decoding the slice.

        Args:
            query: The query.
            documents: The candidates' texts, best first.
            header: The instruction line.
            order: Where the query goes.
            token_ids: Each document's :meth:`prompt_document_ids` from indexing (``None`` for one not known,
                e.g. a document store's candidate), so no document is tokenised here; ignored when
                :attr:`prompt_token_identity` is ``None``. The prompt is the same with or without them.

        Returns:
            The model input text, the tokens each document kept and had, and where the query sits.

        Raises:
            PromptTooLongError: If the instruction and query alone leave no room.
        """
        documents, ids = self._prepared(query, documents, token_ids)
        return self._fit_listwise(query, documents, ids, header, order)

    def build_leave_one_out(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
        token_ids: Sequence[TokenIds | None] | None = None,
    ) -> list[BuiltPrompt]:
        """The k prompts that each miss one of the k documents, equal to :meth:`build_listwise` without it.

        Each document is prepared and tokenised once for all k prompts (the influence chart's cost), or not
        at all when its ``token_ids`` are given (as in :meth:`build_listwise`).
        """
        documents, ids = self._prepared(query, documents, token_ids)
        return [
            self._fit_listwise(query, documents[:i] + documents[i + 1 :], ids[:i] + ids[i + 1 :], header, order)
            for i in range(len(documents))
        ]

    def prompt_document_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each document's token ids as it enters the listwise prompt, before any budget (one tokenizer call).

        Computed once per corpus when it is indexed (:func:`~e2rank_demo.doc_tokens.corpus_tokens`) and handed
        to :meth:`build_listwise`; meaningful only where :attr:`prompt_token_identity` is not ``None``.
        """
        return [
            np.asarray(ids, dtype=self.token_dtype)
            for ids in self._document_ids([self.format_prompt_document(t) for t in texts])
        ]

    def _document_ids(self, documents: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(documents), add_special_tokens=False)["input_ids"] if documents else []

    def _prepared(
        self, query: str, documents: Sequence[str], token_ids: Sequence[TokenIds | None] | None
    ) -> tuple[list[str], list[TokenIds]]:
        """The prompt documents and their token ids: the given ones where known, the others tokenised now."""
        prepared = self.prompt_documents(query, documents)
        # Ids computed ahead are of the documents as indexed; a query-dependent form makes them stale.
        given = (
            token_ids if token_ids is not None and self.prompt_token_identity is not None else [None] * len(prepared)
        )
        if len(given) != len(prepared):
            raise ValueError(f"{len(given)} token id lists for {len(prepared)} documents")
        missing = [i for i, ids in enumerate(given) if ids is None]
        fresh = dict(zip(missing, self._document_ids([prepared[i] for i in missing]), strict=True))
        return prepared, [fresh[i] if ids is None else ids for i, ids in enumerate(given)]

    def _fit_listwise(
        self, query: str, documents: list[str], doc_ids: Sequence[TokenIds], header: str, order: PromptOrder
    ) -> BuiltPrompt:
        """:meth:`build_listwise` on prepared documents and their token ids."""
        full = [len(ids) for ids in doc_ids]
        before, after = self._wrap_margins()

        def layout(texts: Sequence[str]) -> str:
            return self.wrap_prompt(build_listwise_text(query, texts, header, order))

        skeleton = self._prompt_encoding(layout([""] * len(documents)))
        fixed = len(skeleton[0])
        starts = document_starts(layout, len(documents)) if self._assembles_prompts else None

        def fitted(texts: list[str], kept: list[int]) -> tuple[str, int]:
            """The prompt of these document texts (``kept`` tokens each) and its tokens over the window (<= 0: it
            fits, and its tokens are kept for prompt_batch)."""
            text = layout(texts)
            encoding = None
            if starts is not None:  # exact for this tokenizer: see prompt_assembly
                pieces = [_id_list(ids[:n]) for ids, n in zip(doc_ids, kept, strict=True)]
                encoding = assemble(skeleton, starts, pieces, [len(t) for t in texts])
            if encoding is None:
                encoding = self._prompt_encoding(text)
            if len(encoding[0]) <= self.max_tokens:
                self._remember_prompt(text, encoding)
            return text, len(encoding[0]) - self.max_tokens

        def built(text: str, kept: list[int]) -> BuiltPrompt:
            start, end = query_span(query, header, order, len(text) - before - after)
            return BuiltPrompt(text, kept, full, (before + start, before + end))

        # Joining pieces changes a token count by a few tokens at most, so a prompt far over the window is not
        # tokenised uncut: the fitting below then builds the same text it would have (decided by the same check).
        if fixed + sum(full) <= self.max_tokens + 4 * (len(documents) + 2):
            text, over = fitted(documents, full)
            if over <= 0:
                return built(text, full)
        available = self.max_tokens - fixed
        if available < len(documents):
            raise PromptTooLongError(
                f"the instruction and query take {fixed} tokens, leaving no room for "
                f"{len(documents)} documents in the {self.max_tokens}-token window"
            )
        # Decoding a token prefix and re-tokenising can shift a few tokens; shrink and retry.
        for _ in range(8):
            kept = equal_budget(full, available)
            cut = [i for i, (ids, n) in enumerate(zip(doc_ids, kept, strict=True)) if n < len(ids)]
            decoded = dict(zip(cut, self._decode([_id_list(doc_ids[i][: kept[i]]) for i in cut]), strict=True))
            text, over = fitted([decoded.get(i, d) for i, d in enumerate(documents)], kept)
            if over <= 0:
                return built(text, kept)
            available -= over
        raise PromptTooLongError("could not fit the listwise prompt into the model window")

    def _decode(self, pieces: list[list[int]]) -> list[str]:
        """Each id list's text as ``tokenizer.decode`` gives it: joined from the tokens' texts where prompts are
        assembled (:class:`~e2rank_demo.models.prompt_assembly.PieceTexts`), else in one call to the Rust
        tokenizer where ``decode`` adds nothing to it."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or self.tokenizer.clean_up_tokenization_spaces:
            return [self.tokenizer.decode(ids) for ids in pieces]
        if self._assembles_prompts:
            return self._piece_texts.texts(pieces)
        return list(backend.decode_batch(pieces, skip_special_tokens=False))

    @functools.cached_property
    def _piece_texts(self) -> PieceTexts:
        return PieceTexts(self.tokenizer)

    @functools.cached_property
    def _assembles_prompts(self) -> bool:
        """Whether a fitted prompt's ids are assembled from its documents' ids (see :mod:`prompt_assembly`)."""
        return splits_at_whitespace(self.tokenizer)

    def embed_listwise(
        self,
        query: str,
        documents: Sequence[str],
        header: str = TASKS["web"].rerank,
        order: PromptOrder = "official",
        pooling: PromptPooling | None = None,
    ) -> ListwisePrompt:
        """Builds the listwise prompt from the top-k texts and embeds it in one forward pass."""
        return self.encode_prompt(self.build_listwise(query, documents, header, order), pooling)

    def encode_prompt(self, built: BuiltPrompt, pooling: PromptPooling | None = None) -> ListwisePrompt:
        """Embeds a prompt from :meth:`build_listwise` (one model call)."""
        return self.encode_prompts([built], pooling=pooling)[0]

    def encode_prompts(
        self, built: Sequence[BuiltPrompt], batch_size: int = 32, pooling: PromptPooling | None = None
    ) -> list[ListwisePrompt]:
        """Embeds several prompts from :meth:`build_listwise` in padded batches.

        Up to ``batch_size`` prompts share one forward pass (leave-one-out influence sends
        the k prompts together); padding is masked, so each vector equals its own pass.
        Inside :func:`~e2rank_demo.models.vector_memo.reusing`, a prompt identical to one encoded
        there before takes that one's vector instead (marked ``reused_s``); the others go one per pass.

        Args:
            built: Prompts from :meth:`build_listwise`.
            batch_size: Prompts per forward pass.
            pooling: ``query``, ``mean`` or ``last``; ``None``: :attr:`prompt_pooling`.
        """
        pooling = pooling or self.prompt_pooling
        if pooling not in PROMPT_POOLINGS:
            raise ValueError(f"unknown prompt pooling {pooling!r}; use one of {', '.join(PROMPT_POOLINGS)}")
        if reuse_enabled():
            return [self._reused_or_encoded(p, pooling) for p in built]
        return self._encode_prompts(built, batch_size, pooling)

    def _reused_or_encoded(self, built: BuiltPrompt, pooling: PromptPooling) -> ListwisePrompt:
        """An identical earlier prompt's vector (marked ``reused_s``), else one forward pass, remembered."""
        prompt, reused_s = self._prompt_memo.reuse(
            prompt_key(self.identity, pooling, built), lambda: self._encode_prompts([built], 1, pooling)[0]
        )
        return prompt if reused_s is None else dataclasses.replace(prompt, reused_s=reused_s)

    def _encode_prompts(
        self, built: Sequence[BuiltPrompt], batch_size: int, pooling: PromptPooling
    ) -> list[ListwisePrompt]:
        out: list[ListwisePrompt] = []
        for start in range(0, len(built), batch_size):
            chunk = built[start : start + batch_size]
            batch = self.prompt_batch(*chunk)
            vectors = self._forward(batch, pooling)
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            pooled = (batch["query_mask"] if pooling == "query" else batch["attention_mask"]).sum(dim=1).tolist()
            out.extend(
                ListwisePrompt(
                    text=p.text,
                    vector=vector,
                    n_tokens=int(n),
                    doc_tokens_kept=p.doc_tokens_kept,
                    doc_tokens_full=p.doc_tokens_full,
                    max_tokens=self.max_tokens,
                    pooling=pooling,
                    pooled_tokens=1 if pooling == "last" else int(m),
                )
                for p, vector, n, m in zip(chunk, vectors, lengths, pooled, strict=True)
            )
        return out

    def embed_pairs(
        self, query: str, documents: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
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


def _id_list(ids: TokenIds) -> list[int]:
    return ids.tolist() if isinstance(ids, np.ndarray) else list(ids)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states where ``mask`` is 1 (mean pooling; ``query`` pooling with the query's mask).

    Example:
        >>> import torch
        >>> h = torch.arange(6.0).reshape(1, 3, 2)
        >>> masked_mean(h, torch.tensor([[0, 1, 1]])).tolist()
        [[3.0, 4.0]]
    """
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


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


def query_mask(offsets: Sequence[tuple[int, int]], span: tuple[int, int]) -> list[int]:
    """1 for each token whose characters overlap ``span`` (special tokens, at ``(0, 0)``, never).

    A token that starts just before the query (a byte-level BPE token carrying the space in
    front of it) counts: its characters overlap the span.

    Example:
        >>> query_mask([(0, 0), (0, 5), (5, 6), (6, 10), (0, 0)], (6, 10))
        [0, 0, 0, 1, 0]
    """
    start, end = span
    return [int(b > a and a < end and b > start) for a, b in offsets]


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
