"""Loading models safely: device choice, one shared load per process, timeout and fallback."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from e2rank_demo.models.adapter import ADAPTER_SPEC_FILE, AdapterSpec, merged_adapter
from e2rank_demo.models.decoder import DecoderEmbedder
from e2rank_demo.models.embedder import Embedder, fingerprint_model_dir
from e2rank_demo.models.encoder import EncoderEmbedder
from e2rank_demo.models.presets import (
    ADAPTER_ROOT,
    OFFLINE_DEFAULT,
    PRESETS,
    default_model_name,
    detect_kind,
    resolve_source,
)
from e2rank_demo.records import PromptPooling

logger = logging.getLogger(__name__)


DEFAULT_LOAD_TIMEOUT_S = float(os.environ.get("E2RANK_LOAD_TIMEOUT", "8"))


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
    embedder = cls(name, model_dir, model, tokenizer, device)
    defaults = prompt_defaults(name) if name in PRESETS else None
    if defaults is not None:  # the preset's validated prompt defaults
        embedder.prompt_docs, embedder.prompt_pooling = defaults
    return embedder


class PromptDefaults(NamedTuple):
    """The listwise prompt's defaults a model opens with.

    Attributes:
        k: Documents in the prompt.
        pooling: How the prompt's hidden states become its vector.
    """

    k: int
    pooling: PromptPooling


def prompt_defaults(name: str) -> PromptDefaults | None:
    """The k and prompt pooling the model ``name`` opens with, read without loading its weights.

    The same values :func:`build_embedder` gives the loaded model: a trained adapter's
    record (``e2rank_adapter.json``), over its base's; a preset's own, over its backend's
    (the paper's k = 20; ``mean`` for encoders, ``last`` for decoders).

    Args:
        name: A preset, or a folder holding a trained adapter.

    Returns:
        The defaults, or ``None`` for a name whose backend is known only once loaded (another
        folder or hub id) or whose adapter record cannot be read.

    Example:
        >>> prompt_defaults("e2rank-0.6b")
        PromptDefaults(k=20, pooling='last')
    """
    preset = PRESETS.get(name)
    source = preset.source if preset is not None else name
    folder = (
        ADAPTER_ROOT / source.removeprefix("adapter:")
        if source.startswith("adapter:")
        else Path(source)
        if (Path(source) / ADAPTER_SPEC_FILE).is_file()
        else None
    )
    if folder is not None:
        try:
            spec = AdapterSpec.read(folder)
        except (OSError, ValueError, KeyError):
            return None
        base = prompt_defaults(spec.base)
        return None if base is None else PromptDefaults(spec.prompt_docs or base.k, spec.prompt_pooling or base.pooling)
    if preset is None:
        return None
    backend = EncoderEmbedder if preset.kind == "encoder" else DecoderEmbedder
    return PromptDefaults(preset.prompt_docs or backend.prompt_docs, preset.prompt_pooling or backend.prompt_pooling)


def build_adapted_embedder(adapter_dir: str | Path, name: str | None = None) -> Embedder:
    """Loads the base model named in ``adapter_dir`` and attaches the adapter (offline).

    Args:
        adapter_dir: Folder with ``adapter_config.json``, ``adapter_model.safetensors``
            and ``e2rank_adapter.json`` (as written by ``python -m e2rank_demo train``).
        name: Name of the result; defaults to the folder.
    """
    import peft

    spec = AdapterSpec.read(adapter_dir)
    base = build_embedder(spec.base)
    model = peft.PeftModel.from_pretrained(base.model, str(adapter_dir)).to(base.device).eval()
    return merged_adapter(base, model, spec, fingerprint_model_dir(adapter_dir), name or str(adapter_dir))


def _hub_snapshot_dir(repo_id: str) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, local_files_only=True)


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
    except Exception as exc:  # any load failure must degrade, not crash
        if name == OFFLINE_DEFAULT:
            raise
        reason = _describe_load_error(exc, timeout)
        logger.warning("model %s unavailable (%s); falling back to %s", name, reason, OFFLINE_DEFAULT)
        notice = (
            f"Could not load model '{name}' ({reason}). Using the offline default "
            f"{PRESETS[OFFLINE_DEFAULT].label} instead."
        )
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
