"""Test figures recorded in a trained adapter's metadata (``e2rank_demo.adapter_eval``) and the model note
that reads them: measured by the real evaluation on a tiny adapter and a tiny BEIR folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2rank_demo import adapter_eval
from e2rank_demo.cli import main
from e2rank_demo.models import ADAPTER_SPEC_FILE

DOCS = {"d1": "The Moon's gravity causes ocean tides.", "d2": "Yeast makes bread rise.",
        "d3": "Bell patented the telephone.", "d4": "Mars has two moons.", "d5": "Tides rise twice a day."}
QUERIES = {"q1": "what causes tides", "q2": "why does bread rise", "q3": "who invented the telephone"}


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("beir") / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                                 for k, v in DOCS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td5\t1\nq2\td2\t1\nq3\td3\t1\n")
    return folder


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random LoRA on MiniLM whose record says k = 2 and query pooling (as `train` writes it)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from e2rank_demo.models import build_embedder

    torch.manual_seed(0)
    base = build_embedder("minilm")  # a fresh copy: the LoRA is attached in place
    peft = get_peft_model(base.model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                 init_lora_weights=False))
    folder = tmp_path_factory.mktemp("adapter") / "tiny-adapter"
    peft.save_pretrained(str(folder))
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps({
        "base": "minilm", "documents": "base", "snippets": "lead", "prompt_pooling": "query", "prompt_docs": 2,
        "training": {"steps": 3, "validation_ndcg@10": {"bm25": 0.5}}}, indent=2))
    return folder


def test_measure_is_the_evaluation_of_the_adapter_as_the_app_opens_it(adapter: Path, tiny_beir: Path) -> None:
    """The recorded figure is :func:`evaluate` on the adapter with its own k and pooling, N = 100."""
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.evaluation import evaluate
    from e2rank_demo.models import build_adapted_embedder
    from e2rank_demo.pipeline import SearchSettings

    figure = adapter_eval.measure(adapter, tiny_beir, "dense")
    direct = evaluate(load_beir(tiny_beir), build_adapted_embedder(adapter), "dense", SearchSettings(task="web"))
    assert figure.key == "tiny_test_dense" and figure.queries == 3 and figure.candidates == 100
    assert (figure.k, figure.pooling) == (2, "query")
    assert figure.ndcg10 == pytest.approx({s: v["ndcg@10"] for s, v in direct.metrics.items()})
    assert set(figure.ndcg10) == {"first_stage", "e2rank", "rocchio", "dense"}
    assert figure.weights == adapter_eval.weights_digest(adapter) != ""


def test_record_keeps_the_rest_and_the_note_checks_setting_and_weights(adapter: Path, tiny_beir: Path,
                                                                       tmp_path: Path) -> None:
    """`record-adapter` writes the figures under "evaluation" and keeps the spec and training record; the
    opening figure is refused once the adapter's k or its weights differ from what was measured."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(adapter, folder)
    assert main(["record-adapter", str(folder), "--data", str(tiny_beir), "--first-stages", "dense,bm25",
                 "--no-cache"]) == 0
    data = json.loads((folder / ADAPTER_SPEC_FILE).read_text())
    assert data["base"] == "minilm" and data["training"]["steps"] == 3
    assert set(data["evaluation"]) == {"tiny_test_dense", "tiny_test_bm25"}
    stored = data["evaluation"]["tiny_test_dense"]
    assert set(stored) == {"dataset", "split", "first_stage", "queries", "candidates", "k", "pooling", "ndcg@10",
                           "weights"}
    assert adapter_eval.recorded(folder)["tiny_test_bm25"].first_stage == "bm25"
    figure, why = adapter_eval.opening_figure(folder, dataset="tiny")
    assert figure is not None and why == "" and figure.first_stage == "dense"
    data["prompt_docs"] = 3  # the model now opens with another k than was measured
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps(data))
    figure, why = adapter_eval.opening_figure(folder, dataset="tiny")
    assert figure is None and "k = 2" in why and "k = 3" in why
    (folder / adapter_eval.WEIGHTS_FILE).write_bytes(b"retrained")
    assert "other weights" in adapter_eval.opening_figure(folder, dataset="tiny")[1]
    assert "no scifact test figure" in adapter_eval.opening_figure(folder)[1]


def test_record_adapter_refuses_a_model_without_an_adapter(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record-adapter", "minilm", "--data", str(tmp_path)]) == 2
    assert "no trained adapter" in capsys.readouterr().err


def _note_folder(root: Path, evaluation: dict | None, weights: bytes = b"w") -> Path:
    folder = root / "minilm-e2rank"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / adapter_eval.WEIGHTS_FILE).write_bytes(weights)
    meta = {"base": "minilm", "prompt_docs": 5, "prompt_pooling": "query",
            "training": {"val_queries": 250, "validation_ndcg@10": {"bm25>e2rank": 0.4321, "dense>e2rank": 0.3456}}}
    if evaluation is not None:
        meta["evaluation"] = evaluation
    (folder / ADAPTER_SPEC_FILE).write_text(json.dumps(meta))
    return folder


def test_the_model_note_heads_with_the_recorded_test_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Headline: the test figure of the opening setting beside the first stage's, from the metadata; validation
    figures only in the details; without a matching record the note says so and invents nothing."""
    from e2rank_demo.ui import content

    monkeypatch.setattr("e2rank_demo.models.presets.ADAPTER_ROOT", tmp_path)
    digest = adapter_eval.weights_digest(_note_folder(tmp_path, None))
    dense = adapter_eval.RecordedFigure("scifact", "test", "dense", 300, 100, 5, "query",
                                        {"first_stage": 0.6111, "dense": 0.6111, "rocchio": 0.6222, "e2rank": 0.6333},
                                        digest)
    bm25 = adapter_eval.RecordedFigure("scifact", "test", "bm25", 300, 100, 5, "query",
                                       {"first_stage": 0.6789, "e2rank": 0.7123}, digest)
    _note_folder(tmp_path, {f.key: f.to_json() for f in (dense, bm25)})
    note = content.model_note("minilm-e2rank")
    assert note is not None
    assert "0.633" in note.headline and "0.611" in note.headline and "dense first stage" in note.headline
    assert "k = 5, query pooling" in note.headline and "0.432" not in note.headline
    assert "bm25 > e2rank 0.432" in note.details and "on 250 held-out" in note.details
    assert "SciFact test, BM25 top-100" in note.details and "BM25 0.6789, E2Rank 0.7123" in note.details
    assert "0.6333" in note.headline and "0.6111" in note.headline

    _note_folder(tmp_path, {f.key: f.to_json() for f in (dense, bm25)}, weights=b"new weights")
    note = content.model_note("minilm-e2rank")
    assert "no test figure recorded" in note.headline and "0.633" not in note.headline
    assert "other weights" in note.details and "record-adapter minilm-e2rank" in note.details
    assert "0.712" not in note.details  # nothing measured on the replaced weights is shown
    _note_folder(tmp_path, None)
    assert "no test figure recorded" in content.model_note("minilm-e2rank").headline
