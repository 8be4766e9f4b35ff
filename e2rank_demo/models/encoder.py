"""The bidirectional-encoder backend (all-MiniLM-L6-v2 style, mean pooling)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from e2rank_demo.models.embedder import Embedder, ProgressFn, masked_mean
from e2rank_demo.models.prompt_assembly import Encoding

if TYPE_CHECKING:
    import torch


class EncoderEmbedder(Embedder):
    """Bidirectional encoder with mean pooling (sentence-transformers style)."""

    kind = "encoder"
    graph_passes = True  # its graph gives the eager outputs (tests/test_frozen_graph.py); decoders stay eager

    def __init__(self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str) -> None:
        super().__init__(name, model_dir, model, tokenizer, device)
        self.dim = int(model.config.hidden_size)
        self.max_tokens = int(min(model.config.max_position_embeddings, tokenizer.model_max_length))
        st_config = Path(model_dir) / "sentence_bert_config.json"
        seq = json.loads(st_config.read_text())["max_seq_length"] if st_config.exists() else self.max_tokens
        self.doc_max_tokens = int(min(seq, self.max_tokens))

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(hidden, attention_mask)

    def _features(self, texts: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
        return dict(self.tokenizer(list(texts), truncation=True, max_length=max_length))

    def wrap_prompt(self, body: str) -> str:
        return body

    def _prompt_encoding(self, text: str) -> Encoding:
        encoded = self.tokenizer(text, return_offsets_mapping=True)
        return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]

    def embed_pairs(
        self, query: str, documents: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Jointly encodes ``[CLS] query [SEP] document [SEP]`` pairs (cross-encoder input).

        Cut to :attr:`doc_max_tokens` (the document's side is cut) and length-sorted, as in :meth:`embed_documents`.
        """
        features = self.tokenizer(
            [query] * len(documents), list(documents), truncation="only_second", max_length=self.doc_max_tokens
        )
        return self._encode_features(dict(features), batch_size, progress)
