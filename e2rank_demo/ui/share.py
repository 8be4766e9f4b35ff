"""Shareable links (page URL query parameters) and the one-file report in the Search tab.

A link names a bundled corpus, the query, the model and the query-time settings::

    /?corpus=general&q=why%20does%20bread%20rise&model=minilm&stage=dense&n=100&k=20&task=web&lambda=0&order=official&pool=query&rocchio=0

Opening it loads the sample, fills the sidebar and the query box and runs the search;
``present=1`` opens the Present tab on the same corpus and query instead. Every value
is checked against a whitelist or a range (:func:`parse_query_params`): a bad one is
ignored with one plain warning, unknown parameters (``__theme`` and the like) silently.
Uploaded or pasted corpora are never put in a link; the Copy link button says so and
shares the query and settings only. Custom instruction texts are not carried either
(the task preset is). A link without ``k`` or ``pool`` gets the model's default k and prompt
pooling; links made here carry the values the search used. A link made after a search also
carries the documents marked relevant for its query (``rel=gen-006,gen-007:2``: passage ids,
a grade above 1 after a colon), so that whoever opens it sees the sender's nDCG@10, MRR@10
and Recall@N.

Hooks elsewhere (kept small, other tabs change independently):

* ``layout.build_demo`` calls :func:`build_panel` in the Search tab and :func:`wire`
  at the end, passing the page's first ``demo.load`` event so the URL is applied after
  the sample picker is filled.

Example:
    >>> view, problems = parse_query_params({"corpus": "general", "k": "5", "n": "lots"},
    ...                                     samples=["general"], models=["minilm"])
    >>> view.corpus, view.prompt_docs, view.candidates, problems
    ('general', 5, None, ['n=lots: candidates N must be a whole number from 10 to 200'])
    >>> link_query(view)
    '?corpus=general&k=5'
"""

from __future__ import annotations

import dataclasses
import html
import logging
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode

import gradio as gr

from e2rank_demo.pipeline import MAX_QUERY_CHARS
from e2rank_demo.prompts import TASKS
from e2rank_demo.records import PROMPT_POOLINGS
from e2rank_demo.rerank import search_toggles
from e2rank_demo.samples import available_samples, load_sample
from e2rank_demo.ui import callbacks, render
from e2rank_demo.ui.common import user_errors
from e2rank_demo.ui.prompt_settings import MODEL_POOLING, pooling_setting
from e2rank_demo.ui.state import UISession

logger = logging.getLogger(__name__)

N_RANGE = (10, 200)
"""Candidates N a link may ask for (the sidebar slider's range)."""
K_RANGE = (1, 50)
"""Prompt documents k a link may ask for (the sidebar slider's range)."""
STAGES = ("dense", "bm25")
ORDERS = ("official", "query_first")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
PARAMS = (
    "corpus",
    "q",
    "model",
    "stage",
    "n",
    "k",
    "task",
    "lambda",
    "order",
    "pool",
    "rocchio",
    "prompt",
    "rel",
    "present",
)
"""Query parameters a link may carry, in the order links write them."""
MAX_PROMPT_IDS = 100
"""Passage ids an edited prompt in a link may hold (what ``rerank_with_prompt`` accepts)."""
MAX_RELEVANT = 200
"""Documents a link may mark relevant for its query (the most candidates a link may ask for)."""
MAX_GRADE = 3
"""Highest relevance grade a link may give (TREC DL grades 0 to 3; 0 is not relevant)."""
_GRADE = re.compile(r"[0-9]+")
COPY_LABEL = "Copy link"
UPLOAD_LABEL = "Copy link (uploaded documents cannot be included)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# Runs in the browser after the server has returned "?corpus=...": the full link is this page's
# address with that query string; it goes to the clipboard (where the browser allows) and the
# address bar, and the box shows it either way.
COPY_JS = """(qs) => {
  if (typeof qs !== "string" || !qs.startsWith("?")) return qs;
  const url = window.location.origin + window.location.pathname + qs;
  try { navigator.clipboard.writeText(url).catch(() => {}); } catch (e) {}
  try { window.history.replaceState(null, "", url); } catch (e) {}
  return url;
}"""


@dataclass(frozen=True)
class SharedView:
    """What a link asks for; ``None`` means "not in the link" (the page keeps its default).

    Attributes:
        corpus: A bundled sample name.
        query: The query text.
        model: A model preset from the Model dropdown.
        first_stage: ``dense`` or ``bm25``.
        candidates: N.
        prompt_docs: k.
        task: A task preset of :data:`~e2rank_demo.prompts.TASKS`.
        interpolation: λ.
        prompt_order: ``official`` or ``query_first``.
        rocchio: Also run Rocchio.
        present: Open the Present tab.
        prompt: The Prompt lab's edited prompt (passage ids in prompt order, comma-separated
            in the link); ``None`` for the first-stage top-k.
        prompt_pooling: ``query``, ``mean`` or ``last`` (``pool`` in the link); ``None``: the model's.
        relevant: The query's judgments as ``(passage id, grade)`` pairs (``rel`` in the link; an
            empty tuple marks nothing relevant); ``None``: the sample's own judgments.
    """

    corpus: str | None = None
    query: str | None = None
    model: str | None = None
    first_stage: str | None = None
    candidates: int | None = None
    prompt_docs: int | None = None
    task: str | None = None
    interpolation: float | None = None
    prompt_order: str | None = None
    rocchio: bool | None = None
    present: bool = False
    prompt: tuple[str, ...] | None = None
    prompt_pooling: str | None = None
    relevant: tuple[tuple[str, int], ...] | None = None

    @property
    def empty(self) -> bool:
        """True when the link asks for nothing."""
        return self == SharedView()


def _short(value: str, limit: int = 40) -> str:
    value = _CONTROL.sub(" ", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _whole(value: str, lo: int, hi: int) -> int | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        return None
    return int(number)


def _flag(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in TRUE else False if v in FALSE else None


def parse_query_params(
    params: Mapping[str, str],
    *,
    samples: Collection[str],
    models: Collection[str],
) -> tuple[SharedView, list[str]]:
    """Validates a page's query parameters.

    Args:
        params: Parameter name -> value (e.g. ``request.query_params``).
        samples: Bundled corpus names a link may name.
        models: Model presets a link may name (the Model dropdown's values).

    Returns:
        The accepted values and one plain sentence per rejected value (never a
        rejected value longer than 40 characters).
    """
    fields: dict[str, Any] = {}
    problems: list[str] = []

    def reject(key: str, value: str, why: str) -> None:
        problems.append(f"{key}={_short(value)}: {why}")

    for key in PARAMS:
        if key not in params:
            continue
        raw = str(params[key])
        value = raw.strip()
        if key == "corpus":
            if value in samples:
                fields["corpus"] = value
            else:
                reject(key, raw, f"not a bundled corpus (choose {', '.join(sorted(samples)) or 'none'})")
        elif key == "q":
            text = _CONTROL.sub(" ", raw).strip()
            if not text:
                reject(key, raw, "the query is empty")
            elif len(text) > MAX_QUERY_CHARS:
                reject(key, raw, f"the query is longer than {MAX_QUERY_CHARS:,} characters")
            else:
                fields["query"] = text
        elif key == "model":
            if value in models:
                fields["model"] = value
            else:
                reject(key, raw, f"not a model this app offers (choose {', '.join(models)})")
        elif key == "stage":
            if value in STAGES:
                fields["first_stage"] = value
            else:
                reject(key, raw, "the first stage must be dense or bm25")
        elif key in ("n", "k"):
            lo, hi = N_RANGE if key == "n" else K_RANGE
            number = _whole(value, lo, hi)
            if number is None:
                what = "candidates N" if key == "n" else "prompt documents k"
                reject(key, raw, f"{what} must be a whole number from {lo} to {hi}")
            else:
                fields["candidates" if key == "n" else "prompt_docs"] = number
        elif key == "task":
            if value in TASKS:
                fields["task"] = value
            else:
                reject(key, raw, f"not a task preset (choose {', '.join(TASKS)})")
        elif key == "lambda":
            try:
                lam = float(value)
            except ValueError:
                lam = math.nan
            if math.isfinite(lam) and 0.0 <= lam <= 1.0:
                fields["interpolation"] = round(lam, 4)
            else:
                reject(key, raw, "λ must be a number from 0 to 1")
        elif key == "order":
            if value in ORDERS:
                fields["prompt_order"] = value
            else:
                reject(key, raw, "the prompt order must be official or query_first")
        elif key == "pool":
            if value in PROMPT_POOLINGS:
                fields["prompt_pooling"] = value
            else:
                reject(key, raw, f"the prompt pooling must be {', '.join(PROMPT_POOLINGS)}")
        elif key == "rel":
            marks = _relevant(raw)
            if marks is None:
                reject(
                    key,
                    raw,
                    f"must be up to {MAX_RELEVANT} different passage ids separated by commas, each "
                    f"optionally followed by its grade (:2 to :{MAX_GRADE})",
                )
            else:
                fields["relevant"] = marks
        elif key == "prompt":
            ids = [_CONTROL.sub("", part).strip() for part in raw.split(",")]
            if not all(ids) or len(ids) > MAX_PROMPT_IDS or len(set(ids)) != len(ids):
                reject(key, raw, f"must be 1 to {MAX_PROMPT_IDS} different passage ids separated by commas")
            else:
                fields["prompt"] = tuple(ids)
        elif key in ("rocchio", "present"):
            flag = _flag(value)
            if flag is None:
                reject(key, raw, "must be 1 or 0")
            else:
                fields[key] = flag
    return SharedView(**fields), problems


def _relevant(raw: str) -> tuple[tuple[str, int], ...] | None:
    """A link's ``rel`` value as ``(passage id, grade)`` pairs; ``None`` when malformed.

    Example:
        >>> _relevant("gen-006, gen-007:2,a:b"), _relevant(""), _relevant("x,x"), _relevant("x:9")
        ((('gen-006', 1), ('gen-007', 2), ('a:b', 1)), (), None, None)
    """
    text = _CONTROL.sub("", raw).strip()
    if not text:
        return ()
    marks: dict[str, int] = {}
    for raw in text.split(","):
        part = raw.strip()
        pid, _, grade = part.rpartition(":")
        if not pid or not _GRADE.fullmatch(grade):  # no grade written: 1 (an id may hold a colon)
            pid, grade = part, "1"
        if not pid or pid in marks or not 1 <= int(grade) <= MAX_GRADE:
            return None
        marks[pid] = int(grade)
    return tuple(marks.items()) if len(marks) <= MAX_RELEVANT else None


def _relevant_value(marks: Sequence[tuple[str, int]]) -> str:
    """``rel``'s value: ids, with the grade when it is not 1 (always when the id holds a colon, for a clean parse)."""
    return ",".join(pid if grade == 1 and ":" not in pid else f"{pid}:{grade}" for pid, grade in marks)


def _number(value: float) -> str:
    return str(int(value)) if float(value) == int(value) else f"{value:g}"


def link_query(view: SharedView) -> str:
    """The ``?...`` part of a link to ``view`` (only the fields it sets, in :data:`PARAMS` order).

    Example:
        >>> link_query(SharedView(corpus="general", query="why does <bread> rise?", rocchio=False, present=True))
        '?corpus=general&q=why%20does%20%3Cbread%3E%20rise%3F&rocchio=0&present=1'
    """
    values = {
        "corpus": view.corpus,
        "q": view.query,
        "model": view.model,
        "stage": view.first_stage,
        "n": view.candidates,
        "k": view.prompt_docs,
        "task": view.task,
        "lambda": None if view.interpolation is None else _number(view.interpolation),
        "order": view.prompt_order,
        "pool": view.prompt_pooling,
        "rocchio": None if view.rocchio is None else int(view.rocchio),
        "prompt": None if view.prompt is None else ",".join(view.prompt),
        "rel": None if view.relevant is None else _relevant_value(view.relevant),
        "present": 1 if view.present else None,
    }
    pairs = [(key, str(values[key])) for key in PARAMS if values[key] is not None]
    return "?" + urlencode(pairs, quote_via=quote) if pairs else ""


def model_names() -> list[str]:
    """The Model dropdown's values: the only models a link may name."""
    return [value for _, value in callbacks.model_choices()[0]]


def sample_names() -> list[str]:
    """The bundled corpora present now."""
    return [info.name for info in available_samples()]


def view_for_link(
    state: UISession,
    query: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float,
    task: str,
    query_instruction: str,
    rerank_instruction: str,
    interpolation: float,
    prompt_order: str,
    rocchio: bool,
    model: str,
    prompt_pooling: str | None = MODEL_POOLING,
) -> tuple[SharedView | None, list[str]]:
    """The view a link should reproduce, and plain notes about what it leaves out.

    After a search the link carries that search (its query and settings, the k and prompt
    pooling it used included, the corpus and model it ran on); before one, the loaded corpus
    and the sidebar's current values (a pooling left to the model stays out of the link).

    Returns:
        ``(view, notes)``; ``view`` is ``None`` when there is nothing to share yet.
    """
    notes: list[str] = []
    if state.corpus is None or state.config is None:
        return None, ["Nothing to share yet: load a bundled sample (and search) first."]
    result = state.result
    if result is not None:
        s = result.settings
        view = SharedView(
            query=result.query,
            first_stage=s.first_stage,
            candidates=s.candidates,
            prompt_docs=s.prompt_docs,
            task=s.task,
            interpolation=s.interpolation,
            prompt_order=s.prompt_order,
            rocchio="rocchio" in s.rerankers,
            prompt_pooling=s.prompt_pooling,
        )
        if result.prompt_edited and result.prompt_ids:
            if any("," in pid for pid in result.prompt_ids):
                notes.append("The edited prompt names a passage id with a comma, so the link uses the top-k prompt.")
            else:
                view = dataclasses.replace(view, prompt=tuple(result.prompt_ids))
        custom = bool(s.query_instruction or s.rerank_instruction)
    else:
        preset = TASKS.get(task)
        view = SharedView(
            query=(query or "").strip() or None,
            first_stage=first_stage,
            candidates=int(candidates),
            prompt_docs=int(prompt_docs),
            task=task,
            interpolation=float(interpolation),
            prompt_order=prompt_order,
            rocchio=bool(rocchio),
            prompt_pooling=pooling_setting(prompt_pooling),
        )
        custom = preset is not None and (
            (query_instruction or "").strip() not in ("", preset.query)
            or (rerank_instruction or "").strip() not in ("", preset.rerank)
        )
        if view.query:
            notes.append("Not searched yet: the link runs the query in the query box when it is opened.")
    model_name = state.config.model
    view = dataclasses.replace(
        view, corpus=state.corpus.sample, model=model_name if model_name in model_names() else None
    )
    if result is not None and state.corpus.sample is not None:
        # The ticks travel with the search: the recipient sees the sender's metrics, not the sample's.
        marks = sorted((pid, grade) for pid, grade in state.judgments_for(result.query).items() if grade > 0)
        if any("," in pid for pid, _ in marks) or len(marks) > MAX_RELEVANT:
            notes.append(
                "The documents marked relevant cannot go into a link (too many, or an id with a comma): "
                "whoever opens it sees metrics from the sample's own judgments."
            )
        else:
            view = dataclasses.replace(view, relevant=tuple(marks))
    if view.query and len(view.query) > MAX_QUERY_CHARS:
        view = dataclasses.replace(view, query=None)
    if state.corpus.store is not None:
        notes.insert(
            0,
            "This link cannot open an index: it carries the query, the model and the settings only. "
            "Whoever opens it has to open the same index and search.",
        )
    elif state.corpus.sample is None:
        notes.insert(
            0,
            "This link cannot include uploaded documents: it carries the query, the model and the "
            "settings only. Whoever opens it has to upload or paste the same documents and search.",
        )
    if custom:
        notes.append("Custom instruction texts are not part of the link; it uses the task preset's.")
    if view.model is None:
        notes.append(f"The model “{model_name}” is not one of the presets, so the link leaves the model out.")
    return view, notes


# --------------------------------------------------------------------- components


@dataclass
class SharePanel:
    """The Search tab's "Share and report" components."""

    copy: gr.Button
    link: gr.Textbox
    message: gr.HTML
    latency: gr.Checkbox
    report: gr.Button
    report_file: gr.File


def build_panel() -> SharePanel:
    """The share-link and report controls (call inside the Search tab)."""
    with gr.Accordion("Share a link · export a one-file report", open=True, elem_id="share-panel"):
        gr.Markdown(
            "A link reopens this view: bundled corpus, query, model and search settings (uploaded "
            "documents are never put in a link). The report is one HTML file with both lists, the prompt, "
            "the charts, settings and timings; it opens offline in any browser. Charts: the camera icon "
            "in a chart's toolbar saves a PNG, and the report's charts also save SVG.",
            elem_classes="e2r-hint",
        )
        with gr.Row(equal_height=False):
            copy = gr.Button(COPY_LABEL, elem_id="copy-link", scale=0, min_width=300)
            link = gr.Textbox(
                label="Link to this view",
                placeholder="Press “Copy link”: the link appears here too",
                interactive=False,
                buttons=["copy"],
                elem_id="share-link",
                scale=4,
            )
        message = gr.HTML(elem_id="share-message")
        with gr.Row(equal_height=False):
            report = gr.Button("Export report (HTML)", elem_id="report-btn", scale=0, min_width=300)
            latency = gr.Checkbox(
                False,
                label="Include measured latency (times every system on this query: a few seconds)",
                elem_id="report-latency",
                scale=3,
            )
        report_file = gr.File(interactive=False, label="One-file report (opens offline)", elem_id="report-file")
    return SharePanel(copy, link, message, latency, report, report_file)


@dataclass
class UrlWiring:
    """What :func:`wire` leaves for other tabs: the page-open event chain and the link's view."""

    opened: Any
    pending: gr.State


def wire(
    panel: SharePanel,
    *,
    page_loaded: Any,
    state: gr.State,
    tabs: gr.Tabs,
    sample_name: gr.Radio,
    model: gr.Dropdown,
    query: gr.Textbox,
    settings: Sequence[Any],
    show_all: gr.Checkbox,
    stats: gr.HTML,
    index_outputs: Sequence[Any],
    search_outputs: Sequence[Any],
    present_targets: Sequence[Any] = (),
    pooling: Any = None,
    k_chosen: Any = None,
) -> UrlWiring:
    """Connects the panel and applies the page URL on load (call inside ``gr.Blocks`` at the end).

    Args:
        panel: From :func:`build_panel`.
        page_loaded: The page's ``demo.load`` event (the URL is applied after it).
        state: The session's ``UISession`` state.
        tabs: The main ``gr.Tabs`` (``present=1`` selects its ``present`` tab).
        sample_name: The sidebar's bundled-corpus picker.
        model: The sidebar's model dropdown.
        query: The Search tab's query box.
        settings: The sidebar's first stage, N, k, task, retrieval instruction, listwise
            instruction, λ, prompt order and Rocchio components, in that order.
        show_all: The "Show all candidates" checkbox.
        stats: The corpus panel (changes whenever a corpus is indexed).
        index_outputs: The app's ``index_outputs``.
        search_outputs: The search's outputs (``result_outputs`` and the search line).
        present_targets: The Present tab's corpus and query pickers (set by ``present=1``).
        pooling: The sidebar's prompt-pooling control (set by ``pool=``; a link's search uses it).
        k_chosen: The state saying the user set k (a link's ``k=`` counts: the slider keeps it
            when the link's model changes).

    Returns:
        The chain that applied the URL and the view it asked for (for the Present tab).
    """
    private: dict[str, Any] = {"api_visibility": "private"}
    (
        first_stage,
        candidates,
        prompt_docs,
        task,
        _query_instruction,
        _rerank_instruction,
        interpolation,
        prompt_order,
        rocchio,
    ) = settings
    pending = gr.State(None)
    targets = {
        "sample_name": sample_name,
        "model": model,
        "query": query,
        "first_stage": first_stage,
        "candidates": candidates,
        "prompt_docs": prompt_docs,
        "task": task,
        "interpolation": interpolation,
        "prompt_order": prompt_order,
        "rocchio": rocchio,
        "tabs": tabs,
    }
    if present_targets:
        targets["present_corpus"], targets["present_query"] = present_targets
    extra = {name: c for name, c in (("prompt_pooling", pooling), ("k_chosen", k_chosen)) if c is not None}
    targets.update(extra)
    pooled = [pooling] if pooling is not None else []
    outputs = list(dict.fromkeys([*targets.values(), pending, *index_outputs]))

    def apply_url(
        model_value: str, session: UISession, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> dict[Any, Any]:
        values = open_from_url(
            request_query_params(request), model_value, session, list(index_outputs), targets, progress
        )
        values[pending] = values.pop("pending", None)
        return {targets[k] if isinstance(k, str) else k: v for k, v in values.items()}

    opened = page_loaded.then(apply_url, [model, state], outputs, show_progress_on=stats, **private)
    opened = opened.then(
        search_pending,
        [
            pending,
            query,
            first_stage,
            candidates,
            prompt_docs,
            task,
            interpolation,
            prompt_order,
            rocchio,
            show_all,
            state,
            *pooled,
        ],
        list(search_outputs),
        **private,
    )

    inputs = [state, query, *settings, model, *pooled]
    panel.copy.click(share_link, inputs, [panel.link, panel.message], **private).then(
        None, panel.link, panel.link, js=COPY_JS, **private
    )
    stats.change(copy_button, state, panel.copy, show_progress="hidden", **private)
    panel.report.click(
        export_report,
        [panel.latency, state],
        panel.report_file,
        api_name="report",
        show_progress_on=panel.report_file,
        concurrency_id="e2rank-latency",
        concurrency_limit=1,
    )
    return UrlWiring(opened, pending)


def request_query_params(request: gr.Request | None) -> dict[str, str]:
    if request is None:
        return {}
    try:
        return {str(k): str(v) for k, v in dict(request.query_params).items()}
    except Exception:  # noqa: BLE001 - no usable URL: open the page as usual
        return {}


# --------------------------------------------------------------------- callbacks


def open_from_url(
    params: Mapping[str, str],
    model_value: str,
    state: UISession,
    index_outputs: Sequence[Any],
    targets: Mapping[str, Any],
    progress: Any = None,
) -> dict[Any, Any]:
    """Applies a link: fills the sidebar and the query box, loads the sample.

    Returns a mapping of outputs (names in ``targets``, or components of
    ``index_outputs``) to values; ``"pending"`` holds the :class:`SharedView` for the
    search that follows (``None`` when the link asks for nothing).
    """
    view, problems = parse_query_params(params, samples=sample_names(), models=model_names())
    if problems:
        gr.Warning(html.escape("Ignored in this link: " + "; ".join(problems) + ".", quote=False))
    if view.empty:
        return {"pending": None}
    out: dict[Any, Any] = {}
    for name in (
        "first_stage",
        "candidates",
        "prompt_docs",
        "interpolation",
        "prompt_order",
        "rocchio",
        "model",
        "query",
    ):
        value = getattr(view, name)
        if value is not None:
            out[name] = value
    if view.prompt_pooling is not None and "prompt_pooling" in targets:
        out["prompt_pooling"] = view.prompt_pooling
    if view.prompt_docs is not None and "k_chosen" in targets:
        out["k_chosen"] = True  # the link's k stays on the slider when its model changes
    if view.corpus is not None:
        out["sample_name"] = view.corpus
        # Outside an event there is no gr.Progress; load_sample_corpus only calls it, as it calls _no_progress.
        loaded = callbacks.load_sample_corpus(
            view.corpus, view.model or model_value, state, progress or cast("gr.Progress", _no_progress)
        )
        out.update(zip(index_outputs, loaded, strict=False))
    elif view.query is not None and not view.present:
        gr.Warning("The link names no bundled corpus: load one (or your documents) and search.")
    if view.task is not None:
        task = targets.get("task")
        out.pop(task, None)
        out["task"] = view.task
    if view.present:
        out["tabs"] = gr.Tabs(selected="present")
        if view.corpus is not None and "present_corpus" in targets:
            queries = sample_queries(view.corpus)
            out["present_corpus"] = view.corpus
            out["present_query"] = gr.Dropdown(choices=queries, value=view.query or (queries[0] if queries else None))
    out["pending"] = view
    return out


def _no_progress(*_: Any, **__: Any) -> None:
    return None


def search_pending(
    view: SharedView | None,
    query: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float,
    task: str,
    interpolation: float,
    prompt_order: str,
    rocchio: bool,
    show_all: bool,
    state: UISession,
    prompt_pooling: str | None = MODEL_POOLING,
) -> tuple[Any, ...]:
    """After a link loaded its sample: runs its query with the sidebar's (now filled) settings.

    Without ``k`` or ``pool`` in the link, the search takes the model's defaults (the sidebar's
    slider may still be moving to them).
    """
    n = callbacks.n_result_outputs() + 1
    if view is None or view.corpus is None or view.query is None or state.index is None or view.present:
        return tuple(gr.skip() for _ in range(n))
    preset = TASKS.get(view.task or task) or TASKS[next(iter(TASKS))]
    # The link's own values win over whatever the sidebar holds (its task change may still be in flight).
    other_toggles = [False] * (len(search_toggles()) - 1)
    if view.relevant is not None:
        known = {pid: grade for pid, grade in view.relevant if pid in state.index.row_of}
        if len(known) < len(view.relevant):
            gr.Warning(
                f"Ignored in this link: {len(view.relevant) - len(known)} of the documents marked relevant "
                "are not in this corpus."
            )
        state.replace_judgments(view.query, known)
    out = callbacks.search(
        view.query,
        view.first_stage or first_stage,
        view.candidates or candidates,
        view.prompt_docs,
        preset.name,
        preset.query,
        preset.rerank,
        view.interpolation if view.interpolation is not None else interpolation,
        view.prompt_order or prompt_order,
        view.rocchio if view.rocchio is not None else rocchio,
        show_all,
        state,
        *other_toggles,
        view.prompt_pooling or prompt_pooling,
    )
    if view.prompt and state.result is not None and state.result.prompt is not None:
        try:
            state.result = state.index.rerank_with_prompt(state.result, list(view.prompt))
        except ValueError as exc:
            gr.Warning(html.escape(f"Ignored the link's edited prompt: {exc}.", quote=False))
        else:
            out = callbacks.results_outputs(state, show_all) + tuple(out[-1:])
    return out


def share_link(
    state: UISession,
    query: str,
    first_stage: str,
    candidates: float,
    prompt_docs: float,
    task: str,
    query_instruction: str,
    rerank_instruction: str,
    interpolation: float,
    prompt_order: str,
    rocchio: bool,
    model: str,
    prompt_pooling: str | None = MODEL_POOLING,
) -> tuple[Any, str]:
    """ "Copy link": the link's query string (the browser turns it into the full address) and notes."""
    view, notes = view_for_link(
        state,
        query,
        first_stage,
        candidates,
        prompt_docs,
        task,
        query_instruction,
        rerank_instruction,
        interpolation,
        prompt_order,
        rocchio,
        model,
        prompt_pooling,
    )
    if view is None:
        return "", render.notice(" ".join(notes), "warn")
    kind = "warn" if state.corpus is not None and state.corpus.sample is None else "info"
    lines = ["Link copied (where the browser allows it); it is also in the box above and in the address bar.", *notes]
    return link_query(view), render.notice("\n".join(lines), kind)


def copy_button(state: UISession) -> Any:
    """The Copy link button's label for the loaded corpus (an upload cannot be linked)."""
    uploaded = state.corpus is not None and state.corpus.sample is None
    return gr.Button(UPLOAD_LABEL if uploaded else COPY_LABEL)


@user_errors
def export_report(include_latency: bool, state: UISession, progress: gr.Progress = gr.Progress()) -> Any:
    """ "Export report": writes the last search as one offline HTML file into the session's folder."""
    from e2rank_demo import latency as latency_mod
    from e2rank_demo.report import write_report

    result, index = state.result, state.index
    if result is None or index is None or state.corpus is None:
        gr.Warning("Search first; the report shows the last query.")
        return gr.skip()
    opened = state.corpus.store is not None
    measured = None
    if include_latency and not opened:
        progress(0.1, desc="Timing every system on this query…")
        measured = latency_mod.measure_latency(index, result.query, result.settings)
    progress(0.6, desc="Drawing the charts…")
    notes = []
    if opened:
        notes.append(
            "The corpus is an opened index; the report holds the shown snippets only, and no embedding "
            "map or latency (they need the whole corpus in memory)."
        )
    elif state.corpus.sample is None:
        notes.append("The corpus was uploaded or pasted in this session; the report holds the shown snippets only.")
    path = write_report(
        index,
        result,
        state.private_dir(),
        relevance=state.judgments_for(result.query),
        latency=measured,
        map_wait=5.0,
        include_map=not opened,
        model_name=state.config.model if state.config else None,
        corpus_label=state.corpus.label,
        notes=notes,
    )
    return str(path)


def sample_queries(name: str | None) -> list[str]:
    """The example queries of a bundled sample (empty for an unknown name)."""
    try:
        return list(load_sample(name).queries.values()) if name else []
    except ValueError:
        return []
