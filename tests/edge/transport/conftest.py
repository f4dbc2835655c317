from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge import wire
from edge.records import Crop
from edge.transport.outbox import Outbox, OutboxSettings
from edge.transport.uplink import Uplink
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.fake_ingest import FakeIngest, create_server, uplink_to

DEVICE = "test-device-1"


@pytest.fixture
def make_crop(person_crop: Callable[[], Crop]) -> Callable[[], ingest_pb2.UploadCropsRequest]:
    """Builds a new crop request (new detection id each call) around the real JPEG."""
    return lambda: wire.crop_request(person_crop(), device_id=DEVICE)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(OutboxSettings(path=tmp_path / "outbox.sqlite3")) as opened:
        yield opened


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, int]]:
    """A fake ingest server on a free port, and that port."""
    servicer = FakeIngest()
    server, port = create_server(servicer)
    try:
        yield servicer, port
    finally:
        server.stop(grace=None)


@pytest.fixture
def uplink(ingest: tuple[FakeIngest, int]) -> Iterator[Uplink]:
    client = uplink_to(ingest[1])
    try:
        yield client
    finally:
        client.close()
