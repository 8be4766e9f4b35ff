"""Regenerates ``docs/RESULTS.md`` from measured runs (never edited by hand).

``python -m e2rank_demo results --bench-json bench.json`` evaluates every offline model on
SciFact test and TREC DL 2019, reads a benchmark JSON written by ``bench``, and writes the
report with the paper's reported numbers beside, labelled.

Example:
    >>> print(metrics_row("e2rank", {"ndcg@10": 0.5, "mrr@10": 0.75, "recall@100": 0.9}))
    | e2rank | 0.5000 | 0.7500 | 0.9000 |
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from e2rank_demo.bench import CLASS_KEY, REPO, format_table, measurements
from e2rank_demo.models import MAX_PROMPT_TOKENS
from e2rank_demo.records import FirstStageName

DEFAULT_BENCH_JSON = REPO / "docs" / "bench.json"
"""The committed full benchmark run, read when ``--bench-json`` is not given."""

DATA = REPO.parent / "shared" / "data"

# (collection folder, first stage, label) evaluated for each model.
RUNS: list[tuple[str, FirstStageName, str]] = [
    ("trec-dl-2019", "run", "TREC DL 2019, reranking the official BM25 top-100 (43 queries)"),
    ("scifact", "bm25", "SciFact test, reranking BM25 top-100 (300 queries)"),
    ("scifact", "dense", "SciFact test, reranking the model's own dense top-100 (300 queries)"),
]

REPORTED = """\
Reported in the paper (nDCG@10, reranking BM25 top-100; not measured here):

| model | DL19 | SciFact |
|---|---|---|
| BM25 | 50.58 | 67.89 |
| E2Rank-0.6B | 70.84 | 73.43 |
| E2Rank-4B | 70.44 | 77.19 |
| E2Rank-8B | 72.95 | 77.49 |

End-to-end in the paper (E2Rank-0.6B retrieving its own top-100, then reranking): SciFact 71.12 -> 72.95.
Ablation (E2Rank-0.6B, DL20 / BEIR avg): full 70.15 / 52.09; without RankNet 66.50 / 49.24;
Stage I only 63.55 / 46.31.
"""


def metrics_row(system: str, values: dict[str, float]) -> str:
    """One markdown table row."""
    return f"| {system} | {values['ndcg@10']:.4f} | {values['mrr@10']:.4f} | {values['recall@100']:.4f} |"


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def evaluate_all(models: Sequence[str]) -> list[tuple[str, str, str, dict[str, dict[str, float]]]]:
    """Runs every (model, collection, first stage) evaluation through the embedding cache."""
    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.evaluation import evaluate
    from e2rank_demo.models import load_embedder
    from e2rank_demo.pipeline import SearchSettings

    cache = EmbeddingCache()
    out = []
    for model in models:
        loaded = load_embedder(model)
        if loaded.fell_back:
            continue
        for folder, first_stage, run_label in RUNS:
            dataset = load_beir(DATA / folder)
            settings = SearchSettings(task="scifact" if folder == "scifact" else "web")
            report = evaluate(dataset, loaded.embedder, first_stage, settings, cache=cache)
            label = (
                f"{run_label}; k = {report.settings['prompt_docs']}, {report.settings['prompt_pooling']} prompt pooling"
            )
            if report.binary_rel != 1:  # TREC DL: the binary measures count grade >= 2 only
                label += f"; MRR@10 and R@100 at rel ≥ {report.binary_rel}"
            out.append((model, folder, label, report.metrics))
    return out


def _meets(median: float, target: str) -> bool | None:
    """Whether a median meets a target like ``<= 1.15`` or ``>= 10 (stretch 1.5)``; None if untargeted."""
    parts = target.split()
    if len(parts) < 2 or parts[0] not in ("<=", ">="):
        return None
    bound = float(parts[1])
    return median <= bound if parts[0] == "<=" else median >= bound


def _target_notes(bench: dict) -> list[str]:
    """Which targets the medians meet or miss, with the measured profile where one was taken."""
    lines = ["Targets:", ""]
    for key, r in measurements(bench).items():
        met = _meets(float(r["median"]), str(r.get("target", "")))
        if met is None:
            continue
        lines.append(
            f"- `{key}`: median {r['median']:.3f} {r['unit']} vs target {r['target']}: {'met' if met else '**missed**'}"
        )
        if not met and r.get("profile"):
            profile = ", ".join(f"{k.removeprefix('median_')} {v * 1000:.1f} ms" for k, v in r["profile"].items())
            lines.append(f"  - where the time goes (medians): {profile}")
    return [*lines, ""]


def training_section(preset: str = "minilm-e2rank") -> list[str]:
    """The shipped adapter's validation figures, read from its metadata (``e2rank_adapter.json``).

    Example:
        >>> training_section()[0]
        '## Training the offline model (E2Rank-mini)'
    """
    from e2rank_demo.models.adapter import training_record
    from e2rank_demo.models.presets import ADAPTER_ROOT, default_model_name

    record = training_record(ADAPTER_ROOT / preset)
    validation = record.get("validation_ndcg@10") or {}
    if not validation:
        return []
    default = default_model_name({})
    rows = [f"| {system.replace('>', ' > ')} | {value:.4f} |" for system, value in validation.items()]
    return [
        "## Training the offline model (E2Rank-mini)",
        "",
        f"`{preset}` ({'the offline default' if default == preset else f'not the default; that is `{default}`'}): "
        f"{record.get('steps')} steps on {record.get('train_queries')} SciFact train queries "
        f"({record.get('train_seconds')} s). Test-set figures: the `{preset}` tables above; how it was "
        "trained and the variants tried: [training.md](training.md).",
        "",
        f"Validation nDCG@10 on {record.get('val_queries')} held-out SciFact train queries, as stored in "
        f'`assets/models/{preset}/e2rank_adapter.json` ("bm25 > e2rank": E2Rank reranks the BM25 top-100):',
        "",
        "| system | nDCG@10 |",
        "|---|---|",
        *rows,
        "",
    ]


def render(evals: list[tuple[str, str, str, dict[str, dict[str, float]]]], bench: dict | None) -> str:
    """The markdown report."""
    parts = [
        "# Measured results",
        "",
        "Generated by `python -m e2rank_demo results` (do not edit by hand) at commit "
        f"`{_git_rev()}` on {platform.machine()} with {__import__('os').cpu_count()} CPU cores, "
        f"Python {platform.python_version()}.",
        "",
        "## Retrieval quality (measured here, offline models)",
        "",
        "Metrics from ir-measures (trec_eval conventions). N = 100 candidates; k prompt documents and the prompt",
        "pooling are each model's own defaults (in each table's title; E2Rank's decoders: k = 20, last token).",
        "Rocchio = normalise(q + 0.5 · mean of the top-5 document vectors).",
        "",
        f"Decoder presets (E2Rank, Qwen3; not measured in this file) cap the listwise prompt at {MAX_PROMPT_TOKENS:,}",
        "tokens, a departure from the paper's 32K window; `eval --max-prompt-tokens 32768` restores it.",
    ]
    for model in dict.fromkeys(m for m, *_ in evals):
        for m, _, label, metrics in evals:
            if m != model:
                continue
            parts += ["", f"### {model}: {label}", "", "| system | nDCG@10 | MRR@10 | R@100 |", "|---|---|---|---|"]
            parts += [metrics_row(system, values) for system, values in metrics.items()]
    parts += ["", REPORTED]
    parts += training_section()
    if bench:
        meta = bench.get("_meta", {})
        parts += [
            "## Benchmarks (measured here)",
            "",
            f"`python -m e2rank_demo bench{' --quick' if meta.get('quick') else ''} --json bench.json` "
            f"on {meta.get('cpus')} cores; min / median / max over repeats after a warm-up.",
            "",
            "```",
            format_table(bench),
            "```",
            "",
        ]
        parts += _target_notes(bench)
        if CLASS_KEY in bench:
            from e2rank_demo.class_bench import markdown as class_markdown

            parts += class_markdown(bench[CLASS_KEY])
    scale = REPO / "docs" / "scale.json"
    if scale.exists():
        from e2rank_demo.stores.bench_scale import markdown

        parts += markdown(json.loads(scale.read_text(encoding="utf-8")))
    parts += [
        "## Reproduce",
        "",
        "```bash",
        "python -m e2rank_demo bench --json docs/bench.json",
        "python -m e2rank_demo bench --class 30  # the class section of docs/bench.json",
        "python -m e2rank_demo results  # reads docs/bench.json",
        "```",
        "",
    ]
    return "\n".join(parts)


def main(bench_json: str | None, out: str, models: Sequence[str], evals_json: str | None = None) -> int:
    """CLI body; ``evals_json`` stores the evaluations (re-used when it exists) so the
    report can be re-rendered with a new benchmark without re-running them. Without
    ``bench_json``, the committed full benchmark (:data:`DEFAULT_BENCH_JSON`) is read if present."""
    bench_json = bench_json or (str(DEFAULT_BENCH_JSON) if DEFAULT_BENCH_JSON.is_file() else None)
    bench = json.loads(Path(bench_json).read_text()) if bench_json else None
    if evals_json and Path(evals_json).exists():
        evals = [tuple(e) for e in json.loads(Path(evals_json).read_text())]
    else:
        evals = evaluate_all(models)
        if evals_json:
            Path(evals_json).write_text(json.dumps(evals, indent=1), encoding="utf-8")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render(evals, bench), encoding="utf-8")
    print(f"wrote {out}")
    return 0
