"""The Gradio web app: layout, callbacks, HTML rendering, per-session state and exports.

``app.py`` builds the page with :func:`build_demo` and passes :func:`launch_options`
(theme, CSS, page script) to ``launch``; :func:`warm_up_in_background` loads the default
model while the page is already being served.
"""

from __future__ import annotations

from e2rank_demo.ui.callbacks import warm_up_in_background
from e2rank_demo.ui.layout import build_demo, launch_options

__all__ = ["build_demo", "launch_options", "warm_up_in_background"]
