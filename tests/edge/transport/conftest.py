from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.crops.image import cut, encode_jpeg, pixel_rect
from edge.geometry import Box
from edge.transport.outbox import Outbox, OutboxSettings
from edge.transport.uplink import CropUplink, build_crop_request
from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.fake_ingest import FakeIngest, create_server, uplink_to
from tests.footage.clips import VTEST, source

# The man standing on the grass in the first frame of vtest.avi (768x576).
PERSON = Box(248.0, 216.0, 288.0, 310.0)
FRAME_WIDTH, FRAME_HEIGHT = 768, 576
DEVICE = "test-device-1"


@pytest.fixture(scope="session")
def person_jpeg() -> bytes:
    """A real crop: the padded person box of vtest.avi frame 0, JPEG-encoded."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok, "vtest.avi did not decode"
    image = np.asarray(frame, dtype=np.uint8)
    assert image.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    return encode_jpeg(cut(image, pixel_rect(PERSON, FRAME_WIDTH, FRAME_HEIGHT, 0.1)), 90)


@pytest.fixture
def make_crop(person_jpeg: bytes) -> Callable[[], ingest_pb2.UploadCropsRequest]:
    """Builds a new crop request (new detection id each call) around the real JPEG."""

    def make() -> ingest_pb2.UploadCropsRequest:
        return build_crop_request(
            device_id=DEVICE,
            camera_id="cam-1",
            track_id="0190c0de-0000-7000-8000-000000000001",
            frame_time=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            box=PERSON,
            crop_box=pixel_rect(PERSON, FRAME_WIDTH, FRAME_HEIGHT, 0.1),
            frame_width=FRAME_WIDTH,
            frame_height=FRAME_HEIGHT,
            label="person",
            score=0.87,
            jpeg=person_jpeg,
            model=model_pb2.ModelRef(name="nanodet-g", version="1"),
        )

    return make


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
def uplink(ingest: tuple[FakeIngest, int]) -> Iterator[CropUplink]:
    client = uplink_to(ingest[1])
    try:
        yield client
    finally:
        client.close()
