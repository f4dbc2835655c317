"""Queuing wire messages: records get a fresh MessageKey, crops are keyed by detection id."""

from __future__ import annotations

from collections.abc import Callable

from edge.transport.outbox import Outbox
from edge.transport.spool import enqueue_crop, enqueue_record
from sightline.device.v1 import event_pb2, key_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2


def test_enqueue_record_stamps_a_fresh_key_and_names_the_record_type(outbox: Outbox) -> None:
    first = event_pb2.Event(name="camera.disconnected", camera_id="cam-1")
    second = track_pb2.TrackSummary(track_id="t-1", camera_id="cam-1")
    enqueue_record(outbox, "box-1", first)
    enqueue_record(outbox, "box-1", second)
    rows = outbox.peek("record", 10)
    seq = first.key.seq
    assert [(row.key, row.type) for row in rows] == [
        (f"box-1:{seq}", "event"),
        (f"box-1:{seq + 1}", "track"),
    ]
    spooled = event_pb2.Event.FromString(rows[0].payload)
    assert spooled.key == key_pb2.MessageKey(device_id="box-1", seq=seq)
    assert spooled.name == "camera.disconnected"
    assert track_pb2.TrackSummary.FromString(rows[1].payload).key.seq == seq + 1


def test_a_crop_is_spooled_once_under_its_detection_id(
    outbox: Outbox, make_crop: Callable[[], ingest_pb2.UploadCropsRequest]
) -> None:
    request = make_crop()
    first = enqueue_crop(outbox, request)
    assert enqueue_crop(outbox, request) == first  # a repeat stores nothing
    (row,) = outbox.peek("crop", 10)
    assert (row.id, row.key, row.type) == (first, request.detection_id, "crop")
    assert ingest_pb2.UploadCropsRequest.FromString(row.payload) == request
