"""The two gRPC lanes (crops, records) against a real in-process server: the ack rules, local
refusals, and TLS with certificates the test makes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr, ValidationError

from edge.transport.lane import Outcome
from edge.transport.outbox import Outbox, Row
from edge.transport.spool import enqueue_crop, enqueue_record
from edge.transport.uplink import Uplink, UplinkSettings
from sightline.device.v1 import event_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.certs import TestCa
from tests.edge.transport.conftest import DEVICE
from tests.edge.transport.fake_ingest import FakeIngest, create_server, record_of, uplink_to

MakeCrop = Callable[[], ingest_pb2.UploadCropsRequest]


def spool(outbox: Outbox, make_crop: MakeCrop, count: int) -> list[Row]:
    for _ in range(count):
        enqueue_crop(outbox, make_crop())
    return outbox.peek("crop", count)


def spool_records(outbox: Outbox, count: int) -> list[Row]:
    for n in range(count):
        if n % 2:
            enqueue_record(outbox, DEVICE, track_pb2.TrackSummary(track_id=f"t{n}", label="car"))
        else:
            enqueue_record(outbox, DEVICE, event_pb2.Event(name=f"camera.e{n}", camera_id="c"))
    return outbox.peek("record", count)


def seq_of(row: Row) -> str:
    return row.key.rsplit(":", 1)[1]


# Settings --------------------------------------------------------------------------------------


def test_settings_are_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        UplinkSettings(target="x:1", token=SecretStr("t"), retries=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="ca_file set but tls is false"):
        UplinkSettings(target="x:1", token=SecretStr("t"), tls=False, ca_file=__file__)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cert_file and key_file go together"):
        UplinkSettings(target="x:1", token=SecretStr("t"), tls=True, cert_file=__file__)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cert_file, key_file set but tls is false"):
        UplinkSettings(
            target="x:1",
            token=SecretStr("t"),
            tls=False,
            cert_file=__file__,  # type: ignore[arg-type]
            key_file=__file__,  # type: ignore[arg-type]
        )
    assert "s3cret" not in repr(UplinkSettings(target="x:1", token=SecretStr("s3cret")))


# Crops -----------------------------------------------------------------------------------------


def test_stored_crops_are_delivered_unchanged(
    outbox: Outbox, make_crop: MakeCrop, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    rows = spool(outbox, make_crop, 3)
    result = uplink.crops.send_batch(rows)
    assert result.error is None
    assert result.outcomes == {row.id: Outcome.DELIVERED for row in rows}
    server, _ = ingest
    assert [server.stored[row.key].SerializeToString() for row in rows] == [
        row.payload for row in rows
    ]


def test_every_ack_status_maps_to_its_outcome(
    outbox: Outbox, make_crop: MakeCrop, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    stored, duplicate, rejected, later = spool(outbox, make_crop, 4)
    server.stored[duplicate.key] = ingest_pb2.UploadCropsRequest()
    server.force[rejected.key] = ingest_pb2.ACK_STATUS_REJECTED_INVALID
    server.force[later.key] = ingest_pb2.ACK_STATUS_RETRY_LATER
    result = uplink.crops.send_batch([stored, duplicate, rejected, later])
    assert result.outcomes == {
        stored.id: Outcome.DELIVERED,
        duplicate.id: Outcome.DUPLICATE,
        rejected.id: Outcome.REJECTED,
        later.id: Outcome.RETRY,
    }
    assert result.details == {rejected.id: "rejected by ingest"}
    assert result.error is None


def test_a_broken_stream_leaves_the_unacked_tail_unacked(
    outbox: Outbox, make_crop: MakeCrop, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    rows = spool(outbox, make_crop, 4)
    server.drop_before_ack.add(rows[1].key)
    result = uplink.crops.send_batch(rows)
    assert result.outcomes[rows[0].id] is Outcome.DELIVERED
    assert [result.outcomes[row.id] for row in rows[1:]] == [Outcome.UNACKED] * 3
    assert result.error is not None
    assert not result.error.permanent
    assert "UploadCrops to 127.0.0.1" in str(result.error)
    assert "UNAVAILABLE" in str(result.error)


@pytest.mark.parametrize("lane", ["crops", "records"])
def test_a_wrong_token_is_a_permanent_error(
    outbox: Outbox, make_crop: MakeCrop, ingest: tuple[FakeIngest, int], lane: str
) -> None:
    server, port = ingest
    rows = spool(outbox, make_crop, 2) if lane == "crops" else spool_records(outbox, 2)
    client = uplink_to(port, token="stolen")
    try:
        result = getattr(client, lane).send_batch(rows)
    finally:
        client.close()
    assert result.error is not None
    assert result.error.permanent
    assert "UNAUTHENTICATED" in str(result.error)
    assert "stolen" not in str(result.error)
    assert set(result.outcomes.values()) == {Outcome.UNACKED}
    assert server.stored == {}
    assert server.records == {}


def test_a_suspended_device_is_a_permanent_error(
    outbox: Outbox, make_crop: MakeCrop, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    rows = spool(outbox, make_crop, 2)
    server.denied_devices.add(DEVICE)
    result = uplink.crops.send_batch(rows)
    assert result.error is not None
    assert result.error.permanent
    assert "PERMISSION_DENIED" in str(result.error)
    assert set(result.outcomes.values()) == {Outcome.UNACKED}


def test_an_unreachable_server_is_transient(outbox: Outbox, make_crop: MakeCrop) -> None:
    rows = spool(outbox, make_crop, 1)
    client = uplink_to(1)  # nothing listens on port 1
    try:
        result = client.crops.send_batch(rows)
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
        result = client.crops.send_batch(rows)
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
    client = uplink_to(port, max_message_bytes=1024)
    try:
        result = client.crops.send_batch(outbox.peek("crop", 10))
    finally:
        client.close()
    assert result.outcomes == {garbage: Outcome.REJECTED, big_id: Outcome.REJECTED}
    assert result.details[garbage] == "spooled payload is not an UploadCropsRequest"
    assert "exceed max_message_bytes 1024" in result.details[big_id]
    assert server.calls == 0  # nothing worth a call


# Records ---------------------------------------------------------------------------------------


def test_records_are_uploaded_as_the_type_their_row_names_and_acked_by_seq(
    outbox: Outbox, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    rows = spool_records(outbox, 4)
    result = uplink.records.send_batch(rows)
    assert result.error is None
    assert result.outcomes == {row.id: Outcome.DELIVERED for row in rows}
    for row in rows:
        request = server.records[seq_of(row)]
        assert request.WhichOneof("record") == row.type
        assert record_of(request).SerializeToString() == row.payload
        assert f"{record_of(request).key.device_id}:{record_of(request).key.seq}" == row.key


def test_every_record_ack_status_maps_to_its_outcome(
    outbox: Outbox, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    stored, duplicate, rejected, later, dropped = spool_records(outbox, 5)
    server.records[seq_of(duplicate)] = ingest_pb2.UploadRecordsRequest()
    server.force[seq_of(rejected)] = ingest_pb2.ACK_STATUS_REJECTED_INVALID
    server.force[seq_of(later)] = ingest_pb2.ACK_STATUS_RETRY_LATER
    server.drop_before_ack.add(seq_of(dropped))
    result = uplink.records.send_batch([stored, duplicate, rejected, later, dropped])
    assert result.outcomes == {
        stored.id: Outcome.DELIVERED,
        duplicate.id: Outcome.DUPLICATE,
        rejected.id: Outcome.REJECTED,
        later.id: Outcome.RETRY,
        dropped.id: Outcome.UNACKED,
    }
    assert result.error is not None
    assert "UploadRecords to 127.0.0.1" in str(result.error)
    assert not result.error.permanent


def test_record_rows_that_can_never_be_sent_are_rejected_locally(
    outbox: Outbox, uplink: Uplink, ingest: tuple[FakeIngest, int]
) -> None:
    server, _ = ingest
    garbage = outbox.put("event", f"{DEVICE}:7", b"\xff\xff not protobuf")
    unkeyed = outbox.put("track", f"{DEVICE}:8", track_pb2.TrackSummary().SerializeToString())
    result = uplink.records.send_batch(outbox.peek("record", 10))
    assert result.outcomes == {garbage: Outcome.REJECTED, unkeyed: Outcome.REJECTED}
    assert result.details[garbage] == "spooled payload is not a valid Event"
    assert result.details[unkeyed] == f"spooled key ':0' differs from row key '{DEVICE}:8'"
    assert server.calls == 0


# TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "pki")


@pytest.fixture
def tls_server(ca: TestCa) -> Iterator[tuple[FakeIngest, int]]:
    """The fake ingest behind TLS, requiring a client certificate signed by `ca`."""
    server_pem = ca.issue("server", "ingest", server=True)
    credentials = grpc.ssl_server_credentials(
        [(server_pem.key.read_bytes(), server_pem.cert.read_bytes())],
        root_certificates=ca.cert_file.read_bytes(),
        require_client_auth=True,
    )
    servicer = FakeIngest()
    server, port = create_server(servicer, credentials=credentials)
    try:
        yield servicer, port
    finally:
        server.stop(grace=None)


def send_one_over(port: int, outbox: Outbox, tls: dict[str, Path]) -> Outcome:
    (row,) = spool_records(outbox, 1)
    client = uplink_to(port, tls=tls, target="localhost")
    try:
        return client.records.send_batch([row]).outcomes[row.id]
    finally:
        client.close()


def test_mutual_tls_with_a_client_certificate_delivers(
    ca: TestCa, tls_server: tuple[FakeIngest, int], outbox: Outbox
) -> None:
    server, port = tls_server
    client = ca.issue("device", DEVICE, server=False)
    outcome = send_one_over(
        port, outbox, {"ca_file": ca.cert_file, "cert_file": client.cert, "key_file": client.key}
    )
    assert outcome is Outcome.DELIVERED
    assert len(server.records) == 1


def test_mutual_tls_without_a_client_certificate_is_refused(
    ca: TestCa, tls_server: tuple[FakeIngest, int], outbox: Outbox
) -> None:
    server, port = tls_server
    assert send_one_over(port, outbox, {"ca_file": ca.cert_file}) is Outcome.UNACKED
    assert server.records == {}


def test_tls_refuses_a_server_the_ca_file_does_not_vouch_for(
    tmp_path: Path, tls_server: tuple[FakeIngest, int], outbox: Outbox
) -> None:
    other = TestCa(tmp_path / "other", "Another CA")
    client = other.issue("device", DEVICE, server=False)
    tls = {"ca_file": other.cert_file, "cert_file": client.cert, "key_file": client.key}
    server, port = tls_server
    assert send_one_over(port, outbox, tls) is Outcome.UNACKED
    assert server.records == {}


def test_the_channel_reconnects_within_the_configured_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # gRPC's own default grows to 120 s: after a long outage the first upload would wait up to
    # two minutes after the server is back.
    real = grpc.insecure_channel
    opened: dict[str, object] = {}

    def capture(target: str, options: list[tuple[str, object]]) -> grpc.Channel:
        opened.update(options)
        return real(target)

    monkeypatch.setattr(grpc, "insecure_channel", capture)
    settings = UplinkSettings.model_validate(
        {"target": "127.0.0.1:1", "token": "t", "reconnect": {"initial_s": 0.5, "max_s": 4.0}}
    )
    Uplink(settings).close()
    assert opened["grpc.initial_reconnect_backoff_ms"] == 500
    assert opened["grpc.min_reconnect_backoff_ms"] == 500
    assert opened["grpc.max_reconnect_backoff_ms"] == 4000
