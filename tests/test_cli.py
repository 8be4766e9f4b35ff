"""The command line on small local inputs (search over files, eval over a tiny BEIR folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2rank_demo.cli import main


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    docs = {"d1": "The Moon's gravity causes ocean tides.", "d2": "Yeast makes bread rise.",
            "d3": "Bell patented the telephone.", "d4": "Mars has two moons."}
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items()))
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "what causes tides"}) + "\n"
        + json.dumps({"_id": "q2", "text": "why does bread rise"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def test_search_prints_json_for_every_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`search --json` over a folder of text files returns every system's list."""
    (tmp_path / "tides.txt").write_text("The Moon's gravity pulls the oceans and causes the tides.")
    (tmp_path / "bread.md").write_text("Yeast ferments sugar, and the gas makes bread rise.")
    assert main(["search", "--corpus", str(tmp_path), "--query", "why does bread rise", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["first_stage"][0]["id"] == "bread"
    assert {"e2rank", "rocchio", "dense"} <= set(out)


def test_search_k_and_pooling_follow_the_model_unless_given(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Without flags `search` uses the model's k and prompt pooling; `--prompt-docs` / `--prompt-pooling` win."""
    from e2rank_demo.cli import build_parser
    from e2rank_demo.models.loading import prompt_defaults

    args = build_parser().parse_args(["search", "--corpus", "x", "--query", "q"])
    assert args.prompt_docs is None and args.prompt_pooling is None
    (tmp_path / "tides.txt").write_text("The Moon's gravity pulls the oceans and causes the tides.")
    (tmp_path / "bread.md").write_text("Yeast ferments sugar, and the gas makes bread rise.")
    common = ["search", "--corpus", str(tmp_path), "--query", "why does bread rise", "--model", "minilm"]
    assert main([*common, "--json"]) == 0
    defaults = prompt_defaults("minilm")
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert (settings["prompt_docs"], settings["prompt_pooling"]) == (defaults.k, defaults.pooling)
    assert main([*common, "--json", "--prompt-docs", "1", "--prompt-pooling", "query"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert (settings["prompt_docs"], settings["prompt_pooling"]) == (1, "query")
    other = "mean" if defaults.pooling != "mean" else "query"
    assert main([*common, "--prompt-pooling", other]) == 0
    assert f"k = {defaults.k} documents, {other} pooling (the model's defaults: k = {defaults.k}, " \
           f"{defaults.pooling} pooling)" in capsys.readouterr().out
    assert main(common) == 0
    assert f"k = {defaults.k} documents, {defaults.pooling} pooling (the model's defaults)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args([*common, "--prompt-pooling", "max"])


def test_eval_writes_json_with_every_metric(tiny_beir: Path, tmp_path: Path) -> None:
    """`eval --json` reports nDCG@10, MRR@10 and Recall@100 for each system plus n_queries."""
    out = tmp_path / "out.json"
    trec = tmp_path / "runs"
    code = main(["eval", "--data", str(tiny_beir), "--first-stage", "dense", "--json", str(out),
                 "--trec-dir", str(trec), "--candidates", "4", "--prompt-docs", "2", "--no-cache",
                 "--model", "minilm"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["n_queries"] == 2 and report["model"] == "minilm"
    for system in ("first_stage", "dense", "e2rank", "rocchio"):
        assert set(report[system]) == {"ndcg@10", "mrr@10", "recall@100"}
    assert report["first_stage"]["ndcg@10"] == pytest.approx(1.0)
    assert (trec / "e2rank.trec").read_text().startswith("q1 Q0 ")
    from e2rank_demo.models.loading import prompt_defaults

    assert report["settings"]["prompt_docs"] == 2  # the flag
    assert report["settings"]["prompt_pooling"] == prompt_defaults("minilm").pooling  # the model's own


def test_eval_prompt_pooling_flag_reaches_the_report(tiny_beir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`eval --prompt-pooling` overrides the model's pooling, and the report and summary say so."""
    from e2rank_demo.models.loading import prompt_defaults

    other = "mean" if prompt_defaults("minilm").pooling != "mean" else "query"
    out = tmp_path / "out.json"
    assert main(["eval", "--data", str(tiny_beir), "--json", str(out), "--candidates", "4", "--no-cache",
                 "--model", "minilm", "--prompt-pooling", other, "--rerankers", "e2rank"]) == 0
    assert json.loads(out.read_text())["settings"]["prompt_pooling"] == other
    assert f"{other} pooling (the model's defaults: " in capsys.readouterr().out


def test_bad_input_is_a_plain_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is not a BEIR collection gives an error line and exit status 2, no traceback."""
    assert main(["eval", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err



@pytest.fixture
def loaded_models(monkeypatch: pytest.MonkeyPatch) -> list:
    """`eval` loads through the project's builder without the load timeout (a busy machine can pass 8 s)."""
    from e2rank_demo import cli
    from e2rank_demo.models import build_embedder

    seen: list = []
    monkeypatch.setattr(cli, "_load_model", lambda name: seen.append(build_embedder(name)) or seen[-1])
    return seen


def test_eval_max_prompt_tokens_raises_the_decoder_cap(tiny_beir: Path, tiny_qwen_dir: Path, tmp_path: Path,
                                                       loaded_models: list) -> None:
    """`eval --max-prompt-tokens` sets the decoder's listwise-prompt window (the paper's 32K, or less)."""
    out = tmp_path / "out.json"
    assert main(["eval", "--data", str(tiny_beir), "--model", str(tiny_qwen_dir), "--no-cache", "--candidates",
                 "4", "--prompt-docs", "2", "--max-prompt-tokens", "300", "--json", str(out)]) == 0
    assert loaded_models[0].max_tokens == 300
    assert json.loads(out.read_text())["n_queries"] == 2


def test_eval_max_prompt_tokens_rejects_zero(tiny_beir: Path, tiny_qwen_dir: Path, loaded_models: list,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A cap below 1 token is a plain error, not a traceback."""
    assert main(["eval", "--data", str(tiny_beir), "--model", str(tiny_qwen_dir), "--no-cache",
                 "--max-prompt-tokens", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_results_label_the_decoder_prompt_cap() -> None:
    """docs/RESULTS.md states the decoder prompt cap and the paper's 32K beside it."""
    from e2rank_demo.models import MAX_PROMPT_TOKENS
    from e2rank_demo.results import render

    text = render([], None)
    assert f"cap the listwise prompt at {MAX_PROMPT_TOKENS:,}\ntokens" in text and "32K" in text
