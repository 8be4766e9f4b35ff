"""Benchmark suite: structure of the measurements (no timing is asserted)."""

from __future__ import annotations

from e2rank_demo.bench import Measurement, bench_reranking, format_table


def test_measurement_summary_and_table() -> None:
    """Summaries carry min / median / max and the table prints every key with its target."""
    summary = Measurement("k", [3.0, 1.0, 2.0], "s", "<= 2").summary()
    assert (summary["min"], summary["median"], summary["max"], summary["repeats"]) == (1.0, 2.0, 3.0, 3)
    table = format_table({"_meta": {}, "k": summary})
    assert "k" in table and "<= 2" in table and "_meta" not in table


def test_reranking_ratios_are_measured() -> None:
    """The reranking benchmarks return positive ratios for every key on the bundled sample."""
    results = {m.key: m for m in bench_reranking(quick=True, repeats=1, n=10)}
    assert set(results) == {"rerank_overhead", "pointwise_vs_e2rank@10", "nocache_vs_cache@10"}
    assert all(v > 0 for m in results.values() for v in m.values)


def test_influence_is_measured() -> None:
    """The influence benchmark times the chart on the sample with the offline default."""
    from e2rank_demo.bench import bench_influence

    (m,) = bench_influence(repeats=1, k=5)
    assert m.key == "influence_k5_s" and len(m.values) == 2 and all(v > 0 for v in m.values)
    assert "scifact sample" in m.note


def test_present_steps_are_timed_after_their_first_visit() -> None:
    """present_step_s walks the Present steps once, then times each again; a value is one round's slowest step."""
    from e2rank_demo.bench import bench_present
    from e2rank_demo.ui import present

    measurement = bench_present(1)
    assert measurement.key == "present_step_s" and len(measurement.values) == 1 and measurement.values[0] > 0
    assert f"{present.N_STEPS} Present steps" in measurement.note


def test_results_reads_the_committed_bench_json_by_default(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """`results` without --bench-json renders docs/bench.json when it exists (evaluations re-used from a file)."""
    import json

    from e2rank_demo import results

    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"_meta": {"cpus": 2, "quick": False},
                                 "latency_panel_s": Measurement("latency_panel_s", [4.0], "s", "<= 15").summary()}))
    evals = tmp_path / "evals.json"
    evals.write_text("[]")
    monkeypatch.setattr(results, "DEFAULT_BENCH_JSON", bench)
    out = tmp_path / "RESULTS.md"
    assert results.main(None, str(out), [], str(evals)) == 0
    assert "latency_panel_s" in out.read_text()


def test_sample_load_bench_reads_shipped_vectors() -> None:
    """sample_load_s runs the default preset on the SciFact sample with an empty cache, without embedding."""
    from e2rank_demo.bench import bench_sample_load

    measurement = bench_sample_load(1)
    assert measurement.key == "sample_load_s" and measurement.values[0] > 0


def _class_run(visitors: int, concurrency: int, search_p95: float) -> dict:
    """A `bench --class` run as recorded (figures made up for the rendering, not measured); ``concurrency`` is
    the search group's limit, the other settings are the app's."""
    from e2rank_demo.serving import serving_settings

    actions = {a: {"n": 4, "p50_s": 0.5, "p95_s": search_p95 if a == "search" else 1.0, "max_s": 2.0}
               for a in ("connect", "load_sample", "search", "map", "prompt_lab")}
    return {"visitors": visitors, "searches": 5, "uploaders": 8, "model": "minilm-e2rank",
            "queue": {**serving_settings({}), "search_concurrency": concurrency}, "cpus": 2, "machine": "x86_64",
            "warm_up_s": 30.0, "wall_s": 120.0, "most_in_flight": 12, "load_avg_1min": {"before": 0.4, "after": 1.9},
            "actions": {**actions, "upload": {"n": 0}}, "errors": 0, "error_examples": [],
            "cross_visitor_documents": 0, "leak_examples": [], "map_views_pca": 0, "peak_rss_gib": 2.0}


def test_class_runs_are_recorded_beside_the_bench_and_judged_at_thirty(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """`bench --class` runs land in bench.json's class section (one per setting), survive a full `bench`,
    stay out of its table, and RESULTS.md judges the 30-visitor run at the app's queue settings."""
    import json
    import os

    from e2rank_demo import bench, class_bench, results
    from e2rank_demo.serving import GROUPS

    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"_meta": {"cpus": 2, "quick": False},
                                "latency_panel_s": Measurement("latency_panel_s", [4.0], "s", "<= 15").summary()}))
    app, other = GROUPS["search"], GROUPS["search"] + 1
    class_bench.record(_class_run(10, other, 1.0), path)
    class_bench.record(_class_run(30, app, 9.0), path)
    class_bench.record(_class_run(30, other, 3.0), path)  # another setting: its own row, not judged
    class_bench.record(_class_run(30, app, 6.0), path)  # the same setting again: replaced
    data = json.loads(path.read_text())
    assert sorted((r["visitors"], r["actions"]["search"]["p95_s"]) for r in data["class"]["runs"]) == [
        (10, 1.0), (30, 3.0), (30, 6.0)]
    assert "class" not in bench.format_table(data) and "latency_panel_s" in bench.format_table(data)

    monkeypatch.setattr(bench, "run", lambda quick: {"_meta": {"quick": quick}, "k": Measurement(
        "k", [1.0], "s").summary()})
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert bench.main(True, str(path)) == 0
    assert "TQDM_DISABLE" not in os.environ  # quiet bars for the bench only: set for good, it silenced `index`
    assert json.loads(path.read_text())["class"] == data["class"]  # a full bench keeps the class section

    text = "\n".join(class_bench.markdown(data["class"]))
    assert "p95 search: 6.00 s (target <= 5 s): not met" in text and "errors: 0 (target <= 0): met" in text
    assert f"search {app}, corpus" in text
    assert f"| 10 | 5 | {other} | " in text and f"| 30 | 5 | {app} | " in text
    evals = tmp_path / "evals.json"
    evals.write_text("[]")
    out = tmp_path / "RESULTS.md"
    assert results.main(str(path), str(out), [], str(evals)) == 0
    assert "## A class on one server" in out.read_text()


def test_class_targets_wait_for_thirty_visitors() -> None:
    """Without a 30-visitor run at the app's settings the section says the targets are not measured yet."""
    from e2rank_demo import class_bench

    text = "\n".join(class_bench.markdown({"runs": [_class_run(10, 4, 1.0)]}))
    assert "not measured yet" in text and "Targets:" not in text


def test_the_class_bench_sums_the_server_process_tree() -> None:
    """Peak RSS and CPU seconds count the server and its children (a child's memory and work are the server's)."""
    import os
    import subprocess
    import sys

    from e2rank_demo.class_bench import process_tree, tree_cpu_seconds, tree_rss_bytes

    # The child spins until it has used 0.3 s of CPU, then waits to be killed.
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile time.process_time() < 0.3: pass\n"
                              "print('spun', flush=True)\ntime.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "spun"
        assert {os.getpid(), child.pid} <= process_tree(os.getpid()) and child.pid in process_tree(child.pid)
        assert os.getpid() not in process_tree(child.pid)
        assert tree_rss_bytes(os.getpid()) > 0
        assert tree_cpu_seconds(child.pid) >= 0.25
        assert tree_cpu_seconds(os.getpid()) >= tree_cpu_seconds(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_visitor_notices_documents_outside_its_own_corpus(tmp_path) -> None:  # noqa: ANN001
    """The class bench's isolation check flags another visitor's marker and any id outside the visitor's corpus,
    and passes the visitor's own answers."""
    import threading

    from e2rank_demo.class_bench import ClassPlan, Visitor, marker

    plan = ClassPlan(2, 1, "minilm-e2rank", frozenset({"101", "102"}), ["q"], tmp_path, 5)
    visitor = Visitor(1, "http://127.0.0.1:1/", plan, [0, 0], threading.Lock())
    own = marker(1)
    visitor.check("upload", [f'<li data-pid="{own}-d0">Bread {own}</li>'], frozenset({f"{own}-d0"}))
    visitor.check("search 0", ['<li data-pid="101">x</li><li data-pid="102">y</li>'], None)
    assert visitor.visit.leaks == [] and visitor.visit.errors == []
    visitor.check("search 1", [f'<li data-pid="101">x</li> {marker(0)}'], None)  # another visitor's word
    visitor.check("search 2", ['<li data-pid="999">x</li>'], None)  # an id outside the sample
    visitor.check("upload search", ['<li data-pid="101">x</li>'], frozenset({f"{own}-d0"}))  # the sample, not its upload
    assert len(visitor.visit.leaks) == 3, visitor.visit.leaks
    assert marker(0) in visitor.visit.leaks[0] and "'999'" in visitor.visit.leaks[1] and "'101'" in visitor.visit.leaks[2]
    visitor.check("map", [f"Bread {own}"], None)  # its own upload after loading the sample: stale, not a leak
    assert len(visitor.visit.leaks) == 3 and "still shows its upload" in visitor.visit.errors[0]


def test_cancel_latency_is_measured_to_the_return_and_to_the_stop() -> None:
    """latency_cancel_s (Cancel to the callback's return) and latency_cancel_stop_s (to the worker's stop)."""
    from e2rank_demo.bench import bench_latency_cancel

    returned, stopped = bench_latency_cancel(1, after_s=0.5)
    assert (returned.key, stopped.key) == ("latency_cancel_s", "latency_cancel_stop_s")
    assert len(returned.values) == len(stopped.values) == 1 and 0 <= returned.values[0] <= stopped.values[0]
