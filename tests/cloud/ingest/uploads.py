"""Upload requests for real vtest.avi crops, as an edge device builds them, and a client."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.message import Message

from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.cloud.ingest.footage import FRAME_HEIGHT, FRAME_WIDTH, OBJECTS, VtestObject, crop_jpeg

DEADLINE_S = 10.0
FRAME_TIME = datetime(2026, 11, 21, 9, 30, 12, 400000, tzinfo=UTC)


def crop_request(
    item: VtestObject = OBJECTS[0], *, device_id: str = "gate-01", **changes: object
) -> ingest_pb2.UploadCropsRequest:
    """The upload an edge makes for `item` (a real vtest.avi crop), with a fresh UUIDv7-like id."""
    x1, y1, x2, y2 = item.box
    box = ingest_pb2.BoundingBox(
        x_min=x1 / FRAME_WIDTH,
        y_min=y1 / FRAME_HEIGHT,
        x_max=x2 / FRAME_WIDTH,
        y_max=y2 / FRAME_HEIGHT,
    )
    request = ingest_pb2.UploadCropsRequest(
        detection_id=str(uuid.uuid4()),
        device_id=device_id,
        camera_id="lobby",
        track_id=str(uuid.uuid4()),
        box=box,
        label=item.label,
        score=0.82,
        frame_size=ingest_pb2.FrameSize(width=FRAME_WIDTH, height=FRAME_HEIGHT),
        crop_box=box,
        jpeg=crop_jpeg(item),
        model=model_pb2.ModelRef(name="nanodet-g", version="1"),
    )
    request.frame_time.FromDatetime(FRAME_TIME)
    for name, value in changes.items():
        if isinstance(value, Message):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


@dataclass
class Ingest:
    """A running server and a client stub for it."""

    stub: ingest_pb2_grpc.IngestServiceStub
    channel: grpc.Channel

    def upload(
        self, requests: Sequence[ingest_pb2.UploadCropsRequest], token: str
    ) -> list[ingest_pb2.UploadCropsResponse]:
        """Send `requests` on one stream as `token`'s device; return the acks."""
        call = self.stub.UploadCrops(
            iter(requests), timeout=DEADLINE_S, metadata=(("authorization", f"Bearer {token}"),)
        )
        return list(call)
