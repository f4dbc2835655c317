"""An in-process IngestService for the uplink tests: a real gRPC server on port 0.

It follows the proto's contract (one ack per request, idempotent on detection_id, bearer token
checked on every call) and records what it saw, so a test can ask "was anything lost or stored
twice?". Faults are scripted per detection id.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from pydantic import SecretStr

from edge.transport.uplink import CropUplink, UplinkSettings
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

TOKEN = "device-token-1"


@dataclass
class FakeIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Stores crops in memory; `force`, `drop_before_ack` and `delay_s` inject faults."""

    token: str = TOKEN
    stored: dict[str, ingest_pb2.UploadCropsRequest] = field(default_factory=dict)
    store_count: Counter[str] = field(default_factory=Counter)
    """How often each id was written to storage: more than 1 would be a duplicate."""
    received: list[ingest_pb2.UploadCropsRequest] = field(default_factory=list)
    """Every request in arrival order, re-sends included."""
    force: dict[str, ingest_pb2.AckStatus] = field(default_factory=dict)
    """Answer this status (once) instead of storing."""
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
        with self.lock:
            self.calls += 1
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad device token")
        for request in request_iterator:
            if request.device_id in self.denied_devices:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "device suspended")
            time.sleep(self.delay_s)
            status, drop = self._handle(request)
            if self.on_stored is not None and status == ingest_pb2.ACK_STATUS_STORED:
                self.on_stored(request.detection_id)
            if drop:
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection dropped (test)")
            yield ingest_pb2.UploadCropsResponse(detection_id=request.detection_id, status=status)

    def _handle(self, request: ingest_pb2.UploadCropsRequest) -> tuple[ingest_pb2.AckStatus, bool]:
        key = request.detection_id
        with self.lock:
            self.received.append(request)
            forced = self.force.pop(key, None)
            if forced is not None:
                return forced, False
            if key in self.stored:
                return ingest_pb2.ACK_STATUS_DUPLICATE, False
            self.stored[key] = request
            self.store_count[key] += 1
            if key in self.drop_before_ack:
                self.drop_before_ack.discard(key)
                return ingest_pb2.ACK_STATUS_STORED, True
            return ingest_pb2.ACK_STATUS_STORED, False


def create_server(servicer: FakeIngest, port: int = 0) -> tuple[grpc.Server, int]:
    """A started server on 127.0.0.1 (port 0: any free port) and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def uplink_to(port: int, *, token: str = TOKEN, deadline_s: float = 5.0) -> CropUplink:
    """A CropUplink for the fake server on `port`."""
    return CropUplink(
        UplinkSettings(target=f"127.0.0.1:{port}", token=SecretStr(token), deadline_s=deadline_s)
    )
