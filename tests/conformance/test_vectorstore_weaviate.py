"""`WeaviateVectorStore` against the vector store contract on a real Weaviate server.

Needs SIGHTLINE_WEAVIATE_URL and SIGHTLINE_WEAVIATE_GRPC_PORT (`tests/services/manage.py up`);
each test gets its own collection, named after the test and deleted before and after it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from pydantic import AnyHttpUrl

from cloud.lib.vectorstore import (
    CollectionMismatch,
    CollectionNotFound,
    VectorStoreUnavailable,
)
from cloud.lib.vectorstore.weaviate_store import WeaviateVectorStore, WeaviateVectorStoreSettings
from tests.conformance.vectorstore_contract import DIM, QUERY, VectorStoreContract, item
from tests.services.contract import WeaviateServer

if TYPE_CHECKING:
    from weaviate import WeaviateClient

pytestmark = pytest.mark.integration


def settings_for(
    server: WeaviateServer, collection: str, **overrides: object
) -> WeaviateVectorStoreSettings:
    values: dict[str, object] = {
        "url": AnyHttpUrl(server.url),
        "grpc_port": server.grpc_port,
        "collection": collection,
        "timeout_s": 10.0,
    }
    values.update(overrides)
    return WeaviateVectorStoreSettings.model_validate(values)


class TestWeaviateVectorStore(VectorStoreContract):
    @pytest.fixture
    def fresh_settings(
        self, weaviate_server: WeaviateServer, weaviate_collection: str
    ) -> Iterator[WeaviateVectorStoreSettings]:
        yield settings_for(weaviate_server, weaviate_collection)


@pytest.fixture
def store(
    weaviate_server: WeaviateServer, weaviate_collection: str
) -> Iterator[WeaviateVectorStore]:
    store = WeaviateVectorStore(settings_for(weaviate_server, weaviate_collection), dimension=DIM)
    yield store
    store.close()


def test_the_collection_is_cosine_hnsw_with_whole_value_filterable_properties(
    store: WeaviateVectorStore, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    from weaviate.classes.config import DataType, Tokenization, VectorDistances

    store.ensure_collection()

    config = weaviate_client.collections.use(weaviate_collection).config.get()
    (vector,) = config.vector_config.values()  # type: ignore[union-attr]
    assert vector.vectorizer.vectorizer == "none"
    assert vector.vector_index_config.distance_metric == VectorDistances.COSINE
    properties = {prop.name: prop for prop in config.properties}
    for name in ("detection_id", "device_id", "camera_id", "track_id", "label"):
        assert properties[name].data_type == DataType.TEXT
        assert properties[name].tokenization == Tokenization.FIELD
        assert properties[name].index_filterable
        assert not properties[name].index_searchable
    assert properties["ts"].data_type == DataType.DATE
    assert properties["ts"].index_range_filters


def test_the_index_is_created_with_the_configured_accuracy_settings(
    weaviate_server: WeaviateServer, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    from weaviate.classes.config import VectorFilterStrategy

    settings = settings_for(
        weaviate_server,
        weaviate_collection,
        ef=300,
        ef_construction=96,
        max_connections=24,
        flat_search_cutoff=5000,
        filter_strategy="sweeping",
    )
    store = WeaviateVectorStore(settings, dimension=DIM)
    try:
        store.ensure_collection()
    finally:
        store.close()

    config = weaviate_client.collections.use(weaviate_collection).config.get()
    (vector,) = config.vector_config.values()  # type: ignore[union-attr]
    index = vector.vector_index_config
    assert (index.ef, index.ef_construction, index.max_connections) == (300, 96, 24)  # type: ignore[union-attr]
    assert index.flat_search_cutoff == 5000  # type: ignore[union-attr]
    assert index.filter_strategy == VectorFilterStrategy.SWEEPING  # type: ignore[union-attr]


def test_an_existing_collection_takes_the_run_time_settings_and_keeps_the_others(
    weaviate_server: WeaviateServer,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from weaviate.classes.config import VectorFilterStrategy

    first = WeaviateVectorStore(settings_for(weaviate_server, weaviate_collection), dimension=DIM)
    try:
        first.ensure_collection()
        first.upsert([item("det-1", QUERY)])
    finally:
        first.close()
    changed = settings_for(
        weaviate_server,
        weaviate_collection,
        ef=64,
        flat_search_cutoff=123,
        filter_strategy="sweeping",
        ef_construction=64,
    )

    second = WeaviateVectorStore(changed, dimension=DIM)
    try:
        second.ensure_collection()
        assert [hit.detection_id for hit in second.query(QUERY, k=1)] == ["det-1"]
    finally:
        second.close()

    config = weaviate_client.collections.use(weaviate_collection).config.get()
    (vector,) = config.vector_config.values()  # type: ignore[union-attr]
    index = vector.vector_index_config
    assert (index.ef, index.flat_search_cutoff) == (64, 123)  # type: ignore[union-attr]
    assert index.filter_strategy == VectorFilterStrategy.SWEEPING  # type: ignore[union-attr]
    assert index.ef_construction == 128, "fixed when the collection was created"  # type: ignore[union-attr]
    assert "keeps ef_construction=128" in caplog.text


def test_the_stored_object_id_is_derived_from_the_detection_id(
    store: WeaviateVectorStore, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    from cloud.lib.vectorstore import object_uuid

    store.ensure_collection()
    store.upsert([item("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", QUERY)])

    collection = weaviate_client.collections.use(weaviate_collection)
    stored = collection.query.fetch_object_by_id(
        object_uuid("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    )
    assert stored is not None
    assert stored.properties["detection_id"] == "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def test_a_collection_with_another_distance_is_refused(
    store: WeaviateVectorStore, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    from weaviate.classes.config import Configure, VectorDistances

    weaviate_client.collections.create(
        weaviate_collection,
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(
                distance_metric=VectorDistances.L2_SQUARED
            )
        ),
    )

    with pytest.raises(CollectionMismatch, match="cosine"):
        store.ensure_collection()


def test_a_collection_whose_labels_are_split_into_words_is_refused(
    store: WeaviateVectorStore, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    from weaviate.classes.config import DataType, Property, Tokenization

    store.ensure_collection()
    weaviate_client.collections.delete(weaviate_collection)
    weaviate_client.collections.create(
        weaviate_collection,
        properties=[
            Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.WORD)
            for name in ("detection_id", "device_id", "camera_id", "track_id", "label")
        ]
        + [Property(name="ts", data_type=DataType.DATE)],
    )

    with pytest.raises(CollectionMismatch, match="tokenization"):
        store.ensure_collection()


def test_a_collection_removed_behind_its_back_raises_collection_not_found(
    store: WeaviateVectorStore, weaviate_client: WeaviateClient, weaviate_collection: str
) -> None:
    store.ensure_collection()
    store.upsert([item("det-1", QUERY)])

    weaviate_client.collections.delete(weaviate_collection)

    for call in (store.count, lambda: store.query(QUERY), lambda: store.get("det-1")):
        with pytest.raises(CollectionNotFound, match=weaviate_collection):
            call()


class Relay:
    """Forwards a 127.0.0.1 port to another; ``stop()`` cuts every connection, as a crash does."""

    def __init__(self, target: int, port: int = 0) -> None:
        self._target = target
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # stop() closed the listener
            with self._lock:
                # A connection accepted while stop() ran must not outlive it.
                if self._stopped:
                    client.close()
                    return
                client.settimeout(None)
                upstream = socket.create_connection(("127.0.0.1", self._target))
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # the other direction or stop() closed the pair
        finally:
            for sock in (source, sink):
                sock.close()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._server.close()
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # already closed by its pipe
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def test_a_server_that_goes_away_fails_within_the_deadline_then_recovers(
    weaviate_server: WeaviateServer, weaviate_collection: str
) -> None:
    rest, grpc = Relay(weaviate_server.http_port), Relay(weaviate_server.grpc_port)
    server = WeaviateServer(url=f"http://127.0.0.1:{rest.port}", grpc_port=grpc.port)
    store = WeaviateVectorStore(
        settings_for(server, weaviate_collection, timeout_s=2.0), dimension=DIM
    )
    try:
        store.ensure_collection()
        store.upsert([item("det-1", QUERY)])
        rest.stop()
        grpc.stop()

        calls: list[Callable[[], object]] = [
            store.count,
            lambda: store.query(QUERY),
            lambda: store.get("det-1"),
            lambda: store.upsert([item("det-2", QUERY)]),
            lambda: store.delete(["det-1"]),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(VectorStoreUnavailable) as caught:
                call()
            # The deadline is 2 s; the rest is slack for a loaded test machine.
            assert time.monotonic() - started < 5.0, "a stopped server must not hang callers"
            assert not caught.value.permanent

        rest, grpc = (
            Relay(weaviate_server.http_port, rest.port),
            Relay(weaviate_server.grpc_port, grpc.port),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                assert store.count() == 1
                break
            except VectorStoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert [hit.detection_id for hit in store.query(QUERY, k=1)] == ["det-1"]
    finally:
        store.close()
        rest.stop()
        grpc.stop()
