"""E2Rank Demo entry point: ``python app.py`` serves the Gradio app (placeholder page)."""

from __future__ import annotations

import gradio as gr

with gr.Blocks(title="E2Rank Demo") as demo:
    gr.Markdown("# E2Rank Demo\nThe interactive demo is being assembled; use `python -m e2rank_demo` meanwhile.")

if __name__ == "__main__":
    demo.launch(server_name="127.0.0.1", server_port=7860)
