"""Storing one `UploadRecordsRequest` (an event or a track summary), checking its wire contract.

`store_record` checks what the `sightline.device.v1` messages define (the key's seq, the fields
that must be set, valid timestamps, id and name grammar, known enum values) and calls the
service that stores the record, which checks the domain's rules once:

- ``event``: `record_event` (stored once per device and seq),
- ``track``: `record_track_summaries` (track created or its time span widened).

`store_track_summaries` stores a stream's summaries that arrive together in one transaction
(`record_track_summaries`); the stream stores a group holding an event one record at a time.

The device that sends the record is the authenticated one; the stream has already checked that
the record's key names it (`cloud.ingest.items`).

A summary's path is an extra for people: one that breaks its rules (more than
`MAX_PATH_POINTS` points, coordinates outside [0, 1], times out of order or outside the
summary's span) is dropped and logged, and the summary is stored without it, rather than its
time span being lost with it (the ack is per record).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from cloud.detections.services import NewTrackSummary, PathPoint, record_track_summaries
from cloud.fleet.services import NewEvent, record_event
from cloud.ingest.items import StoreAlone
from cloud.ingest.wire import (
    MalformedMessage,
    optional_extra,
    require_set,
    sequence_number,
    timestamp,
)
from cloud.validators import (
    require,
    validate_attribute_key,
    validate_edge_name,
    validate_event_name,
    validate_uuid,
)
from sightline.device.v1 import event_pb2, key_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2

MAX_PATH_POINTS: Final = 256
"""Most points a kept path may have (the edge sends 64 by default)."""

_SEVERITIES: Final = frozenset(
    {
        event_pb2.EVENT_SEVERITY_INFO,
        event_pb2.EVENT_SEVERITY_WARNING,
        event_pb2.EVENT_SEVERITY_ERROR,
    }
)


def record_key(request: ingest_pb2.UploadRecordsRequest) -> key_pb2.MessageKey | None:
    """The key of the request's record; None when it holds no record or the record no key."""
    kind = request.WhichOneof("record")
    if kind is None:
        return None
    record: event_pb2.Event | track_pb2.TrackSummary = getattr(request, kind)
    return record.key if record.HasField("key") else None


def store_record(device_id: str, request: ingest_pb2.UploadRecordsRequest) -> bool:
    """Store the record for `device_id`; return False for a repeat. Raises `InvalidInput`."""
    kind = request.WhichOneof("record")
    if kind == "event":
        return record_event(device_id, _event(request.event))
    if kind == "track":
        (widened,) = record_track_summaries(device_id, [_track(request.track)])
        return widened
    raise MalformedMessage("record: must hold an event or a track")


def store_track_summaries(
    device_id: str, requests: Sequence[ingest_pb2.UploadRecordsRequest]
) -> list[bool]:
    """Store track summaries together for `device_id`; whether each widened its track.

    Raises `StoreAlone` when a request holds no summary, and whatever a summary's checks
    raise, having stored none of them.
    """
    if any(request.WhichOneof("record") != "track" for request in requests):
        raise StoreAlone("events are stored one by one")
    return record_track_summaries(device_id, [_track(request.track) for request in requests])


def _event(event: event_pb2.Event) -> NewEvent:
    require_set(event, "key")
    seq = sequence_number(event.key)
    require(validate_event_name, event.name, "name", MalformedMessage)
    if event.severity not in _SEVERITIES:
        raise MalformedMessage("severity: must be INFO, WARNING or ERROR")
    if event.camera_id:
        require(validate_edge_name, event.camera_id, "camera_id", MalformedMessage)
    for key in event.attributes:
        require(validate_attribute_key, key, "attributes key", MalformedMessage)
    return NewEvent(
        seq=seq,
        kind=event.name,
        ts=timestamp(event, "time"),
        severity=event_pb2.EventSeverity.Name(event.severity),
        camera_id=event.camera_id,
        message=event.message,
        attributes=dict(event.attributes),
    )


def _track(summary: track_pb2.TrackSummary) -> NewTrackSummary:
    require_set(summary, "key")
    sequence_number(summary.key)
    require(validate_edge_name, summary.camera_id, "camera_id", MalformedMessage)
    require(validate_uuid, summary.track_id, "track_id", MalformedMessage)
    if summary.best_detection_id:
        require(validate_uuid, summary.best_detection_id, "best_detection_id", MalformedMessage)
    # Written as "not (a <= b)" so that NaN fails too.
    if not (0 <= summary.best_score <= 1):
        raise MalformedMessage("best_score: must lie in [0, 1]")
    first_seen = timestamp(summary, "first_seen")
    last_seen = timestamp(summary, "last_seen")
    return NewTrackSummary(
        camera_id=summary.camera_id,
        track_id=summary.track_id,
        label=summary.label,
        first_seen=first_seen,
        last_seen=last_seen,
        path=optional_extra(
            lambda: _path(summary, first_seen, last_seen),
            (),
            what="path",
            item=f"track {summary.track_id}",
            context={"camera_id": summary.camera_id, "track_id": summary.track_id},
        ),
    )


def _path(
    summary: track_pb2.TrackSummary, first_seen: datetime, last_seen: datetime
) -> tuple[PathPoint, ...]:
    if len(summary.path) > MAX_PATH_POINTS:
        raise MalformedMessage(f"path: {len(summary.path)} points, over {MAX_PATH_POINTS}")
    points: list[PathPoint] = []
    for index, point in enumerate(summary.path):
        # Written so that NaN fails: every comparison with NaN is false.
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (point.x, point.y)):
            raise MalformedMessage(f"path[{index}]: x and y must lie in [0, 1]")
        time = timestamp(point, "time")
        if not first_seen <= time <= last_seen:
            raise MalformedMessage(f"path[{index}]: time outside first_seen..last_seen")
        if points and time < points[-1].time:
            raise MalformedMessage(f"path[{index}]: times must not go back")
        points.append(PathPoint(time, point.x, point.y))
    return tuple(points)
