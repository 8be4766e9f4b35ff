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
