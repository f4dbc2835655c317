"""How the ingest server listens: a port shared with other processes only when told to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from unittest import mock

import grpc
import pytest

from cloud.ingest.server import IngestDeps, create_server
from cloud.lib.objectstore import ObjectStore


@pytest.fixture
def build(objects: ObjectStore) -> Iterator[Callable[..., tuple[grpc.Server, int]]]:
    """`build(address, share_port=...)`: a server created (not started) on `address`."""
    built: list[tuple[grpc.Server, IngestDeps]] = []

    def make(address: str, *, share_port: bool) -> tuple[grpc.Server, int]:
        deps = IngestDeps(objects=objects, authenticate=mock.Mock(), share_port=share_port)
        server, port = create_server(address, deps)
        built.append((server, deps))
        return server, port

    yield make
    for server, deps in built:
        server.stop(grace=None).wait()
        deps.puts.shutdown()


def test_servers_told_to_share_a_port_both_listen_on_it(
    build: Callable[..., tuple[grpc.Server, int]],
) -> None:
    first, port = build("127.0.0.1:0", share_port=True)
    first.start()
    second, second_port = build(f"127.0.0.1:{port}", share_port=True)
    second.start()
    assert second_port == port


def test_a_second_server_on_a_port_in_use_fails_unless_told_to_share(
    build: Callable[..., tuple[grpc.Server, int]],
) -> None:
    first, port = build("127.0.0.1:0", share_port=True)
    first.start()
    with pytest.raises((OSError, RuntimeError)):
        build(f"127.0.0.1:{port}", share_port=False)
