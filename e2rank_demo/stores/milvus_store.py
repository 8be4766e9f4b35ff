"""Milvus: Milvus Lite in a local ``.db`` folder, or a Milvus server or cluster by URL.

One collection per store (default ``e2rank_documents``; ``#name`` picks another) with
fields ``id`` (primary key), ``vector``, ``title`` and ``text``. The building model's
identity, name and dimension are collection properties. Until :meth:`MilvusStore.optimize`
the vector index is ``FLAT`` (exact); ``optimize`` swaps in HNSW or IVF by size.

A server that does not answer is reported as :class:`~e2rank_demo.stores.StoreUnreachableError`,
and the store's next call reaches it again once it is back: a server that is down, restarting
or unreachable after at most ``E2RANK_MILVUS_TIMEOUT`` seconds (default 5); one that accepts
the connection but stops answering (frozen, overloaded) when a search or count has waited
``E2RANK_MILVUS_SEARCH_TIMEOUT`` seconds (default 30), instead of the minute or more that gRPC's
keep-alive takes to notice.

Example:
    >>> import numpy as np, tempfile
    >>> from e2rank_demo.stores import StoreInfo, open_store
    >>> store = open_store(f"milvus:{tempfile.mkdtemp()}/s.db", StoreInfo("i", "m", 2), create=True)
    >>> store.add(["a", "b"], ["", ""], ["first", "second"], np.eye(2, dtype=np.float32))
    2
    >>> store.search(np.array([1.0, 0.0], dtype=np.float32), 1).ids
    ['a']
    >>> store.close()
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from e2rank_demo.stores import (
    IndexChoice,
    StoreDependencyError,
    StoreHits,
    StoreInfo,
    StoreUnreachableError,
    check_vectors,
    first_new,
    index_choice,
)

logger = logging.getLogger(__name__)

DEFAULT_COLLECTION = "e2rank_documents"
ID_BYTES = 512
TITLE_BYTES = 2048
TEXT_BYTES = 65_535  # Milvus' VARCHAR limit; only the listwise prompt reads the stored text
_INDEX_PARAMS: dict[str, tuple[str, dict[str, int]]] = {
    "flat": ("FLAT", {}),
    "hnsw": ("HNSW", {"M": 16, "efConstruction": 100}),
    "ivf": ("IVF_FLAT", {"nlist": 4096}),
}
_PROPERTY = "e2rank.{}"
TIMEOUT_ENV = "E2RANK_MILVUS_TIMEOUT"
SEARCH_TIMEOUT_ENV = "E2RANK_MILVUS_SEARCH_TIMEOUT"
_CONNECT_FAILED = 2  # pymilvus' code for a server it cannot (re)connect to
_NOT_LOADED = 101  # Milvus' CollectionNotLoaded
# Which ids are stored, and how many, must count every committed insert: a Milvus server's default
# ("Bounded") may not show the last seconds' writes, and a resumed `index` would add those again.
_EVERY_WRITE = "Strong"


def connect_timeout() -> float:
    """Seconds to wait for a Milvus server before saying it does not answer (``E2RANK_MILVUS_TIMEOUT``, 5).

    Read at each connection, so an operator (or a test) can change it without re-importing.
    """
    return float(os.environ.get(TIMEOUT_ENV, "5"))


def search_timeout() -> float:
    """Most seconds a search or count on a Milvus server may take (``E2RANK_MILVUS_SEARCH_TIMEOUT``, 30).

    A deadline for the calls a visitor waits on: a server that accepted the connection and then
    froze would otherwise hold the search until gRPC's keep-alive gives up (65 s measured here
    with a paused ``milvus-lite server``). 30 s is far above a search's own time (1.5 s for a
    top-100 of a million vectors in Milvus Lite, docs/SCALING.md). Read at each call.
    """
    return float(os.environ.get(SEARCH_TIMEOUT_ENV, "30"))


def _not_answering(deadline: float | None = None) -> str:
    waited = (
        f"no reply within {deadline:g} s, {SEARCH_TIMEOUT_ENV}"
        if deadline is not None
        else f"waited up to {connect_timeout():g} s, {TIMEOUT_ENV}"
    )
    return f"the Milvus server does not answer ({waited}); try again once it is back"


def _code(exc: Exception) -> Any:
    import grpc

    return exc.code() if isinstance(exc, grpc.RpcError) else getattr(exc, "code", None)


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` says the server cannot be reached (as opposed to refusing a request)."""
    import grpc

    return _code(exc) in (_CONNECT_FAILED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def _search_params(kind: str, n: int) -> dict[str, object]:
    params: dict[str, int] = {}
    if kind == "hnsw":
        params["ef"] = max(128, n)  # HNSW needs ef >= the number of results
    elif kind == "ivf":
        params["nprobe"] = 32
    return {"metric_type": "IP", "params": params}


class MilvusStore:
    """A :class:`~e2rank_demo.stores.DocumentStore` in a Milvus collection."""

    def __init__(
        self,
        uri: str,
        location: str,
        collection: str | None,
        info: StoreInfo | None,
        *,
        create: bool = False,
        read_only: bool = False,
    ) -> None:
        self.uri = uri
        self.read_only = read_only
        self.collection = collection or DEFAULT_COLLECTION
        self._lite_path: str | None = None
        if not location.startswith(("http://", "https://", "tcp://", "unix:")):
            if not location.endswith(".db"):
                raise ValueError(f"{uri}: a Milvus Lite store is a file ending in .db, or a server URL")
            if importlib.util.find_spec("milvus_lite") is None:
                raise StoreDependencyError("a milvus:<file>.db store needs Milvus Lite: pip install milvus-lite==3.2.2")
            if not os.path.exists(location) and (not create or read_only):
                raise ValueError(
                    f"no Milvus Lite store at {location}; build one with python -m e2rank_demo index --store {uri}"
                )
            self._lite_path = os.path.abspath(os.path.expanduser(location))
            # The embedded server logs each RPC pymilvus probes and it lacks (AllocTimestamp) as an error.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
            location = self._lite_path
        # gRPC's C core logs keep-alive chatter to stderr, which would break the progress bar.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        from pymilvus import MilvusClient

        # pymilvus logs each failed call with its traceback; every failure reaches the caller as an
        # exception anyway, and a lost server is reported below in one line.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        try:
            # A server that does not answer is reported after a short wait, not after gRPC's default.
            # A channel of its own: after a failure pymilvus opens a new channel, which would otherwise
            # share the failed connection and its back-off (up to 2 min) instead of dialling again.
            self._client = MilvusClient(
                location,
                timeout=None if self._lite_path else connect_timeout(),
                grpc_options={"grpc.use_local_subchannel_pool": 1},
            )
        except Exception as exc:  # noqa: BLE001 - pymilvus raises its own types for a busy file or an unreachable server
            if _unreachable(exc):
                raise StoreUnreachableError(f"cannot open {uri}: {_not_answering()}") from None
            raise ValueError(f"cannot open {uri}: {exc}") from None
        if not self._call("has_collection", self.collection):
            if not create or read_only:
                self.close()
                raise ValueError(
                    f"{uri} has no collection {self.collection!r}; build it with "
                    f"python -m e2rank_demo index --store {uri}"
                )
            assert info is not None
            self._create(info)
        props = self._call("describe_collection", self.collection).get("properties", {})
        try:
            self.info = StoreInfo(
                props[_PROPERTY.format("identity")],
                props[_PROPERTY.format("model")],
                int(props[_PROPERTY.format("dim")]),
            )
        except (KeyError, ValueError):
            self.close()
            raise ValueError(f"collection {self.collection!r} at {uri} was not built by e2rank_demo") from None
        self._kind = self._current_kind()
        self._call("load_collection", self.collection)

    def _call(self, method: str, *args: Any, bounded: bool = False, **kwargs: Any) -> Any:
        """``self._client.<method>(...)``; a server that does not answer raises :class:`StoreUnreachableError`.

        ``bounded`` gives the call a deadline of :func:`search_timeout` seconds on a server (not
        on a Milvus Lite file, whose server is this process's child): for searches and counts,
        never for writes or index builds, whose time grows with the collection.

        Nothing is kept from a failed call: pymilvus opens a new channel on the next one, so the
        store works again as soon as the server is back. A Milvus Lite server that restarted has
        forgotten which collections were loaded; its "not loaded" answer loads ours and asks again.
        """
        import grpc
        from pymilvus.exceptions import MilvusException

        deadline = search_timeout() if bounded and self._lite_path is None else None
        if deadline is not None:
            kwargs["timeout"] = deadline
        call = getattr(self._client, method)
        try:
            try:
                return call(*args, **kwargs)
            except MilvusException as exc:
                if exc.code != _NOT_LOADED:
                    raise
                self._client.load_collection(self.collection)
                return call(*args, **kwargs)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            logger.info("%s: %s failed, the server does not answer (%s)", self.uri, method, exc)
            timed_out = deadline is not None and _code(exc) == grpc.StatusCode.DEADLINE_EXCEEDED
            raise StoreUnreachableError(f"{self.uri}: {_not_answering(deadline if timed_out else None)}") from None

    def _create(self, info: StoreInfo) -> None:
        from pymilvus import DataType

        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=info.dim)
        schema.add_field("title", DataType.VARCHAR, max_length=TITLE_BYTES)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        self._call(
            "create_collection",
            self.collection,
            schema=schema,
            index_params=self._index_params("flat"),
            properties={
                _PROPERTY.format("identity"): info.identity,
                _PROPERTY.format("model"): info.model,
                _PROPERTY.format("dim"): str(info.dim),
            },
        )

    def _index_params(self, kind: IndexChoice):  # noqa: ANN202 - pymilvus IndexParams
        index_type, params = _INDEX_PARAMS[kind]
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=params)
        return index

    def _current_kind(self) -> IndexChoice:
        names = self._call("list_indexes", self.collection, field_name="vector")
        if not names:
            return "flat"
        index_type = str(self._call("describe_index", self.collection, names[0]).get("index_type", "FLAT"))
        return {v[0]: k for k, v in _INDEX_PARAMS.items()}.get(index_type.upper(), "flat")  # type: ignore[return-value]

    @property
    def index_kind(self) -> IndexChoice:
        """The collection's vector index: ``flat``, ``hnsw`` or ``ivf``."""
        return self._kind

    # ----------------------------------------------------------------- writing
    def _stored(self, ids: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(ids))
        found: set[str] = set()
        for start in range(0, len(unique), 1000):
            # JSON string literals: pymilvus' own ``ids=`` quoting breaks on an id with a quote.
            quoted = ", ".join(json.dumps(pid, ensure_ascii=False) for pid in unique[start : start + 1000])
            rows = self._call(
                "query",
                self.collection,
                filter=f"id in [{quoted}]",
                output_fields=["id"],
                consistency_level=_EVERY_WRITE,
            )
            found.update(str(r["id"]) for r in rows)
        return found

    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids not stored yet, in their order."""
        stored = self._stored(ids)
        return [pid for pid in ids if pid not in stored]

    def add(self, ids: Sequence[str], titles: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> int:
        """Inserts the passages not stored yet, as one insert call."""
        if self.read_only:
            raise ValueError(f"{self.uri} is open read-only")
        vectors = check_vectors(self.info, ids, vectors)
        for pid in ids:
            if len(pid.encode("utf-8")) > ID_BYTES:
                raise ValueError(f"passage id {pid[:40]!r}... is longer than Milvus' {ID_BYTES} bytes")
        keep = first_new(ids, self._stored(ids))
        if keep:
            self._call(
                "insert",
                self.collection,
                [
                    {
                        "id": ids[i],
                        "vector": vectors[i],
                        "title": _clip(titles[i], TITLE_BYTES),
                        "text": _clip(texts[i], TEXT_BYTES),
                    }
                    for i in keep
                ],
            )
        return len(keep)

    def count(self) -> int:
        """Passages stored (an exact ``count(*)``)."""
        rows = self._call(
            "query",
            self.collection,
            filter="",
            output_fields=["count(*)"],
            consistency_level=_EVERY_WRITE,
            bounded=True,
        )
        return int(rows[0]["count(*)"])

    def optimize(self, kind: IndexChoice | None = None) -> IndexChoice:
        """Replaces the vector index with the one for the current size (or ``kind``)."""
        if not self.read_only:
            # Seals the in-memory rows into segments: the index covers segments, and Milvus Lite
            # searches unsealed rows one by one (seconds per query at 10k rows here).
            self._call("flush", self.collection)
        kind = kind or index_choice(self.count())
        if kind != self._kind and not self.read_only:
            from pymilvus.exceptions import MilvusException

            self._call("release_collection", self.collection)
            # pymilvus retries an index call whose connection failed; on a long call (Milvus Lite
            # compacting a million rows) the first attempt may have landed and the retry is refused.
            # So a refusal counts only if the collection is not in the state the call asked for.
            for name in self._call("list_indexes", self.collection, field_name="vector"):
                try:
                    self._call("drop_index", self.collection, name)
                except MilvusException:
                    if name in self._call("list_indexes", self.collection, field_name="vector"):
                        raise
            try:
                self._call("create_index", self.collection, self._index_params(kind))
            except MilvusException:
                if self._current_kind() != kind:
                    raise
            self._call("load_collection", self.collection)
            self._kind = kind
        return self._kind

    # ----------------------------------------------------------------- reading
    def search(self, query_vector: np.ndarray, n: int) -> StoreHits:
        """Top-``n`` by inner product, with the stored vectors, titles and texts."""
        query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        found = self._call(
            "search",
            self.collection,
            data=[query.tolist()],
            limit=n,
            output_fields=["vector", "title", "text"],
            search_params=_search_params(self._kind, n),
            bounded=True,
        )[0]
        dim = self.info.dim
        return StoreHits(
            [str(h["id"]) for h in found],
            np.array([h["distance"] for h in found], dtype=np.float32),
            np.array([h["entity"]["vector"] for h in found], dtype=np.float32).reshape(len(found), dim),
            [h["entity"]["title"] for h in found],
            [h["entity"]["text"] for h in found],
        )

    def close(self) -> None:
        """Closes the client and, for Milvus Lite, stops its server so the file lock is freed."""
        self._client.close()
        if self._lite_path is not None:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self._lite_path)
