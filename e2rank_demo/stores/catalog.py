"""Which stores the app may open, and opening one read-only for a search session.

The app is served publicly, so a visitor never names a path or URL on a public server:
the server lists the stores an operator put in ``E2RANK_STORES_DIR`` (FAISS store
folders and Milvus Lite ``.db`` files, one level deep) plus the URIs in ``E2RANK_STORES``
(comma-separated, e.g. a Milvus server ``milvus:http://milvus:19530#docs``), and the
visitor picks one **by name**; a name the server does not list is refused. Typing a store
URI is allowed only where :func:`typed_uri_allowed` says so: ``E2RANK_ALLOW_STORE_URI=1``,
or by default on a local run (not on a Hugging Face Space, served on a loopback address).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "notes").mkdir(); _ = (folder / "notes" / "store.json").write_text("{}")
    >>> [(e.name, e.uri.startswith("faiss:")) for e in listed_stores(folder, "")]
    [('notes', True)]
    >>> typed_uri_allowed({"SPACE_ID": "user/app"}), typed_uri_allowed({"E2RANK_ALLOW_STORE_URI": "1"})
    (False, True)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from e2rank_demo.models import Embedder
from e2rank_demo.stores import DocumentStore, StoreInfo, open_store, parse_uri
from e2rank_demo.stores.session import StoreSession

STORES_DIR_ENV = "E2RANK_STORES_DIR"
STORES_ENV = "E2RANK_STORES"
ALLOW_URI_ENV = "E2RANK_ALLOW_STORE_URI"
_LOOPBACK = {"", "127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class StoreEntry:
    """A store the server offers.

    Attributes:
        name: What the picker shows and the visitor sends back.
        uri: Where it is (never shown to a visitor before it is opened).
    """

    name: str
    uri: str


def listed_stores(folder: str | Path | None = None, extra: str | None = None) -> list[StoreEntry]:
    """The stores in ``folder`` (default ``$E2RANK_STORES_DIR``) and ``extra`` (default ``$E2RANK_STORES``).

    A folder holding ``store.json`` is a FAISS store; a name ending in ``.db`` is a Milvus
    Lite store. Nothing deeper than one level is looked at, and a missing folder lists nothing.
    """
    folder = os.environ.get(STORES_DIR_ENV, "") if folder is None else folder
    extra = os.environ.get(STORES_ENV, "") if extra is None else extra
    entries: list[StoreEntry] = []
    if folder and Path(folder).is_dir():
        for child in sorted(Path(folder).iterdir()):
            if child.name.endswith(".db"):
                entries.append(StoreEntry(child.name, f"milvus:{child.resolve()}"))
            elif (child / "store.json").is_file():
                entries.append(StoreEntry(child.name, f"faiss:{child.resolve()}"))
    for uri in (u.strip() for u in extra.split(",")):
        if uri:
            parse_uri(uri)  # an operator's typo fails at start-up listing, with the accepted forms
            entries.append(StoreEntry(uri, uri))
    return entries


def typed_uri_allowed(env: Mapping[str, str] | None = None) -> bool:
    """Whether a visitor may type a store URI (any path or server the app's process can reach).

    ``E2RANK_ALLOW_STORE_URI`` decides when set (``1`` allows, anything else refuses);
    otherwise only a local run is allowed: not on a Hugging Face Space (``SPACE_ID``)
    and served on a loopback address (``GRADIO_SERVER_NAME``; ``app.py`` sets the flag
    to ``0`` when it serves another host or a share link).
    """
    env = os.environ if env is None else env
    flag = env.get(ALLOW_URI_ENV)
    if flag is not None:
        return flag.strip() == "1"
    return not env.get("SPACE_ID") and env.get("GRADIO_SERVER_NAME", "").strip() in _LOOPBACK


def chosen_uri(name: str | None, typed: str | None, *, allow_typed: bool) -> str:
    """The URI to open: a typed one (where allowed) or the listed store called ``name``.

    Raises:
        ValueError: Nothing chosen, a typed URI where typing is off, or a name not listed.
    """
    typed = (typed or "").strip()
    if typed:
        if not allow_typed:
            raise ValueError(
                f"this server does not open typed store addresses; choose a listed index "
                f"(the operator lists them with {STORES_DIR_ENV} or {STORES_ENV})"
            )
        parse_uri(typed)
        return typed
    entries = {e.name: e.uri for e in listed_stores()}
    if not name:
        if not entries:
            raise ValueError(f"no index is available: the server lists none ({STORES_DIR_ENV} is empty or unset)")
        raise ValueError("choose an index first")
    if name not in entries:
        raise ValueError(f"{name!r} is not an index this server lists; refresh the list and choose again")
    return entries[name]


_OPEN: dict[str, DocumentStore] = {}
_OPEN_LOCK = threading.Lock()


def shared_store(uri: str) -> DocumentStore:
    """The process's one read-only handle on ``uri`` (opened on first use, shared by every session).

    Sharing matters for Milvus Lite: its embedded server is one per file, and closing one
    session's client would stop it under every other session.
    """
    with _OPEN_LOCK:
        store = _OPEN.get(uri)
        if store is None:
            store = _OPEN[uri] = open_store(uri, read_only=True)
        return store


def open_store_session(uri: str, embedder: Embedder) -> StoreSession:
    """A search session over the store at ``uri``, read-only, with ``embedder`` for queries and prompts.

    Raises:
        ValueError: No store there, an unreachable server, a missing package, or a store
            built with another model (the message names both and how to proceed).
    """
    store = shared_store(uri)
    wanted = StoreInfo.of(embedder)
    if store.info.identity != wanted.identity:
        raise ValueError(
            f"the index {uri} was built with model {store.info.model} (documents "
            f"{store.info.identity}); the model in use is {embedder.name} (documents "
            f"{wanted.identity}). Choose {store.info.model} under “Model and passages” and "
            "open it again, or index the corpus with this model"
        )
    return StoreSession(store, embedder)
