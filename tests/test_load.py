"""Load tests against the real server: eight concurrent sessions with their own corpora, and a small class.

``python app.py`` runs in a subprocess on 127.0.0.1 (loopback only). Every session indexes
its own small corpus (even sessions upload a JSONL file, odd ones paste text) whose
documents carry a marker word no other session uses, then runs 20 searches. The test
asserts zero errors and that every result (both columns and the listwise prompt) shows
only that session's documents, and prints the p50/p95 latency of the searches (reported,
not asserted). The class test runs :func:`e2rank_demo.class_bench.run_class` (``bench --class``)
with ten visitors and asserts errors and isolation only.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from e2rank_demo.class_bench import TOPICS
from e2rank_demo.prompts import TASKS
from e2rank_demo.ui import callbacks
from test_reliability import app_env, serve_app

pytestmark = [pytest.mark.slow]

N_SESSIONS = 8
N_SEARCHES = 20
OVERALL_TIMEOUT_S = 300
QUERIES = [
    "why does bread rise", "what causes the tides", "who invented the telephone", "planet with two moons",
    "how do volcanoes form rock", "how do glaciers shape valleys", "how do bees find flowers",
    "why does coffee keep you awake", "how many pieces in chess", "how are rainbows made",
    "birds that cannot fly", "how do vaccines work", "ocean gravity moon", "molten lava eruption",
    "ice flowing downhill", "caffeine in roasted seeds", "immune system training", "sunlight in raindrops",
    "patent from 1876", "dough and yeast",
]


def marker(i: int) -> str:
    """A word only session ``i`` uses (no marker is a substring of another)."""
    return f"mark{chr(ord('a') + i) * 3}zq"


def doc_prefix(i: int) -> str:
    """The id prefix of session ``i``'s uploaded documents."""
    return f"sess{chr(ord('a') + i)}-d"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def test_eight_concurrent_sessions_see_only_their_own_documents(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """8 sessions x 20 searches, concurrently: zero errors, no document of another session in any result."""
    from gradio_client import Client, handle_file

    env = app_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", E2RANK_MODEL="minilm",
                  GRADIO_TEMP_DIR=str(tmp_path / "gradio"), E2RANK_CACHE_DIR=str(tmp_path / "cache"),
                  TMPDIR=str(tmp_path))
    web = TASKS["web"]
    search_seconds: list[float] = []
    index_seconds: list[float] = []
    errors: list[str] = []
    leaks: list[str] = []
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most at once

    def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs), time.perf_counter() - start
        finally:
            with lock:
                in_flight[0] -= 1

    def check(i: int, html: str, where: str) -> None:
        if marker(i) not in html:
            leaks.append(f"session {i} {where}: its own marker is missing")
        for j in range(N_SESSIONS):
            if j != i and (marker(j) in html or doc_prefix(j) in html):
                leaks.append(f"session {i} {where}: shows session {j}'s documents")

    def session(i: int, url: str) -> None:
        try:
            client = Client(url, verbose=False, download_files=False)
            docs = [(f"{doc_prefix(i)}{n}", f"{title} {marker(i)}", f"{text} Notes kept by {marker(i)}.")
                    for n, (title, text) in enumerate(TOPICS)]
            if i % 2 == 0:
                path = tmp_path / f"session-{i}.jsonl"
                path.write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in docs))
                (stats, *_), seconds = timed(client.predict, [handle_file(str(path))], callbacks.AUTO_COLUMN, 200,
                                             40, "minilm", api_name="/upload")
            else:
                text = "\n\n".join(f"{t}. {x}" for _, t, x in docs)
                (stats, *_), seconds = timed(client.predict, text, 200, 40, "minilm", api_name="/paste")
            with lock:
                index_seconds.append(seconds)
            if f"<dt>Documents</dt><dd>{len(TOPICS)}</dd>" not in stats:
                errors.append(f"session {i}: indexing gave {stats[:300]}")
                return
            for n in range(N_SEARCHES):
                query = QUERIES[(n + i) % len(QUERIES)]
                (first, e2rank, _, picker, prompt, info), seconds = timed(
                    client.predict, query, "dense", 100, 20, "web", web.query, web.rerank, 0.0, "official", False,
                    False, api_name="/search")
                with lock:
                    search_seconds.append(seconds)
                if f"{len(TOPICS)} candidates" not in info:
                    errors.append(f"session {i} search {n}: {info[:200]}")
                for where, html in (("first stage", first), ("E2Rank", e2rank), ("prompt", prompt),
                                    ("relevance picker", json.dumps(picker))):
                    check(i, html, f"search {n} {where}")
        except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
            errors.append(f"session {i}: {type(exc).__name__}: {exc}")

    with serve_app(env, tmp_path / "app.log") as (url, proc):
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(N_SESSIONS) as pool:
            futures = [pool.submit(session, i, url) for i in range(N_SESSIONS)]
            done, pending = concurrent.futures.wait(futures, timeout=OVERALL_TIMEOUT_S)
        wall = time.perf_counter() - start
        alive = proc.poll() is None

    assert not pending, f"{len(pending)} sessions still running after {OVERALL_TIMEOUT_S} s"
    assert errors == [], errors[:10]
    assert leaks == [], leaks[:10]
    assert len(search_seconds) == N_SESSIONS * N_SEARCHES and alive
    assert in_flight[1] >= 2  # the sessions really overlapped
    with capsys.disabled():
        print(f"\nload test: {N_SESSIONS} sessions x {N_SEARCHES} searches in {wall:.1f} s "
              f"(at most {in_flight[1]} requests in flight); search latency "
              f"p50 {_percentile(search_seconds, 50):.2f} s, p95 {_percentile(search_seconds, 95):.2f} s, "
              f"max {max(search_seconds):.2f} s; indexing p50 {_percentile(index_seconds, 50):.2f} s, "
              f"max {max(index_seconds):.2f} s")


def test_a_class_of_ten_gets_no_error_and_sees_only_its_own_documents() -> None:
    """`bench --class` at 10 visitors with 2 searches each, on a fresh `python app.py`: the sample loaded, the
    searches, the map and the prompt lab's influence chart all answer, three visitors upload a file of their own
    first, and no answer holds a document outside the visitor's own corpus (timings live in the bench)."""
    from e2rank_demo import class_bench

    # The session's cache (tests/conftest.py): numba's compiled UMAP and the sample's map from earlier tests.
    run = class_bench.run_class(visitors=10, searches=2, cache_dir=Path(os.environ["E2RANK_CACHE_DIR"]))
    assert run["errors"] == 0, run["error_examples"]
    assert run["cross_visitor_documents"] == 0, run["leak_examples"]
    counts = {action: figures["n"] for action, figures in run["actions"].items()}
    # Each search either ran its prompt's forward pass or said it reused an identical earlier prompt's vector.
    assert counts.pop("search_fresh") + counts.pop("search_reused") == counts["search"]
    assert counts == {"connect": 10, "upload": 3, "load_sample": 10, "search": 10 * 2 + 3, "map": 10,
                      "prompt_lab": 10}
    assert run["most_in_flight"] >= 2  # the visitors really overlapped
