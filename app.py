"""E2Rank Demo entry point: ``python app.py [--host H] [--port P] [--share]`` serves the Gradio app."""

from __future__ import annotations

import argparse
import os


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults honour ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``."""
    parser = argparse.ArgumentParser(description="Serve the E2Rank demo.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Builds the page, starts loading the model in the background and serves."""
    args = parse_args(argv)
    from e2rank_demo.ui import build_demo, launch_options, warm_up_in_background

    demo = build_demo()
    warm_up_in_background()
    # Four events at a time: one session's long indexing run never blocks another's search.
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options())


if __name__ == "__main__":
    main()
