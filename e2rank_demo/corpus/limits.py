"""What one ingestion call may cost (:class:`Limits`) and how sizes are shown in messages."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)


KIB = 1024
MIB = 1024 * KIB


@dataclass
class Limits:
    """Input limits for one ingestion call.

    Attributes:
        max_file_bytes: Largest single file (after gzip decompression).
        max_total_bytes: Largest sum of file sizes on disk in one call.
        max_documents: Most documents one call returns.
        max_passages: Most passages the indexing step accepts (enforced by its caller
            after ``split_passages``).
        max_doc_chars: Longest document text; longer ones are truncated.
    """

    max_file_bytes: int = 20 * MIB
    max_total_bytes: int = 100 * MIB
    max_documents: int = 20_000
    max_passages: int = 50_000
    max_doc_chars: int = 2_000_000

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, overridden by environment variables where set.

        Reads ``E2RANK_MAX_FILE_MB``, ``E2RANK_MAX_TOTAL_MB``, ``E2RANK_MAX_DOCUMENTS``
        and ``E2RANK_MAX_PASSAGES``; values that are not positive numbers are ignored
        (with a logged warning).

        Returns:
            The limits to use.
        """
        limits = cls()
        for var, attr, scale in (
            ("E2RANK_MAX_FILE_MB", "max_file_bytes", MIB),
            ("E2RANK_MAX_TOTAL_MB", "max_total_bytes", MIB),
            ("E2RANK_MAX_DOCUMENTS", "max_documents", 1),
            ("E2RANK_MAX_PASSAGES", "max_passages", 1),
        ):
            raw = os.environ.get(var)
            if raw is None:
                continue
            try:
                value = float(raw) if scale != 1 else int(raw)
            except ValueError:
                logger.warning("ignoring %s=%r: not a number", var, raw)
                continue
            if not value > 0 or value == float("inf"):
                logger.warning("ignoring %s=%r: must be a positive number", var, raw)
                continue
            setattr(limits, attr, max(1, int(value * scale)))
        return limits


def _human_size(n: float, *, trim: bool = False) -> str:
    for unit, scale in (("GB", 1024 * MIB), ("MB", MIB), ("KB", KIB)):
        if n >= scale:
            shown = f"{n / scale:.1f}"
            return f"{shown.removesuffix('.0') if trim else shown} {unit}"
    return f"{int(n)} bytes"


def _limit(n: int) -> str:
    return _human_size(n, trim=True)
