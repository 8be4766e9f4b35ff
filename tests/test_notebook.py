"""The lecturers' notebook (notebooks/e2rank_tour.ipynb) runs top to bottom in a real Jupyter kernel.

The kernel is this interpreter (a kernelspec written to a temp folder names ``sys.executable``), so it
sees the same packages as the tests, in a fresh CI venv too. The notebook runs from a temp copy laid
out like a checkout (``notebooks/`` beside a link to the package), so its own set-up cell has to find
the package the way it does for a lecturer, and nothing is written back into the repository.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from e2rank_demo.projection import SPECIAL_LABELS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "e2rank_tour.ipynb"
# Generous limits, not timings: on a busy 2-core machine the kernel's start alone can pass nbclient's
# 60 s default, and the first map waits for UMAP's compilation and fit.
TIMEOUT_S = 600
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"the notebook needs exactly one cell tagged {tag!r}"
    return cells[0]


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _plotly_traces(cell: nbformat.NotebookNode) -> list[dict]:
    figures = [o.data[PLOTLY_MIME] for o in cell.outputs if PLOTLY_MIME in o.get("data", {})]
    assert len(figures) == 1, [o.output_type for o in cell.outputs]
    figure = figures[0] if isinstance(figures[0], dict) else json.loads(figures[0])
    return figure["data"]


def _n_points(values: list | dict) -> int:
    """Length of a trace's coordinates: a list, or plotly's typed-array encoding of a numpy array."""
    if isinstance(values, dict):
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_notebook_runs_offline_in_a_real_kernel(tmp_path: Path) -> None:
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "e2rank_demo").symlink_to(REPO / "e2rank_demo", target_is_directory=True)
    copy = Path(shutil.copy(NOTEBOOK, checkout / "notebooks"))
    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / "e2rank-tests")  # argv: this sys.executable -m ipykernel_launcher
    manager = KernelManager(kernel_name="e2rank-tests",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))

    nb = nbformat.read(copy, as_version=4)
    # conftest.py has set HF_HUB_OFFLINE and an isolated E2RANK_CACHE_DIR; the kernel inherits both.
    NotebookClient(nb, km=manager, timeout=TIMEOUT_S, startup_timeout=TIMEOUT_S,
                   resources={"metadata": {"path": str(copy.parent)}}).execute()  # raises on any cell error

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]

    rankings = _tagged(nb, "rankings")
    table = next(o.data["text/html"] for o in rankings.outputs if "text/html" in o.get("data", {}))
    assert table.count("<tr>") == 11 and "E2Rank" in table  # header and the top 10
    assert re.search(r"judged relevant \S+: (first stage #\d+ -> E2Rank #\d+|not among)", _text(rankings))

    traces = _plotly_traces(_tagged(nb, "map"))
    assert {SPECIAL_LABELS["query"], SPECIAL_LABELS["prompt"]} <= {trace.get("name") for trace in traces}
    assert sum(_n_points(trace.get("x", [])) for trace in traces) >= 100  # at least the N candidates are drawn

    influence = _tagged(nb, "influence")
    assert re.search(r"\d+ leave-one-out prompts embedded", _text(influence))
    assert all(trace["type"] == "bar" for trace in _plotly_traces(influence))

    printed = _text(_tagged(nb, "evaluation"))
    ndcg = [float(v) for v in re.findall(r"nDCG@10 (\d+\.\d+)", printed)]
    assert len(ndcg) >= 2 and all(0.0 <= v <= 1.0 for v in ndcg), printed  # first stage and E2Rank at least
    n_queries = re.search(r"^(\d+) judged claims", printed, flags=re.MULTILINE)
    counts = re.search(r"better on (\d+), tied on (\d+), worse on (\d+)", printed)
    assert n_queries and counts and sum(map(int, counts.groups())) == int(n_queries[1]) > 0, printed
