"""The sidebar's k slider and prompt-pooling control, which start from the chosen model's defaults.

Each model records the k and the prompt pooling it works best with (a trained adapter in
``e2rank_adapter.json``, a preset in :mod:`~e2rank_demo.models.presets`; E2Rank's decoders
keep the paper's k = 20 and last-token pooling). The k slider moves to the chosen model's
default when the model changes, unless the user set k (then their k stays: an explicit k
always wins); the pooling control's first choice, "the model's default", names that default.

Example:
    >>> pooling_setting(MODEL_POOLING), pooling_setting("query")
    (None, 'query')
    >>> pooling_choices("e2rank-0.6b")[0]
    ('Default: last token', 'model')
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from e2rank_demo.models.loading import PromptDefaults, prompt_defaults
from e2rank_demo.records import PROMPT_POOLINGS, PromptPooling
from e2rank_demo.ui.state import UISession

MODEL_POOLING = "model"
"""The pooling control's value for "the model's default"."""
POOLING_NAMES: dict[str, str] = {"query": "query tokens", "mean": "all tokens (mean)", "last": "last token"}
"""How each pooling is called in the UI."""
POOLING_HINT = (
    "How the listwise prompt becomes one vector (documents and queries keep the model's own). Default: "
    "the model's choice."
)
FALLBACK_K = 20
"""The slider's start when a model's default is known only once it is loaded (the paper's k)."""


def model_defaults(model: str, state: UISession | None = None) -> PromptDefaults | None:
    """The defaults of ``model``: the loaded index's model when it is that one, else read without loading."""
    if state is not None and state.index is not None and state.config is not None and state.config.model == model:
        embedder = state.index.embedder
        return PromptDefaults(embedder.prompt_docs, embedder.prompt_pooling)
    return prompt_defaults(model)


def pooling_choices(model: str, state: UISession | None = None) -> list[tuple[str, str]]:
    """The pooling control's choices, the first one naming ``model``'s default."""
    defaults = model_defaults(model, state)
    default = f"Default: {POOLING_NAMES[defaults.pooling]}" if defaults else "The model's default"
    return [(default, MODEL_POOLING), *((f"{name[:1].upper()}{name[1:]}", key) for key, name in POOLING_NAMES.items())]


def pooling_setting(value: str | None) -> PromptPooling | None:
    """The :attr:`~e2rank_demo.pipeline.SearchSettings.prompt_pooling` of a control value (``None``: the model's).

    Raises:
        ValueError: For a value that is no pooling (an API client's typo).
    """
    if value in (None, "", MODEL_POOLING):
        return None
    if value not in PROMPT_POOLINGS:
        raise ValueError(
            f"prompt pooling must be {MODEL_POOLING!r} (the model's default) or one of "
            f"{', '.join(PROMPT_POOLINGS)}, not {value!r}"
        )
    return value


def k_info(defaults: PromptDefaults | None) -> str:
    """The k slider's hint: the model's default, and that a k the user sets stays."""
    start = f"Starts at the model's default, {defaults.k}" if defaults else "Starts at the model's default"
    return f"{start}; a k you set stays when you switch models."


def initial_k(model: str) -> int:
    """Where the k slider starts when the page opens on ``model``."""
    defaults = prompt_defaults(model)
    return defaults.k if defaults else FALLBACK_K


def follow_model(model: str, k_chosen: bool, state: UISession) -> tuple[Any, Any]:
    """The k slider and the pooling control after the model changed or a corpus was indexed.

    Args:
        model: The sidebar's model.
        k_chosen: Whether the user (or a link) set k: then the slider keeps it.
        state: The session (its index tells the defaults of the model actually loaded).

    Returns:
        Updates of the k slider (its value moves to the model's default unless ``k_chosen``)
        and of the pooling control (its choices name the model's default; its value stays).
    """
    defaults = model_defaults(model, state)
    slider = (
        gr.Slider(info=k_info(defaults))
        if k_chosen or defaults is None
        else gr.Slider(value=defaults.k, info=k_info(defaults))
    )
    return slider, gr.Dropdown(choices=pooling_choices(model, state))


def k_set() -> bool:
    """The user moved the k slider: from now on their k stays when the model changes."""
    return True
