"""A Milvus server for the tests: ``milvus-lite server`` on a free loopback port.

Milvus Lite's server speaks the Milvus gRPC protocol, so a store opened as
``milvus:http://127.0.0.1:PORT#name`` goes over the network path that a Milvus server or
cluster is reached through. It binds 127.0.0.1 only; it is started with the running
Python (``python -m milvus_lite server``, the ``milvus-lite server`` command), and stopped
with SIGTERM, then SIGKILL if it lingers. Its data directory outlives a stop, so
:meth:`MilvusServer.start` after :meth:`MilvusServer.stop` brings the same collections back
on the same port.

Without ``milvus-lite`` the tests that need a server skip, unless
``E2RANK_REQUIRE_MILVUS_SERVER=1`` (set in CI) makes them fail instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from app_server import free_port

HOST = "127.0.0.1"
START_TIMEOUT_S = 120
"""Most seconds to wait for a starting server to answer (imports are slow on a busy 2-core machine)."""
STOP_TIMEOUT_S = 15
REQUIRE_ENV = "E2RANK_REQUIRE_MILVUS_SERVER"


def unavailable_reason() -> str | None:
    """Why no server can be started here, or ``None`` when one can."""
    for module in ("milvus_lite.cmdline", "grpc"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module.split('.')[0]} is not installed (pip install -r requirements.txt)"
    return None


class MilvusServer:
    """One ``milvus-lite server`` process on ``127.0.0.1:port`` over ``data_dir``.

    Args:
        data_dir: The server's data (created by the server; kept across restarts).
        log: Where its stdout and stderr go (appended, so restarts keep earlier lines).
    """

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT``, as pymilvus takes it."""
        return f"http://{HOST}:{self.port}"

    def uri(self, collection: str) -> str:
        """The store URI of ``collection`` on this server."""
        return f"milvus:{self.address}#{collection}"

    def start(self) -> None:
        """Starts the server and returns once it answers; fails the test with its log otherwise."""
        import grpc
        import pytest

        assert self.process is None, "the server is already running"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir), "--host", HOST,
                 "--port", str(self.port), "--max-workers", "4"],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "GRPC_VERBOSITY": "NONE"})
        deadline = time.monotonic() + START_TIMEOUT_S
        with grpc.insecure_channel(f"{HOST}:{self.port}") as channel:
            ready = grpc.channel_ready_future(channel)
            while True:
                if self.process.poll() is not None:
                    code, self.process = self.process.returncode, None
                    pytest.fail(f"milvus-lite server exited with {code}:\n{self.log.read_text()[-3000:]}")
                try:  # an HTTP/2 handshake with the server, not merely an open port
                    ready.result(timeout=1)
                    break
                except grpc.FutureTimeoutError:
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"milvus-lite server did not answer within {START_TIMEOUT_S} s:\n"
                                    f"{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still there after a grace period; the data stay."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)  # a paused server acts on SIGTERM only once it runs
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freezes the server (SIGSTOP): it holds its connections and answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undoes :meth:`pause`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def serve_milvus(folder: Path) -> Iterator[MilvusServer]:
    """A started server with its data and log in ``folder``; stopped on exit.

    Skips the test when ``milvus-lite`` is missing, or fails it where
    ``E2RANK_REQUIRE_MILVUS_SERVER=1``.
    """
    import pytest

    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"a Milvus server is required ({REQUIRE_ENV}=1) but {reason}")
        pytest.skip(f"no Milvus server: {reason}")
    server = MilvusServer(folder / "milvus-data", folder / "milvus-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
