"""The gRPC uplink to the cloud ingest server (`sightline.ingest.v1.IngestService`): one channel,
two lanes.

- `crops`: 'crop' rows (spooled `UploadCropsRequest`s) through `UploadCrops`, acks matched by
  detection id;
- `records`: 'record' rows (spooled `Event`s and `TrackSummary`s, the row's type says which)
  through `UploadRecords`, acks matched by the record's `key.seq`.

Both are `stream.StreamLane`s (the one implementation of the ack rules); this module only says
how each lane's rows become requests. The lanes only talk to the network: the requests are built
by `edge.wire` and spooled by `edge.transport.spool` before.

Security (docs/architecture.md, "Security"): `sightline.tls.ClientTls` (TLS unless the server is
on loopback, optionally mutual) plus the device's bearer token on every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from pydantic import Field, SecretStr

from edge.transport.outbox import Row
from edge.transport.stream import Ack, StreamLane, Unsendable
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from sightline.tls import ClientTls, address_host


class UplinkSettings(ClientTls):
    """How to reach the ingest server."""

    target: str = Field(description="gRPC target, `host:port` (or any grpc target URI).")
    token: SecretStr = Field(description="Device credential, sent as `authorization: Bearer`.")
    deadline_s: float = Field(
        default=30.0, gt=0, description="Deadline of every upload call (whole batch)."
    )
    max_message_bytes: int = Field(
        default=4 * 1024**2,
        gt=0,
        description="Largest message sent or received. A crop is re-encoded smaller to fit "
        "before it is spooled; a row still bigger is dead-lettered locally instead of failing "
        "the whole stream with RESOURCE_EXHAUSTED.",
    )
    reconnect: BackoffSettings = Field(
        default=BackoffSettings(initial_s=1.0, max_s=30.0),
        description="Bounds of the channel's waits between connection attempts.",
    )


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None


def open_channel(settings: UplinkSettings) -> grpc.Channel:
    """The channel the settings describe (TLS, optional client certificate, message limits)."""
    # gRPC reconnects a channel by itself, with its own jittered backoff that grows to 120 s by
    # default: after a long outage the first upload would wait up to two minutes after the
    # server is back. Its bounds come from our settings instead (docs/architecture.md,
    # "Transport"); gRPC keeps its own multiplier and jitter.
    initial_ms = round(settings.reconnect.initial_s * 1000)
    options = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", initial_ms),
        ("grpc.min_reconnect_backoff_ms", initial_ms),
        ("grpc.max_reconnect_backoff_ms", round(settings.reconnect.max_s * 1000)),
    ]
    if not settings.tls_to(address_host(settings.target)):
        return grpc.insecure_channel(settings.target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(settings.ca_file),
        private_key=_read(settings.key_file),
        certificate_chain=_read(settings.cert_file),
    )
    return grpc.secure_channel(settings.target, credentials, options=options)


class CropCodec:
    """'crop' rows: the payload is the `UploadCropsRequest`; acks carry its detection id."""

    def request(self, row: Row) -> ingest_pb2.UploadCropsRequest:
        """The spooled request, checked against its row key."""
        try:
            request = ingest_pb2.UploadCropsRequest.FromString(row.payload)
        except DecodeError:
            raise Unsendable("spooled payload is not an UploadCropsRequest") from None
        if request.detection_id != row.key:
            raise Unsendable(
                f"spooled detection id {request.detection_id!r} differs from key {row.key!r}"
            )
        return request

    def request_id(self, request: ingest_pb2.UploadCropsRequest) -> str:
        """The detection id."""
        return request.detection_id

    def ack(self, response: ingest_pb2.UploadCropsResponse) -> Ack:
        """Matched by detection id."""
        return Ack(response.detection_id, response.status, response.message)


_RECORDS: dict[str, type[event_pb2.Event] | type[track_pb2.TrackSummary]] = {
    "event": event_pb2.Event,
    "track": track_pb2.TrackSummary,
}


class RecordCodec:
    """'record' rows: the payload is the record the row's type names, wrapped in an
    `UploadRecordsRequest`; acks carry its `key.seq`."""

    def request(self, row: Row) -> ingest_pb2.UploadRecordsRequest:
        """The record as a request, checked against its row key (`<device>:<seq>`)."""
        message_type = _RECORDS.get(row.type)
        if message_type is None:
            raise Unsendable(f"a {row.type!r} row is not a record")
        try:
            record = message_type.FromString(row.payload)
        except DecodeError:
            raise Unsendable(f"spooled payload is not a valid {message_type.__name__}") from None
        spooled_key = f"{record.key.device_id}:{record.key.seq}"
        if spooled_key != row.key or record.key.seq == 0:
            raise Unsendable(f"spooled key {spooled_key!r} differs from row key {row.key!r}")
        request = ingest_pb2.UploadRecordsRequest()
        getattr(request, row.type).CopyFrom(record)
        return request

    def request_id(self, request: ingest_pb2.UploadRecordsRequest) -> str:
        """The record's key.seq."""
        which = request.WhichOneof("record")
        assert which is not None  # request() always sets one
        record: event_pb2.Event | track_pb2.TrackSummary = getattr(request, which)
        return str(record.key.seq)

    def ack(self, response: ingest_pb2.UploadRecordsResponse) -> Ack:
        """Matched by key.seq."""
        return Ack(str(response.seq), response.status, response.message)


CropLane = StreamLane[ingest_pb2.UploadCropsRequest, ingest_pb2.UploadCropsResponse]
RecordLane = StreamLane[ingest_pb2.UploadRecordsRequest, ingest_pb2.UploadRecordsResponse]


class Uplink:
    """The channel to the ingest server and its two lanes, `crops` and `records`."""

    def __init__(self, settings: UplinkSettings) -> None:
        self._channel = open_channel(settings)
        stub = ingest_pb2_grpc.IngestServiceStub(self._channel)
        metadata = (("authorization", f"Bearer {settings.token.get_secret_value()}"),)

        def lane(name: str) -> dict[str, Any]:
            return {
                "name": f"{name} to {settings.target}",
                "deadline_s": settings.deadline_s,
                "max_message_bytes": settings.max_message_bytes,
                "metadata": metadata,
            }

        self.crops: CropLane = StreamLane(stub.UploadCrops, CropCodec(), **lane("UploadCrops"))
        self.records: RecordLane = StreamLane(
            stub.UploadRecords, RecordCodec(), **lane("UploadRecords")
        )

    def close(self) -> None:
        """Close the channel; calls in flight fail with CANCELLED (their rows stay spooled)."""
        self._channel.close()
