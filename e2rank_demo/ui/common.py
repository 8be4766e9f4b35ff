"""Plumbing every tab shares: error guards, the GPU wrapper, skips, plot values, the embedding cache.

Tabs import these from here instead of from each other, so no tab is the hub the others
reach into, and no module uses another's private names.

Example:
    >>> layout = {"updatemenus": [{"buttons": [{"method": "animate", "args": [None, {}]}]}],
    ...           "sliders": [{"steps": [{"method": "animate", "args": [["0.00"], {}]}]}]}
    >>> inline_frames(layout, [{"name": "0.00", "data": [{"x": [0]}], "traces": [3]}])
    >>> layout["updatemenus"][0]["buttons"][0]["args"][0][0]["traces"], layout["sliders"][0]["steps"][0]["args"][0]
    ([3], [{'name': '0.00', 'data': [{'x': [0]}], 'traces': [3]}])
"""

from __future__ import annotations

import functools
import html
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import gradio as gr
from gradio.components.plot import PlotData

from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.models import PromptTooLongError
from e2rank_demo.plots import theme_meta

# After a search the results, not the controls, should fill the screen (a projector shows ~720 px).
SCROLL_TO_RESULTS = "() => document.getElementById('search-info')?.scrollIntoView({behavior: 'smooth'})"
# Set when the page-open chain (sample picker, URL, pending search) has run: a click before it can be
# overwritten by that chain's outputs, so browser tests (and scripts driving the app) wait for it.
PAGE_READY = "() => { document.body.dataset.e2rReady = '1'; }"

if TYPE_CHECKING:
    from e2rank_demo.plots import Figure

try:  # Hugging Face ZeroGPU hands out the GPU only inside spaces.GPU-decorated calls.
    import spaces
except ImportError:
    spaces = None

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

UNCHANGED = "Your corpus and judgments are unchanged."


# --------------------------------------------------------------------- error guards


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turns any failure into a plain ``gr.Error`` (no traceback on the page)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, PromptTooLongError) as exc:  # the API's messages are written for users
            # Gradio renders error messages as HTML; they may quote user input.
            raise gr.Error(html.escape(str(exc), quote=False), print_exception=False) from None
        except Exception as exc:  # the page must get a message, never a crash
            logger.exception("callback %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(exc).__name__}). {UNCHANGED}", print_exception=False) from None

    return wrapper


def warn_on_error(
    fallback: Callable[[], Any], *, capitalise: bool = True, unchanged: str = UNCHANGED
) -> Callable[[Callable[P, Any]], Callable[P, Any]]:
    """Turns any failure into a plain ``gr.Warning`` and returns ``fallback()`` (no traceback, no lost state).

    Args:
        fallback: Makes the outputs returned after a failure (usually all skips).
        capitalise: Start a user-facing message with a capital letter.
        unchanged: The sentence after "Something went wrong (...)." for unexpected failures.
    """

    def decorate(fn: Callable[P, Any]) -> Callable[P, Any]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return fn(*args, **kwargs)
            except ValueError as exc:  # the API's messages are written for users
                message = str(exc)  # Gradio renders toasts as HTML and the message may quote user input
                if capitalise:
                    message = message[:1].upper() + message[1:]
                gr.Warning(html.escape(message, quote=False))
            except Exception as exc:  # the page gets a message, never a crash
                logger.exception("callback %s failed", fn.__name__)
                gr.Warning(f"Something went wrong ({type(exc).__name__}). {unchanged}")
            return fallback()

        return wrapper

    return decorate


# --------------------------------------------------------------------- outputs


def skip(n: int) -> tuple[Any, ...]:
    """``n`` outputs left as they are."""
    return tuple(gr.skip() for _ in range(n))


class Outputs:
    """A callback's outputs by name, in the order Gradio receives them.

    Callbacks return ``OUTPUTS.values(plot=..., caption=...)``: a tuple in this order,
    with every output they do not name left unchanged (``gr.skip()``); tabs list their
    components with :meth:`components`. Adding an output is adding its name here.

    Example:
        >>> out = Outputs("info", "plot")
        >>> out.values(plot=1)[1], len(out)
        (1, 2)
    """

    def __init__(self, *names: str) -> None:
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def values(self, **named: Any) -> tuple[Any, ...]:
        """The outputs in order; names not given are skipped."""
        unknown = set(named) - set(self.names)
        if unknown:
            raise TypeError(f"unknown outputs: {', '.join(sorted(unknown))}")
        return tuple(named[name] if name in named else gr.skip() for name in self.names)

    def skip(self) -> tuple[Any, ...]:
        """Every output left as it is."""
        return skip(len(self.names))

    def components(self, tab: Any, **outside: Any) -> list[Any]:
        """The components of ``tab`` (a dataclass with one attribute per name), in order; ``outside`` names
        the ones another part of the page owns.

        Example:
            >>> from types import SimpleNamespace
            >>> Outputs("info", "tabs").components(SimpleNamespace(info="i"), tabs="t")
            ['i', 't']
        """
        return [outside[name] if name in outside else getattr(tab, name) for name in self.names]


def plot_value(figure: Figure) -> PlotData:
    """A ``gr.Plot`` value that keeps the figure's plotly config, carries animation frames inline
    and carries its light and dark themes (``static/app.js`` applies the page's; see
    :func:`e2rank_demo.plots.theme_meta`)."""
    spec = json.loads(figure.fig.to_json())
    frames = spec.pop("frames", None)
    layout = spec.setdefault("layout", {})
    if frames:
        inline_frames(layout, frames)
    layout["meta"] = {**(layout.get("meta") or {}), **theme_meta(spec)}
    spec["config"] = figure.config
    return PlotData(type="plotly", plot=json.dumps(spec))


def inline_frames(layout: dict[str, Any], frames: Sequence[dict[str, Any]]) -> None:
    """Replaces frame names in ``animate`` buttons and slider steps by the frame objects themselves.

    Gradio's plotly renderer passes only data, layout and config to ``Plotly.react``, so
    named frames would be lost; ``Plotly.animate`` also takes a list of frame objects.
    A Play button animating all frames (``args[0] is None``) gets all of them; the
    pause button (``[None]``) is left alone.
    """
    by_name = {str(f.get("name")): f for f in frames}
    for menu in layout.get("updatemenus", []):
        for button in menu.get("buttons", []):
            if button.get("method") == "animate" and button.get("args") and button["args"][0] is None:
                button["args"][0] = list(frames)
    for slider in layout.get("sliders", []):
        for step in slider.get("steps", []):
            names = step.get("args", [None])[0]
            if (
                step.get("method") == "animate"
                and isinstance(names, list)
                and names
                and all(isinstance(n, str) and n in by_name for n in names)
            ):
                step["args"][0] = [by_name[n] for n in names]


# --------------------------------------------------------------------- shared resources


def on_gpu(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run inside ``spaces.GPU`` on Hugging Face ZeroGPU, unchanged elsewhere."""
    return spaces.GPU(fn) if spaces is not None else fn


_cache_lock = threading.Lock()


@functools.cache
def _open_cache() -> EmbeddingCache:
    return EmbeddingCache()


def embedding_cache() -> EmbeddingCache:
    """The process-wide embedding cache (thread-safe, shared by all sessions), opened once."""
    with _cache_lock:
        return _open_cache()
