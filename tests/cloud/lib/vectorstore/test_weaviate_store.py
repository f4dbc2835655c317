"""Failure paths of the Weaviate store that need no Weaviate: down, silent, SDK missing."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import grpc
import httpx
import pydantic
import pytest
from pydantic import AnyHttpUrl
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBatchError,
    WeaviateQueryError,
)

from cloud.lib.vectorstore import (
    BackendUnavailable,
    CollectionNotFound,
    VectorStoreAuthError,
    VectorStoreError,
    VectorStoreUnavailable,
)
from cloud.lib.vectorstore.weaviate_store import (
    WeaviateVectorStore,
    WeaviateVectorStoreSettings,
    _translate,
)

SETTINGS = WeaviateVectorStoreSettings(
    url=AnyHttpUrl("http://127.0.0.1:1"), grpc_port=2, collection="Test"
)


def _listener(backlog: int | None) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if backlog is not None:
        sock.listen(backlog)
    return sock


@pytest.fixture
def closed_ports() -> tuple[int, int]:
    """Two ports nothing listens on (bound, then released)."""
    with _listener(None) as rest, _listener(None) as grpc_sock:
        return rest.getsockname()[1], grpc_sock.getsockname()[1]


@pytest.fixture
def silent_ports() -> Iterator[tuple[int, int]]:
    """Two ports whose listeners complete TCP handshakes but never read or answer."""
    with _listener(16) as rest, _listener(16) as grpc_sock:
        yield rest.getsockname()[1], grpc_sock.getsockname()[1]


def store_at(ports: tuple[int, int], timeout_s: float) -> WeaviateVectorStore:
    settings = WeaviateVectorStoreSettings(
        url=AnyHttpUrl(f"http://127.0.0.1:{ports[0]}"),
        grpc_port=ports[1],
        collection="Down",
        timeout_s=timeout_s,
    )
    return WeaviateVectorStore(settings, dimension=4)


def test_a_stopped_server_fails_fast_with_a_transient_error(closed_ports: tuple[int, int]) -> None:
    store = store_at(closed_ports, timeout_s=5.0)
    try:
        for _ in range(2):  # the next call tries to connect again
            started = time.monotonic()
            with pytest.raises(
                VectorStoreUnavailable, match=f"127.0.0.1:{closed_ports[0]}"
            ) as caught:
                store.ensure_collection()
            assert time.monotonic() - started < 2.0
            assert not caught.value.permanent
    finally:
        store.close()


def test_a_server_that_never_answers_fails_at_the_deadline(
    silent_ports: tuple[int, int],
) -> None:
    store = store_at(silent_ports, timeout_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(VectorStoreUnavailable, match=r"within 0\.5 s") as caught:
            store.ensure_collection()
        elapsed = time.monotonic() - started
    finally:
        store.close()

    assert 0.4 < elapsed < 2.0
    assert not caught.value.permanent


def test_building_the_store_does_no_network_io(closed_ports: tuple[int, int]) -> None:
    store = store_at(closed_ports, timeout_s=5.0)
    store.close()
    store.close()

    with pytest.raises(VectorStoreError, match="closed"):
        store.ensure_collection()


def test_settings_refuse_the_same_port_for_rest_and_grpc() -> None:
    with pytest.raises(pydantic.ValidationError, match="grpc_port must differ"):
        WeaviateVectorStoreSettings(url=AnyHttpUrl("http://127.0.0.1:8080"), grpc_port=8080)


def test_a_missing_sdk_is_reported_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weaviate", None)

    with pytest.raises(BackendUnavailable, match="cloud"):
        WeaviateVectorStore(SETTINGS, dimension=4)


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def _raised_from(error: Exception, cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException:
            raise error  # noqa: B904  (the SDK raises this way; __context__ carries the cause)
    except Exception as raised:
        return raised


def _status_error(status: int) -> UnexpectedStatusCodeError:
    request = httpx.Request("POST", "http://w/v1/schema")
    return UnexpectedStatusCodeError("schema", httpx.Response(status, json={}, request=request))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            _raised_from(
                WeaviateQueryError("x", "GRPC search"), _RpcError(grpc.StatusCode.UNAVAILABLE)
            ),
            VectorStoreUnavailable,
        ),
        (
            _raised_from(WeaviateBatchError("x"), _RpcError(grpc.StatusCode.DEADLINE_EXCEEDED)),
            VectorStoreUnavailable,
        ),
        (_status_error(503), VectorStoreUnavailable),
        (_status_error(429), VectorStoreUnavailable),
        (_status_error(401), VectorStoreAuthError),
        (_status_error(422), VectorStoreError),
        (
            _raised_from(
                WeaviateQueryError("vector lengths don't match: 4 vs 5", "GRPC search"),
                _RpcError(grpc.StatusCode.UNKNOWN),
            ),
            VectorStoreError,
        ),
        (
            WeaviateQueryError("could not find class Test in schema", "GRPC search"),
            CollectionNotFound,
        ),
    ],
)
def test_sdk_errors_map_to_transient_only_when_retrying_can_help(
    error: Exception, expected: type[VectorStoreError]
) -> None:
    translated = _translate(error, "query", SETTINGS)

    assert type(translated) is expected
    assert translated.permanent is (expected is not VectorStoreUnavailable)
