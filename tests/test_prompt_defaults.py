"""The k and prompt pooling a model opens with, read without loading it, equal what loading gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2rank_demo.models import ADAPTER_SPEC_FILE, PRESETS, build_embedder
from e2rank_demo.models.loading import PromptDefaults, prompt_defaults


@pytest.mark.parametrize("name", ["minilm", "minilm-e2rank"])
def test_offline_presets_read_the_defaults_the_loaded_model_has(name: str) -> None:
    """The offline presets (the base, and the trained adapter over it) resolve as the loader does."""
    embedder = build_embedder(name)
    assert prompt_defaults(name) == (embedder.prompt_docs, embedder.prompt_pooling)


def test_decoder_presets_keep_last_token_pooling_and_k_20() -> None:
    """E2Rank's decoders open with the paper's k = 20 and last-token pooling (nothing loaded)."""
    for name, preset in PRESETS.items():
        if preset.kind == "decoder" and preset.prompt_docs is None and preset.prompt_pooling is None:
            assert prompt_defaults(name) == PromptDefaults(20, "last")


def test_an_adapter_folder_overrides_its_base(tmp_path: Path, tiny_qwen_dir: Path) -> None:
    """An adapter's recorded k and pooling win over its base's; a missing one falls back to the base's;
    an unreadable record or an unknown name gives None (known only once loaded)."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps({"base": "minilm", "prompt_docs": 5, "prompt_pooling": "query"}))
    assert prompt_defaults(str(folder)) == PromptDefaults(5, "query")
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps({"base": "e2rank-0.6b", "prompt_docs": 7}))
    assert prompt_defaults(str(folder)) == PromptDefaults(7, "last")
    (folder / ADAPTER_SPEC_FILE).write_text("{not json")
    assert prompt_defaults(str(folder)) is None
    assert prompt_defaults(str(tmp_path / "elsewhere")) is None
    assert prompt_defaults(str(tiny_qwen_dir)) is None  # a plain model folder: its backend decides
