"""The browser console stays clean while a file is uploaded and indexed (headless Chromium, the real app)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AppPage = Any  # tests/browser/conftest.py:AppPage (conftest modules are not imported by tests)


def test_an_upload_logs_no_error_or_warning(open_app: Callable[..., AppPage], tmp_path: Path) -> None:
    """Gradio's upload progress warned "Method not implemented." twice per upload; nothing is logged now."""
    app = open_app()
    page = app.page
    logged: list[str] = []
    page.on("console", lambda message: logged.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    notes = tmp_path / "tides.txt"
    notes.write_text("Tides\n\nThe gravity of the Moon pulls on the oceans and causes high and low tides.")

    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload-files input[type=file]").set_input_files([str(notes)])
    # The file table appears once the upload has finished (the progress stream is closed by then).
    page.wait_for_function("() => document.querySelectorAll('#upload-files .file-preview tr').length === 1"
                           " && !document.querySelector('#upload-files .uploading')", timeout=60_000)
    page.click("#index-files")
    app.wait_for_corpus("tides.txt")
    assert logged == [] and app.errors == [] and app.dialogs == []
