"""E2Rank Demo: dense retrieval and E2Rank listwise reranking with one embedding model."""

from __future__ import annotations

__version__ = "0.1.0"
