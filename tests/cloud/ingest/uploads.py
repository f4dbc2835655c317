"""Upload requests as an edge device builds them (real vtest.avi crops, events, track
summaries), and a client."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.message import Message

from sightline.common.v1 import model_pb2
from sightline.device.v1 import event_pb2, key_pb2, track_pb2
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
    _changed(request, changes)
    return request


def _changed(message: Message, changes: dict[str, object]) -> None:
    for name, value in changes.items():
        if value is None:
            message.ClearField(name)
        elif isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        elif isinstance(value, dict):  # a map field, replaced as a whole
            getattr(message, name).clear()
            getattr(message, name).update(value)
        else:
            setattr(message, name, value)


def event_request(
    seq: int, *, device_id: str = "gate-01", **changes: object
) -> ingest_pb2.UploadRecordsRequest:
    """An event record as the edge uploads it: a camera went quiet."""
    event = event_pb2.Event(
        key=key_pb2.MessageKey(device_id=device_id, seq=seq),
        name="camera.disconnected",
        severity=event_pb2.EVENT_SEVERITY_WARNING,
        camera_id="lobby",
        message="no frames for 10 s",
        attributes={"retry_in_s": "5"},
    )
    event.time.FromDatetime(FRAME_TIME)
    _changed(event, changes)
    return ingest_pb2.UploadRecordsRequest(event=event)


def track_request(
    seq: int,
    track_id: str,
    *,
    device_id: str = "gate-01",
    seen_s: float = 10.0,
    **changes: object,
) -> ingest_pb2.UploadRecordsRequest:
    """A track summary record: a person seen for `seen_s` seconds from FRAME_TIME."""
    summary = track_pb2.TrackSummary(
        key=key_pb2.MessageKey(device_id=device_id, seq=seq),
        track_id=track_id,
        camera_id="lobby",
        label="person",
        best_score=0.8,
        box_count=25,
    )
    summary.first_seen.FromDatetime(FRAME_TIME)
    summary.last_seen.FromDatetime(FRAME_TIME + timedelta(seconds=seen_s))
    _changed(summary, changes)
    return ingest_pb2.UploadRecordsRequest(track=summary)


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

    def upload_records(
        self, requests: Sequence[ingest_pb2.UploadRecordsRequest], token: str
    ) -> list[ingest_pb2.UploadRecordsResponse]:
        """Send `requests` with UploadRecords on one stream as `token`'s device; return the acks."""
        call = self.stub.UploadRecords(
            iter(requests), timeout=DEADLINE_S, metadata=(("authorization", f"Bearer {token}"),)
        )
        return list(call)
