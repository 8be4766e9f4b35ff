"""Benchmark suite: ratios measured in one run, each as min / median / max over repeats.

``python -m e2rank_demo bench [--quick] [--json FILE]`` prints a table and writes JSON.
Targets are reported next to each value; nothing here asserts a time (tests check
behaviour only). ``--quick`` uses the bundled SciFact sample and fewer repeats.

Example:
    >>> from e2rank_demo.bench import Measurement
    >>> Measurement("x", [1.0, 3.0, 2.0], "s", "<= 5").summary()["median"]
    2.0
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2rank_demo.serving import REPO, free_port

SHARED_SCIFACT = REPO.parent / "shared" / "data" / "scifact"


@dataclass
class Measurement:
    """One benchmark key: raw repeat values, unit and target."""

    key: str
    values: list[float]
    unit: str
    target: str = ""
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """min / median / max and the metadata, JSON-ready."""
        return {
            "min": min(self.values),
            "median": statistics.median(self.values),
            "max": max(self.values),
            "repeats": len(self.values),
            "unit": self.unit,
            "target": self.target,
            "note": self.note,
            **self.extra,
        }


def repeat(fn: Callable[[], float], repeats: int, warmup: int = 1) -> list[float]:
    """Runs ``fn`` ``warmup`` times unmeasured, then ``repeats`` times; ``fn`` returns its value."""
    for _ in range(warmup):
        fn()
    return [fn() for _ in range(repeats)]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _sample_session(quick: bool):  # noqa: ANN202
    """A SearchSession on the bundled SciFact sample (quick) or the full SciFact corpus."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.models import load_embedder
    from e2rank_demo.pipeline import SearchSession
    from e2rank_demo.records import Passage
    from e2rank_demo.samples import load_sample, open_session

    embedder = load_embedder("minilm").embedder
    if quick or not SHARED_SCIFACT.is_dir():
        session, _ = open_session(load_sample("scifact"), embedder, EmbeddingCache())
        source = "scifact sample"
    else:
        documents = load_beir(SHARED_SCIFACT).corpus
        session = SearchSession(embedder, [Passage.from_document(d) for d in documents], EmbeddingCache())
        source = "scifact"
    query = "Antibiotic induced alterations in the gut microbiome reduce resistance against Clostridium difficile"
    return session, query, source


def bench_reranking(quick: bool, repeats: int, n: int = 100) -> list[Measurement]:
    """rerank_overhead, pointwise_vs_e2rank@N and nocache_vs_cache@N (N = ``n`` candidates)."""
    import torch

    from e2rank_demo.rerank import E2RankReranker
    from e2rank_demo.timing import StageTimer

    session, query, source = _sample_session(quick)
    embedder = session.embedder
    qv = embedder.embed_queries([query])[0]
    cands = session.dense.search(qv, n)
    vectors = session.vectors[cands.rows]
    texts = [session.texts[r] for r in cands.rows]
    tokens = session.prompt_tokens(cands.rows)  # computed at indexing, as a search hands them over
    e2rank = E2RankReranker(embedder, k=20)
    nocache = E2RankReranker(embedder, k=20, reencode=True)
    batch = embedder.prompt_batch(embedder.build_listwise(query, texts[:20]))
    batch.pop("query_mask")

    def bare_forward() -> None:
        with torch.inference_mode():
            embedder.last_hidden(batch)

    def rerank() -> None:
        e2rank.rerank(query, qv, cands, vectors, texts, doc_tokens=tokens)

    def rerank_uncached() -> None:
        nocache.rerank(query, qv, cands, vectors, texts, doc_tokens=tokens)

    def ratio(num: Callable[[], object], den: Callable[[], object]) -> float:
        return _timed(num) / _timed(den)

    # Where the rerank time goes (the profile reported next to the ratio).
    stages: dict[str, list[float]] = {}
    for _ in range(repeats * 3):
        timer = StageTimer()
        e2rank.rerank(query, qv, cands, vectors, texts, timer, doc_tokens=tokens)
        timer.stages["bare_forward"] = _timed(bare_forward)
        for stage, seconds in timer.stages.items():
            stages.setdefault(stage, []).append(seconds)
    profile = {f"median_{stage}_s": statistics.median(values) for stage, values in stages.items()}
    out = [
        Measurement(
            "rerank_overhead",
            # One pair's ratio moves by +-15% on a shared 2-core VM (the machine's speed changes within a second),
            # and the overhead is ~4%: 63 pairs keep the median's noise near +-0.01 (21 gave +-0.02).
            repeat(lambda: ratio(rerank, bare_forward), repeats * 9),
            "ratio",
            "<= 1.05",
            f"E2Rank rerank (k=20, N={n}, {source}) / bare forward of the same "
            f"{batch['input_ids'].shape[1]} prompt tokens, alternating, one pair per value",
            extra={"profile": profile},
        ),
        Measurement(
            f"pointwise_vs_e2rank@{n}",
            repeat(lambda: ratio(lambda: embedder.embed_pairs(query, texts), rerank), repeats),
            "ratio",
            ">= 10",
            f"{n} joint (query, document) passes / E2Rank rerank",
        ),
        Measurement(
            f"nocache_vs_cache@{n}",
            repeat(lambda: ratio(rerank_uncached, rerank), repeats),
            "ratio",
            "",
            f"E2Rank re-encoding the {n} candidates / E2Rank with cached embeddings",
        ),
    ]
    return out


def bench_influence(repeats: int, k: int = 20) -> list[Measurement]:
    """influence_k20_s: seconds for the leave-one-out influence chart at k prompt documents.

    The offline default preset on the bundled SciFact sample, every sample query with its
    judgments in turn: the k prompt builds, the batched forward pass, the rescoring, the
    nDCG@10 of each variant and the plotly figure.
    """
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.models import default_model_name, load_embedder
    from e2rank_demo.pipeline import SearchSettings
    from e2rank_demo.plots import influence_chart
    from e2rank_demo.samples import load_sample, open_session

    loaded = load_embedder(default_model_name({}))
    sample = load_sample("scifact")
    session, _ = open_session(sample, loaded.embedder, EmbeddingCache())
    settings = SearchSettings(task="scifact", prompt_docs=k, rerankers=("e2rank",))
    queries = [(qid, text) for qid, text in sample.queries.items() if sample.qrels.get(qid)][:5]
    results = [(session.search(text, settings), sample.qrels[qid]) for qid, text in queries]
    turn = iter(range(10**9))

    def once() -> float:
        result, qrels = results[next(turn) % len(results)]
        return _timed(lambda: influence_chart(session.prompt_influence(result, qrels), session))

    return [
        Measurement(
            f"influence_k{k}_s",
            repeat(once, repeats * 2),
            "s",
            "<= 3",
            f"leave-one-out influence chart, {k} prompts, one forward pass each, N=100, "
            f"{loaded.embedder.name} on the scifact sample, first 5 judged queries in turn",
        )
    ]


def bench_present(repeats: int) -> Measurement:
    """present_step_s: the slowest Present step (Next or Back) after each step's first visit.

    The walkthrough as a presenter runs it: Start on the SciFact sample with its first example
    query (default preset and settings), Next through all steps once (the first visits compute
    the map, the influence chart and wait for the latency measurement begun at Start), then
    each step is shown again ``repeats`` times; each value is the slowest step of one round.
    """
    from e2rank_demo.models import default_model_name
    from e2rank_demo.pipeline import SearchSettings
    from e2rank_demo.samples import load_sample
    from e2rank_demo.ui import present

    defaults = SearchSettings()
    ps = present.PresentState()
    query = next(iter(load_sample("scifact").queries.values()))
    present.begin(
        ps,
        "scifact",
        query,
        default_model_name({}),
        defaults.first_stage,
        defaults.candidates,
        defaults.prompt_docs,
        defaults.interpolation,
        defaults.prompt_order,
        None,
    )
    if ps.latency_job is not None:
        ps.latency_job.result()  # the first visit of the latency step shows it; later ones must not wait
    while ps.step < present.N_STEPS:
        present.next_step(ps)

    def round_trip() -> float:
        slowest = 0.0
        for step in range(1, present.N_STEPS + 1):
            ps.step = step
            slowest = max(slowest, _timed(lambda: present.render_step(ps)))
        return slowest

    return Measurement(
        "present_step_s",
        repeat(round_trip, repeats, warmup=0),
        "s",
        "<= 3",
        f"slowest of the {present.N_STEPS} Present steps shown again after their first visit "
        "(scifact sample, default preset and settings)",
    )


def bench_index_throughput(quick: bool, repeats: int) -> Measurement:
    """Documents per second of the project's indexing vs sentence-transformers ``encode``."""
    from sentence_transformers import SentenceTransformer

    from e2rank_demo.models import load_embedder

    embedder = load_embedder("minilm").embedder
    from e2rank_demo.samples import load_sample

    docs = [p.full_text for p in load_sample("scifact").passages][: 128 if quick else 512]
    st = SentenceTransformer(embedder.model_dir, device="cpu")
    threads = __import__("torch").get_num_threads()

    def ratio() -> float:
        ours = _timed(lambda: embedder.embed_documents(docs, batch_size=32))
        theirs = _timed(lambda: st.encode(docs, batch_size=32, normalize_embeddings=True))
        return theirs / ours  # docs/s ours / docs/s theirs

    return Measurement(
        "index_throughput_vs_st",
        repeat(ratio, repeats),
        "ratio",
        ">= 1.0 (stretch 1.5)",
        f"{len(docs)} SciFact abstracts, batch 32, {threads} threads, fp32",
    )


def bench_latency_panel(repeats: int) -> Measurement:
    """latency_panel_s: "Measure this query" on the SciFact sample at N = 100 (default settings)."""
    from e2rank_demo.latency import DEFAULT_SUBSAMPLE, measure_latency
    from e2rank_demo.pipeline import SearchSettings

    session, query, source = _sample_session(True)
    settings = SearchSettings(candidates=100, task="scifact")
    values = repeat(lambda: _timed(lambda: measure_latency(session, query, settings)), repeats, warmup=0)
    return Measurement(
        "latency_panel_s",
        values,
        "s",
        "<= 15",
        f"measure_latency, N = 100 ({source}), slow baselines on {DEFAULT_SUBSAMPLE} candidates and extrapolated",
    )


def bench_latency_cancel(repeats: int, after_s: float = 2.0) -> list[Measurement]:
    """latency_cancel_s: from Cancel to the Latency tab's callback returning, during "Measure in full" on the
    SciFact sample (N = 100); latency_cancel_stop_s: until the measurement worker is free again (the batch in
    flight ends, then the measurement stops at its check)."""
    import threading

    from e2rank_demo.latency import MeasurementCancelled, measure_latency, run_cancellable
    from e2rank_demo.pipeline import SearchSettings

    session, query, source = _sample_session(True)
    settings = SearchSettings(candidates=100, task="scifact")
    returned: list[float] = []
    stopped: list[float] = []
    for _ in range(repeats):
        cancel, pressed = threading.Event(), list[float]()

        def press(cancel: threading.Event = cancel, pressed: list[float] = pressed) -> None:
            pressed.append(time.perf_counter())
            cancel.set()

        timer = threading.Timer(after_s, press)
        timer.start()
        try:
            run_cancellable(cancel, measure_latency, session, query, settings, subsample=None, cancel=cancel)
        except MeasurementCancelled:
            returned.append(time.perf_counter() - pressed[0])
        run_cancellable(threading.Event(), lambda: None)  # runs once the cancelled measurement has stopped
        stopped.append(time.perf_counter() - pressed[0])
    note = f"Cancel pressed {after_s} s into measure_latency(subsample=None), N = 100 ({source})"
    return [
        Measurement("latency_cancel_s", returned, "s", "<= 1", note + "; until the callback returns"),
        Measurement("latency_cancel_stop_s", stopped, "s", "", note + "; until the work has stopped"),
    ]


_SAMPLE_LOAD_SCRIPT = """
import sys, tempfile, time
from e2rank_demo.cache import EmbeddingCache
from e2rank_demo.models import default_model_name, load_embedder
from e2rank_demo.samples import load_sample, open_session
embedder = load_embedder(default_model_name({})).embedder
calls = []
real = embedder.embed_documents
embedder.embed_documents = lambda *a, **k: calls.append(1) or real(*a, **k)
with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    session, stored = open_session(load_sample("scifact"), embedder, EmbeddingCache(tmp + "/e.sqlite"))
    session.stats()
    print(time.perf_counter() - start, stored, len(calls), embedder.name)
"""


def bench_sample_load(repeats: int) -> Measurement:
    """sample_load_s: the default preset loading the SciFact sample with an empty cache.

    Measured in a fresh process, with the model already loaded.
    """

    def once() -> float:
        proc = subprocess.run(
            [sys.executable, "-c", _SAMPLE_LOAD_SCRIPT],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        seconds, stored, calls, name = proc.stdout.strip().splitlines()[-1].split()
        if stored != "True" or calls != "0":
            raise RuntimeError(f"{name} embedded the SciFact sample instead of reading its shipped vectors")
        return float(seconds)

    return Measurement(
        "sample_load_s",
        repeat(once, repeats, warmup=0),
        "s",
        "<= 10",
        "default preset, SciFact sample (1,200 documents), empty embedding cache: read, shipped "
        "vectors, index, token counts (model already loaded, as at app start)",
    )


def bench_umap(repeats: int) -> list[Measurement]:
    """umap_place_warm: seconds to place one query's three vectors on a fitted map."""
    from e2rank_demo.projection import time_placement

    session, query, source = _sample_session(True)
    timing = time_placement(session, query, repeats * 3)
    return [
        Measurement(
            "umap_place_warm",
            timing.seconds,
            "s",
            "<= 0.3",
            f"one transform of query, pseudo-query and Rocchio vectors ({source} map)",
        )
    ]


_UMAP_COLD_SCRIPT = """
import time
start = time.perf_counter()
from e2rank_demo.bench import _sample_session
from e2rank_demo.projection import MapProjector
session, query, _ = _sample_session(True)
result = session.search(query)
projection = MapProjector().project_result(session, result, wait=None)
assert projection.method == "umap", projection.method
print(time.perf_counter() - start)
"""


def bench_umap_cold(repeats: int) -> list[Measurement]:
    """umap_cold: fresh process to first UMAP map, with an empty and with a warm disk cache."""
    import tempfile

    def once(cache_dir: str) -> float:
        env = {
            **os.environ,
            "E2RANK_CACHE_DIR": cache_dir,
            "NUMBA_CACHE_DIR": f"{cache_dir}/numba",
            "TQDM_DISABLE": "1",
        }
        proc = subprocess.run(
            [sys.executable, "-c", _UMAP_COLD_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        return float(proc.stdout.strip().splitlines()[-1])

    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            # The embedding cache is seeded by the sample's precomputed vectors either way.
            cold.append(once(tmp))
            warm.append(once(tmp))
    note = "process start to first UMAP map of the SciFact sample (imports, search, fit or load)"
    return [
        Measurement("umap_cold", cold, "s", "", note + "; empty disk cache"),
        Measurement("umap_cold_cache_warm", warm, "s", "", note + "; numba and map cached on disk"),
    ]


def bench_app_ready(repeats: int, timeout: float = 120.0) -> Measurement:
    """Seconds from ``python app.py`` to the first HTTP 200."""

    def once() -> float:
        port = free_port()
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "app.py"), "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.perf_counter() - start < timeout:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                        if r.status == 200:
                            return time.perf_counter() - start
                except OSError:
                    time.sleep(0.1)
            return float("inf")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    return Measurement("app_ready", repeat(once, repeats, warmup=0), "s", "<= 15")


_E2E_SCRIPT = """
import json, os, resource, sys, time
from e2rank_demo.bench import _sample_session
from e2rank_demo.pipeline import SearchSettings
session, query, source = _sample_session(sys.argv[1] == "quick")
settings = SearchSettings(task="scifact", rerankers=("e2rank",))
session.search(query, settings)
times = []
for q in [query, "Vitamin D deficiency is linked to depression.", "Smoking increases the risk of lung cancer."]:
    t = time.perf_counter(); session.search(q, settings); times.append(time.perf_counter() - t)
# VmHWM is this process's own peak; Linux carries ru_maxrss over from the parent across fork and exec.
status = "/proc/self/status"
hwm = [line.split()[1] for line in open(status) if line.startswith("VmHWM:")] if os.path.exists(status) else []
rss_kib = int(hwm[0]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times": times, "rss_mib": rss_kib / 1024,
                  "n": len(session.passages), "source": source}))
"""


def bench_scifact_e2e(quick: bool) -> list[Measurement]:
    """search_e2e_scifact (warm query -> both lists) and peak_rss_scifact, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", _E2E_SCRIPT, "quick" if quick else "full"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    note = f"{data['n']} documents ({data['source']}), offline model"
    return [
        Measurement("search_e2e_scifact", data["times"], "s", "<= 1", note),
        Measurement(
            "peak_rss_scifact",
            [data["rss_mib"] / 1024],
            "GiB",
            "<= 1.5",
            note + "; includes embedding the corpus unless cached",
        ),
    ]


def run(quick: bool = False) -> dict[str, dict[str, object]]:
    """Runs every benchmark and returns ``{key: summary}``."""
    repeats = 3 if quick else 7
    results: list[Measurement] = []
    for step in (
        lambda: bench_reranking(quick, repeats),
        lambda: bench_influence(repeats),
        lambda: [bench_index_throughput(quick, 2 if quick else 3)],
        lambda: [bench_latency_panel(1 if quick else 3)],
        lambda: bench_latency_cancel(1 if quick else 3),
        lambda: [bench_present(1 if quick else 3)],
        lambda: [bench_sample_load(1 if quick else 3)],
        lambda: bench_umap(repeats),
        lambda: bench_umap_cold(1),
        lambda: [bench_app_ready(1 if quick else 3)],
        lambda: bench_scifact_e2e(quick),
    ):
        results.extend(step())
    meta: dict[str, object] = {
        "quick": quick,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "max_rss_gib_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024,
    }
    return {"_meta": meta, **{m.key: m.summary() for m in results}}


CLASS_KEY = "class"
"""The bench JSON's section written by ``bench --class`` (:mod:`e2rank_demo.class_bench`), not a measurement."""


def measurements(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The measured keys of a bench JSON (without ``_meta`` and the ``class`` section); values as JSON has them."""
    return {key: r for key, r in results.items() if not key.startswith("_") and key != CLASS_KEY}


def format_table(results: dict[str, dict[str, object]]) -> str:
    """A plain-text table of the medians with targets."""
    lines = [f"{'key':<26}{'median':>10}{'min':>10}{'max':>10}  {'unit':<6}{'target':<22}note"]
    for key, r in measurements(results).items():
        lines.append(
            f"{key:<26}{r['median']:>10.3f}{r['min']:>10.3f}{r['max']:>10.3f}  {r['unit']:<6}"
            f"{r['target']:<22}{r['note']}"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """TQDM_DISABLE=1 while the bench runs (its models' bars would break its table), then as it was.

    Set for good, it leaked into the caller's process: a test that ran ``main`` silenced the
    progress bar of every ``index`` subprocess started after it.
    """
    before = os.environ.get("TQDM_DISABLE")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)


def main(quick: bool, json_path: str | None) -> int:
    """CLI body: run, print, write JSON."""
    with _quiet_progress_bars():
        results = run(quick)
    print(format_table(results))
    if json_path:
        old = json.loads(Path(json_path).read_text(encoding="utf-8")) if Path(json_path).exists() else {}
        if CLASS_KEY in old:  # written by `bench --class`, kept
            results[CLASS_KEY] = old[CLASS_KEY]
        Path(json_path).write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    return 0


__all__ = ["CLASS_KEY", "Measurement", "format_table", "main", "measurements", "run"]
