"""E2Rank Stage II training: InfoNCE + RankNet on listwise-prompt embeddings.

``python -m e2rank_demo train`` fine-tunes an embedding model (a LoRA adapter through
``peft``) so that its listwise prompt becomes a better query, as in the E2Rank paper:

* InfoNCE (temperature 0.03) between the query embedding and its judged positive,
  against the mined negatives of every example in the batch;
* plus ``lambda`` x RankNet: the cosine scores of the listwise-prompt embedding against
  the example's candidates (scaled by 10) follow the teacher order, through a pairwise
  logistic loss over all ordered pairs.

Training data are the *train* queries and qrels of a BEIR folder (SciFact), never the
test split. For each (query, judged positive) pair the negatives are sampled from the
base model's own dense top-``mine_depth`` (judged documents excluded). The teacher order
is "positive first, then the negatives in the base model's order" (no test labels and
no larger teacher model are available offline). The listwise prompt is built with
:meth:`~e2rank_demo.models.Embedder.build_listwise` from the top-k of a first stage
(dense or BM25, drawn per example), so the train-time prompt is exactly the inference
prompt. A validation split (``val_queries`` train queries, the same seeded sample that
``eval --split train --limit-queries N`` uses) is held out for model selection.

By default documents stay with the base model (``--documents base``): their embeddings
are computed once, the adapter changes only queries and prompts, and a step costs two
small forward/backward passes, which fits a 2-core CPU. ``--documents adapted`` trains
one model for everything, as in the paper (use it on a GPU, e.g. for Qwen3-Embedding).

Example:
    $ python -m e2rank_demo train --data ../shared/data/scifact --model minilm \\
        --out assets/models/minilm-e2rank --steps 150
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2rank_demo.models import ADAPTER_SPEC_FILE, AdapterSpec, Embedder

if TYPE_CHECKING:
    import torch

    from e2rank_demo.corpus import BeirDataset
    from e2rank_demo.records import BuiltPrompt


@dataclass
class TrainConfig:
    """Every training option (the CLI maps one flag to each field).

    Attributes:
        model: Base model: preset, folder or hub id.
        data: BEIR folder with a ``train`` qrels split.
        out: Output folder for the adapter, its spec, the log and checkpoints.
        task: Prompt task (header of the listwise prompt, query instruction).
        steps: Optimiser steps.
        batch_size: Examples per micro-batch.
        grad_accum: Micro-batches per optimiser step.
        lr: Peak learning rate (linear warm-up, then linear decay to 10 %).
        warmup: Warm-up steps.
        temperature: InfoNCE temperature.
        ranknet_weight: ``lambda``, weight of the RankNet term.
        ranknet_scale: Cosine scores are multiplied by this inside RankNet.
        negatives: Negatives per example.
        mine_depth: Negatives are drawn from the base model's dense top-``mine_depth``.
        prompt_docs: k, documents in the listwise prompt.
        prompt_order: ``official`` (query last) or ``query_first``.
        prompt_pooling: How the prompt is pooled (``query``, ``mean``, ``last``); ``None``: the
            base model's default. Recorded in the adapter as its default, with ``prompt_docs``.
        prompt_stages: First stages the prompt documents and the negatives are drawn from
            (one per example and step, as at inference: the prompt is the top-k of the very
            candidates being ranked).
        teacher: Order of the negatives after the judged positive: ``dense`` (the base
            model's cosine), ``rocchio`` (cosine to ``q + 0.5 * mean(top-5)`` of the stage)
            or ``rrf`` (reciprocal-rank fusion of BM25 and dense; the best of these on the
            validation queries, see docs/training.md).
        distill_weight: Weight of ``1 - cos(prompt, rocchio)``, which pulls the prompt
            embedding toward the Rocchio vector ``q + distill_beta * mean(top-5)`` of the
            same first stage, ``q`` being the model's own (detached) query embedding (0: off).
        distill_beta: Feedback weight of that Rocchio target (the Rocchio reranker uses 0.5).
        snippets: ``lead`` or ``query`` (see :class:`~e2rank_demo.models.AdapterSpec`).
        documents: ``base`` (documents frozen) or ``adapted`` (one model for all).
        lora_rank: LoRA rank.
        lora_alpha: LoRA alpha.
        threads: Torch CPU threads (0: torch's default); 1 is fastest on a busy 2-core machine.
        val_queries: Train queries held out for validation (0: none).
        eval_every: Validate every this many steps (0: only at the end).
        checkpoint_every: Save the adapter every this many steps (0: only at the end).
        max_train_queries: Use at most this many training queries (seeded sample).
        seed: Seed of sampling, initialisation and dropout.
        quick: Tiny settings for smoke tests (set by ``--quick``).
    """

    model: str = "minilm"
    data: str = "../shared/data/scifact"
    out: str = "assets/models/minilm-e2rank"
    task: str = "scifact"
    steps: int = 150
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 3e-4
    warmup: int = 10
    temperature: float = 0.03
    ranknet_weight: float = 2.0
    ranknet_scale: float = 10.0
    negatives: int = 7
    mine_depth: int = 30
    prompt_docs: int = 20
    prompt_order: Literal["official", "query_first"] = "official"
    prompt_pooling: Literal["query", "mean", "last"] | None = None
    prompt_stages: tuple[str, ...] = ("dense", "bm25")
    teacher: Literal["dense", "rocchio", "rrf"] = "dense"
    distill_weight: float = 0.0
    distill_beta: float = 0.5
    snippets: Literal["lead", "query"] = "lead"
    documents: Literal["base", "adapted"] = "base"
    lora_rank: int = 16
    lora_alpha: int = 32
    threads: int = 0
    val_queries: int = 250
    eval_every: int = 0
    checkpoint_every: int = 0
    max_train_queries: int | None = None
    seed: int = 0
    quick: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            problems.append("steps, batch size and gradient accumulation must be at least 1")
        if self.negatives < 1 or self.mine_depth < self.negatives:
            problems.append("need at least 1 negative and mine_depth >= negatives")
        if self.prompt_docs < 1:
            problems.append("prompt_docs must be at least 1")
        if not set(self.prompt_stages) <= {"dense", "bm25"} or not self.prompt_stages:
            problems.append("prompt_stages must be a non-empty subset of dense, bm25")
        if self.snippets not in ("lead", "query") or self.documents not in ("base", "adapted"):
            problems.append("snippets must be lead|query and documents base|adapted")
        if self.prompt_pooling not in (None, "query", "mean", "last"):
            problems.append("prompt_pooling must be query|mean|last")
        if self.teacher not in ("dense", "rocchio", "rrf") or self.distill_weight < 0:
            problems.append("teacher must be dense|rocchio|rrf and distill_weight >= 0")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def quick_settings(cls, **overrides: object) -> TrainConfig:
        """Settings that train a tiny model in seconds (smoke tests, ``--quick``)."""
        base: dict[str, object] = {
            "steps": 12,
            "batch_size": 2,
            "negatives": 2,
            "mine_depth": 4,
            "prompt_docs": 3,
            "lr": 5e-3,
            "warmup": 0,
            "lora_rank": 4,
            "lora_alpha": 8,
            "val_queries": 1,
            "quick": True,
        }
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Example:
    """One training instance.

    Attributes:
        qid: Query id.
        query: Query text.
        positive: Corpus row of the judged positive.
        pools: Per first stage, the unjudged rows of its top-``mine_depth`` in teacher
            order (best first): the negatives.
        prompt_rows: Per first stage, the rows of its top-k (the prompt documents).
        feedback: Per first stage, the mean base embedding of its top-5 (the
            feedback part of the distillation target).
    """

    qid: str
    query: str
    positive: int
    pools: dict[str, tuple[int, ...]]
    prompt_rows: dict[str, tuple[int, ...]]
    feedback: dict[str, np.ndarray]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        out: Folder of the saved adapter.
        log: Per-step records (also written to ``train_log.jsonl``).
        validation: Validation metrics at the end (empty without validation queries).
        seconds: Wall time of the optimisation loop.
        prep_seconds: Wall time of loading, embedding the corpus and mining.
        adapter_bytes: Size of the saved adapter weights.
    """

    out: Path
    log: list[dict[str, float]] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    prep_seconds: float = 0.0
    adapter_bytes: int = 0


# --------------------------------------------------------------------------- data
def split_train_validation(dataset: BeirDataset, val_queries: int, seed: int) -> tuple[list[str], list[str]]:
    """Train query ids and the validation ids carved from them.

    The validation ids are the same seeded sample that
    ``evaluate(..., split="train", limit_queries=val_queries, seed=seed)`` scores.
    """
    from e2rank_demo.evaluation import pick_queries

    judged = dataset.split_queries("train")
    val = sorted(pick_queries(dataset, "train", val_queries, seed)) if val_queries else []
    if len(val) >= len(judged):
        raise ValueError(f"{len(val)} validation queries leave none of the {len(judged)} train queries to train on")
    held = set(val)
    return [q for q in judged if q not in held], val


def mine_examples(
    dataset: BeirDataset,
    qids: Sequence[str],
    embedder: Embedder,
    doc_vectors: np.ndarray,
    cfg: TrainConfig,
) -> list[Example]:
    """Builds one :class:`Example` per (train query, judged positive in the corpus).

    Each first stage in ``cfg.prompt_stages`` gives its own top-k prompt, its own
    negatives (its unjudged top-``mine_depth``, ordered by ``cfg.teacher``) and its
    own Rocchio feedback, so training sees what inference sees on those candidates.

    Args:
        dataset: The collection (train qrels are read).
        qids: Training query ids.
        embedder: The base model (embeds the queries for mining).
        doc_vectors: Base document embeddings, aligned with ``dataset.corpus``.
        cfg: Mining depth, prompt size and stages.
    """
    from e2rank_demo.prompts import TASKS
    from e2rank_demo.retrieval import BM25Retriever

    row_of = {d.id: i for i, d in enumerate(dataset.corpus)}
    qrels = dataset.qrels["train"]
    texts = [dataset.queries[q] for q in qids]
    query_vectors = embedder.embed_queries(texts, TASKS[cfg.task].query)
    depth = max(cfg.mine_depth + 10, cfg.prompt_docs)
    bm25 = BM25Retriever([_doc_text(d) for d in dataset.corpus])
    examples = []
    for qid, text, qvec in zip(qids, texts, query_vectors, strict=False):
        judged = {row_of[d] for d in qrels[qid] if d in row_of}
        positives = {row_of[d] for d, grade in qrels[qid].items() if grade > 0 and d in row_of}
        dense_scores = doc_vectors @ qvec
        bm25_rows = [int(r) for r in bm25.search(text, 1000).rows]
        stages = {"dense": np.argsort(-dense_scores, kind="stable")[:depth].tolist(), "bm25": bm25_rows[:depth]}
        stages = {s: rows or stages["dense"] for s, rows in stages.items() if s in cfg.prompt_stages}
        feedback = {s: doc_vectors[rows[:5]].mean(axis=0) for s, rows in stages.items()}
        teacher = _teacher_scores(
            cfg.teacher, doc_vectors, dense_scores, bm25_rows, {s: _rocchio(qvec, f) for s, f in feedback.items()}
        )
        pools = {}
        for stage, rows in stages.items():
            unjudged = [r for r in rows if r not in judged][: cfg.mine_depth]
            pools[stage] = tuple(sorted(unjudged, key=lambda r: -teacher[stage][r]))
        prompts = {s: tuple(rows[: cfg.prompt_docs]) for s, rows in stages.items()}
        for positive in sorted(positives):
            examples.append(Example(qid, text, positive, pools, prompts, feedback))
    if not examples:
        raise ValueError("no training examples: the train qrels point to no corpus document")
    return examples


def _rocchio(query_vector: np.ndarray, feedback: np.ndarray, beta: float = 0.5) -> np.ndarray:
    """``normalise(q + beta * feedback)``, the Rocchio reranker's vector (``feedback``: mean of the top-5)."""
    vector = query_vector + beta * feedback
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _teacher_scores(
    teacher: str,
    doc_vectors: np.ndarray,
    dense_scores: np.ndarray,
    bm25_rows: Sequence[int],
    targets: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Per first stage, a score for every corpus row; higher is ranked first.

    ``rrf`` fuses two corpus-wide rankings with ``1 / (60 + rank)``: BM25 and dense;
    rows BM25 does not return rank last.
    """
    if teacher == "dense":
        return dict.fromkeys(targets, dense_scores)
    if teacher == "rocchio":
        return {s: doc_vectors @ t for s, t in targets.items()}
    n = len(dense_scores)

    def reciprocal(order: Sequence[int] | np.ndarray) -> np.ndarray:
        fused = np.full(n, 1.0 / (60 + n))
        fused[np.asarray(order, dtype=np.int64)] = 1.0 / (60 + np.arange(len(order)))
        return fused

    fused = reciprocal(bm25_rows) + reciprocal(np.argsort(-dense_scores, kind="stable"))
    return dict.fromkeys(targets, fused)


def _doc_text(document: object) -> str:
    from e2rank_demo.records import Passage

    return Passage.from_document(document).full_text  # type: ignore[arg-type]


# --------------------------------------------------------------------------- losses
def info_nce(queries: torch.Tensor, docs: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of each query against every document of the batch.

    Args:
        queries: ``(B, d)`` L2-normalised.
        docs: ``(B, n, d)`` L2-normalised; ``docs[b, 0]`` is query ``b``'s positive.
        temperature: Softmax temperature.

    Example:
        >>> import torch
        >>> e = torch.eye(3)
        >>> docs = torch.stack([e[[0, 2]], e[[1, 2]]])  # positives e0, e1; shared negative e2
        >>> round(float(info_nce(e[:2], docs, 0.03)), 4)
        0.0
    """
    import torch

    batch, n, dim = docs.shape
    logits = queries @ docs.reshape(batch * n, dim).T / temperature
    targets = torch.arange(batch, device=queries.device) * n
    return torch.nn.functional.cross_entropy(logits, targets)


def ranknet(prompts: torch.Tensor, docs: torch.Tensor, scale: float) -> torch.Tensor:
    """Pairwise logistic loss pushing ``cos(prompt, docs)`` into the teacher order.

    Args:
        prompts: ``(B, d)`` L2-normalised prompt embeddings.
        docs: ``(B, n, d)`` candidates in teacher order (index 0 ranked first).
        scale: Scores are ``scale * cosine`` (1 / RankNet temperature).

    Returns:
        Mean of ``log(1 + exp(s_j - s_i))`` over all pairs ``i`` before ``j``.

    Example:
        >>> import torch
        >>> docs = torch.eye(3).unsqueeze(0)
        >>> good = ranknet(torch.tensor([[1.0, 0.5, 0.0]]), docs, 10.0)
        >>> bad = ranknet(torch.tensor([[0.0, 0.5, 1.0]]), docs, 10.0)
        >>> bool(good < bad)
        True
    """
    import torch

    scores = scale * torch.einsum("bd,bnd->bn", prompts, docs)
    n = scores.shape[1]
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), diagonal=1)
    diffs = scores.unsqueeze(2) - scores.unsqueeze(1)  # diffs[b, i, j] = s_i - s_j
    return torch.nn.functional.softplus(-diffs[:, upper]).mean()


# --------------------------------------------------------------------------- model
def attach_lora(base: Embedder, cfg: TrainConfig) -> Embedder:
    """A trainable LoRA adapter on every linear layer of the base model's blocks."""
    import peft  # its start-up warning is filtered in e2rank_demo/__init__.py

    from e2rank_demo.models import with_adapter

    targets = (
        ["query", "key", "value", "dense"]
        if base.kind == "encoder"
        else ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    config = peft.LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets,
        exclude_modules=["pooler.dense"] if base.kind == "encoder" else None,
        base_model_name_or_path=cfg.model,
    )
    model = peft.get_peft_model(base.model, config)
    return with_adapter(base, model, _spec(cfg, base), "training")


def _spec(cfg: TrainConfig, base: Embedder) -> AdapterSpec:
    """The adapter's spec: how it is applied, and the pooling and k it was trained with (its defaults)."""
    return AdapterSpec(
        base=cfg.model,
        documents=cfg.documents,
        snippets=cfg.snippets,
        prompt_pooling=cfg.prompt_pooling or base.prompt_pooling,
        prompt_docs=cfg.prompt_docs,
    )


def save_adapter(embedder: Embedder, out: Path, cfg: TrainConfig, extra: dict[str, object]) -> int:
    """Writes the adapter (fp16 safetensors), its PEFT config and ``e2rank_adapter.json``.

    Returns:
        Size of the weights file in bytes.
    """
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    model = embedder.model
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
    weights = out / "adapter_model.safetensors"
    save_file(state, str(weights), metadata={"format": "pt"})
    config = model.peft_config["default"]
    config.base_model_name_or_path = cfg.model  # the preset, not this machine's wheel path
    config.save_pretrained(str(out))
    spec = embedder.spec  # type: ignore[attr-defined]
    # The output folder is this machine's path, not part of the recipe: it is left out.
    record = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "out"}
    payload = {**dataclasses.asdict(spec), "training": {**record, **extra}}
    (out / ADAPTER_SPEC_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return weights.stat().st_size


# --------------------------------------------------------------------------- validation
def validate(
    dataset: BeirDataset,
    embedder: Embedder,
    doc_vectors: np.ndarray | None,
    cfg: TrainConfig,
) -> dict[str, float]:
    """nDCG@10 on the validation queries, as the app computes it.

    Two passes: BM25 top-100 reranked by ``dense``, ``rocchio`` and ``e2rank`` (the
    acceptance setting), and the model's own dense first stage reranked by ``rocchio``
    and ``e2rank``.

    Args:
        dataset: The collection (train qrels).
        embedder: The model being trained.
        doc_vectors: Base document embeddings when documents are frozen, else ``None``
            (the corpus is then embedded again with the adapter).
        cfg: Prompt settings and the validation sample.
    """
    from e2rank_demo.evaluation import evaluate
    from e2rank_demo.pipeline import SearchSession, SearchSettings
    from e2rank_demo.records import Passage

    if not cfg.val_queries:
        return {}
    session = SearchSession(embedder, [Passage.from_document(d) for d in dataset.corpus], None, vectors=doc_vectors)
    settings = SearchSettings(
        task=cfg.task,
        prompt_docs=cfg.prompt_docs,
        prompt_order=cfg.prompt_order,
        prompt_pooling=embedder.prompt_pooling,
        rerankers=("dense", "rocchio", "e2rank"),
    )
    common: dict[str, Any] = {"split": "train", "limit_queries": cfg.val_queries, "seed": cfg.seed, "session": session}
    bm25 = evaluate(dataset, embedder, "bm25", settings, **common)
    dense = evaluate(dataset, embedder, "dense", settings.replace(rerankers=("rocchio", "e2rank")), **common)
    return {
        "bm25": bm25.metrics["first_stage"]["ndcg@10"],
        "bm25>dense": bm25.metrics["dense"]["ndcg@10"],
        "bm25>rocchio": bm25.metrics["rocchio"]["ndcg@10"],
        "bm25>e2rank": bm25.metrics["e2rank"]["ndcg@10"],
        "dense": dense.metrics["first_stage"]["ndcg@10"],
        "dense>rocchio": dense.metrics["rocchio"]["ndcg@10"],
        "dense>e2rank": dense.metrics["e2rank"]["ndcg@10"],
    }


# --------------------------------------------------------------------------- training
def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1, then linear decay to 0.1 at the last step."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    span = max(cfg.steps - cfg.warmup, 1)
    return 1.0 - 0.9 * (step - cfg.warmup) / span


def _micro_batch_loss(
    embedder: Embedder,
    batch: Sequence[Example],
    corpus_texts: Sequence[str],
    doc_vectors: np.ndarray,
    cfg: TrainConfig,
    rng: random.Random,
) -> tuple[torch.Tensor, float, float, float]:
    """Total loss of one micro-batch and its terms (InfoNCE, RankNet, distillation; floats, for the log)."""
    import torch

    from e2rank_demo.prompts import TASKS

    task = TASKS[cfg.task]
    candidates = []
    prompts: list[BuiltPrompt] = []
    feedback = []
    for ex in batch:
        stage = rng.choice([s for s in cfg.prompt_stages if s in ex.prompt_rows])
        pool = ex.pools[stage]
        # Sampled negatives keep the teacher's order: the target is positive first, then that order.
        negatives = sorted(rng.sample(range(len(pool)), min(cfg.negatives, len(pool))))
        candidates.append([ex.positive, *(pool[i] for i in negatives)])
        rows = ex.prompt_rows[stage]
        prompts.append(
            embedder.build_listwise(ex.query, [corpus_texts[r] for r in rows], task.rerank, cfg.prompt_order)
        )
        feedback.append(ex.feedback[stage])
    width = min(len(c) for c in candidates)
    candidates = [c[:width] for c in candidates]
    queries = embedder.embed_batch(
        embedder.tokenize([embedder.format_query(ex.query, task.query) for ex in batch], embedder.doc_max_tokens)
    )
    prompt_vectors = torch.cat(
        [embedder.embed_batch(embedder.prompt_batch(p), embedder.prompt_pooling) for p in prompts]
    )
    if cfg.documents == "base":
        docs = torch.from_numpy(doc_vectors[np.asarray(candidates)]).to(queries.device)
    else:
        flat = [embedder.format_document(corpus_texts[r]) for c in candidates for r in c]
        docs = embedder.embed_batch(embedder.tokenize(flat, embedder.doc_max_tokens))
        docs = docs.reshape(len(batch), width, -1)
    contrastive = info_nce(queries, docs, cfg.temperature)
    ranking = ranknet(prompt_vectors, docs, cfg.ranknet_scale)
    loss = contrastive + cfg.ranknet_weight * ranking
    distill = 0.0
    if cfg.distill_weight:
        target = queries.detach() + cfg.distill_beta * torch.from_numpy(np.stack(feedback)).to(queries.device)
        target = torch.nn.functional.normalize(target, p=2, dim=-1)
        term = (1.0 - (prompt_vectors * target).sum(-1)).mean()
        loss = loss + cfg.distill_weight * term
        distill = term.item()
    return loss, contrastive.item(), ranking.item(), distill


def train(cfg: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Runs Stage II training and saves the adapter to ``cfg.out``.

    Args:
        cfg: The options.
        progress: Show a progress bar on stderr.

    Returns:
        The per-step log, the final validation metrics and timings.
    """
    import torch
    from tqdm import tqdm

    from e2rank_demo.cache import EmbeddingCache
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.index import embed_corpus
    from e2rank_demo.models import build_embedder

    started = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_beir(cfg.data)
    if "train" not in dataset.qrels:
        raise ValueError(f"{dataset.name} has no train qrels; training never uses the test split")
    train_ids, val_ids = split_train_validation(dataset, cfg.val_queries, cfg.seed)
    if cfg.max_train_queries is not None and cfg.max_train_queries < len(train_ids):
        train_ids = sorted(random.Random(cfg.seed).sample(train_ids, cfg.max_train_queries))
    base = build_embedder(cfg.model)
    corpus_texts = [_doc_text(d) for d in dataset.corpus]
    doc_vectors, _ = embed_corpus(base, corpus_texts, EmbeddingCache())
    examples = mine_examples(dataset, train_ids, base, doc_vectors, cfg)
    embedder = attach_lora(base, cfg)
    # Dropout stays off (eval mode; gradients still flow): deterministic, and the
    # attention is 2-4x faster on CPU without it. LoRA plus 150 steps needs no dropout.
    embedder.model.eval()
    params = [p for p in embedder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, cfg))
    rng = random.Random(cfg.seed)
    order: list[Example] = []
    result = TrainResult(out=out, prep_seconds=time.perf_counter() - started)
    log_path = out / "train_log.jsonl"
    log_path.unlink(missing_ok=True)
    frozen = doc_vectors if cfg.documents == "base" else None
    bar = tqdm(total=cfg.steps, desc="training", file=sys.stderr, disable=not progress)
    loop_start = time.perf_counter()
    for step in range(cfg.steps):
        totals = [0.0, 0.0, 0.0, 0.0]
        for _ in range(cfg.grad_accum):
            if len(order) < cfg.batch_size:
                order.extend(rng.sample(examples, len(examples)))
            batch, order = order[: cfg.batch_size], order[cfg.batch_size :]
            loss, *terms = _micro_batch_loss(embedder, batch, corpus_texts, doc_vectors, cfg, rng)
            (loss / cfg.grad_accum).backward()
            for i, value in enumerate((loss.item(), *terms)):
                totals[i] += value / cfg.grad_accum
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        record: dict[str, float] = {
            "step": step + 1,
            "loss": totals[0],
            "infonce": totals[1],
            "ranknet": totals[2],
            "distill": totals[3],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - loop_start, 2),
        }
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            record.update({f"val_{k}": v for k, v in validate(dataset, embedder, frozen, cfg).items()})
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            save_adapter(embedder, out / "checkpoints" / f"step-{step + 1}", cfg, {"step": step + 1})
        result.log.append(record)
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{totals[0]:.3f}", nce=f"{totals[1]:.3f}", rank=f"{totals[2]:.3f}")
        bar.update(1)
    bar.close()
    result.seconds = time.perf_counter() - loop_start
    result.validation = validate(dataset, embedder, frozen, cfg)
    extra = {
        "train_queries": len(train_ids),
        "val_query_ids": val_ids,
        "examples": len(examples),
        "train_seconds": round(result.seconds, 1),
        "prep_seconds": round(result.prep_seconds, 1),
        "validation_ndcg@10": result.validation,
    }
    result.adapter_bytes = save_adapter(embedder, out, cfg, extra)
    if result.validation:
        with log_path.open("a", encoding="utf-8") as fh:  # the log ends with the selection scores
            fh.write(
                json.dumps({"step": cfg.steps, "final": True, **{f"val_{k}": v for k, v in result.validation.items()}})
                + "\n"
            )
    return result


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` options (defaults from :class:`TrainConfig`)."""
    d = TrainConfig()
    parser.add_argument("--model", default=d.model, help="base model: preset, folder or hub id")
    parser.add_argument("--data", default=d.data, help="BEIR folder with qrels/train.tsv")
    parser.add_argument("--out", default=d.out, help="output folder for the adapter")
    parser.add_argument("--task", default=d.task, help="prompt task (scifact, web)")
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--grad-accum", type=int, default=d.grad_accum, help="micro-batches per step")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--warmup", type=int, default=d.warmup)
    parser.add_argument("--temperature", type=float, default=d.temperature, help="InfoNCE temperature")
    parser.add_argument("--ranknet-weight", type=float, default=d.ranknet_weight, help="lambda")
    parser.add_argument("--ranknet-scale", type=float, default=d.ranknet_scale)
    parser.add_argument("--negatives", type=int, default=d.negatives)
    parser.add_argument("--mine-depth", type=int, default=d.mine_depth)
    parser.add_argument("--prompt-docs", type=int, default=d.prompt_docs, help="k")
    parser.add_argument("--prompt-order", choices=["official", "query_first"], default=d.prompt_order)
    parser.add_argument(
        "--prompt-pooling",
        choices=["query", "mean", "last"],
        default=d.prompt_pooling,
        help="prompt pooling (default: the base model's); recorded as the adapter's default",
    )
    parser.add_argument("--prompt-stages", default=",".join(d.prompt_stages), help="dense,bm25 or one of them")
    parser.add_argument(
        "--teacher",
        choices=["dense", "rocchio", "rrf"],
        default=d.teacher,
        help="order of the negatives after the positive",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=d.distill_weight,
        help="weight of 1 - cos(prompt, Rocchio vector of the same top-5)",
    )
    parser.add_argument("--distill-beta", type=float, default=d.distill_beta, help="feedback weight of that target")
    parser.add_argument("--snippets", choices=["lead", "query"], default=d.snippets)
    parser.add_argument("--documents", choices=["base", "adapted"], default=d.documents)
    parser.add_argument("--lora-rank", type=int, default=d.lora_rank)
    parser.add_argument("--lora-alpha", type=int, default=d.lora_alpha)
    parser.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: default)")
    parser.add_argument("--val-queries", type=int, default=d.val_queries)
    parser.add_argument("--eval-every", type=int, default=d.eval_every)
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--max-train-queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test in seconds")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Maps parsed ``train`` arguments to a :class:`TrainConfig` (``--quick`` first, flags on top)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"quick"}
    given = {n: getattr(args, n) for n in names if hasattr(args, n)}
    given["prompt_stages"] = tuple(s.strip() for s in str(args.prompt_stages).split(",") if s.strip())
    if not args.quick:
        return TrainConfig(**given)
    defaults = dataclasses.asdict(TrainConfig())
    quick = dataclasses.asdict(TrainConfig.quick_settings())
    # Flags left at their normal defaults take the quick value; flags set explicitly win.
    merged = {n: (quick[n] if given[n] == defaults[n] else given[n]) for n in given}
    return TrainConfig(**{**merged, "quick": True})


def cmd_train(args: argparse.Namespace) -> int:
    """``python -m e2rank_demo train``: trains, saves and prints a summary."""
    cfg = config_from_args(args)
    result = train(cfg)
    first, last = result.log[0]["loss"], result.log[-1]["loss"]
    print(
        f"trained {cfg.steps} steps in {result.seconds:.0f} s (+{result.prep_seconds:.0f} s preparation); "
        f"loss {first:.4f} -> {last:.4f}"
    )
    if result.validation:
        print("validation nDCG@10: " + ", ".join(f"{k} {v:.4f}" for k, v in result.validation.items()))
    print(f"adapter: {result.out} ({result.adapter_bytes / 1e6:.2f} MB)")
    if not math.isfinite(last):
        print("error: the loss is not finite", file=sys.stderr)
        return 1
    return 0
