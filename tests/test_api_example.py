"""The README's code examples, run exactly as written.

* The ``gradio_client`` example (between ``<!-- api-example:start -->`` and
  ``<!-- api-example:end -->``) runs against ``python app.py`` started on a free port
  (the only change to the code is that port).
* The notebook example (``<!-- notebook-example:* -->``) runs as a script in a temp folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import serve_app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEFAULT_URL = "http://127.0.0.1:7860/"
START_TIMEOUT_S = 180


def readme_block(name: str) -> str:
    """The fenced Python code between the README's ``<!-- {name}:start -->`` and ``<!-- {name}:end -->``."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(rf"<!-- {name}:start -->\s*```python\n(.*?)```\s*<!-- {name}:end -->", text, flags=re.S)
    assert len(found) == 1, f"README.md needs exactly one {name} block between its markers"
    return found[0]


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "E2RANK_MODEL": "minilm",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("SPACE_ID", None)
    return env


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py --port <free port>``, once it answers HTTP 200."""
    tmp = tmp_path_factory.mktemp("api-app")
    with serve_app(_env(tmp), tmp / "app.log", START_TIMEOUT_S) as (url, _):
        yield url


def _client_env() -> dict[str, str]:
    """The environment of a client machine: no PYTHONPATH to this repository."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("PYTHONPATH", None)
    return env


# A client process has gradio_client but not this repository: make sure the example cannot import it.
NO_E2RANK_DEMO = "import sys\nsys.modules['e2rank_demo'] = None  # any import of e2rank_demo fails\n"


def test_readme_gradio_client_example_runs_against_the_live_app(live_app: str, tmp_path: Path) -> None:
    code = readme_block("api-example")
    assert code.count(DEFAULT_URL) == 1 and "api_name=\"/search\"" in code and "api_name=\"/report\"" in code
    assert "e2rank_demo" not in code, "the client example must need gradio_client only"
    script = tmp_path / "api_example.py"
    script.write_text(NO_E2RANK_DEMO + code.replace(DEFAULT_URL, live_app), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_client_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.strip().splitlines() if not line.startswith("Loaded as API")]
    # The second form when the live app has run this search before (its vectors are reused).
    assert re.fullmatch(r"100 candidates from 102 passages(, searched and reranked in [\d.]+ s| in [\d.]+ s "
                        r"\(vectors reused\))\.", lines[0]), lines
    assert lines[1].startswith("[") and "Why Bread Rises" in lines[1]
    report = Path(lines[2].removeprefix("report: "))
    assert lines[2].startswith("report: ") and report.suffix == ".html" and report.is_file()
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "why does bread rise" in page and "Plotly.newPlot(" in page


def test_readme_endpoint_table_matches_the_app(live_app: str) -> None:
    from gradio_client import Client

    named = set(Client(live_app, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"])
    table = set(re.findall(r"^\| `(/\w+)` \|", README.read_text(encoding="utf-8"), flags=re.M))
    assert {"/load_sample", "/search", "/report", "/export"} <= table
    assert table <= named, f"README lists endpoints the app lacks: {table - named}"
    assert "/report" in named


def test_readme_notebook_example_runs(tmp_path: Path) -> None:
    code = readme_block("notebook-example")
    env = {**_env(tmp_path), "E2RANK_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    first, written = out.stdout.strip().splitlines()
    assert first.startswith("['gen-006'") and first.endswith(" 512")
    page = (tmp_path / written).read_text(encoding="utf-8")
    assert "UMAP 1" in page and "Plotly.addFrames" in page
