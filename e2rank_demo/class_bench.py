"""``bench --class N``: a class of N visitors on one server, as a lecturer's link brings them.

``python app.py`` is started on loopback as the README starts it (:func:`e2rank_demo.serving.serve_app`),
in fresh temporary folders (cache, uploads) like a restarted Space. A "lecturer" visit first loads
the SciFact sample, searches and opens the map until its UMAP fit is ready (not counted). Then N
``gradio_client`` visitors arrive at once. Each loads the SciFact sample, runs
:data:`N_SEARCHES` searches with different sample queries, opens the map once
(``/map``) and the prompt lab's influence chart once (``/prompt_influence``), then leaves; every
fourth visitor first uploads a small file of its own (documents carrying a marker word and ids
no other visitor uses) and searches it once.

Reported per action: p50 / p95 / max seconds; errors (an exception, or an answer that is not
what the page would show); cross-visitor documents (any result list, prompt, corpus panel, map
or chart holding a document outside the visitor's own corpus: another visitor's marker, an id
outside its upload, or an id outside the sample); the peak RSS of the server's process tree
(``/proc`` polled every 0.2 s); the queue settings used. Targets are judged by :func:`verdicts`;
nothing here asserts a time (``tests/test_load.py`` runs a small class and asserts errors and
isolation only).

Example:
    >>> marker(7), sorted(own_markers('a zq007mark b zq012mark zq007mark'))
    ('zq007mark', ['zq007mark', 'zq012mark'])
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from e2rank_demo.serving import SETTING_VARIABLES, serve_app, serving_settings, settings_env

N_SEARCHES = 5
UPLOAD_EVERY = 4
"""Every fourth visitor (0, 4, 8, ...) uploads a file of its own first: a quarter of the class."""
TARGET_VISITORS = 30
ACTIONS = ("connect", "upload", "load_sample", "search", "search_fresh", "search_reused", "map", "prompt_lab")
"""Timed actions; ``search_fresh`` and ``search_reused`` split the searches by whether their listwise prompt
ran a forward pass or reused an identical earlier prompt's vector (as the search line says)."""
REUSED_PROMPT = "listwise prompt vector ("
"""The search line's words (on hover) when the listwise prompt's vector was reused (``ui/render.py``)."""
MAP_WAITING = "UMAP is still fitting"
"""The start of the map's notice while PCA stands in for a UMAP fit (``ui/visuals.py``)."""
APP_START_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 120.0
"""gradio_client's HTTP calls (page config, uploads) wait this long, as a browser would, not httpx's 5 s."""
WARM_UP_TIMEOUT_S = 600.0
VISIT_TIMEOUT_S = 1800.0
SAMPLE = "scifact"
AUTOMATIC_COLUMN = "(automatic)"
"""``/upload``'s text-column value for "find the text" (the README's API table); the bench is a plain client."""
TOPICS = [
    ("Bread", "Yeast ferments sugar and the carbon dioxide makes bread dough rise in the oven."),
    ("Tides", "The gravity of the Moon pulls on the oceans and causes high and low tides."),
    ("Telephone", "Alexander Graham Bell patented the telephone in 1876."),
    ("Mars", "Mars is the fourth planet from the Sun and has two small moons."),
    ("Volcanoes", "Volcanoes erupt molten rock that cools into basalt and other igneous stone."),
    ("Glaciers", "Glaciers are rivers of ice that carve deep valleys as they slowly flow downhill."),
    ("Bees", "Honey bees dance to tell the hive where flowers with nectar can be found."),
    ("Coffee", "Coffee beans are roasted seeds whose caffeine keeps people awake."),
    ("Chess", "Chess is a board game in which each player starts with sixteen pieces."),
    ("Rainbows", "Rainbows appear when sunlight is refracted and reflected inside raindrops."),
    ("Penguins", "Penguins are flightless birds that swim fast in the cold southern oceans."),
    ("Vaccines", "Vaccines train the immune system to recognise a pathogen before an infection."),
]
"""The small general-knowledge documents a visitor uploads (each titled and signed with its marker)."""
_MARKER = re.compile(r"zq\d{3}mark")
_PID = re.compile(r'data-pid=\\?"([^"\\]*)')
"""A result row's passage id, in HTML or in the JSON text of an answer (quotes escaped there)."""


def marker(i: int) -> str:
    """The word only visitor ``i`` uses (fixed width, so no marker is part of another)."""
    return f"zq{i:03d}mark"


def own_markers(text: str) -> set[str]:
    """Every visitor marker in ``text``."""
    return set(_MARKER.findall(text))


@dataclass(frozen=True)
class Target:
    """One target of the class run: ``value(run) <= bound``."""

    label: str
    bound: float
    unit: str
    value: Callable[[Mapping[str, Any]], float]


TARGETS = (
    Target("errors", 0, "", lambda run: run["errors"]),
    Target("cross-visitor documents", 0, "", lambda run: run["cross_visitor_documents"]),
    Target("p95 search", 5.0, "s", lambda run: run["actions"]["search"]["p95_s"]),
    Target("p95 map", 10.0, "s", lambda run: run["actions"]["map"]["p95_s"]),
    Target("peak server RSS", 4.0, "GiB", lambda run: run["peak_rss_gib"]),
)
"""Issue 23's targets for a class of :data:`TARGET_VISITORS`."""


def verdicts(run: Mapping[str, Any]) -> list[str]:
    """One line per target, judged on the run's figures.

    Example:
        >>> run = {"visitors": 30, "errors": 0, "cross_visitor_documents": 0, "peak_rss_gib": 2.5,
        ...        "actions": {"search": {"p95_s": 6.0}, "map": {"p95_s": 1.0}}}
        >>> verdicts(run)[2]
        'p95 search: 6.00 s (target <= 5 s): not met'
    """
    lines = []
    for target in TARGETS:
        bound = f"{target.bound:g} {target.unit}".strip()
        try:
            value = target.value(run)
        except KeyError:  # no visitor got this far
            lines.append(f"{target.label}: not measured (target <= {bound}): not met")
            continue
        shown = f"{value:.2f} {target.unit}".strip() if target.unit else f"{value:g}"
        lines.append(f"{target.label}: {shown} (target <= {bound}): {'met' if value <= target.bound else 'not met'}")
    return lines


# --------------------------------------------------------------------- the server's memory


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants, from ``/proc`` (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # the process ended meanwhile
                continue
            parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return tree


def tree_rss_bytes(root: int) -> int:
    """Resident memory of :func:`process_tree` of ``root`` (the app's own children count as the app)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in process_tree(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except OSError:
            continue
    return total


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user and system) used so far by :func:`process_tree` of ``root``, from ``/proc``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


class PeakRss:
    """Polls :func:`tree_rss_bytes` of a process in a thread while the block runs; ``peak`` in bytes."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="class-bench-rss", daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_bytes(self.pid))


# --------------------------------------------------------------------- one visitor


@dataclass
class Visit:
    """What one visitor did and saw."""

    visitor: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ACTIONS})
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    map_pca: int = 0


@dataclass
class ClassPlan:
    """The class to run: visitors, searches each, what they load, and the queries they search."""

    visitors: int
    searches: int
    model: str
    sample_ids: frozenset[str]
    queries: Sequence[str]
    upload_dir: Path
    k: int
    """Documents in the listwise prompt: where the page's k slider stands for the model (its default)."""

    def uploads(self, i: int) -> bool:
        """Whether visitor ``i`` uploads a file of its own first."""
        return i % UPLOAD_EVERY == 0


def visitor_client(url: str) -> Any:
    """A ``gradio_client`` session on the app at ``url`` (plain HTTP on loopback).

    Certificate checks are off because no TLS is involved: with them on, ``gradio_client`` builds a
    certificate store for the two HTTP clients it opens per call, three quarters of a visitor's CPU,
    taken from the cores the server runs on (a real class's browsers run on their own machines).
    """
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, ssl_verify=False, httpx_kwargs={"timeout": HTTP_TIMEOUT_S})


class Visitor:
    """Drives one ``gradio_client`` session through the class script and checks every answer."""

    def __init__(self, i: int, url: str, plan: ClassPlan, in_flight: list[int], lock: threading.Lock) -> None:
        self.i, self.url, self.plan = i, url, plan
        self.visit = Visit(i)
        self._in_flight, self._lock = in_flight, lock

    def _timed(self, action: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._in_flight[0] += 1
            self._in_flight[1] = max(self._in_flight)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.visit.seconds[action].append(time.perf_counter() - start)
            with self._lock:
                self._in_flight[0] -= 1

    def check(self, where: str, outputs: Any, own_ids: frozenset[str] | None) -> str:
        """Records a leak if ``outputs`` hold a document outside the visitor's corpus (its upload's ``own_ids``,
        or the sample's when ``None``); returns the outputs as text."""
        text = json.dumps(outputs, default=str)
        own = marker(self.i)
        foreign = own_markers(text) - {own}
        if foreign:
            self.visit.leaks.append(f"visitor {self.i} {where}: documents of {', '.join(sorted(foreign))}")
        if own_ids is None and own in text:  # its own, but a corpus it has replaced by the sample
            self.visit.errors.append(f"visitor {self.i} {where}: still shows its upload after loading the sample")
        allowed = own_ids if own_ids is not None else self.plan.sample_ids
        strangers = {pid for pid in _PID.findall(text) if pid not in allowed and own not in pid}
        if strangers:
            self.visit.leaks.append(
                f"visitor {self.i} {where}: {len(strangers)} documents outside its corpus, e.g. {min(strangers)!r}"
            )
        return text

    def _own_file(self) -> tuple[Path, frozenset[str]]:
        own = marker(self.i)
        ids = [f"{own}-d{n}" for n in range(len(TOPICS))]
        path = self.plan.upload_dir / f"visitor-{self.i:03d}.jsonl"
        rows = (
            {"_id": d, "title": f"{title} {own}", "text": f"{text} Notes kept by {own}."}
            for d, (title, text) in zip(ids, TOPICS, strict=True)
        )
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path, frozenset(ids)

    def _search(self, client: Any, query: str, where: str, allowed: frozenset[str] | None, task: str) -> None:
        from e2rank_demo.prompts import TASKS

        spec = TASKS[task]
        outputs = self._timed(
            "search",
            client.predict,
            query,
            "dense",
            100,
            self.plan.k,
            task,
            spec.query,
            spec.rerank,
            0.0,
            "official",
            False,
            False,
            api_name="/search",
        )
        reused = REUSED_PROMPT in str(outputs[-1])
        self.visit.seconds["search_reused" if reused else "search_fresh"].append(self.visit.seconds["search"][-1])
        text = self.check(where, outputs, allowed)
        if "candidates" not in str(outputs[-1]) or not _PID.search(text):
            self.visit.errors.append(f"visitor {self.i} {where}: no results ({str(outputs[-1])[:160]})")

    def run(self) -> Visit:
        """The visit; any exception is recorded as an error, never raised."""
        from gradio_client import handle_file

        i = self.i
        try:
            client = self._timed("connect", visitor_client, self.url)
            try:
                if self.plan.uploads(i):
                    path, ids = self._own_file()
                    stats, *rest = self._timed(
                        "upload",
                        client.predict,
                        [handle_file(str(path))],
                        AUTOMATIC_COLUMN,
                        200,
                        40,
                        self.plan.model,
                        api_name="/upload",
                    )
                    self.check("upload corpus panel", [stats, *rest], ids)
                    if f"<dt>Documents</dt><dd>{len(TOPICS)}</dd>" not in str(stats) or path.name not in str(stats):
                        self.visit.errors.append(f"visitor {i} upload: corpus panel {str(stats)[:200]}")
                    self._search(client, "why does bread rise", "search of its upload", ids, "web")
                stats, *rest = self._timed(
                    "load_sample", client.predict, SAMPLE, self.plan.model, api_name="/load_sample"
                )
                self.check("sample corpus panel", [stats, *rest], None)
                if f"<dt>Documents</dt><dd>{len(self.plan.sample_ids):,}</dd>" not in str(stats):
                    self.visit.errors.append(f"visitor {i} load_sample: corpus panel {str(stats)[:200]}")
                for n in range(self.plan.searches):
                    query = self.plan.queries[(i * self.plan.searches + n) % len(self.plan.queries)]
                    self._search(client, query, f"search {n}", None, SAMPLE)
                shown = self._timed("map", client.predict, "corpus", "rank", False, api_name="/map")
                self.check("map", shown, None)
                if shown[1] is None:
                    self.visit.errors.append(f"visitor {i} map: no map ({str(shown[0])[:160]})")
                self.visit.map_pca += MAP_WAITING in str(shown[0])
                chart = self._timed("prompt_lab", client.predict, api_name="/prompt_influence")
                self.check("prompt lab", chart, None)
                if chart[0] is None:
                    self.visit.errors.append(f"visitor {i} prompt lab: no influence chart")
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            self.visit.errors.append(f"visitor {i}: {type(exc).__name__}: {str(exc)[:300]}")
        return self.visit


# --------------------------------------------------------------------- the class


def _lecturer(url: str, model: str, timeout_s: float = WARM_UP_TIMEOUT_S) -> float:
    """Opens the sample, searches and the map until UMAP is ready, as a lecturer would before class; seconds."""
    start = time.perf_counter()
    client = visitor_client(url)
    try:
        client.predict(SAMPLE, model, api_name="/load_sample")
        client.predict("warm-up", api_name="/search")
        while MAP_WAITING in str(client.predict("corpus", "rank", False, api_name="/map")[0]):
            if time.perf_counter() - start > timeout_s:
                break
            time.sleep(2.0)
    finally:
        client.close()
    return time.perf_counter() - start


def _plan(visitors: int, searches: int, model: str, upload_dir: Path) -> ClassPlan:
    from e2rank_demo.samples import load_sample
    from e2rank_demo.ui.prompt_settings import initial_k

    sample = load_sample(SAMPLE)
    ids, queries = frozenset(p.id for p in sample.passages), list(sample.queries.values())
    return ClassPlan(visitors, searches, model, ids, queries, upload_dir, initial_k(model))


def _percentiles(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_s": float(np.percentile(values, 50)),
        "p95_s": float(np.percentile(values, 95)),
        "max_s": float(max(values)),
    }


def server_env(folder: Path, queue: Mapping[str, int | None], cache_dir: Path | None = None) -> dict[str, str]:
    """The app's environment: this one (no Space, offline hub) with fresh folders and the serving settings
    (:func:`~e2rank_demo.serving.serving_settings`).

    The embedding and map cache is ``folder/cache`` (empty, as on a restarted Space) unless ``cache_dir``.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "SPACES_ZERO_GPU", "E2RANK_MODEL")}
    for name in ("gradio", "cache", "tmp"):
        (folder / name).mkdir(exist_ok=True)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        TOKENIZERS_PARALLELISM="false",
        TQDM_DISABLE="1",
        GRADIO_TEMP_DIR=str(folder / "gradio"),
        E2RANK_CACHE_DIR=str(cache_dir or folder / "cache"),
        TMPDIR=str(folder / "tmp"),
    )
    for variable in SETTING_VARIABLES.values():
        env.pop(variable, None)
    env.update(settings_env(queue))
    return env


def run_class(
    visitors: int = TARGET_VISITORS,
    searches: int = N_SEARCHES,
    concurrency: int | None = None,
    queue_size: int | None = None,
    log: Path | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Runs one class against a fresh ``python app.py`` and returns its figures (JSON-ready).

    Args:
        visitors: Visitors arriving at once.
        searches: Searches of the sample per visitor.
        concurrency: Gradio's ``default_concurrency_limit`` for this run (default: the app's).
        queue_size: Gradio's queue ``max_size`` for this run (default: the app's).
        log: Where the server's log goes (default: a temporary file, deleted).
        cache_dir: The app's ``E2RANK_CACHE_DIR`` (default: an empty temporary one, as on a restarted
            Space; the lecturer's visit waits for the sample's map there).

    Returns:
        The run: settings, per-action percentiles, errors and leaks (counts and examples),
        peak RSS, wall time.
    """
    from e2rank_demo.models import default_model_name

    queue = serving_settings()  # the app's defaults, or what this process's E2RANK_* variables set
    if concurrency is not None:
        queue["default_concurrency_limit"] = concurrency
    if queue_size is not None:
        queue["max_size"] = queue_size
    with tempfile.TemporaryDirectory(prefix="e2rank-class-") as tmp:
        folder = Path(tmp)
        env = server_env(folder, queue, cache_dir)
        model = default_model_name(env)
        plan = _plan(visitors, searches, model, folder / "visitors")
        plan.upload_dir.mkdir()
        lock, in_flight = threading.Lock(), [0, 0]
        with serve_app(env, log or folder / "app.log", APP_START_TIMEOUT_S) as (url, proc), PeakRss(proc.pid) as rss:
            warm_up_s = _lecturer(url, model)
            load_before = os.getloadavg()[0]  # a busy machine (other work) shows here, not in the timings' labels
            start, server_cpu, clients_cpu = time.perf_counter(), tree_cpu_seconds(proc.pid), time.process_time()
            pool = concurrent.futures.ThreadPoolExecutor(visitors)
            futures = [pool.submit(Visitor(i, url, plan, in_flight, lock).run) for i in range(visitors)]
            done, pending = concurrent.futures.wait(futures, timeout=VISIT_TIMEOUT_S)
            pool.shutdown(wait=False)  # a visitor still waiting ends with the server, below
            wall_s = time.perf_counter() - start
            cpu_s = {"server": tree_cpu_seconds(proc.pid) - server_cpu, "clients": time.process_time() - clients_cpu}
            alive = proc.poll() is None
    visits = [f.result() for f in done]
    errors = [e for v in visits for e in v.errors]
    if pending:
        errors.append(f"{len(pending)} visitors still running after {VISIT_TIMEOUT_S:.0f} s")
    if not alive:
        errors.append("the server exited during the class")
    leaks = [leak for v in visits for leak in v.leaks]
    return {
        "visitors": visitors,
        "searches": searches,
        "uploaders": sum(plan.uploads(i) for i in range(visitors)),
        "model": model,
        "queue": queue,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "warm_up_s": warm_up_s,
        "wall_s": wall_s,
        "most_in_flight": in_flight[1],
        "cpu_s": cpu_s,
        "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "actions": {a: _percentiles([s for v in visits for s in v.seconds[a]]) for a in ACTIONS},
        "errors": len(errors),
        "error_examples": errors[:5],
        "cross_visitor_documents": len(leaks),
        "leak_examples": leaks[:5],
        "map_views_pca": sum(v.map_pca for v in visits),
        "peak_rss_gib": rss.peak / 2**30,
    }


# --------------------------------------------------------------------- report


def _same_settings(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a["visitors"], a["searches"], a["queue"]) == (b["visitors"], b["searches"], b["queue"])


def record(run: Mapping[str, Any], json_path: Path) -> None:
    """Puts ``run`` in the ``class`` section of a bench JSON (replacing a run with the same settings)."""
    data = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {}
    runs = [r for r in data.get("class", {}).get("runs", []) if not _same_settings(r, run)]
    data["class"] = {
        "runs": sorted(
            [*runs, dict(run)],
            key=lambda r: (r["visitors"], r["searches"], sorted((k, str(v)) for k, v in r["queue"].items())),
        )
    }
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def format_run(run: Mapping[str, Any]) -> str:
    """A plain-text table of one run's actions, then its counts and verdicts."""
    lines = [
        (
            f"class of {run['visitors']} visitors x {run['searches']} searches ({run['uploaders']} upload first), "
            f"{run['model']}, queue {run['queue']}, {run['cpus']} CPUs (load {run['load_avg_1min']['before']:.1f} "
            f"before): {run['wall_s']:.1f} s, at most {run['most_in_flight']} requests in flight"
        ),
        *(
            [
                f"CPU seconds meanwhile: server {run['cpu_s']['server']:.0f}, the {run['visitors']} clients "
                f"{run['cpu_s']['clients']:.0f} (on the same cores)"
            ]
            if "cpu_s" in run
            else []
        ),
        f"{'action':<12}{'n':>6}{'p50 s':>9}{'p95 s':>9}{'max s':>9}",
    ]
    for action, p in run["actions"].items():
        if p["n"]:
            lines.append(f"{action:<12}{p['n']:>6}{p['p50_s']:>9.2f}{p['p95_s']:>9.2f}{p['max_s']:>9.2f}")
    lines += [
        (
            f"errors {run['errors']}, cross-visitor documents {run['cross_visitor_documents']}, "
            f"peak server RSS {run['peak_rss_gib']:.2f} GiB, map views still on PCA {run['map_views_pca']}"
        ),
        *run["error_examples"],
        *run["leak_examples"],
    ]
    note = "" if run["visitors"] == TARGET_VISITORS else f" (the targets are set for {TARGET_VISITORS} visitors)"
    return "\n".join([*lines, f"verdicts{note}:", *(f"  {v}" for v in verdicts(run))])


def final_run(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The run the targets are judged on: :data:`TARGET_VISITORS` visitors, :data:`N_SEARCHES` searches each,
    with the app's own queue settings."""
    return next(
        (
            r
            for r in runs
            if r["visitors"] == TARGET_VISITORS and r["searches"] == N_SEARCHES and r["queue"] == serving_settings({})
        ),
        None,
    )


def _setting(run: Mapping[str, Any], name: str) -> str:
    """One serving setting of a recorded run (``–``: not recorded; ``auto``: torch's default threads)."""
    if name not in run["queue"]:
        return "–"
    value = run["queue"][name]
    return "auto" if value is None else str(value)


def markdown(section: Mapping[str, Any]) -> list[str]:
    """The RESULTS.md section for the ``class`` runs of a bench JSON."""
    runs = section.get("runs", [])
    app = serving_settings({})
    intro = (
        f"`python -m e2rank_demo bench --class N` starts `python app.py` on loopback, lets a lecturer open the "
        f"SciFact sample and the map, then N `gradio_client` visitors arrive at once: each loads the sample, runs "
        f"{N_SEARCHES} searches (fewer in the rows that say so), opens the map and the prompt lab's influence "
        f"chart, and leaves; every {UPLOAD_EVERY}th first uploads a file of its own and searches it. "
        "The visitors search the sample's own queries, so several send the same one, as a class typing the "
        "lecturer's example does: a search whose query or listwise prompt is identical to an earlier one's reuses "
        "that vector and says so (`e2rank_demo/models/vector_memo.py`), and so does an influence chart's "
        "leave-one-out prompt; *search_fresh* and *search_reused* split the searches by whether the listwise "
        "prompt ran its forward pass. "
        "*Load before*: the machine's 1-minute load average as the visitors arrived (the server's own start-up "
        "work done). *search / corpus / map / charts*: how many searches, corpus loads, maps and prompt-lab "
        "charts run at once (each group queues on its own; the model serves searches first); *default*: the "
        "limit of every other event; *threads*: "
        "torch's threads per forward pass (auto: one per core); the model runs cores ÷ threads passes side by "
        "side (`e2rank_demo/models/model_lock.py`), each as a TorchScript graph "
        "(`e2rank_demo/models/frozen_graph.py`) that takes the GIL once per pass: an eager pass took it back "
        "after every operator and waited behind the maps' and Gradio's Python each time (interleaved runs on a "
        "warm cache: p95 search 4.11, 4.26 and 4.25 s with graphs, 6.34 and 4.92 s eager with "
        "`E2RANK_TORCHSCRIPT=0`). The app's settings (`e2rank_demo/serving.py`; the groups "
        "chosen from the rows below, the threads from the forward-pass timings in `serving.torch_threads`): "
        f"search {app['search_concurrency']}, corpus {app['corpus_concurrency']}, map "
        f"{app['map_concurrency']}, charts {app['charts_concurrency']}, default {app['default_concurrency_limit']}, "
        f"queue size {app['max_size']}, "
        f"threads {_setting({'queue': app}, 'torch_threads')} on this machine (half the cores). The server and "
        "the 30 clients share the same 2 cores here; on a Space the visitors' browsers run elsewhere. The "
        "visitors speak plain HTTP to loopback with certificate loading off (`visitor_client`): with it on, "
        "`gradio_client` built a certificate store twice per call, three quarters of the clients' CPU."
    )
    header = (
        "| visitors | searches each | search | corpus | map | charts | default | threads | load before | wall (s) | "
        "p95 search (s) | p95 map (s) | p95 prompt lab (s) | errors | cross-visitor docs | peak RSS (GiB) |"
    )
    lines = [
        "## A class on one server (`bench --class`)",
        "",
        intro,
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        p95 = {action: f"{p['p95_s']:.2f}" if p["n"] else "–" for action, p in r["actions"].items()}
        settings = " | ".join(
            _setting(r, name)
            for name in (
                "search_concurrency",
                "corpus_concurrency",
                "map_concurrency",
                "charts_concurrency",
                "default_concurrency_limit",
                "torch_threads",
            )
        )
        lines.append(
            f"| {r['visitors']} | {r['searches']} | {settings} | {r['load_avg_1min']['before']:.1f} | "
            f"{r['wall_s']:.0f} | {p95['search']} | {p95['map']} | {p95['prompt_lab']} | "
            f"{r['errors']} | {r['cross_visitor_documents']} | {r['peak_rss_gib']:.2f} |"
        )
    final = final_run(runs)
    if final is None:
        return [*lines, "", f"Targets ({TARGET_VISITORS} visitors, the app's settings): not measured yet.", ""]
    lines += [
        "",
        f"The class of {TARGET_VISITORS} ({final['model']}, {final['cpus']} CPU cores), per action:",
        "",
        "| action | n | p50 (s) | p95 (s) | max (s) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {action} | {p['n']} | {p['p50_s']:.2f} | {p['p95_s']:.2f} | {p['max_s']:.2f} |"
        for action, p in final["actions"].items()
        if p["n"]
    ]
    return [*lines, "", "Targets:", "", *(f"- {v}" for v in verdicts(final)), ""]


def main(visitors: int, searches: int, concurrency: int | None, queue_size: int | None, json_path: str) -> int:
    """CLI body: runs the class, prints the figures and verdicts, records them in ``json_path``."""
    run = run_class(visitors, searches, concurrency, queue_size)
    print(format_run(run))
    record(run, Path(json_path))
    print(f"recorded in {json_path} (class section)")
    return 0
