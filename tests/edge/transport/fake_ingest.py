"""An in-process IngestService for the uplink tests: a real gRPC server on port 0.

It follows the proto's contract (one ack per request, idempotent on detection_id for crops and
on (device, key.seq) for records, bearer token checked on every call) and records what it saw,
so a test can ask "was anything lost or stored twice?". Faults are scripted per item id: the
detection id of a crop, `str(key.seq)` of a record.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from pydantic import SecretStr

from edge.transport.uplink import Uplink, UplinkSettings
from sightline.device.v1 import event_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

TOKEN = "device-token-1"
M = TypeVar("M", bound=Message)


def record_of(request: ingest_pb2.UploadRecordsRequest) -> event_pb2.Event | track_pb2.TrackSummary:
    """The event or track summary a request carries."""
    which = request.WhichOneof("record")
    assert which is not None, "a request without a record"
    record: event_pb2.Event | track_pb2.TrackSummary = getattr(request, which)
    return record


@dataclass
class FakeIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Stores crops and records in memory; `force`, `always`, `drop_before_ack` and `delay_s`
    inject faults."""

    token: str = TOKEN
    stored: dict[str, ingest_pb2.UploadCropsRequest] = field(default_factory=dict)
    """Crops by detection id."""
    records: dict[str, ingest_pb2.UploadRecordsRequest] = field(default_factory=dict)
    """Records by `str(key.seq)` (one device per test)."""
    store_count: Counter[str] = field(default_factory=Counter)
    """How often each id was written to storage: more than 1 would be a duplicate."""
    received: list[Message] = field(default_factory=list)
    """Every request in arrival order, re-sends included."""
    force: dict[str, ingest_pb2.AckStatus] = field(default_factory=dict)
    """Answer this status (once) instead of storing."""
    always: dict[str, ingest_pb2.AckStatus] = field(default_factory=dict)
    """Answer this status every time instead of storing (an item the cloud can never take)."""
    drop_before_ack: set[str] = field(default_factory=set)
    """Store the item, then break the stream before acking it (once)."""
    delay_s: float = 0.0
    """Sleep before every ack (to trip the client's deadline)."""
    on_stored: Callable[[str], None] | None = None
    """Called with each newly stored id, before its ack is sent (to crash the server there)."""
    denied_devices: set[str] = field(default_factory=set)
    """Tokens are valid but these devices are suspended: PERMISSION_DENIED."""
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def UploadCrops(
        self,
        request_iterator: Iterator[ingest_pb2.UploadCropsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadCropsResponse]:
        self._authenticate(context)
        for request in request_iterator:
            key = request.detection_id
            status = self._handle(context, request.device_id, key, request, self.stored)
            yield ingest_pb2.UploadCropsResponse(detection_id=key, status=status)

    def UploadRecords(
        self,
        request_iterator: Iterator[ingest_pb2.UploadRecordsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadRecordsResponse]:
        self._authenticate(context)
        for request in request_iterator:
            key = record_of(request).key
            status = self._handle(context, key.device_id, str(key.seq), request, self.records)
            yield ingest_pb2.UploadRecordsResponse(seq=key.seq, status=status)

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.calls += 1
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad device token")

    def _handle(
        self,
        context: grpc.ServicerContext,
        device_id: str,
        key: str,
        request: M,
        storage: dict[str, M],
    ) -> ingest_pb2.AckStatus:
        if device_id in self.denied_devices:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "device suspended")
        time.sleep(self.delay_s)
        status, drop = self._store(key, request, storage)
        if self.on_stored is not None and status == ingest_pb2.ACK_STATUS_STORED:
            self.on_stored(key)
        if drop:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection dropped (test)")
        return status

    def _store(
        self, key: str, request: M, storage: dict[str, M]
    ) -> tuple[ingest_pb2.AckStatus, bool]:
        with self.lock:
            self.received.append(request)
            forced = self.force.pop(key, None) or self.always.get(key)
            if forced is not None:
                return forced, False
            if key in storage:
                return ingest_pb2.ACK_STATUS_DUPLICATE, False
            storage[key] = request
            self.store_count[key] += 1
            if key in self.drop_before_ack:
                self.drop_before_ack.discard(key)
                return ingest_pb2.ACK_STATUS_STORED, True
            return ingest_pb2.ACK_STATUS_STORED, False


def create_server(
    servicer: FakeIngest, port: int = 0, credentials: grpc.ServerCredentials | None = None
) -> tuple[grpc.Server, int]:
    """A started server on 127.0.0.1 (port 0: any free port) and its port; TLS with
    `credentials`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    address = f"127.0.0.1:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    server.start()
    return server, bound


def uplink_to(
    port: int,
    *,
    token: str = TOKEN,
    deadline_s: float = 5.0,
    max_message_bytes: int | None = None,
    tls: dict[str, Path] | None = None,
    target: str = "127.0.0.1",
) -> Uplink:
    """An Uplink for the fake server on `port` (`tls`: ca_file, cert_file, key_file)."""
    extra: dict[str, object] = {**(tls or {}), "tls": tls is not None}
    if max_message_bytes is not None:
        extra["max_message_bytes"] = max_message_bytes
    return Uplink(
        UplinkSettings.model_validate(
            {
                "target": f"{target}:{port}",
                "token": SecretStr(token),
                "deadline_s": deadline_s,
                **extra,
            }
        )
    )
