"""Starting the real app (``python app.py``) for the tests that need a live server.

Used by the API-example test, the reliability and load tests and the browser tests' ``app_url``;
the server itself is started by :func:`e2rank_demo.serving.serve_app`, which ``bench --class``
shares.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from e2rank_demo.serving import AppStartError, free_port

__all__ = ["free_port", "serve_app"]  # free_port: tests/milvus_server.py


@contextlib.contextmanager
def serve_app(env: dict[str, str], log: Path, start_timeout: float = 180) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python app.py --port <free>`` on 127.0.0.1 with ``env``; yields ``(url, process)`` once it answers.

    The test fails with the end of the app's log if it exits or gives no HTTP 200 in time.
    """
    import pytest

    from e2rank_demo import serving

    try:
        with serving.serve_app(env, log, start_timeout) as served:
            yield served
    except AppStartError as exc:
        pytest.fail(str(exc))
