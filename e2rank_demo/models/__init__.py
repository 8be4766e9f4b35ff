"""Embedding backends behind one small protocol, model presets and safe loading.

Two backends implement :class:`Embedder`:

* :class:`DecoderEmbedder` for E2Rank / Qwen3-Embedding style models: last-token pooling
  with left padding, ``<|endoftext|>`` after documents and queries, and the listwise
  prompt through the tokenizer's chat template with thinking disabled.
* :class:`EncoderEmbedder` for the offline default, all-MiniLM-L6-v2 (mean pooling,
  L2 norm): documents and queries use its 256-token training length, the listwise prompt
  the full 512-position window, with an equal token budget per prompt document so the
  instruction and the query are never cut.

The package's parts: :mod:`~e2rank_demo.models.embedder` (the protocol),
:mod:`~e2rank_demo.models.encoder` and :mod:`~e2rank_demo.models.decoder` (the backends),
:mod:`~e2rank_demo.models.adapter` (trained LoRA adapters), :mod:`~e2rank_demo.models.presets`
(named models), :mod:`~e2rank_demo.models.loading` (shared, time-limited loading with a
fallback), :mod:`~e2rank_demo.models.model_lock` (the shared model's turns) and
:mod:`~e2rank_demo.models.vector_memo` (reusing identical queries' and prompts' vectors).
Everything public is re-exported here.

Example:
    >>> from e2rank_demo.models import load_embedder
    >>> loaded = load_embedder("minilm")
    >>> loaded.embedder.embed_queries(["what is e2rank"]).shape
    (1, 384)
"""

from __future__ import annotations

from e2rank_demo.models.adapter import (
    ADAPTER_SPEC_FILE,
    AdaptedDecoderEmbedder,
    AdaptedEncoderEmbedder,
    AdapterSpec,
    merged_adapter,
    query_snippet,
    with_adapter,
)
from e2rank_demo.models.decoder import (
    MAX_PROMPT_TOKENS,
    DecoderEmbedder,
    cut_words,
)
from e2rank_demo.models.embedder import (
    Embedder,
    ProgressFn,
    PromptTooLongError,
    TokenIds,
    equal_budget,
    fingerprint_model_dir,
    last_token_pool,
    masked_mean,
)
from e2rank_demo.models.encoder import (
    EncoderEmbedder,
)
from e2rank_demo.models.loading import (
    DEFAULT_LOAD_TIMEOUT_S,
    LoadedModel,
    build_adapted_embedder,
    build_embedder,
    load_embedder,
    pick_device,
)
from e2rank_demo.models.model_lock import ModelLock, bulk
from e2rank_demo.models.presets import (
    ADAPTER_ROOT,
    OFFLINE_DEFAULT,
    OFFLINE_RECOMMENDED,
    PRESETS,
    Preset,
    default_model_name,
    detect_kind,
    gpu_present,
    resolve_source,
)
from e2rank_demo.models.vector_memo import VectorMemo, reusing

__all__ = [
    "ADAPTER_ROOT",
    "ADAPTER_SPEC_FILE",
    "DEFAULT_LOAD_TIMEOUT_S",
    "MAX_PROMPT_TOKENS",
    "OFFLINE_DEFAULT",
    "OFFLINE_RECOMMENDED",
    "PRESETS",
    "AdaptedDecoderEmbedder",
    "AdaptedEncoderEmbedder",
    "AdapterSpec",
    "DecoderEmbedder",
    "Embedder",
    "EncoderEmbedder",
    "LoadedModel",
    "ModelLock",
    "Preset",
    "ProgressFn",
    "PromptTooLongError",
    "TokenIds",
    "VectorMemo",
    "build_adapted_embedder",
    "build_embedder",
    "bulk",
    "cut_words",
    "default_model_name",
    "detect_kind",
    "equal_budget",
    "fingerprint_model_dir",
    "gpu_present",
    "last_token_pool",
    "load_embedder",
    "masked_mean",
    "merged_adapter",
    "pick_device",
    "query_snippet",
    "resolve_source",
    "reusing",
    "with_adapter",
]
