"""Weaviate vector store (``type: weaviate``), through weaviate-client v4.

The collection holds self-provided vectors (no vectorizer module) in an HNSW index with
cosine distance, plus the detection properties as filterable, non-searchable fields. The
index's accuracy knobs are settings: ``ef``, ``flat_search_cutoff`` and ``filter_strategy``
are applied to an existing collection at start-up (Weaviate changes them on a live index);
``ef_construction`` and ``max_connections`` only when the collection is created. Weaviate's
own defaults (dynamic ef of 100-500) gave a recall@20 of 0.18 against exact search on 100,000
random vectors; ``tests/bench/bench_search_scale.py`` measures the chosen defaults.

Every call has a hard deadline (``timeout_s``). The client's synchronous API retries a gRPC
UNAVAILABLE with exponential backoff for about a minute (``weaviate/retry.py``: 1+2+...+32 s)
and has no setting for it, so a stopped server would hang each caller. This store therefore
drives the async client on one event loop thread per process and wraps each call in
``asyncio.wait_for``, which cancels the retries cleanly when the deadline passes.

The weaviate SDK is imported only when a store is built, so the settings model (and the
config schema) work in images without it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar
from uuid import UUID

import numpy as np
import numpy.typing as npt
from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from cloud.lib.vectorstore.base import (
    DetectionProperties,
    Filters,
    Hit,
    VectorItem,
    VectorStoreSettingsBase,
    check_dimension,
    check_k,
    check_many,
    cosine_score,
    object_uuid,
    prepare_batch,
    require_ready,
    unit_vector,
)
from cloud.lib.vectorstore.errors import (
    BackendUnavailable,
    CollectionMismatch,
    CollectionNotFound,
    VectorStoreAuthError,
    VectorStoreError,
    VectorStoreUnavailable,
)

if TYPE_CHECKING:
    from weaviate import WeaviateAsyncClient
    from weaviate.classes.data import DataObject
    from weaviate.collections import CollectionAsync
    from weaviate.collections.classes.batch import BatchObjectReturn
    from weaviate.collections.classes.filters import _Filters

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TEXT_PROPERTIES: Final = ("detection_id", "device_id", "camera_id", "track_id", "label")
_RETURN_PROPERTIES: Final = [*_TEXT_PROPERTIES, "ts"]


class WeaviateVectorStoreSettings(VectorStoreSettingsBase):
    """Settings of the Weaviate store (``type: weaviate``)."""

    type: Literal["weaviate"] = "weaviate"
    url: AnyHttpUrl = Field(
        description="REST endpoint, e.g. http://weaviate:8080; https also turns TLS on for gRPC."
    )
    grpc_port: int = Field(default=50051, ge=1, le=65535, description="Weaviate's gRPC port.")
    grpc_host: str | None = Field(
        default=None, description="gRPC host when it differs from the URL's host."
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key, when the server requires one (empty: none)."
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Deadline of each call (connecting included); past it the call raises "
        "VectorStoreUnavailable.",
    )
    batch_size: int = Field(
        default=256, ge=1, le=10_000, description="Objects per insert, delete or get_many request."
    )
    ef: int = Field(
        default=256,
        ge=-1,
        le=100_000,
        description="HNSW candidates kept while searching (at least k is used): higher is more "
        "accurate and slower; -1 lets Weaviate pick from k (its dynamic ef, 100-500). Applied "
        "to an existing collection at start-up.",
    )
    ef_construction: int = Field(
        default=128,
        ge=4,
        le=4096,
        description="HNSW candidates considered while linking a new vector (a better graph "
        "for a slower import). Fixed when the collection is created.",
    )
    max_connections: int = Field(
        default=32,
        ge=4,
        le=256,
        description="HNSW links per vector (recall on hard data for memory). Fixed when the "
        "collection is created.",
    )
    flat_search_cutoff: int = Field(
        default=40_000,
        ge=0,
        description="When at most this many objects pass the filters Weaviate scores them "
        "all exactly instead of searching the graph. Applied to an existing collection.",
    )
    filter_strategy: Literal["sweeping", "acorn"] = Field(
        default="acorn",
        description="How a filtered graph search walks past objects that fail the filter: "
        "'acorn' (two-hop expansion, faster for restrictive filters) or 'sweeping'. Applied "
        "to an existing collection.",
    )

    @model_validator(mode="after")
    def _grpc_differs_from_rest(self) -> WeaviateVectorStoreSettings:
        if (self.grpc_host or self.url.host) == self.url.host and self.grpc_port == self.url.port:
            raise ValueError("grpc_port must differ from the REST port on the same host")
        return self


class WeaviateVectorStore:
    """``VectorStore`` on a Weaviate server.

    Build it inside the process that uses it (after a Celery prefork, not before): its
    connections and event loop belong to one process. It connects on first use, so building
    it never blocks and a server that is down only fails the calls made while it is down.
    """

    def __init__(self, settings: WeaviateVectorStoreSettings, *, dimension: int) -> None:
        check_dimension(dimension)
        try:
            import weaviate  # noqa: F401  (fail now, not at the first call)
        except ImportError as err:
            raise BackendUnavailable(
                "the weaviate vector store needs weaviate-client: install the 'cloud' extra"
            ) from err
        self._settings = settings
        self._dimension = dimension
        self._pid = os.getpid()
        self._loop = _event_loop()
        self._client: WeaviateAsyncClient | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False
        self._ready = False

    @property
    def dimension(self) -> int:
        """Length of every vector in this store."""
        return self._dimension

    # -- plumbing ----------------------------------------------------------------------

    def _run(self, what: str, operation: Callable[[WeaviateAsyncClient], Awaitable[T]]) -> T:
        """Run ``operation`` on the loop thread under the deadline, translating errors."""
        if self._closed:
            raise VectorStoreError("the vector store is closed")
        if os.getpid() != self._pid:
            raise VectorStoreError("a WeaviateVectorStore cannot be used after fork: build one")
        timeout = self._settings.timeout_s

        async def call() -> T:
            return await operation(await self._connected_client())

        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(call(), timeout), self._loop)
        try:
            return future.result()
        except TimeoutError as err:
            raise VectorStoreUnavailable(
                f"Weaviate at {self._settings.url} did not finish {what} within {timeout} s"
            ) from err
        except VectorStoreError:
            raise
        except _sdk_errors() as err:
            raise _translate(err, what, self._settings) from err

    async def _connected_client(self) -> WeaviateAsyncClient:
        if self._client is None:
            async with self._connect_lock:
                if self._client is None:
                    self._client = await self._connect()
        return self._client

    async def _connect(self) -> WeaviateAsyncClient:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout

        settings = self._settings
        timeout = settings.timeout_s
        client = weaviate.use_async_with_custom(
            http_host=settings.url.host or "",
            http_port=settings.url.port or 80,
            http_secure=settings.url.scheme == "https",
            grpc_host=settings.grpc_host or settings.url.host or "",
            grpc_port=settings.grpc_port,
            grpc_secure=settings.url.scheme == "https",
            auth_credentials=(
                Auth.api_key(settings.api_key.get_secret_value()) if settings.api_key else None
            ),
            additional_config=AdditionalConfig(
                timeout=Timeout(init=timeout, query=timeout, insert=timeout)
            ),
            # The init checks ask the public package index whether a newer client exists
            # (a phone-home that waits out its timeout on a closed network); the first real
            # call checks the server anyway.
            skip_init_checks=True,
        )
        try:
            await client.connect()
        except BaseException:
            await client.close()
            raise
        logger.info("connected to Weaviate at %s", settings.url)
        return client

    def _collection(self, client: WeaviateAsyncClient) -> CollectionAsync[Any, Any]:
        return client.collections.use(self._settings.collection)

    # -- VectorStore -------------------------------------------------------------------

    def ensure_collection(self) -> None:
        """Create the collection if missing, then check its distance, schema and dimension."""
        self._run("ensure_collection", self._ensure_collection)
        self._ready = True

    async def _ensure_collection(self, client: WeaviateAsyncClient) -> None:
        from weaviate.classes.config import (
            Configure,
            DataType,
            Property,
            Tokenization,
            VectorFilterStrategy,
        )
        from weaviate.classes.config import VectorDistances as Distance
        from weaviate.exceptions import UnexpectedStatusCodeError

        name = self._settings.collection
        if not await client.collections.exists(name):
            text_properties = [
                Property(
                    name=prop,
                    data_type=DataType.TEXT,
                    # FIELD keeps ids and labels whole ("traffic light", "cam-1").
                    tokenization=Tokenization.FIELD,
                    index_filterable=True,
                    index_searchable=False,
                )
                for prop in _TEXT_PROPERTIES
            ]
            ts_property = Property(
                name="ts", data_type=DataType.DATE, index_filterable=True, index_range_filters=True
            )
            try:
                await client.collections.create(
                    name,
                    description="Sightline detection embeddings",
                    properties=[*text_properties, ts_property],
                    vector_config=Configure.Vectors.self_provided(
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=Distance.COSINE,
                            ef=self._settings.ef,
                            ef_construction=self._settings.ef_construction,
                            max_connections=self._settings.max_connections,
                            flat_search_cutoff=self._settings.flat_search_cutoff,
                            filter_strategy=VectorFilterStrategy(self._settings.filter_strategy),
                        )
                    ),
                )
                logger.info("created Weaviate collection %s", name)
            except UnexpectedStatusCodeError as err:
                # Another process created it between exists() and create(): that is fine.
                if err.status_code != 422 or not await client.collections.exists(name):
                    raise
        collection = self._collection(client)
        await self._check_collection(collection)
        await self._apply_search_settings(collection)

    async def _apply_search_settings(self, collection: CollectionAsync[Any, Any]) -> None:
        """Bring an existing collection's run-time index settings to the configured ones.

        Weaviate changes ``ef``, the flat-search cutoff and the filter strategy of a live
        index; ``ef_construction`` and ``max_connections`` are fixed at creation, so a
        difference there is only logged (recreate the collection, or use a new name, to
        change them).
        """
        from weaviate.classes.config import Reconfigure, VectorFilterStrategy

        settings = self._settings
        config = await collection.config.get()
        named = config.vector_config or {}
        indexes: dict[str | None, Any] = {
            name: vector.vector_index_config for name, vector in named.items()
        } or {None: config.vector_index_config}
        strategy = VectorFilterStrategy(settings.filter_strategy)
        wanted = {
            "ef": settings.ef,
            "flat_search_cutoff": settings.flat_search_cutoff,
            "filter_strategy": strategy,
        }
        for name, index in indexes.items():
            for fixed in ("ef_construction", "max_connections"):
                if getattr(index, fixed, None) != getattr(settings, fixed):
                    logger.warning(
                        "Weaviate collection %s keeps %s=%s (set at creation), not %s",
                        settings.collection,
                        fixed,
                        getattr(index, fixed, None),
                        getattr(settings, fixed),
                    )
            if all(getattr(index, key, None) == value for key, value in wanted.items()):
                continue
            update = Reconfigure.VectorIndex.hnsw(
                ef=settings.ef,
                flat_search_cutoff=settings.flat_search_cutoff,
                filter_strategy=strategy,
            )
            if name is None:
                await collection.config.update(vector_index_config=update)
            else:
                await collection.config.update(
                    vector_config=Reconfigure.Vectors.update(name=name, vector_index_config=update)
                )
            logger.info("Weaviate collection %s: search settings set to %s", name, wanted)

    async def _check_collection(self, collection: CollectionAsync[Any, Any]) -> None:
        from weaviate.classes.config import DataType, Tokenization
        from weaviate.classes.config import VectorDistances as Distance

        name = self._settings.collection
        config = await collection.config.get()
        # Named vectors (what ensure_collection creates) or the legacy unnamed one.
        indexes = [vector.vector_index_config for vector in (config.vector_config or {}).values()]
        distances = [getattr(index, "distance_metric", None) for index in indexes] or [
            getattr(config.vector_index_config, "distance_metric", None)
        ]
        if distances != [Distance.COSINE]:
            raise CollectionMismatch(f"collection {name!r} does not have one cosine vector index")
        # Word tokenization would make the label filter "traffic" match "traffic light".
        expected: dict[str, tuple[DataType, Tokenization | None]] = {
            prop: (DataType.TEXT, Tokenization.FIELD) for prop in _TEXT_PROPERTIES
        }
        expected["ts"] = (DataType.DATE, None)
        found = {prop.name: (prop.data_type, prop.tokenization) for prop in config.properties}
        wrong = sorted(prop for prop, spec in expected.items() if found.get(prop) != spec)
        if wrong:
            raise CollectionMismatch(
                f"collection {name!r} lacks properties {wrong} or gives them another type "
                "or tokenization"
            )
        # Weaviate fixes the dimension with the first vector it stores; compare with one.
        sample = await collection.query.fetch_objects(limit=1, include_vector=True)
        for obj in sample.objects:
            stored = len(_default_vector(obj.vector))
            if stored != self._dimension:
                raise CollectionMismatch(
                    f"collection {name!r} holds {stored}-d vectors, this store is "
                    f"{self._dimension}-d: use another collection name for another model"
                )

    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Write the items in batches of ``batch_size``; the derived UUID makes it an overwrite.

        Batches are not atomic on the server: after a failure some items may be written,
        and retrying the same call is safe.
        """
        from weaviate.classes.data import DataObject

        batch = prepare_batch(items, self._dimension)
        require_ready(self._ready, self._settings.collection)
        objects = [
            DataObject(
                uuid=object_uuid(item.detection_id),
                vector=item.vector.tolist(),
                properties=_to_weaviate(item),
            )
            for item in batch
        ]
        for chunk in _chunks(objects, self._settings.batch_size):
            result = self._run("upsert", partial(self._insert, chunk))
            if result.errors:
                messages = sorted({error.message for error in result.errors.values()})
                raise VectorStoreError(
                    f"Weaviate rejected {len(result.errors)} of {len(chunk)} objects: "
                    + "; ".join(messages[:3])
                )

    async def _insert(
        self, objects: Sequence[DataObject[Any, Any]], client: WeaviateAsyncClient
    ) -> BatchObjectReturn:
        return await self._collection(client).data.insert_many(objects)

    async def _delete(self, where: _Filters, client: WeaviateAsyncClient) -> None:
        await self._collection(client).data.delete_many(where=where)

    def delete(self, detection_ids: Iterable[str]) -> None:
        """Delete these ids in batches; unknown ids are ignored."""
        from weaviate.classes.query import Filter

        require_ready(self._ready, self._settings.collection)
        uuids = sorted({object_uuid(detection_id) for detection_id in detection_ids})
        for chunk in _chunks(uuids, self._settings.batch_size):
            self._run("delete", partial(self._delete, Filter.by_id().contains_any(chunk)))

    def get(self, detection_id: str) -> VectorItem | None:
        """Return the stored item or ``None``."""
        require_ready(self._ready, self._settings.collection)
        uuid = object_uuid(detection_id)
        obj = self._run(
            "get",
            lambda client: self._collection(client).query.fetch_object_by_id(
                uuid, include_vector=True
            ),
        )
        if obj is None:
            return None
        vector = np.asarray(_default_vector(obj.vector), dtype=np.float32)
        return VectorItem(detection_id, vector, _from_weaviate(obj.properties))

    def get_many(self, detection_ids: Sequence[str]) -> list[VectorItem]:
        """Return the stored items of these ids, one fetch per ``batch_size`` ids."""
        check_many(detection_ids)
        require_ready(self._ready, self._settings.collection)
        uuids = sorted({object_uuid(detection_id) for detection_id in detection_ids})
        items: list[VectorItem] = []
        for chunk in _chunks(uuids, self._settings.batch_size):
            result = self._run("get_many", partial(self._fetch, chunk))
            items.extend(
                VectorItem(
                    str(obj.properties["detection_id"]),
                    np.asarray(_default_vector(obj.vector), dtype=np.float32),
                    _from_weaviate(obj.properties),
                )
                for obj in result.objects
            )
        return items

    async def _fetch(self, uuids: Sequence[UUID], client: WeaviateAsyncClient) -> Any:
        from weaviate.classes.query import Filter

        return await self._collection(client).query.fetch_objects(
            filters=Filter.by_id().contains_any(list(uuids)),
            limit=len(uuids),
            include_vector=True,
            return_properties=_RETURN_PROPERTIES,
        )

    def query(
        self, vector: npt.ArrayLike, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """Nearest neighbours by cosine distance; ``score = 1 - distance``."""
        from weaviate.classes.query import MetadataQuery

        check_k(k)
        require_ready(self._ready, self._settings.collection)
        query = unit_vector(vector, self._dimension).tolist()
        filters = filters or Filters()
        if filters.matches_nothing:
            return []
        where = _where(filters)
        result = self._run(
            "query",
            lambda client: self._collection(client).query.near_vector(
                query,
                limit=k,
                filters=where,
                return_metadata=MetadataQuery(distance=True),
                return_properties=_RETURN_PROPERTIES,
            ),
        )
        return [
            Hit(
                str(obj.properties["detection_id"]),
                cosine_score(1.0 - (obj.metadata.distance or 0.0)),
                _from_weaviate(obj.properties),
            )
            for obj in result.objects
        ]

    def count(self) -> int:
        """Number of stored objects."""
        require_ready(self._ready, self._settings.collection)
        result = self._run(
            "count",
            lambda client: self._collection(client).aggregate.over_all(total_count=True),
        )
        return int(result.total_count or 0)

    def close(self) -> None:
        """Close the client's connections; idempotent. The shared loop thread stays."""
        if self._closed:
            return
        self._closed = True
        client = self._client
        if client is None or os.getpid() != self._pid:
            return
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(client.close(), self._settings.timeout_s), self._loop
        )
        close_errors: tuple[type[BaseException], ...] = (TimeoutError, *_sdk_errors())
        try:
            future.result()
        except close_errors as err:
            # Nothing is left to do with a connection that will not close cleanly.
            logger.warning("closing the Weaviate client failed: %s", err)


# -- helpers ---------------------------------------------------------------------------

_loops: dict[int, asyncio.AbstractEventLoop] = {}
_loops_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop thread for Weaviate calls, started on first use.

    One loop per process (keyed by pid, so a forked child starts its own): grpc.aio
    channels are bound to the loop that created them, and one thread is enough for any
    number of stores.
    """
    pid = os.getpid()
    with _loops_lock:
        loop = _loops.get(pid)
        if loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="weaviate-vectorstore", daemon=True
            ).start()
            _loops.clear()
            _loops[pid] = loop
        return loop


def _sdk_errors() -> tuple[type[BaseException], ...]:
    import grpc
    import httpx
    from weaviate.exceptions import WeaviateBaseError

    return (WeaviateBaseError, grpc.RpcError, httpx.HTTPError, OSError)


def _exception_chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _translate(
    err: BaseException, what: str, settings: WeaviateVectorStoreSettings
) -> VectorStoreError:
    """Map an SDK error to our hierarchy; only connection-level failures are transient."""
    import grpc
    import httpx
    from weaviate.exceptions import (
        AuthenticationFailedError,
        InsufficientPermissionsError,
        UnexpectedStatusCodeError,
        WeaviateConnectionError,
        WeaviateGRPCUnavailableError,
        WeaviateRetryError,
        WeaviateStartUpError,
        WeaviateTimeoutError,
    )

    message = f"Weaviate {what} failed: {err}"
    transient_grpc = {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
    for cause in _exception_chain(err):
        if isinstance(cause, AuthenticationFailedError | InsufficientPermissionsError):
            return VectorStoreAuthError(message)
        if isinstance(cause, UnexpectedStatusCodeError):
            if cause.status_code in (401, 403):
                return VectorStoreAuthError(message)
            if cause.status_code == 429 or cause.status_code >= 500:
                return VectorStoreUnavailable(message)
        if isinstance(
            cause,
            WeaviateConnectionError
            | WeaviateGRPCUnavailableError
            | WeaviateRetryError
            | WeaviateStartUpError
            | WeaviateTimeoutError
            | httpx.TransportError
            | OSError,
        ):
            return VectorStoreUnavailable(
                f"Weaviate at {settings.url} (gRPC port {settings.grpc_port}) is unreachable "
                f"during {what}: {err}"
            )
        if isinstance(cause, grpc.RpcError) and _grpc_code(cause) in transient_grpc:
            return VectorStoreUnavailable(message)
    if _is_missing_collection(str(err)):
        return CollectionNotFound(
            f"collection {settings.collection!r} does not exist: call ensure_collection()"
        )
    return VectorStoreError(message)


def _grpc_code(err: BaseException) -> Any:
    code = getattr(err, "code", None)
    return code() if callable(code) else None


def _is_missing_collection(message: str) -> bool:
    # Weaviate reports an unknown class only in the message text, and words it differently
    # per endpoint (gRPC search, batch, aggregate).
    lowered = message.lower()
    return any(
        phrase in lowered for phrase in ("could not find class", "class not found", "no such class")
    )


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _default_vector(vector: Any) -> Sequence[float]:
    # The collection has one unnamed vector, which the client returns as {"default": [...]}.
    if isinstance(vector, dict):
        return list(vector.get("default") or next(iter(vector.values()), []))
    return list(vector or [])


def _to_weaviate(item: VectorItem) -> dict[str, Any]:
    props = item.properties
    return {
        "detection_id": item.detection_id,
        "device_id": props.device_id,
        "camera_id": props.camera_id,
        "track_id": props.track_id,
        "label": props.label,
        "ts": props.ts,
    }


def _from_weaviate(props: Any) -> DetectionProperties:
    ts = props["ts"]
    return DetectionProperties(
        device_id=str(props["device_id"]),
        camera_id=str(props["camera_id"]),
        track_id=str(props["track_id"]),
        label=str(props["label"]),
        ts=ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts)),
    )


def _where(filters: Filters) -> _Filters | None:
    from weaviate.classes.query import Filter

    clauses: list[_Filters] = []
    for prop, values in (
        ("camera_id", filters.camera_ids),
        ("device_id", filters.device_ids),
        ("label", filters.labels),
    ):
        if values is not None:
            clauses.append(Filter.by_property(prop).contains_any(list(values)))
    if filters.since is not None:
        clauses.append(Filter.by_property("ts").greater_or_equal(filters.since))
    if filters.until is not None:
        clauses.append(Filter.by_property("ts").less_than(filters.until))
    if filters.exclude_ids:
        excluded = [object_uuid(detection_id) for detection_id in filters.exclude_ids]
        clauses.append(Filter.not_(Filter.by_id().contains_any(excluded)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else Filter.all_of(clauses)
