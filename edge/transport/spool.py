"""Queuing wire messages in the outbox under the keys that make every re-send idempotent.

- `enqueue_record`: a record (an `Event` or a `TrackSummary`), stamped with its MessageKey
  (device, next persisted seq) and spooled under the key `<device>:<seq>`;
- `enqueue_crop`: an `UploadCropsRequest`, spooled under its detection id.

Each key is made once, here, so every re-upload of the row is byte-identical and the cloud drops
repeats (docs/architecture.md, "Identity and idempotency").
"""

from __future__ import annotations

from edge.transport.outbox import Outbox, RecordType
from sightline.device.v1 import event_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2

_RECORD_TYPES: dict[type[event_pb2.Event | track_pb2.TrackSummary], RecordType] = {
    event_pb2.Event: "event",
    track_pb2.TrackSummary: "track",
}


def enqueue_record(
    outbox: Outbox, device_id: str, record: event_pb2.Event | track_pb2.TrackSummary
) -> int:
    """Stamp `record.key` with (device, next seq) and spool it; returns the row id.

    The message is modified in place.
    """
    record_type = _RECORD_TYPES[type(record)]
    seq = outbox.next_seq(device_id)
    record.key.device_id = device_id
    record.key.seq = seq
    return outbox.put(record_type, f"{device_id}:{seq}", record.SerializeToString())


def enqueue_crop(outbox: Outbox, request: ingest_pb2.UploadCropsRequest) -> int:
    """Spool a crop for upload (keyed by its detection id) and return the row id."""
    return outbox.put("crop", request.detection_id, request.SerializeToString())
