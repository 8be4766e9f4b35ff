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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUEUE_CONCURRENCY = 4
"""Events of all sessions running at once (``E2RANK_CONCURRENCY``): one session's long indexing run
never blocks another's search."""
QUEUE_SIZE = 64
"""Events waiting beyond those (``E2RANK_QUEUE_SIZE``); past it a request is refused with "queue full"."""


GROUPS = {"search": 4, "corpus": 2, "map": 2, "charts": 1}
"""Concurrency groups of the events a class sends most, and how many of each run at once
(``E2RANK_CONCURRENCY_SEARCH`` / ``_CORPUS`` / ``_MAP`` / ``_CHARTS``): searches (``search``, prompt
edits), corpus loads (sample, upload, paste, open, re-index), the map, and the prompt lab's charts
(leave-one-out influence, the pooling flip: k forward passes each). Each group queues on its own,
so a search never waits in a queue behind a class's maps and charts; the model itself serves
searches first (:class:`~e2rank_demo.models.ModelLock`)."""


SETTING_VARIABLES = {
    "default_concurrency_limit": "E2RANK_CONCURRENCY",
    "max_size": "E2RANK_QUEUE_SIZE",
    **{f"{group}_concurrency": f"E2RANK_CONCURRENCY_{group.upper()}" for group in GROUPS},
    "torch_threads": "E2RANK_TORCH_THREADS",
}
"""Each serving setting and the environment variable that sets it."""


def _setting(name: str, env: Mapping[str, str]) -> int | None:
    """The integer in the variable that sets ``name`` (:data:`SETTING_VARIABLES`), ``None`` when unset."""
    value = env.get(SETTING_VARIABLES[name])
    return int(value) if value else None


def concurrency(group: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Event-listener keywords that put an event in one of :data:`GROUPS`.

    Example:
        >>> concurrency("charts", {})
        {'concurrency_id': 'e2rank-charts', 'concurrency_limit': 1}
        >>> concurrency("search", {"E2RANK_CONCURRENCY_SEARCH": "3"})["concurrency_limit"]
        3
    """
    env = os.environ if environ is None else environ
    limit = _setting(f"{group}_concurrency", env) or GROUPS[group]
    return {"concurrency_id": f"e2rank-{group}", "concurrency_limit": limit}


SERVING_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}
"""Variables ``app.py`` sets before numpy loads (:func:`serving_environment`; a value already set wins).

OpenBLAS's worker thread spins for about 0.12 CPU-s after every matrix product, even a 5 x 384 one
(measured on two cores), taking a core from other visitors' searches; the app's products are small
enough for one thread."""


def serving_environment(environ: dict[str, str] | None = None) -> None:
    """Sets :data:`SERVING_ENVIRONMENT` in ``environ`` (default ``os.environ``) where unset.

    Example:
        >>> env = {"OPENBLAS_NUM_THREADS": "2"}
        >>> serving_environment(env)
        >>> env
        {'OPENBLAS_NUM_THREADS': '2'}
    """
    env = os.environ if environ is None else environ
    for name, value in SERVING_ENVIRONMENT.items():
        env.setdefault(name, value)


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def torch_threads(environ: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    """Intra-op threads per forward pass (``E2RANK_TORCH_THREADS``), applied by ``app.py`` at start.

    The default is half the ``cores`` (:func:`usable_cores`), at least one, so that two forward passes
    run side by side (:func:`~e2rank_demo.models.model_lock.model_slots`): on two cores, two one-thread
    passes serve 1.6 times the prompts of one two-thread pass, and a pass alone takes 11% longer.

    Example:
        >>> torch_threads({"E2RANK_TORCH_THREADS": "3"}), torch_threads({}, cores=2), torch_threads({}, cores=16)
        (3, 1, 8)
    """
    env = os.environ if environ is None else environ
    return _setting("torch_threads", env) or max(1, (usable_cores() if cores is None else cores) // 2)


def queue_options(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Gradio's queue settings for ``demo.queue()``, from the environment or the defaults above.

    Example:
        >>> queue_options({"E2RANK_CONCURRENCY": "2"})
        {'default_concurrency_limit': 2, 'max_size': 64}
    """
    env = os.environ if environ is None else environ
    return {
        "default_concurrency_limit": _setting("default_concurrency_limit", env) or QUEUE_CONCURRENCY,
        "max_size": _setting("max_size", env) or QUEUE_SIZE,
    }


def serving_settings(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Every serving setting the app would use with ``environ``: the queue, the groups' limits, torch's threads.

    Example:
        >>> settings = serving_settings({"E2RANK_CONCURRENCY_SEARCH": "3"})
        >>> settings["search_concurrency"], settings["charts_concurrency"], settings["torch_threads"] >= 1
        (3, 1, True)
    """
    env = os.environ if environ is None else environ
    groups = {f"{group}_concurrency": concurrency(group, env)["concurrency_limit"] for group in GROUPS}
    return {**queue_options(env), **groups, "torch_threads": torch_threads(env)}


def settings_env(settings: Mapping[str, int | None]) -> dict[str, str]:
    """The environment variables that give an app ``settings`` (as from :func:`serving_settings`).

    Example:
        >>> serving_settings(settings_env({"torch_threads": 1, "max_size": 8}))["torch_threads"]
        1
    """
    return {SETTING_VARIABLES[name]: str(value) for name, value in settings.items() if value is not None}


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
