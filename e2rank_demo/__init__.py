"""E2Rank Demo: dense retrieval and E2Rank listwise reranking with one embedding model.

The notebook-facing API is importable from the package itself; each name is imported on
first use (PEP 562 ``__getattr__``), so ``import e2rank_demo`` stays light (no torch,
plotly or gradio until a name that needs them is used).

Example:
    >>> import e2rank_demo
    >>> e2rank_demo.SearchSettings(candidates=10, prompt_docs=5).prompt_docs
    5
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# peft 0.21 probes ``model.is_gradient_checkpointing`` whenever it wraps a model, a property
# transformers 5 deprecated; the FutureWarning is about peft's code and every start that loads
# the default adapter printed it. Only that message is filtered, and here, at import in the main
# thread: a filter added later from the warm-up thread can be undone when another thread leaves a
# ``warnings.catch_warnings()`` block (it restores its own copy of the filter list), which let
# the warning through on CI's fresh start.
warnings.filterwarnings(
    "ignore",
    message="`is_gradient_checkpointing` is deprecated",
    category=FutureWarning,
    module="transformers.modeling_utils",
)

_LAZY: dict[str, str] = {
    "SearchSession": "e2rank_demo.pipeline",
    "SearchSettings": "e2rank_demo.pipeline",
    "load_embedder": "e2rank_demo.models",
    "load_sample": "e2rank_demo.samples",
    "open_session": "e2rank_demo.samples",
    "available_samples": "e2rank_demo.samples",
    "measure_latency": "e2rank_demo.latency",
    "build_report_html": "e2rank_demo.report",
    "write_report": "e2rank_demo.report",
}

# Spelled out (not ``[*_LAZY]``) so linters and type checkers can read it; tests/test_project_metadata.py
# keeps it equal to ``_LAZY``'s names.
__all__ = [
    "SearchSession",
    "SearchSettings",
    "__version__",
    "available_samples",
    "build_report_html",
    "load_embedder",
    "load_sample",
    "measure_latency",
    "open_session",
    "write_report",
]

if TYPE_CHECKING:
    from e2rank_demo.latency import measure_latency
    from e2rank_demo.models import load_embedder
    from e2rank_demo.pipeline import SearchSession, SearchSettings
    from e2rank_demo.report import build_report_html, write_report
    from e2rank_demo.samples import available_samples, load_sample, open_session


def __getattr__(name: str) -> Any:
    """Imports a public name's module on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'e2rank_demo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
