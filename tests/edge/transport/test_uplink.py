from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr, ValidationError

from edge.transport.lane import Outcome
from edge.transport.outbox import Outbox, Row
from edge.transport.spool import enqueue_crop
from edge.transport.uplink import CropUplink, UplinkSettings
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.fake_ingest import FakeIngest, uplink_to

MakeCrop = Callable[[], ingest_pb2.UploadCropsRequest]


def spool(outbox: Outbox, make_crop: MakeCrop, count: int) -> list[Row]:
    for _ in range(count):
        enqueue_crop(outbox, make_crop())
    return outbox.peek("crop", count)


# Settings --------------------------------------------------------------------------------------


def test_settings_are_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        UplinkSettings(target="x:1", token=SecretStr("t"), retries=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="ca_file is set but tls is false"):
        UplinkSettings(target="x:1", token=SecretStr("t"), ca_file=__file__)  # type: ignore[arg-type]
    assert "s3cret" not in repr(UplinkSettings(target="x:1", token=SecretStr("s3cret")))


# Sending batches -------------------------------------------------------------------------------


def test_stored_crops_are_delivered_unchanged(
    outbox: Outbox, make_crop: MakeCrop, uplink: CropUplink, ingest: tuple[FakeIngest, int]
) -> None:
    rows = spool(outbox, make_crop, 3)
    result = uplink.send_batch(rows)
    assert result.error is None
    assert result.outcomes == {row.id: Outcome.DELIVERED for row in rows}
    server, _ = ingest
    assert [server.stored[row.key].SerializeToString() for row in rows] == [
        row.payload for row in rows
    ]


def test_every_ack_status_maps_to_its_outcome(
    outbox: Outbox, make_crop: MakeCrop, uplink: CropUplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    stored, duplicate, rejected, later = spool(outbox, make_crop, 4)
    server.stored[duplicate.key] = ingest_pb2.UploadCropsRequest()
    server.force[rejected.key] = ingest_pb2.ACK_STATUS_REJECTED_INVALID
    server.force[later.key] = ingest_pb2.ACK_STATUS_RETRY_LATER
    result = uplink.send_batch([stored, duplicate, rejected, later])
    assert result.outcomes == {
        stored.id: Outcome.DELIVERED,
        duplicate.id: Outcome.DUPLICATE,
        rejected.id: Outcome.REJECTED,
        later.id: Outcome.RETRY,
    }
    assert result.details == {rejected.id: "rejected by ingest"}
    assert result.error is None


def test_a_broken_stream_leaves_the_unacked_tail_unacked(
    outbox: Outbox, make_crop: MakeCrop, uplink: CropUplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    rows = spool(outbox, make_crop, 4)
    server.drop_before_ack.add(rows[1].key)
    result = uplink.send_batch(rows)
    assert result.outcomes[rows[0].id] is Outcome.DELIVERED
    assert [result.outcomes[row.id] for row in rows[1:]] == [Outcome.UNACKED] * 3
    assert result.error is not None
    assert not result.error.permanent
    assert "UNAVAILABLE" in str(result.error)


def test_a_wrong_token_is_a_permanent_error(
    outbox: Outbox, make_crop: MakeCrop, ingest: tuple[FakeIngest, int]
) -> None:
    server, port = ingest
    rows = spool(outbox, make_crop, 2)
    client = uplink_to(port, token="stolen")
    try:
        result = client.send_batch(rows)
    finally:
        client.close()
    assert result.error is not None
    assert result.error.permanent
    assert "UNAUTHENTICATED" in str(result.error)
    assert "stolen" not in str(result.error)
    assert set(result.outcomes.values()) == {Outcome.UNACKED}
    assert server.stored == {}


def test_a_suspended_device_is_a_permanent_error(
    outbox: Outbox, make_crop: MakeCrop, uplink: CropUplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    rows = spool(outbox, make_crop, 2)
    server.denied_devices.add(make_crop().device_id)
    result = uplink.send_batch(rows)
    assert result.error is not None
    assert result.error.permanent
    assert "PERMISSION_DENIED" in str(result.error)
    assert set(result.outcomes.values()) == {Outcome.UNACKED}


def test_an_unreachable_server_is_transient(outbox: Outbox, make_crop: MakeCrop) -> None:
    rows = spool(outbox, make_crop, 1)
    client = uplink_to(1)  # nothing listens on port 1
    try:
        result = client.send_batch(rows)
    finally:
        client.close()
    assert result.error is not None
    assert not result.error.permanent
    assert "UNAVAILABLE" in str(result.error)
    assert result.outcomes == {rows[0].id: Outcome.UNACKED}


def test_a_slow_server_trips_the_deadline(
    outbox: Outbox, make_crop: MakeCrop, ingest: tuple[FakeIngest, int]
) -> None:
    server, port = ingest
    server.delay_s = 1.0
    rows = spool(outbox, make_crop, 2)
    client = uplink_to(port, deadline_s=0.3)
    try:
        result = client.send_batch(rows)
    finally:
        client.close()
    assert result.error is not None
    assert not result.error.permanent
    assert "DEADLINE_EXCEEDED" in str(result.error)
    assert set(result.outcomes.values()) == {Outcome.UNACKED}


def test_rows_that_can_never_be_sent_are_rejected_locally(
    outbox: Outbox, make_crop: MakeCrop, ingest: tuple[FakeIngest, int]
) -> None:
    server, port = ingest
    garbage = outbox.put("crop", "garbage", b"\xff\xff not protobuf")
    big = make_crop()
    big.jpeg = bytes(2048)
    big_id = enqueue_crop(outbox, big)
    client = CropUplink(
        UplinkSettings(
            target=f"127.0.0.1:{port}",
            token=SecretStr(server.token),
            max_message_bytes=1024,
        )
    )
    try:
        result = client.send_batch(outbox.peek("crop", 10))
    finally:
        client.close()
    assert result.outcomes == {garbage: Outcome.REJECTED, big_id: Outcome.REJECTED}
    assert result.details[garbage] == "spooled payload is not an UploadCropsRequest"
    assert "exceed max_message_bytes 1024" in result.details[big_id]
    assert server.calls == 0  # nothing worth a call
