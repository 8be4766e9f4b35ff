"""The core's import direction: records, prompts, models, rerank, query_result, pipeline, each importing
only the ones before it, not even under ``TYPE_CHECKING`` or inside a function (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "e2rank_demo"
LAYERS = ["records", "timing", "prompts", "models", "rerank", "query_result", "pipeline"]
"""Bottom first; a module may import only the layers before it."""


def layer_files(layer: str) -> list[Path]:
    folder = PACKAGE / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{layer}.py"]


def imported_layers(path: Path) -> set[str]:
    """The layers ``path`` imports anywhere in the file (top level, ``TYPE_CHECKING``, function bodies)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "e2rank_demo":
            modules = [f"e2rank_demo.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        else:
            continue
        found |= {m.split(".")[1] for m in modules if m.startswith("e2rank_demo.") and m.split(".")[1] in LAYERS}
    return found


def test_the_layer_checker_sees_every_form_of_import(tmp_path: Path) -> None:
    """Imports at top level, under TYPE_CHECKING and in a function are all found."""
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nimport e2rank_demo.records\n"
                      "if TYPE_CHECKING:\n    from e2rank_demo.pipeline import SearchSession\n"
                      "def f():\n    from e2rank_demo import rerank\n")
    assert imported_layers(module) == {"records", "pipeline", "rerank"}


@pytest.mark.parametrize("layer", LAYERS)
def test_no_core_module_imports_upward(layer: str) -> None:
    """Each layer imports only the layers below it (``rerank`` no longer reaches up to ``pipeline`` for
    :class:`SearchSettings`, nor ``records`` to anything for ``QueryResult.settings``)."""
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    upward = {str(path.relative_to(PACKAGE)): imported_layers(path) & above for path in layer_files(layer)}
    assert not any(upward.values()), {path: sorted(names) for path, names in upward.items() if names}


def test_settings_and_results_load_without_the_pipeline() -> None:
    """A fresh interpreter gets SearchSettings, its registry and QueryResult without loading the pipeline."""
    code = ("import json, sys\n"
            "from e2rank_demo.query_result import QueryResult\n"
            "from e2rank_demo.rerank import RERANKERS, SearchSettings\n"
            "print(json.dumps({'pipeline': 'e2rank_demo.pipeline' in sys.modules,\n"
            "                  'rerankers': list(SearchSettings().rerankers), 'registry': list(RERANKERS)}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    seen = json.loads(done.stdout)
    assert seen["pipeline"] is False
    assert seen["rerankers"] == seen["registry"] and "e2rank" in seen["registry"]


def test_search_settings_keeps_its_old_homes() -> None:
    """The UI, CLI, notebook and docs import SearchSettings from the pipeline or the package: the same class."""
    import e2rank_demo
    from e2rank_demo import pipeline, rerank

    assert pipeline.SearchSettings is rerank.SearchSettings is e2rank_demo.SearchSettings
    assert pipeline.MAX_INSTRUCTION_CHARS == rerank.MAX_INSTRUCTION_CHARS
