"""Serving the app: its queue settings, and starting it (``python app.py``, as the README does) on loopback.

``app.py`` queues the page with :func:`queue_options`; ``bench --class``
(:mod:`e2rank_demo.class_bench`) and the tests that need a live server (``tests/app_server.py``)
start it with :func:`serve_app`.

Example:
    >>> 0 < free_port() < 65536
    True
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUEUE_CONCURRENCY = 4
"""Events of all sessions running at once (``E2RANK_CONCURRENCY``): one session's long indexing run
never blocks another's search."""
QUEUE_SIZE = 64
"""Events waiting beyond those (``E2RANK_QUEUE_SIZE``); past it a request is refused with "queue full"."""


def queue_options(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Gradio's queue settings for ``demo.queue()``, from the environment or the defaults above.

    Example:
        >>> queue_options({"E2RANK_CONCURRENCY": "2"})
        {'default_concurrency_limit': 2, 'max_size': 64}
    """
    env = os.environ if environ is None else environ
    return {
        "default_concurrency_limit": int(env.get("E2RANK_CONCURRENCY") or QUEUE_CONCURRENCY),
        "max_size": int(env.get("E2RANK_QUEUE_SIZE") or QUEUE_SIZE),
    }


class AppStartError(RuntimeError):
    """``app.py`` exited, or gave no HTTP 200 in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_app(
    env: Mapping[str, str], log: Path, start_timeout: float = 180
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python app.py --host 127.0.0.1 --port <free>`` with ``env``; yields ``(url, process)`` once it answers.

    The server is stopped (SIGTERM, then SIGKILL after 15 s) when the block ends.

    Raises:
        AppStartError: It exited or gave no HTTP 200 within ``start_timeout`` seconds.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise AppStartError(f"app.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AppStartError(f"app.py gave no HTTP 200 within {start_timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
