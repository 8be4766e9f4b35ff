"""What one search produced: :class:`QueryResult`.

It sits above :mod:`e2rank_demo.records` and :mod:`e2rank_demo.rerank` because it holds the
:class:`~e2rank_demo.rerank.SearchSettings` the search ran with; the registry's descriptions
read it through :class:`~e2rank_demo.rerank.DescribedResult`, so nothing imports upward.

Example:
    >>> import numpy as np
    >>> from e2rank_demo.query_result import QueryResult
    >>> from e2rank_demo.records import Candidates, Ranking, Timings
    >>> from e2rank_demo.rerank import SearchSettings
    >>> first = Ranking("first_stage", ["a", "b"], np.array([.9, .1], np.float32))
    >>> result = QueryResult("q", first, {}, np.zeros(2, np.float32), None,
    ...                      Candidates(["a", "b"], first.scores, np.arange(2)), Timings(),
    ...                      SearchSettings(prompt_docs=1), prompt_ids=["b"])
    >>> result.prompt_edited
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from e2rank_demo.records import Candidates, ListwisePrompt, Ranking, Timings
from e2rank_demo.rerank import SearchSettings


@dataclass
class QueryResult:
    """Everything one search produced, for the UI, the CLI and the tests.

    Attributes:
        query: The query text.
        first_stage: The first-stage ranking (``system == "first_stage"``).
        reranked: Rankings by reranker name (``e2rank``, ``rocchio``, ``dense``).
        query_vector: The embedded query (always computed, also for BM25 first stage).
        prompt: The listwise prompt, when ``e2rank`` ran.
        candidates: The first-stage candidates (with embedding rows).
        timings: Per-stage timings.
        settings: The settings the search ran with, k and the prompt pooling resolved for the model
            (:meth:`~e2rank_demo.rerank.SearchSettings.for_model`).
        prompt_ids: Passage ids in the listwise prompt, in prompt order (the first-stage
            top-k unless the prompt was edited).
    """

    query: str
    first_stage: Ranking
    reranked: dict[str, Ranking]
    query_vector: np.ndarray
    prompt: ListwisePrompt | None
    candidates: Candidates
    timings: Timings
    settings: SearchSettings = field(default_factory=SearchSettings)
    prompt_ids: list[str] = field(default_factory=list)

    @property
    def prompt_k(self) -> int:
        """k, the prompt's documents in the paper's setting: the settings' (resolved for the model by
        :meth:`~e2rank_demo.pipeline.SearchSession.search`), else the prompt's own length."""
        return self.settings.prompt_docs if self.settings.prompt_docs is not None else len(self.prompt_ids)

    @property
    def prompt_edited(self) -> bool:
        """Whether the prompt differs from the first-stage top-k (the paper's setting)."""
        return self.prompt_ids != self.first_stage.ids[: self.prompt_k]
