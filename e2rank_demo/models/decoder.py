"""The causal-LM backend (E2Rank, Qwen3-Embedding): last-token pooling, left padding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2rank_demo.models.embedder import Embedder, last_token_pool
from e2rank_demo.models.prompt_assembly import Encoding
from e2rank_demo.prompts import TASKS, format_query

if TYPE_CHECKING:
    import torch


# Decoders accept 32K tokens (the paper's setting), but a prompt that long is minutes of CPU
# time; cap it. A departure from the paper, labelled in the UI, README and RESULTS; raise it with
# E2RANK_MAX_PROMPT_TOKENS or ``eval --max-prompt-tokens``.
MAX_PROMPT_TOKENS = int(os.environ.get("E2RANK_MAX_PROMPT_TOKENS", "8192"))


class DecoderEmbedder(Embedder):
    """Causal LM embedder (E2Rank, Qwen3-Embedding): last-token pooling, left padding."""

    kind = "decoder"
    prompt_pooling = "last"
    eos = "<|endoftext|>"
    doc_max_words = 1024  # the official evaluation cuts documents to their first 1024 words

    def __init__(
        self, name: str, model_dir: str | Path, model: Any, tokenizer: Any, device: str, doc_max_tokens: int = 2048
    ) -> None:
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

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return last_token_pool(hidden, attention_mask)

    def format_document(self, text: str) -> str:
        return cut_words(text, self.doc_max_words)

    def format_prompt_document(self, text: str) -> str:
        return cut_words(text, self.doc_max_words)

    def format_query(self, text: str, instruction: str | None) -> str:
        return format_query(text, instruction or TASKS["web"].query)

    def format_pair(self, query: str, document: str) -> str:
        return f"{format_query(query, TASKS['web'].query)}\nDocument:{document}"

    def _features(self, texts: Sequence[str], max_length: int) -> dict[str, list[list[int]]]:
        # Truncate first and append EOS after, so a long document still ends in EOS.
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 1)[
            "input_ids"
        ]
        return {"input_ids": [[*seq, self.eos_id] for seq in ids]}

    def wrap_prompt(self, body: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": body}],
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=False,
        )

    def _prompt_encoding(self, text: str) -> Encoding:
        # No EOS after the template: the official evaluation pools the template's last token.
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]


def cut_words(text: str, limit: int) -> str:
    """The first ``limit`` whitespace-separated words, joined by single spaces.

    The official E2Rank evaluation cuts every document, and every document inside a
    listwise prompt, this way (``" ".join(text.split()[:1024])``).

    Example:
        >>> cut_words("a  b\\n c d", 3)
        'a b c'
    """
    return " ".join(text.split()[:limit])
