"""The IngestService contract over a real gRPC server on a free port, with a trivial servicer.

This exercises the wire contract (bidirectional stream, one ack per item, health service name),
not the cloud's ingest implementation.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
DEADLINE_S = 10.0


class AckingServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Stores crops in a dict keyed by detection_id and acks each one as it arrives."""

    def __init__(self) -> None:
        self.stored: dict[str, ingest_pb2.UploadCropsRequest] = {}
        self._lock = threading.Lock()

    def UploadCrops(
        self,
        request_iterator: Iterable[ingest_pb2.UploadCropsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadCropsResponse]:
        for request in request_iterator:
            yield ingest_pb2.UploadCropsResponse(
                detection_id=request.detection_id, status=self._store(request)
            )

    def _store(self, request: ingest_pb2.UploadCropsRequest) -> ingest_pb2.AckStatus:
        if not request.detection_id or not request.jpeg:
            return ingest_pb2.ACK_STATUS_REJECTED_INVALID
        with self._lock:
            if request.detection_id in self.stored:
                return ingest_pb2.ACK_STATUS_DUPLICATE
            self.stored[request.detection_id] = request
        return ingest_pb2.ACK_STATUS_STORED


@pytest.fixture
def servicer() -> AckingServicer:
    return AckingServicer()


@pytest.fixture
def channel(servicer: AckingServicer) -> Iterator[grpc.Channel]:
    """A channel to a server on 127.0.0.1:<free port> serving ingest and the health service."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as client_channel:
            yield client_channel
    finally:
        server.stop(grace=None).wait()


def crop(
    detection_id: str, jpeg: bytes = b"\xff\xd8\xff\xdb crop \xff\xd9"
) -> ingest_pb2.UploadCropsRequest:
    return ingest_pb2.UploadCropsRequest(
        detection_id=detection_id,
        device_id="dev-0001",
        camera_id="lobby",
        track_id="019aa7c4-5d00-7a10-8b22-7f3e9c0d1a42",
        frame_time=datetime(2026, 11, 21, 20, 15, 30, tzinfo=UTC),
        box=ingest_pb2.BoundingBox(x_min=0.1, y_min=0.2, x_max=0.3, y_max=0.6),
        label="person",
        score=0.8,
        frame_size=ingest_pb2.FrameSize(width=768, height=576),
        crop_box=ingest_pb2.BoundingBox(x_min=0.08, y_min=0.18, x_max=0.32, y_max=0.62),
        jpeg=jpeg,
        model=model_pb2.ModelRef(name="nanodet-g", version="3.0.4-1"),
    )


def test_it_acks_every_item_by_detection_id(
    channel: grpc.Channel, servicer: AckingServicer
) -> None:
    first = "019aa7c4-5e2b-7cc1-9d3f-2b8e4a1c6f00"
    second = "019aa7c4-5e2c-7000-8000-000000000001"
    invalid = "019aa7c4-5e2c-7000-8000-000000000002"
    requests = [crop(first), crop(second), crop(first), crop(invalid, jpeg=b"")]
    stub = ingest_pb2_grpc.IngestServiceStub(channel)

    acks = list(stub.UploadCrops(iter(requests), timeout=DEADLINE_S))

    assert [(ack.detection_id, ack.status) for ack in acks] == [
        (first, ingest_pb2.ACK_STATUS_STORED),
        (second, ingest_pb2.ACK_STATUS_STORED),
        (first, ingest_pb2.ACK_STATUS_DUPLICATE),
        (invalid, ingest_pb2.ACK_STATUS_REJECTED_INVALID),
    ]
    assert servicer.stored[first] == requests[0]
    assert set(servicer.stored) == {first, second}


def test_it_acks_an_item_while_the_stream_is_still_open(channel: grpc.Channel) -> None:
    # The reason UploadCrops is bidirectional: the edge can delete each outbox row as soon as its
    # ack arrives, without closing the stream first.
    outgoing: queue.Queue[ingest_pb2.UploadCropsRequest | None] = queue.Queue()

    def requests() -> Iterator[ingest_pb2.UploadCropsRequest]:
        while (request := outgoing.get(timeout=DEADLINE_S)) is not None:
            yield request

    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    call = stub.UploadCrops(requests(), timeout=DEADLINE_S)
    acks = iter(call)

    for detection_id in (
        "019aa7c4-6000-7000-8000-00000000000a",
        "019aa7c4-6000-7000-8000-00000000000b",
    ):
        outgoing.put(crop(detection_id))
        ack = next(acks)
        assert (ack.detection_id, ack.status) == (detection_id, ingest_pb2.ACK_STATUS_STORED)
    outgoing.put(None)

    assert list(acks) == []
    assert call.code() == grpc.StatusCode.OK


def test_health_service_reports_ingest_by_its_full_name(channel: grpc.Channel) -> None:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="sightline.ingest.v1.IngestService"),
        timeout=DEADLINE_S,
    )

    assert response.status == health_pb2.HealthCheckResponse.SERVING
