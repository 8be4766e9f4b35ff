"""Test figures of a trained adapter: measured once, stored in its metadata, read by the model note.

The model note's headline (``ui/content.py``) is the test figure of the setting the app opens
with: the dense first stage, the adapter's own k and prompt pooling. Nobody types that number:
:func:`measure` runs the real evaluation (:func:`~e2rank_demo.evaluation.evaluate`) on the
adapter and :func:`record` stores it under the ``"evaluation"`` key of ``e2rank_adapter.json``,
beside what training stored (``"training"``)::

    "evaluation": {
      "scifact_test_dense": {
        "dataset": "scifact", "split": "test", "first_stage": "dense",
        "queries": 300, "candidates": 100, "k": 5, "pooling": "query",
        "ndcg@10": {"first_stage": 0.6451, "dense": 0.6451, "rocchio": 0.6612, "e2rank": 0.6698},
        "weights": "3f2a9c0d1e4b5a67"
      },
      "scifact_test_bm25": {...}
    }

``weights`` is a digest of ``adapter_model.safetensors``: a figure measured on other weights
(a retrained adapter copied over the old one) is not shown as this adapter's. The command::

    python -m e2rank_demo record-adapter minilm-e2rank --data ../shared/data/scifact

measures the dense and BM25 settings on the test split and writes them (the numbers above
are an illustration of the shape, not measurements).

Example:
    >>> figure = RecordedFigure("scifact", "test", "dense", 300, 100, 5, "query",
    ...                         {"first_stage": 0.5, "e2rank": 0.6}, "ab12")
    >>> figure.key, RecordedFigure.from_json(figure.to_json()) == figure
    ('scifact_test_dense', True)
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2rank_demo.models.adapter import ADAPTER_SPEC_FILE
from e2rank_demo.records import FirstStageName

EVALUATION_KEY = "evaluation"
"""The top-level key of ``e2rank_adapter.json`` that holds the recorded test figures."""
WEIGHTS_FILE = "adapter_model.safetensors"
OPENING_FIRST_STAGE: FirstStageName = "dense"
"""The first stage the app opens with (the sidebar's default)."""


@dataclass(frozen=True)
class RecordedFigure:
    """One measured evaluation of an adapter, as stored under :data:`EVALUATION_KEY`.

    Attributes:
        dataset: The collection's name (``scifact``).
        split: The qrels split (``test``).
        first_stage: ``dense``, ``bm25`` or ``run:<name>``.
        queries: Queries evaluated.
        candidates: N, candidates reranked.
        k: Documents in the listwise prompt.
        pooling: The prompt pooling.
        ndcg10: nDCG@10 per system (``first_stage`` and each reranker).
        weights: :func:`weights_digest` of the adapter that was measured.
    """

    dataset: str
    split: str
    first_stage: str
    queries: int
    candidates: int
    k: int
    pooling: str
    ndcg10: dict[str, float]
    weights: str

    @property
    def key(self) -> str:
        """Its key under :data:`EVALUATION_KEY`: ``<dataset>_<split>_<first stage>``."""
        return f"{self.dataset}_{self.split}_{self.first_stage}"

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "first_stage": self.first_stage,
            "queries": self.queries,
            "candidates": self.candidates,
            "k": self.k,
            "pooling": self.pooling,
            "ndcg@10": dict(self.ndcg10),
            "weights": self.weights,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedFigure | None:
        """The figure stored as ``data``; ``None`` when a field is missing or malformed."""
        try:
            return cls(
                str(data["dataset"]),
                str(data["split"]),
                str(data["first_stage"]),
                int(data["queries"]),
                int(data["candidates"]),
                int(data["k"]),
                str(data["pooling"]),
                {str(s): float(v) for s, v in dict(data["ndcg@10"]).items()},
                str(data["weights"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def weights_digest(folder: str | Path) -> str:
    """A short digest of the adapter's weights file (``""`` when there is none).

    Read again only when the file changed (its size or modification time): the model note under every
    search asks for it.
    """
    path = Path(folder) / WEIGHTS_FILE
    try:
        stat = path.stat()
    except OSError:
        return ""
    return _file_digest(str(path), stat.st_size, stat.st_mtime_ns) if path.is_file() else ""


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 prefix of a file, remembered by its path, size and modification time."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def measure(
    folder: str | Path,
    data: str | Path,
    first_stage: FirstStageName = OPENING_FIRST_STAGE,
    *,
    split: str = "test",
    limit_queries: int | None = None,
    cache: Any = None,
    encode_progress: Callable[[int, int], None] | None = None,
    query_progress: Callable[[int, int], None] | None = None,
) -> RecordedFigure:
    """Evaluates the adapter in ``folder`` as the app runs it: its own k and pooling, N = 100.

    Args:
        folder: The adapter (``e2rank_adapter.json`` and its weights).
        data: A BEIR-layout collection (folder or zip).
        first_stage: ``dense``, ``bm25`` or ``run``.
        split: The qrels split.
        limit_queries: A seeded sample of this many queries (default: all judged ones).
        cache: An :class:`~e2rank_demo.cache.EmbeddingCache` for the corpus embeddings.
        encode_progress: Progress of corpus embedding.
        query_progress: Progress over queries.

    Returns:
        The measured figure.
    """
    from e2rank_demo.corpus import load_beir
    from e2rank_demo.evaluation import evaluate
    from e2rank_demo.models import build_adapted_embedder
    from e2rank_demo.pipeline import SearchSettings

    embedder = build_adapted_embedder(folder)
    dataset = load_beir(data)
    settings = SearchSettings(task="scifact" if "scifact" in dataset.name.lower() else "web")
    report = evaluate(
        dataset,
        embedder,
        first_stage,
        settings,
        split=split,
        limit_queries=limit_queries,
        cache=cache,
        encode_progress=encode_progress,
        query_progress=query_progress,
    )
    return RecordedFigure(
        dataset.name,
        split,
        report.first_stage,
        report.n_queries,
        int(report.settings["candidates"]),
        int(report.settings["prompt_docs"]),
        str(report.settings["prompt_pooling"]),
        {system: values["ndcg@10"] for system, values in report.metrics.items()},
        weights_digest(folder),
    )


def record(folder: str | Path, figures: Sequence[RecordedFigure]) -> Path:
    """Stores ``figures`` in the adapter's metadata, replacing those of the same key; the rest is kept.

    Returns:
        The metadata file written.
    """
    path = Path(folder) / ADAPTER_SPEC_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    stored = data.get(EVALUATION_KEY) if isinstance(data.get(EVALUATION_KEY), dict) else {}
    data[EVALUATION_KEY] = {**stored, **{f.key: f.to_json() for f in figures}}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def recorded(folder: str | Path) -> dict[str, RecordedFigure]:
    """The figures stored in the adapter's metadata by key (malformed entries are left out)."""
    try:
        data = json.loads((Path(folder) / ADAPTER_SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    stored = data.get(EVALUATION_KEY) if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        return {}
    figures = {key: RecordedFigure.from_json(value) for key, value in stored.items() if isinstance(value, dict)}
    return {key: figure for key, figure in figures.items() if figure is not None}


def opening_figure(folder: str | Path, dataset: str = "scifact") -> tuple[RecordedFigure | None, str]:
    """The recorded test figure of the setting the app opens with, or why there is none.

    The setting: the :data:`OPENING_FIRST_STAGE`, the adapter's own k and prompt pooling,
    and the weights in ``folder`` now.

    Returns:
        ``(figure, "")``, or ``(None, reason)`` in plain words.
    """
    from e2rank_demo.models.loading import prompt_defaults

    figure = recorded(folder).get(f"{dataset}_test_{OPENING_FIRST_STAGE}")
    if figure is None:
        return None, f"no {dataset} test figure is recorded for this adapter yet"
    if figure.weights != weights_digest(folder):
        return None, "the recorded test figure was measured on other weights (the adapter was replaced since)"
    defaults = prompt_defaults(str(folder))
    if defaults is not None and (figure.k, figure.pooling) != (defaults.k, defaults.pooling):
        return None, (
            f"the recorded test figure is for k = {figure.k} and {figure.pooling} pooling; the model "
            f"opens with k = {defaults.k} and {defaults.pooling} pooling"
        )
    return figure, ""


def adapter_folder(name: str) -> Path:
    """The adapter folder of a preset (``minilm-e2rank``) or a folder path.

    Raises:
        ValueError: When ``name`` names no trained adapter.
    """
    from e2rank_demo.models.presets import ADAPTER_ROOT, PRESETS

    preset = PRESETS.get(name)
    folder = (
        ADAPTER_ROOT / preset.source.removeprefix("adapter:")
        if preset is not None and preset.source.startswith("adapter:")
        else Path(name)
    )
    if not (folder / ADAPTER_SPEC_FILE).is_file():
        raise ValueError(
            f"{name} is no trained adapter (a preset such as minilm-e2rank, or a folder with {ADAPTER_SPEC_FILE})"
        )
    return folder


def main(
    name: str,
    data: str,
    first_stages: Sequence[FirstStageName],
    split: str = "test",
    limit_queries: int | None = None,
    use_cache: bool = True,
) -> int:
    """CLI body of ``record-adapter``: measures each first stage, prints the figures, stores them."""
    from e2rank_demo.cache import EmbeddingCache

    folder = adapter_folder(name)
    cache = EmbeddingCache() if use_cache else None
    figures = []
    for stage in first_stages:
        figure = measure(folder, data, stage, split=split, limit_queries=limit_queries, cache=cache)
        figures.append(figure)
        scores = ", ".join(f"{system} {value:.4f}" for system, value in figure.ndcg10.items())
        print(
            f"{figure.key}: {figure.queries} queries, N = {figure.candidates}, k = {figure.k}, "
            f"{figure.pooling} pooling; nDCG@10 {scores}"
        )
    print(f"wrote {len(figures)} figure(s) to {record(folder, figures)}")
    return 0
