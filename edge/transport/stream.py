"""The one implementation of an ingest lane: stream spooled rows over a bidirectional gRPC call,
match the per-item acks, report each row's outcome.

Both lanes (`UploadCrops` for 'crop' rows, `UploadRecords` for 'record' rows) follow the same
contract (sightline/ingest/v1/ingest.proto): one ack per request, matched by an id the request
carries; STORED and DUPLICATE are delivered; REJECTED_INVALID is dead-lettered; RETRY_LATER, a
missing ack, UNAVAILABLE or DEADLINE_EXCEEDED keep the row for a later, unchanged re-send;
UNAUTHENTICATED and PERMISSION_DENIED are permanent errors. What differs per lane is a
`StreamCodec`: how a row becomes a request, and which id a request and an ack carry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from edge.errors import TransportError
from edge.transport.lane import BatchResult, Outcome
from edge.transport.outbox import Row
from sightline.ingest.v1 import ingest_pb2

logger = logging.getLogger(__name__)

PERMANENT_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
_ACK_OUTCOMES = {
    ingest_pb2.ACK_STATUS_STORED: Outcome.DELIVERED,
    ingest_pb2.ACK_STATUS_DUPLICATE: Outcome.DUPLICATE,
    ingest_pb2.ACK_STATUS_REJECTED_INVALID: Outcome.REJECTED,
    ingest_pb2.ACK_STATUS_RETRY_LATER: Outcome.RETRY,
}

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)
ResponseT_contra = TypeVar("ResponseT_contra", bound=Message, contravariant=True)


class Unsendable(Exception):
    """A spooled row that can never become a valid request (the message says why)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """One response of the stream: the id of the request it answers, its status and detail."""

    id: str
    status: ingest_pb2.AckStatus
    message: str


class StreamCodec(Protocol[RequestT, ResponseT_contra]):
    """What one lane streams: requests made from rows, and the ids that match acks to them."""

    def request(self, row: Row) -> RequestT:
        """The row's request; raises Unsendable when it can never be sent."""

    def request_id(self, request: RequestT) -> str:
        """The id the request's ack will carry."""

    def ack(self, response: ResponseT_contra) -> Ack:
        """The response as an Ack."""


class StreamLane(Generic[RequestT, ResponseT]):
    """A sender lane: one streaming call per batch. Thread-safe (gRPC channels are)."""

    def __init__(
        self,
        call: grpc.StreamStreamMultiCallable[RequestT, ResponseT],
        codec: StreamCodec[RequestT, ResponseT],
        *,
        name: str,
        deadline_s: float,
        max_message_bytes: int,
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        """`name` names the RPC and its target in errors (`UploadCrops to host:port`)."""
        self._call = call
        self._codec = codec
        self._name = name
        self._deadline_s = deadline_s
        self._max_message_bytes = max_message_bytes
        self._metadata = tuple(metadata)

    def ready(self) -> bool:
        """Always try: a down server answers UNAVAILABLE at once (fail-fast), which backs off."""
        return True

    def send_batch(self, rows: Sequence[Row]) -> BatchResult:
        """Stream the rows' requests on one call and report each row's outcome."""
        outcomes: dict[int, Outcome] = {}
        details: dict[int, str] = {}
        pending: dict[str, Row] = {}
        requests: list[RequestT] = []
        for row in rows:
            try:
                request = self._request_of(row)
            except Unsendable as why:
                outcomes[row.id], details[row.id] = Outcome.REJECTED, str(why)
                continue
            pending[self._codec.request_id(request)] = row
            requests.append(request)
        if not requests:
            return BatchResult(outcomes, details)
        call = self._call(iter(requests), timeout=self._deadline_s, metadata=self._metadata)
        error = None
        try:
            for response in call:
                ack = self._codec.ack(response)
                row_or_none = pending.pop(ack.id, None)
                if row_or_none is None:
                    logger.warning("%s acked unknown id %s", self._name, ack.id)
                    continue
                outcome = _ACK_OUTCOMES.get(ack.status, Outcome.RETRY)
                outcomes[row_or_none.id] = outcome
                if outcome is Outcome.REJECTED:
                    details[row_or_none.id] = ack.message or "rejected by ingest"
        except grpc.RpcError:
            # The call object is also the error (a grpc.Call); its code says why it ended.
            code = call.code()
            error = TransportError(
                f"{self._name} failed: {code.name}: {call.details()}",
                permanent=code in PERMANENT_CODES,
            )
        # Items without an ack were not acknowledged, whatever the stream's status: re-send.
        for row in pending.values():
            outcomes[row.id] = Outcome.UNACKED
        return BatchResult(outcomes, details, error)

    def _request_of(self, row: Row) -> RequestT:
        request = self._codec.request(row)
        # Checked here because the server would fail the whole stream (RESOURCE_EXHAUSTED),
        # blocking every row behind this one forever.
        size = request.ByteSize()
        if size > self._max_message_bytes:
            raise Unsendable(f"{size} bytes exceed max_message_bytes {self._max_message_bytes}")
        return request
