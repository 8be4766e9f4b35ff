"""TorchScript graphs of encoder models, for inference on a CPU that serves many visitors.

An eager forward pass hands Python's GIL back and takes it again around every operator. A
MiniLM pass has hundreds of them, and in a server each re-take waits behind whatever pure
Python runs in the other threads (maps, charts, Gradio's own work): a 0.18 s pass took
0.82 s next to one busy Python thread on this project's 2-core machine. A traced graph runs
in TorchScript's interpreter, which releases the GIL once for the whole pass (0.19 s in the
same setting). The graph shares the model's weights and gives the eager pass's outputs (bit for
bit on this project's machine; ``tests/test_frozen_graph.py`` compares them on padded and
unpadded batches, token-type ids included, to 1e-5). Its interpreter allocates differently:
after 32-passage batches glibc kept about 0.5 GB more freed heap than eager passes left (the
class bench's peak server RSS stayed at 1.65 GiB).

Only plain ``transformers`` models in eval mode are traced: a PEFT model switches adapters
with Python flags that a trace would fix for good. Training runs outside inference mode
and so always runs eagerly. ``E2RANK_TORCHSCRIPT=0`` turns graphs off (to compare).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_EXAMPLE_TEXTS = ("graph", "an example with more tokens, so that the batch is padded")


def graphs_enabled(environ: dict[str, str] | None = None) -> bool:
    """Whether encoder passes may run as TorchScript graphs (``E2RANK_TORCHSCRIPT``, on by default).

    Example:
        >>> graphs_enabled({}), graphs_enabled({"E2RANK_TORCHSCRIPT": "0"})
        (True, False)
    """
    env = os.environ if environ is None else environ
    return env.get("E2RANK_TORCHSCRIPT", "1").strip().lower() not in {"0", "false", "no", "off"}


def use_graphs(device: str, environ: dict[str, str] | None = None) -> bool:
    """Graphs serve CPU passes only: a GPU's kernels do not wait on the GIL.

    Example:
        >>> use_graphs("cpu", {}), use_graphs("cuda", {}), use_graphs("cpu", {"E2RANK_TORCHSCRIPT": "off"})
        (True, False, False)
    """
    return device == "cpu" and graphs_enabled(environ)


def _last_hidden_module(model: Any, keys: tuple[str, ...]) -> torch.nn.Module:
    """``model(**inputs).last_hidden_state`` as a module of positional tensors (what tracing takes)."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(keys, tensors, strict=True))).last_hidden_state

    return LastHidden().eval()


class GraphCache:
    """Traced graphs of the models one embedder runs, made on first use and kept as long as the model lives.

    Args:
        tokenizer: Tokenises the example batch a graph is traced on.
        pad: Pads it (padding matters: a trace keeps only the code path its example took).
        enabled: ``False`` runs every pass eagerly (see :func:`use_graphs`).
    """

    def __init__(
        self, tokenizer: Any, pad: Callable[[dict[str, list[list[int]]]], dict[str, torch.Tensor]], enabled: bool
    ) -> None:
        self._tokenizer = tokenizer
        self._pad = pad
        self._enabled = enabled
        self._graphs: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def last_hidden(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's last hidden states for a tokenised batch, through its graph where one applies."""
        import torch

        graph = self.graph(model, tuple(inputs)) if torch.is_inference_mode_enabled() else None
        if graph is None:
            return model(**inputs).last_hidden_state
        return graph(*inputs.values())

    def graph(self, model: Any, keys: tuple[str, ...]) -> Any:
        """The model's graph for inputs named ``keys`` (in that order), traced on first use; ``None`` where the
        model runs eagerly."""
        if not self._enabled:
            return None
        known = self._graphs.get(model, {})
        if keys in known:
            return known[keys]
        with self._lock:  # two slots asking at once trace once
            per_keys = self._graphs.setdefault(model, {})
            if keys not in per_keys:
                per_keys[keys] = self._trace(model, keys)
            return per_keys[keys]

    def _trace(self, model: Any, keys: tuple[str, ...]) -> Any:
        import torch

        # Padded by the embedder, not by the tokenizer: transformers keeps padding on the tokenizer that all
        # threads share, and a document batch tokenised meanwhile turned it off under this call.
        example = self._pad(dict(self._tokenizer(list(_EXAMPLE_TEXTS))))
        if not _traceable(model) or set(keys) - set(example):
            return None
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # Tracing warns that it is deprecated and that mask checks are data-dependent;
                # the tests compare the graph with the eager pass on batches of other shapes.
                warnings.simplefilter("ignore")
                device = next(model.parameters()).device
                args = tuple(example[k].to(device) for k in keys)
                return torch.jit.trace(_last_hidden_module(model, keys), args, check_trace=False)
        except (RuntimeError, TypeError, ValueError, AttributeError) as exc:  # the tracer cannot follow it: eager
            log.warning("No TorchScript graph for %s (%s); running it eagerly.", type(model).__name__, exc)
            return None


def _traceable(model: Any) -> bool:
    """A plain ``transformers`` model in eval mode, with no PEFT layers inside."""
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel) or model.training:
        return False
    return not any(type(m).__module__.startswith("peft") for m in model.modules())
