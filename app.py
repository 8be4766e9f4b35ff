"""E2Rank Demo entry point: ``python app.py [--host H] [--port P] [--share]`` serves the Gradio app."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults honour ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``."""
    parser = argparse.ArgumentParser(description="Serve the E2Rank demo.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Builds the page, starts loading the model in the background and serves until Ctrl+C or SIGTERM.

    Every way out ends in ``os._exit`` at once: interpreter shutdown would wait for background
    work (a hub download, the model load, UMAP's numba compilation: up to minutes), and
    Gradio's own Ctrl+C handling waits up to 5 s for open browser tabs' event streams, which
    never end by themselves. The caches are written atomically (SQLite transactions,
    write-then-rename), so stopping mid-way loses nothing.
    """
    args = parse_args(argv)
    # Start-up logs each step with its time (model, faiss, numba warm-up, sample maps), like the MTEB
    # leaderboard app; an embedding host that configured logging itself keeps its own setup.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("e2rank_demo")
    log.setLevel(logging.INFO)
    if args.share or args.host.strip() not in ("127.0.0.1", "localhost", "::1"):
        # Visitors from elsewhere pick a listed index; they never type a path or URL (SECURITY.md).
        os.environ.setdefault("E2RANK_ALLOW_STORE_URI", "0")
    demo = None

    def stop_now(signum: int, frame: object) -> None:
        # The handler itself ends the app: a KeyboardInterrupt raised into the main thread can land in
        # an object's finalizer (an event loop's __del__), which swallows it, and the app would go on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C cannot cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.info("stopping (Ctrl+C or SIGTERM)")
        exit_now(demo, 0)

    # SIGTERM (docker stop, a Space restart) stops the server like Ctrl+C does, from the first moment on.
    signal.signal(signal.SIGINT, stop_now)
    signal.signal(signal.SIGTERM, stop_now)
    code = 0
    try:
        from e2rank_demo.serving import queue_options, serving_environment, torch_threads

        serving_environment()  # before numpy loads: it reads them once
        from e2rank_demo.ui import build_demo, launch_options, warm_up_in_background
        from e2rank_demo.ui.callbacks import start_up_step

        with start_up_step("building the page"):
            demo = build_demo()
        warm_up_in_background(torch_threads())
        demo.queue(**queue_options())  # E2RANK_CONCURRENCY, E2RANK_QUEUE_SIZE (serving.py says why the defaults)
        log.info("start-up: serving on http://%s:%d", args.host, args.port)
        demo.launch(
            server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True, **launch_options()
        )
        while demo.is_running:
            time.sleep(0.5)
    except Exception:  # reported, then the same prompt exit
        log.exception("the server stopped on an error")
        code = 1
    exit_now(demo, code)


def exit_now(demo: Any, code: int) -> None:
    """Cleans up after ``demo`` (if it was built) and ends the process, whatever the clean-up does."""
    try:
        if demo is not None:
            stop(demo)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def stop(demo: Any) -> None:
    """Ends the public link's tunnel and deletes this run's files; the server ends with the process."""
    from gradio.tunneling import CURRENT_TUNNELS

    for tunnel in CURRENT_TUNNELS:  # os._exit skips the atexit hook that would end them
        tunnel.kill()
    clean_up(demo)


def clean_up(demo: Any) -> None:
    """Deletes this run's uploads and exports (Gradio's temp dir) and the session export folders.

    Runs as soon as the server stops, not at interpreter exit, which can wait for
    background work (SECURITY.md lists what is stored where).
    """
    from e2rank_demo.ui.state import remove_export_dirs

    remove_export_dirs()
    try:
        from gradio.route_utils import delete_files_created_by_app

        delete_files_created_by_app(demo, age=None)
    except Exception as exc:  # noqa: BLE001 - Gradio internals; the hourly delete_cache still applies
        print(f"could not delete Gradio's temp files: {exc}")


if __name__ == "__main__":
    main()
