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
