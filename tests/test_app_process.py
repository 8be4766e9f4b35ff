"""``python app.py`` as a process: what a clean start prints, and how fast Ctrl+C and SIGTERM end it.

Each test starts the real app (``tests/app_server.py``), so they are ``slow``.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from app_server import free_port, serve_app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

START_TIMEOUT_S = 300
EXIT_BOUND_S = 4.0
"""The goal is 2 s (it takes well under one here); the bound leaves room for a loaded machine and
still fails Gradio's own Ctrl+C handling, which waits 5 s for an open tab's event stream."""
WARM_UP_DONE = "start-up: fitting the samples' UMAP maps done"
OWN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO e2rank_demo[\w.]*: ")
GRADIO_LINES = ("* Running on local URL:", "* To create a public link, set `share=True`")


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), **extra}
    for name in ("SPACE_ID", "E2RANK_MODEL", "PYTHONWARNINGS"):
        if name not in extra:
            env.pop(name, None)
    return env


def wait_for_line(log: Path, text: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


@pytest.mark.timeout(600)
def test_a_clean_start_prints_only_the_apps_own_log(tmp_path: Path) -> None:
    """The default model (a LoRA adapter: peft, transformers) loads without a warning or a stray print."""
    log = tmp_path / "app.log"
    with serve_app(app_env(tmp_path), log, START_TIMEOUT_S):
        wait_for_line(log, WARM_UP_DONE)
        lines = [line for line in log.read_text().splitlines() if line.strip()]
    strangers = [line for line in lines if not OWN_LINE.match(line) and not line.startswith(GRADIO_LINES)]
    assert strangers == []
    assert any("loading model minilm-e2rank done" in line for line in lines)


def hold_event_stream(url: str) -> threading.Thread:
    """An open browser tab's heartbeat stream (it never ends by itself), read in a daemon thread."""

    def read() -> None:
        try:
            with urllib.request.urlopen(f"{url}gradio_api/heartbeat/test-tab", timeout=60) as stream:
                while stream.read(1):
                    pass
        except (OSError, http.client.HTTPException):
            pass  # the server went away: what the test wants

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_server_exits_promptly_with_a_tab_open(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl+C and SIGTERM end the process within the bound while a tab's event stream is open."""
    log = tmp_path / "app.log"
    with serve_app(app_env(tmp_path, E2RANK_MODEL="minilm"), log, START_TIMEOUT_S) as (url, proc):
        hold_event_stream(url)
        time.sleep(1.0)  # the stream is being served (uvicorn now counts an open connection)
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=EXIT_BOUND_S)  # the bound is the assertion
        except subprocess.TimeoutExpired:
            pytest.fail(f"app.py still running {EXIT_BOUND_S} s after {sig.name}:\n{log.read_text()[-3000:]}")
        assert code == 0
    assert "stopping (Ctrl+C or SIGTERM)" in log.read_text()


@pytest.mark.timeout(600)
def test_ctrl_c_while_the_page_is_being_built_exits_promptly(tmp_path: Path) -> None:
    """Interrupted before it serves (the model and UMAP threads not even started), it still ends at once."""
    log = tmp_path / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(free_port())], cwd=REPO, env=app_env(tmp_path),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(log, "start-up: building the page ...")
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # impatient: twice
        try:
            code = proc.wait(timeout=EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"app.py still running {EXIT_BOUND_S} s after Ctrl+C:\n{log.read_text()[-3000:]}")
        assert code == 0 and "stopping (Ctrl+C or SIGTERM)" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
