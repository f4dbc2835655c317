"""A real ingest gRPC server on a free port, over the test database and a local object store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import grpc
import pytest

from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest.credentials import issue_token
from cloud.ingest.server import IngestDeps, create_server
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2_grpc
from tests.cloud.ingest.uploads import Ingest


@pytest.fixture
def device(transactional_db: None) -> Device:
    """A provisioned device; committed, because the server's threads read it."""
    return Device.objects.create(
        id="gate-01",
        name="Gate 1",
        site=ensure_site("hq"),
        hardware_profile=HardwareProfile.X86_CPU,
    )


@pytest.fixture
def token(device: Device) -> str:
    """An ingest token of `device`."""
    return issue_token(device.id)


@pytest.fixture
def enqueued() -> Iterator[mock.MagicMock]:
    """The embed task as the ingest service calls it, with `.delay` recording instead of sending."""
    with mock.patch("cloud.ingest.embedding_batch.embed_detections") as task:
        yield task


@pytest.fixture
def start_ingest(
    transactional_db: None, enqueued: mock.MagicMock
) -> Iterator[Callable[..., Ingest]]:
    """Start a server with `IngestDeps(objects=..., **overrides)`; stopped after the test."""
    running: list[tuple[grpc.Server, grpc.Channel, IngestDeps]] = []

    def start(objects: ObjectStore, **overrides: Any) -> Ingest:
        deps = IngestDeps(objects=objects, **overrides)
        server, port = create_server("127.0.0.1:0", deps)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        running.append((server, channel, deps))
        return Ingest(ingest_pb2_grpc.IngestServiceStub(channel), channel)

    yield start
    for server, channel, deps in running:
        channel.close()
        server.stop(grace=None).wait()
        deps.puts.shutdown()


@pytest.fixture
def ingest(start_ingest: Callable[..., Ingest], objects: ObjectStore) -> Ingest:
    """A server over the local object store, with the default limits."""
    return start_ingest(objects)
