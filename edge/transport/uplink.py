"""Crop upload to the cloud over gRPC (`sightline.ingest.v1.IngestService/UploadCrops`).

`CropUplink` is the sender lane that streams spooled crops and reads the per-item acks; it only
talks to the network. The requests are built by `edge.wire.crop_request` and spooled by
`edge.transport.spool.enqueue_crop`.

Ack handling (the proto's contract): STORED and DUPLICATE are delivered; REJECTED_INVALID is
dead-lettered; RETRY_LATER, a missing ack, UNAVAILABLE or DEADLINE_EXCEEDED keep the row for a
later, unchanged re-send; UNAUTHENTICATED and PERMISSION_DENIED are permanent errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, model_validator

from edge.errors import TransportError
from edge.transport.lane import BatchResult, Outcome
from edge.transport.outbox import Row
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

logger = logging.getLogger(__name__)

PERMANENT_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
_ACK_OUTCOMES = {
    ingest_pb2.ACK_STATUS_STORED: Outcome.DELIVERED,
    ingest_pb2.ACK_STATUS_DUPLICATE: Outcome.DUPLICATE,
    ingest_pb2.ACK_STATUS_REJECTED_INVALID: Outcome.REJECTED,
    ingest_pb2.ACK_STATUS_RETRY_LATER: Outcome.RETRY,
}


class UplinkSettings(BaseModel):
    """How to reach the ingest server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="gRPC target, `host:port` (or any grpc target URI).")
    token: SecretStr = Field(description="Device credential, sent as `authorization: Bearer`.")
    deadline_s: float = Field(
        default=30.0, gt=0, description="Deadline of every UploadCrops call (whole batch)."
    )
    max_message_bytes: int = Field(
        default=4 * 1024**2,
        gt=0,
        description="Largest message sent or received; a bigger crop is dead-lettered locally "
        "instead of failing the whole stream with RESOURCE_EXHAUSTED.",
    )
    tls: bool = Field(default=False, description="Use TLS (required outside a trusted network).")
    ca_file: FilePath | None = Field(
        default=None, description="PEM roots to trust instead of the system's (tls only)."
    )

    @model_validator(mode="after")
    def _ca_needs_tls(self) -> UplinkSettings:
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is set but tls is false")
        return self


class CropUplink:
    """The gRPC lane of the sender: one UploadCrops stream per batch. Thread-safe."""

    def __init__(self, settings: UplinkSettings) -> None:
        self._settings = settings
        options = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
        ]
        if settings.tls:
            roots = settings.ca_file.read_bytes() if settings.ca_file else None
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(settings.target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(settings.target, options=options)
        self._stub = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {settings.token.get_secret_value()}"),)

    def ready(self) -> bool:
        """Always try: a down server answers UNAVAILABLE at once (fail-fast), which backs off."""
        return True

    def send_batch(self, rows: Sequence[Row]) -> BatchResult:
        """Upload the rows' crops on one stream and report each row's outcome."""
        outcomes: dict[int, Outcome] = {}
        details: dict[int, str] = {}
        pending: dict[str, Row] = {}
        requests: list[ingest_pb2.UploadCropsRequest] = []
        for row in rows:
            request = self._request_of(row)
            if isinstance(request, str):
                outcomes[row.id], details[row.id] = Outcome.REJECTED, request
                continue
            pending[request.detection_id] = row
            requests.append(request)
        if not requests:
            return BatchResult(outcomes, details)
        call = self._stub.UploadCrops(
            iter(requests), timeout=self._settings.deadline_s, metadata=self._metadata
        )
        error = None
        try:
            for ack in call:
                row_or_none = pending.pop(ack.detection_id, None)
                if row_or_none is None:
                    logger.warning("ingest acked unknown detection %s", ack.detection_id)
                    continue
                outcome = _ACK_OUTCOMES.get(ack.status, Outcome.RETRY)
                outcomes[row_or_none.id] = outcome
                if outcome is Outcome.REJECTED:
                    details[row_or_none.id] = ack.message or "rejected by ingest"
        except grpc.RpcError:
            code = call.code()
            error = TransportError(
                f"UploadCrops to {self._settings.target} failed: {code.name}: {call.details()}",
                permanent=code in PERMANENT_CODES,
            )
        # Items without an ack were not acknowledged, whatever the stream's status: re-send.
        for row in pending.values():
            outcomes[row.id] = Outcome.UNACKED
        return BatchResult(outcomes, details, error)

    def _request_of(self, row: Row) -> ingest_pb2.UploadCropsRequest | str:
        """The row's request, or why it can never be uploaded."""
        try:
            request = ingest_pb2.UploadCropsRequest.FromString(row.payload)
        except DecodeError:
            return "spooled payload is not an UploadCropsRequest"
        if request.detection_id != row.key:
            return f"spooled detection id {request.detection_id!r} differs from key {row.key!r}"
        # Checked here because the server would fail the whole stream (RESOURCE_EXHAUSTED),
        # blocking every crop behind this one forever.
        if len(row.payload) > self._settings.max_message_bytes:
            return (
                f"{len(row.payload)} bytes exceed max_message_bytes "
                f"{self._settings.max_message_bytes}"
            )
        return request

    def close(self) -> None:
        """Close the channel; calls in flight fail with CANCELLED."""
        self._channel.close()
