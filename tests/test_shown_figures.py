"""Figures shown in the app and docs/RESULTS.md come from one measured source, so they cannot go stale.

The trained preset's note and RESULTS.md's training section read the validation figures stored
in ``assets/models/minilm-e2rank/e2rank_adapter.json``; the About tab names the configured
default preset; the texts that used to be copied by hand say what the code does.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from e2rank_demo import results
from e2rank_demo.models.presets import ADAPTER_ROOT, OFFLINE_DEFAULT, default_model_name
from e2rank_demo.ui import content

REPO = Path(__file__).resolve().parents[1]


def _validation() -> dict[str, float]:
    meta = json.loads((ADAPTER_ROOT / "minilm-e2rank" / "e2rank_adapter.json").read_text(encoding="utf-8"))
    return meta["training"]["validation_ndcg@10"]


def test_the_trained_note_shows_the_adapters_stored_figures(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Every validation figure of the metadata appears in the note's details (the headline is the recorded test
    figure, tests/test_adapter_eval.py), and new metadata changes the note."""
    note = content.model_note("minilm-e2rank")
    assert note is not None
    for system, value in _validation().items():
        assert f"{system.replace('>', ' > ')} {value:.3f}" in note.details
    assert f"{_validation()['bm25>e2rank']:.3f}" not in note.headline  # validation is no headline
    folder = tmp_path / "minilm-e2rank"
    folder.mkdir()
    (folder / "e2rank_adapter.json").write_text(json.dumps(
        {"base": "minilm", "training": {"val_queries": 7, "validation_ndcg@10": {"bm25>e2rank": 0.12345}}}))
    monkeypatch.setattr("e2rank_demo.models.presets.ADAPTER_ROOT", tmp_path)
    assert "on 7 held-out" in content.trained_note() and "bm25 > e2rank 0.123" in content.trained_note()


def test_no_measured_number_is_written_into_the_ui_texts() -> None:
    """content.py holds the paper's figures (x100, labelled as reported) but no measured 0.xxx value."""
    assert re.findall(r"\b0\.\d{3,}", inspect.getsource(content)) == []


def test_results_md_training_section_is_generated_from_the_metadata() -> None:
    """RESULTS.md's training section is what results.training_section() renders (no pasted prose)."""
    section = results.training_section()
    assert section and all(f"{v:.4f}" in "\n".join(section) for v in _validation().values())
    text = (REPO / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    assert "\n".join(section) in text
    assert "not** changed" not in text and "Left to the lead" not in text


def test_about_and_readme_name_the_default_that_the_code_uses() -> None:
    """The About tab names the configured offline default and fallback; the README no longer says the
    default's E2Rank column is "often worse"."""
    about = content.about()
    assert f"the offline default is `{default_model_name({})}`" in about
    assert f"the fallback, when a model cannot load, is\n`{OFFLINE_DEFAULT}`".lower() in about.lower()
    assert "the offline default is all-MiniLM-L6-v2" not in about
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "E2Rank column is often *worse*" not in readme
