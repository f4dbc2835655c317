"""UploadRecords over a real gRPC server: events and track summaries, one ack per record."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from unittest import mock

import grpc
import pytest
from django.db import DataError, IntegrityError, OperationalError, ProgrammingError
from google.protobuf.timestamp_pb2 import Timestamp

from cloud.detections.models import Track
from cloud.fleet.models import Device, DeviceEvent, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest import records
from cloud.ingest.credentials import issue_token
from sightline.device.v1 import event_pb2, key_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.faults import failing_first
from tests.cloud.ingest.uploads import FRAME_TIME, Ingest, event_request, track_request

STORED = ingest_pb2.ACK_STATUS_STORED
DUPLICATE = ingest_pb2.ACK_STATUS_DUPLICATE
REJECTED = ingest_pb2.ACK_STATUS_REJECTED_INVALID
RETRY_LATER = ingest_pb2.ACK_STATUS_RETRY_LATER
TRACK_ID = "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b"


def acks(responses: list[ingest_pb2.UploadRecordsResponse]) -> list[tuple[int, int]]:
    return [(ack.seq, ack.status) for ack in responses]


def test_an_event_is_stored_once_per_seq(ingest: Ingest, token: str) -> None:
    first = ingest.upload_records([event_request(7), event_request(8)], token)
    assert acks(first) == [(7, STORED), (8, STORED)]
    assert [ack.message for ack in first] == ["", ""]
    # The edge lost the acks and sends both again, on a new stream and twice in one.
    again = ingest.upload_records([event_request(7), event_request(8), event_request(8)], token)
    assert acks(again) == [(7, DUPLICATE), (8, DUPLICATE), (8, DUPLICATE)]
    stored = DeviceEvent.objects.get(seq=7)
    assert (stored.device_id, stored.kind, stored.ts) == (
        "gate-01",
        "camera.disconnected",
        FRAME_TIME,
    )
    assert stored.payload == {
        "severity": "EVENT_SEVERITY_WARNING",
        "camera_id": "lobby",
        "message": "no frames for 10 s",
        "attributes": {"retry_in_s": "5"},
    }
    assert DeviceEvent.objects.count() == 2


def test_track_summaries_create_the_track_and_widen_its_span(ingest: Ingest, token: str) -> None:
    requests = [
        track_request(3, TRACK_ID, seen_s=10),
        track_request(4, TRACK_ID, seen_s=30, label="car"),
        # A repeat of the older summary, after the newer one: it shrinks nothing.
        track_request(3, TRACK_ID, seen_s=10),
        track_request(4, TRACK_ID, seen_s=30, label="car"),
    ]
    assert acks(ingest.upload_records(requests, token)) == [
        (3, STORED),
        (4, STORED),
        (3, DUPLICATE),
        (4, DUPLICATE),
    ]
    track = Track.objects.get()
    assert (track.id, track.camera.edge_id, track.label) == (TRACK_ID, "lobby", "person")
    assert (track.first_seen, track.last_seen) == (FRAME_TIME, FRAME_TIME + timedelta(seconds=30))


def path(*points: tuple[float, float, float]) -> list[track_pb2.PathPoint]:
    """Path points from (seconds after FRAME_TIME, x, y)."""
    wire = []
    for seconds, x, y in points:
        point = track_pb2.PathPoint(x=x, y=y)
        point.time.FromDatetime(FRAME_TIME + timedelta(seconds=seconds))
        wire.append(point)
    return wire


def with_path(
    request: ingest_pb2.UploadRecordsRequest, points: list[track_pb2.PathPoint]
) -> ingest_pb2.UploadRecordsRequest:
    request.track.path.extend(points)
    return request


def test_the_latest_summarys_path_is_the_tracks(ingest: Ingest, token: str) -> None:
    early = with_path(track_request(1, TRACK_ID, seen_s=5), path((0, 0.1, 0.5), (5, 0.2, 0.5)))
    later = with_path(
        track_request(2, TRACK_ID, seen_s=9), path((0, 0.1, 0.5), (5, 0.2, 0.5), (9, 0.4, 0.6))
    )
    assert acks(ingest.upload_records([early, later, early], token)) == [
        (1, STORED),
        (2, STORED),
        (1, DUPLICATE),  # older than the track: its shorter path is not taken back
    ]
    start = FRAME_TIME.timestamp()
    # float32 on the wire, hence approx.
    assert Track.objects.get().path == [
        pytest.approx([start, 0.1, 0.5]),
        pytest.approx([start + 5, 0.2, 0.5]),
        pytest.approx([start + 9, 0.4, 0.6]),
    ]


@pytest.mark.parametrize(
    "points",
    [
        path(*[(i / 100, 0.5, 0.5) for i in range(records.MAX_PATH_POINTS + 1)]),
        path((0, 0.5, 1.5)),
        path((0, float("nan"), 0.5)),
        path((11, 0.5, 0.5)),  # after last_seen
        path((-1, 0.5, 0.5)),  # before first_seen
        path((5, 0.5, 0.5), (4, 0.5, 0.5)),  # back in time
    ],
)
def test_a_summary_with_a_broken_path_is_stored_without_it(
    ingest: Ingest, token: str, points: list[track_pb2.PathPoint], caplog: pytest.LogCaptureFixture
) -> None:
    request = with_path(track_request(1, TRACK_ID, seen_s=10), points)
    assert acks(ingest.upload_records([request], token)) == [(1, STORED)]
    track = Track.objects.get()
    assert (track.last_seen, track.path) == (FRAME_TIME + timedelta(seconds=10), [])
    assert any("path dropped, kept without it" in r.getMessage() for r in caplog.records)


def test_events_and_summaries_share_one_stream(ingest: Ingest, token: str) -> None:
    requests = [event_request(1), track_request(2, TRACK_ID), event_request(3)]
    assert acks(ingest.upload_records(requests, token)) == [(1, STORED), (2, STORED), (3, STORED)]


def test_the_same_seq_of_another_device_is_its_own_record(ingest: Ingest, token: str) -> None:
    other = Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    assert acks(ingest.upload_records([event_request(7)], token)) == [(7, STORED)]
    theirs = event_request(7, device_id=other.id, name="model.loaded")
    # Keys are per device: gate-02's seq 7 is no repeat of gate-01's.
    assert acks(ingest.upload_records([theirs], issue_token(other.id))) == [(7, STORED)]
    assert sorted(DeviceEvent.objects.values_list("device_id", "kind")) == [
        ("gate-01", "camera.disconnected"),
        ("gate-02", "model.loaded"),
    ]


def test_a_summary_of_another_devices_track_is_rejected(ingest: Ingest, token: str) -> None:
    other = Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    assert acks(ingest.upload_records([track_request(3, TRACK_ID)], token)) == [(3, STORED)]
    theirs = track_request(3, TRACK_ID, device_id=other.id, seen_s=60)
    (ack,) = ingest.upload_records([theirs], issue_token(other.id))
    assert (ack.seq, ack.status) == (3, REJECTED)
    assert "gate-01" not in ack.message
    assert Track.objects.get().last_seen == FRAME_TIME + timedelta(seconds=10)


def test_a_record_of_another_device_fails_the_stream(ingest: Ingest, token: str) -> None:
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    requests = [event_request(1), event_request(2, device_id="gate-02")]
    call = ingest.stub.UploadRecords(
        iter(requests), timeout=10, metadata=(("authorization", f"Bearer {token}"),)
    )
    answered: list[ingest_pb2.UploadRecordsResponse] = []
    with pytest.raises(grpc.RpcError) as raised:
        answered.extend(call)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "gate-02" in (raised.value.details() or "")
    assert acks(answered) == [(1, STORED)]
    assert list(DeviceEvent.objects.values_list("device_id", "seq")) == [("gate-01", 1)]


def test_it_refuses_calls_without_a_valid_token(ingest: Ingest, token: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        ingest.upload_records([event_request(1)], "not-a-token")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not DeviceEvent.objects.exists()


def _without_key() -> ingest_pb2.UploadRecordsRequest:
    request = event_request(5)
    request.event.ClearField("key")
    return request


INVALID: Mapping[str, Callable[[], ingest_pb2.UploadRecordsRequest]] = {
    "no record": ingest_pb2.UploadRecordsRequest,
    "record without a key": _without_key,
    "seq 0": lambda: event_request(0),
    "seq beyond a bigint": lambda: event_request(2**63),
    "largest seq": lambda: event_request(2**64 - 1),
    "no time": lambda: event_request(5, time=None),
    "time past year 9999": lambda: event_request(5, time=Timestamp(seconds=2**40)),
    "time before 1970": lambda: event_request(5, time=Timestamp(seconds=-1)),
    "time after 2200": lambda: event_request(5, time=Timestamp(seconds=7_258_118_400)),
    "nanos out of range": lambda: event_request(5, time=Timestamp(seconds=1, nanos=2 * 10**9)),
    "empty name": lambda: event_request(5, name=""),
    "name with NUL": lambda: event_request(5, name="camera\x00.x"),
    "name too long": lambda: event_request(5, name="a" * 65),
    "name in upper case": lambda: event_request(5, name="Camera.Lost"),
    "unknown severity": lambda: event_request(5, severity=9),
    "no severity": lambda: event_request(5, severity=0),
    "camera id with a slash": lambda: event_request(5, camera_id="lobby/2"),
    "message with NUL": lambda: event_request(5, message="lost\x00"),
    "message too long": lambda: event_request(5, message="x" * 4097),
    "too many attributes": lambda: event_request(5, attributes={f"k{i}": "v" for i in range(33)}),
    "attribute key with NUL": lambda: event_request(5, attributes={"a\x00": "v"}),
    "attribute key not lower_snake": lambda: event_request(5, attributes={"Retry In": "5"}),
    "attribute value with NUL": lambda: event_request(5, attributes={"a": "\x00"}),
    "attribute value too long": lambda: event_request(5, attributes={"a": "v" * 1025}),
    "track id not a UUID": lambda: track_request(5, "lobby/17"),
    "track id in upper case": lambda: track_request(5, TRACK_ID.upper()),
    "track without camera": lambda: track_request(5, TRACK_ID, camera_id=""),
    "track label with NUL": lambda: track_request(5, TRACK_ID, label="per\x00son"),
    "track label too long": lambda: track_request(5, TRACK_ID, label="p" * 65),
    "track ends before it starts": lambda: track_request(5, TRACK_ID, seen_s=-1),
    "track time out of range": lambda: track_request(
        5, TRACK_ID, last_seen=Timestamp(seconds=2**40)
    ),
    "best score NaN": lambda: track_request(5, TRACK_ID, best_score=float("nan")),
    "best detection not a UUID": lambda: track_request(5, TRACK_ID, best_detection_id="crop-1"),
}


@pytest.mark.parametrize("make", INVALID.values(), ids=INVALID.keys())
def test_it_rejects_an_invalid_record_and_goes_on(
    make: Callable[[], ingest_pb2.UploadRecordsRequest], ingest: Ingest, token: str
) -> None:
    request = make()
    bad, good = ingest.upload_records([request, event_request(99)], token)
    assert bad.status == REJECTED
    assert bad.message
    which = request.WhichOneof("record")
    expected_seq = getattr(request, which).key.seq if which else 0
    assert bad.seq == expected_seq
    assert (good.seq, good.status) == (99, STORED)
    assert list(DeviceEvent.objects.values_list("seq", flat=True)) == [99]
    assert not Track.objects.exists()


def test_an_event_of_an_unknown_kind_and_no_camera_is_stored(ingest: Ingest, token: str) -> None:
    # A newer agent's event kind; device-wide, so without a camera.
    request = event_request(
        5,
        name="outbox.dead_lettered",
        severity=event_pb2.EVENT_SEVERITY_ERROR,
        camera_id="",
        attributes={"lane": "crop", "rows": "3"},
    )
    assert acks(ingest.upload_records([request], token)) == [(5, STORED)]
    assert DeviceEvent.objects.get().payload["severity"] == "EVENT_SEVERITY_ERROR"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DataError("value too long for type character varying(64)"), REJECTED),
        (IntegrityError("violates foreign key constraint"), REJECTED),
        (OperationalError("server closed the connection unexpectedly"), RETRY_LATER),
        (ProgrammingError('relation "fleet_deviceevent" does not exist'), RETRY_LATER),
    ],
    ids=["data error", "integrity error", "connection lost", "missing table"],
)
def test_database_errors_are_classified_per_record(
    ingest: Ingest, token: str, error: Exception, status: int
) -> None:
    fails_once = failing_first(error, records.record_event)
    with mock.patch("cloud.ingest.records.record_event", fails_once):
        answered = ingest.upload_records([event_request(1), event_request(2)], token)
    # The failed record gets its own answer and the next one is stored all the same.
    assert acks(answered) == [(1, status), (2, STORED)]
    # Database texts may name hosts and tables: the edge gets a generic message.
    assert str(error) not in answered[0].message


def test_a_key_is_answered_with_the_seq_it_carries(ingest: Ingest, token: str) -> None:
    request = event_request(5)
    request.event.key.CopyFrom(key_pb2.MessageKey(device_id="gate-01", seq=2**62))
    assert acks(ingest.upload_records([request], token)) == [(2**62, STORED)]


def test_a_new_track_id_per_request_stores_each(ingest: Ingest, token: str) -> None:
    requests = [track_request(seq, str(uuid.uuid4())) for seq in (1, 2, 3)]
    assert [a.status for a in ingest.upload_records(requests, token)] == [STORED] * 3
    assert Track.objects.count() == 3


def test_a_summary_the_database_refuses_is_refused_alone(ingest: Ingest, token: str) -> None:
    # Summaries that arrive together are stored in one transaction; one the database refuses
    # fails it, and then each is stored alone with its own answer.
    bad = str(uuid.uuid4())
    real = records.record_track_summaries

    def refusing(device_id: str, summaries: list[Any]) -> list[bool]:
        if any(summary.track_id == bad for summary in summaries):
            raise DataError("value too long for type character varying(64)")
        return real(device_id, summaries)

    requests = [track_request(1, TRACK_ID), track_request(2, bad), track_request(3, TRACK_ID)]
    with mock.patch("cloud.ingest.records.record_track_summaries", refusing):
        answered = ingest.upload_records(requests, token)
    assert acks(answered) == [(1, STORED), (2, REJECTED), (3, DUPLICATE)]
    assert list(Track.objects.values_list("id", flat=True)) == [TRACK_ID]
