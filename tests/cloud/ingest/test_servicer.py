"""UploadCrops over a real gRPC server: acks, idempotency, credentials, limits, outages."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from unittest import mock

import grpc
import pytest
from django.db import DataError, IntegrityError, OperationalError, ProgrammingError
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud.detections.models import Detection
from cloud.fleet.models import Device, DeviceEvent, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest import servicer
from cloud.ingest.credentials import issue_token, revoke_tokens
from cloud.ingest.server import SERVICE_NAME, IngestDeps, create_server
from cloud.lib.objectstore import ObjectStore, ObjectStoreUnavailable
from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.cloud.ingest.faults import failing_first
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.cloud.ingest.uploads import FRAME_TIME, Ingest, crop_request, event_request
from tests.cloud.lib.jpeg_samples import declaring, encode

STORED = ingest_pb2.ACK_STATUS_STORED
DUPLICATE = ingest_pb2.ACK_STATUS_DUPLICATE
REJECTED = ingest_pb2.ACK_STATUS_REJECTED_INVALID
RETRY_LATER = ingest_pb2.ACK_STATUS_RETRY_LATER


def stored_keys(objects: ObjectStore) -> list[str]:
    return sorted(objects.list("crops/"))


def delayed_ids(task: mock.MagicMock) -> list[list[str]]:
    return [call.args[0] for call in task.delay.call_args_list]


def test_it_stores_a_new_crop_and_its_detection(
    ingest: Ingest, token: str, objects: ObjectStore, enqueued: mock.MagicMock
) -> None:
    request = crop_request()
    (ack,) = ingest.upload([request], token)
    assert (ack.detection_id, ack.status, ack.message) == (request.detection_id, STORED, "")
    row = Detection.objects.select_related("camera", "track").get(pk=request.detection_id)
    key = f"crops/gate-01/lobby/2026/11/21/{request.detection_id}.jpg"
    assert row.object_key == key
    assert objects.get(key) == request.jpeg
    assert objects.stat(key).content_type == "image/jpeg"
    assert (row.camera.edge_id, row.track_id, row.label) == ("lobby", request.track_id, "person")
    # The normalised box, in frame pixels (float32 on the wire, hence approx).
    pixels = (
        row.x_min * row.frame_width,
        row.y_min * row.frame_height,
        row.x_max * row.frame_width,
        row.y_max * row.frame_height,
    )
    assert pixels == pytest.approx((248, 216, 288, 310), abs=1e-3)
    assert row.ts == FRAME_TIME
    assert row.embedded_at is None
    assert delayed_ids(enqueued) == [[request.detection_id]]


def test_a_crops_context_frame_is_stored_beside_it_and_a_bad_one_only_dropped(
    ingest: Ingest, token: str, objects: ObjectStore
) -> None:
    context = encode(640, 480)
    framed = crop_request(context_jpeg=context)
    broken = crop_request(OBJECTS[1], context_jpeg=context[:-2])
    assert [ack.status for ack in ingest.upload([framed, broken], token)] == [STORED, STORED]
    key = f"contexts/gate-01/lobby/2026/11/21/{framed.detection_id}.jpg"
    assert Detection.objects.get(pk=framed.detection_id).context_key == key
    assert objects.get(key) == context
    assert objects.stat(key).content_type == "image/jpeg"
    # The crop whose context frame is cut short is stored, without one.
    assert Detection.objects.get(pk=broken.detection_id).context_key == ""
    assert list(objects.list("contexts/")) == [key]
    assert len(stored_keys(objects)) == 2


def test_a_retried_crop_is_a_duplicate_stored_once(
    ingest: Ingest, token: str, objects: ObjectStore, enqueued: mock.MagicMock
) -> None:
    request = crop_request()
    assert [a.status for a in ingest.upload([request], token)] == [STORED]
    # A retry after a lost ack: same id, on a new stream and twice within one stream.
    assert [a.status for a in ingest.upload([request, request], token)] == [DUPLICATE] * 2
    assert Detection.objects.count() == 1
    assert stored_keys(objects) == [Detection.objects.get().object_key]
    # Not embedded yet, so the retries ask again (the task is idempotent).
    assert delayed_ids(enqueued) == [[request.detection_id], [request.detection_id] * 2]


def test_a_duplicate_of_an_embedded_crop_enqueues_nothing(
    ingest: Ingest, token: str, enqueued: mock.MagicMock
) -> None:
    request = crop_request()
    ingest.upload([request], token)
    Detection.objects.update(embedded_at=FRAME_TIME)
    enqueued.reset_mock()
    assert [a.status for a in ingest.upload([request], token)] == [DUPLICATE]
    enqueued.delay.assert_not_called()


def test_it_acks_every_crop_of_a_stream_and_enqueues_them_in_batches(
    start_ingest: Callable[..., Ingest],
    objects: ObjectStore,
    token: str,
    enqueued: mock.MagicMock,
) -> None:
    ingest = start_ingest(objects, embed_batch_size=3)
    requests = [crop_request(item) for item in OBJECTS]
    acks = ingest.upload(requests, token)
    assert [(a.detection_id, a.status) for a in acks] == [
        (r.detection_id, STORED) for r in requests
    ]
    ids = [r.detection_id for r in requests]
    assert delayed_ids(enqueued) == [ids[0:3], ids[3:6], ids[6:8]]
    assert len(stored_keys(objects)) == Detection.objects.count() == len(OBJECTS)


def test_crops_sent_together_are_stored_together(
    ingest: Ingest, token: str, objects: ObjectStore
) -> None:
    requests = [crop_request(item) for item in OBJECTS]
    with mock.patch(
        "cloud.ingest.servicer.record_detections", wraps=servicer.record_detections
    ) as together:
        acks = ingest.upload(requests, token)
    assert [a.status for a in acks] == [STORED] * len(requests)
    assert max(len(call.args[0]) for call in together.call_args_list) > 1
    assert Detection.objects.count() == len(stored_keys(objects)) == len(requests)


def test_a_repeat_among_new_crops_gets_its_own_ack_in_order(
    ingest: Ingest, token: str, objects: ObjectStore
) -> None:
    # Crops that arrive together are stored in one transaction; a repeat among them makes
    # each be stored alone, so every crop still gets its own outcome.
    stored = crop_request(OBJECTS[0])
    ingest.upload([stored], token)
    stream = [crop_request(OBJECTS[1]), stored, crop_request(OBJECTS[2]), crop_request(label="")]
    acks = ingest.upload(stream, token)
    assert [(a.detection_id, a.status) for a in acks] == [
        (stream[0].detection_id, STORED),
        (stored.detection_id, DUPLICATE),
        (stream[2].detection_id, STORED),
        (stream[3].detection_id, REJECTED),
    ]
    assert Detection.objects.count() == len(stored_keys(objects)) == 3


def test_a_client_that_waits_for_each_ack_gets_every_one(ingest: Ingest, token: str) -> None:
    requests = [crop_request(item) for item in OBJECTS[:3]]
    acked = [threading.Event() for _ in requests]

    def one_by_one() -> Iterator[ingest_pb2.UploadCropsRequest]:
        for request, ack in zip(requests, acked, strict=True):
            yield request
            assert ack.wait(10), "the server waited for a crop the client had not sent"

    call = ingest.stub.UploadCrops(
        one_by_one(), timeout=30, metadata=(("authorization", f"Bearer {token}"),)
    )
    statuses = []
    for response, ack in zip(call, acked, strict=True):
        statuses.append(response.status)
        ack.set()
    assert statuses == [STORED] * 3


def test_a_broken_stream_still_enqueues_what_it_stored(
    ingest: Ingest, token: str, enqueued: mock.MagicMock
) -> None:
    requests = [crop_request(item) for item in OBJECTS[:2]]
    hang = threading.Event()

    def send() -> Iterator[ingest_pb2.UploadCropsRequest]:
        yield from requests
        hang.wait(10)  # the link goes quiet; the edge gives up on the call

    call = ingest.stub.UploadCrops(
        send(), timeout=10, metadata=(("authorization", f"Bearer {token}"),)
    )
    responses = iter(call)
    acks = [next(responses), next(responses)]
    call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leave Call.cancel untyped
    hang.set()
    assert [a.status for a in acks] == [STORED, STORED]
    deadline = time.monotonic() + 5
    while not enqueued.delay.called and time.monotonic() < deadline:
        time.sleep(0.05)
    assert delayed_ids(enqueued) == [[r.detection_id for r in requests]]


INVALID: Mapping[str, Callable[[], ingest_pb2.UploadCropsRequest]] = {
    "box outside the frame": lambda: crop_request(
        box=ingest_pb2.BoundingBox(x_min=0.2, y_min=0.1, x_max=1.3, y_max=0.5)
    ),
    "box upside down": lambda: crop_request(
        box=ingest_pb2.BoundingBox(x_min=0.2, y_min=0.5, x_max=0.3, y_max=0.1)
    ),
    "box with NaN": lambda: crop_request(
        box=ingest_pb2.BoundingBox(x_min=float("nan"), y_min=0.1, x_max=0.3, y_max=0.5)
    ),
    "PNG instead of JPEG": lambda: crop_request(jpeg=b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
    "empty JPEG": lambda: crop_request(jpeg=b""),
    # Before, only the first three bytes were checked: these were stored, and the embed worker
    # then refused them (a giant one unread) or embedded a half-grey image (a cut one).
    "JPEG declaring a giant image": lambda: crop_request(jpeg=declaring(60_000, 60_000)),
    "JPEG just over the pixel bound": lambda: crop_request(jpeg=declaring(4097, 4096)),
    "JPEG cut short": lambda: crop_request(jpeg=crop_jpeg(OBJECTS[0])[:-100]),
    "JPEG cut after its header": lambda: crop_request(jpeg=crop_jpeg(OBJECTS[0])[:700]),
    "JPEG with bytes after its end": lambda: crop_request(jpeg=crop_jpeg(OBJECTS[0]) + b"\0"),
    "id not a UUID": lambda: crop_request(detection_id="crop-17"),
    "id in upper case": lambda: crop_request(detection_id="01935F1E-7C4A-7D2E-9B1A-3C5D7E9F1A2B"),
    "no frame size": lambda: crop_request(frame_size=ingest_pb2.FrameSize()),
    "camera id with a slash": lambda: crop_request(camera_id="lobby/2"),
    "track id not a UUID": lambda: crop_request(track_id="lobby/3f2a9c/17"),
    "empty label": lambda: crop_request(label=""),
    "score above 1": lambda: crop_request(score=1.5),
    "no model version": lambda: crop_request(model=model_pb2.ModelRef(name="nanodet-g")),
    "frame time past year 9999": lambda: crop_request(frame_time=Timestamp(seconds=2**40)),
    "frame time before 1970": lambda: crop_request(frame_time=Timestamp(seconds=-1)),
    "label with NUL": lambda: crop_request(label="per\x00son"),
    "model name too long": lambda: crop_request(model=model_pb2.ModelRef(name="n" * 101)),
}


@pytest.mark.parametrize("make", INVALID.values(), ids=INVALID.keys())
def test_it_rejects_an_invalid_crop_and_stores_nothing(
    make: Callable[[], ingest_pb2.UploadCropsRequest],
    ingest: Ingest,
    token: str,
    objects: ObjectStore,
    enqueued: mock.MagicMock,
) -> None:
    request, valid = make(), crop_request()
    bad, good = ingest.upload([request, valid], token)
    assert bad.status == REJECTED
    assert bad.message
    # The stream goes on after a rejected item.
    assert good.status == STORED
    assert list(Detection.objects.values_list("id", flat=True)) == [valid.detection_id]
    assert stored_keys(objects) == [Detection.objects.get().object_key]
    assert delayed_ids(enqueued) == [[valid.detection_id]]


@pytest.mark.parametrize(
    "metadata",
    [
        (("authorization", "Bearer not-a-token"),),
        (("authorization", "Basic Z2F0ZS0wMTpzZWNyZXQ="),),
        (),
    ],
    ids=["unknown token", "basic auth", "no credentials"],
)
def test_it_refuses_calls_without_a_valid_token(
    ingest: Ingest, token: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    call = ingest.stub.UploadCrops(iter([crop_request()]), timeout=10, metadata=metadata)
    with pytest.raises(grpc.RpcError) as raised:
        list(call)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert Detection.objects.count() == 0


def test_a_revoked_token_no_longer_works(ingest: Ingest, token: str, device: Device) -> None:
    revoke_tokens(device.id)
    with pytest.raises(grpc.RpcError) as raised:
        ingest.upload([crop_request()], token)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("kind", ["crops", "records"])
def test_a_token_revoked_mid_stream_ends_the_stream(
    start_ingest: Callable[..., Ingest],
    objects: ObjectStore,
    token: str,
    device: Device,
    kind: str,
) -> None:
    # Before, the token was checked when the stream opened only: a device whose token was
    # revoked could keep one stream open and go on uploading for as long as it liked.
    ingest = start_ingest(objects, reauthenticate_s=0)
    requests: queue.Queue[Any] = queue.Queue()
    metadata = (("authorization", f"Bearer {token}"),)
    if kind == "crops":
        first, second = crop_request(), crop_request(OBJECTS[1])
        call = ingest.stub.UploadCrops(iter(requests.get, None), timeout=10, metadata=metadata)
    else:
        first, second = event_request(1), event_request(2)
        call = ingest.stub.UploadRecords(iter(requests.get, None), timeout=10, metadata=metadata)
    acks = iter(call)
    requests.put(first)
    assert next(acks).status == STORED
    revoke_tokens(device.id)
    requests.put(second)
    with pytest.raises(grpc.RpcError) as raised:
        next(acks)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert Detection.objects.count() + DeviceEvent.objects.count() == 1


def test_a_revoked_tokens_idle_stream_is_ended_promptly(
    start_ingest: Callable[..., Ingest], objects: ObjectStore, token: str, device: Device
) -> None:
    # A stream that sends nothing more never reaches the per-request check: a revoked device
    # could otherwise hold it, and its slot, for as long as it stayed quiet.
    ingest = start_ingest(objects, reauthenticate_s=0.1)
    requests: queue.Queue[Any] = queue.Queue()
    metadata = (("authorization", f"Bearer {token}"),)
    call = ingest.stub.UploadCrops(iter(requests.get, None), timeout=10, metadata=metadata)
    acks = iter(call)
    requests.put(crop_request())
    assert next(acks).status == STORED
    revoked_at = time.monotonic()
    revoke_tokens(device.id)
    with pytest.raises(grpc.RpcError) as raised:
        next(acks)
    assert raised.value.code() == grpc.StatusCode.CANCELLED
    assert time.monotonic() - revoked_at < 2
    requests.put(None)
    with pytest.raises(grpc.RpcError) as refused:
        ingest.upload([crop_request(OBJECTS[1])], token)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_device_cannot_upload_for_another_device(
    ingest: Ingest, token: str, objects: ObjectStore
) -> None:
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    own, foreign = crop_request(), crop_request(device_id="gate-02")
    call = ingest.stub.UploadCrops(
        iter([own, foreign]), timeout=10, metadata=(("authorization", f"Bearer {token}"),)
    )
    acks: list[ingest_pb2.UploadCropsResponse] = []
    with pytest.raises(grpc.RpcError) as raised:
        acks.extend(call)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "gate-02" in (raised.value.details() or "")
    assert [a.status for a in acks] == [STORED]
    assert list(Detection.objects.values_list("device_id", flat=True)) == ["gate-01"]
    assert len(stored_keys(objects)) == 1


@pytest.mark.parametrize("kind", ["crops", "records"])
def test_a_huge_foreign_device_id_is_denied_with_a_short_detail(
    ingest: Ingest, token: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by fuzzing: the detail and the log line quoted the claimed id whole, so a 300 kB id
    # made the trailers exceed the client's 8 KiB metadata limit (the device saw
    # RESOURCE_EXHAUSTED, not why it was refused) and wrote 300 kB lines to the log.
    claimed = "x" * 300_000
    with pytest.raises(grpc.RpcError) as raised:
        if kind == "crops":
            ingest.upload([crop_request(device_id=claimed)], token)
        else:
            ingest.upload_records([event_request(1, device_id=claimed)], token)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "xxxx" in (raised.value.details() or "")
    assert len(raised.value.details() or "") < 200
    assert max(len(record.getMessage()) for record in caplog.records) < 400
    assert Detection.objects.count() == 0


def test_a_crop_on_another_devices_track_is_rejected(
    ingest: Ingest, token: str, objects: ObjectStore, enqueued: mock.MagicMock
) -> None:
    other = Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    theirs = crop_request(device_id=other.id)
    assert [a.status for a in ingest.upload([theirs], issue_token(other.id))] == [STORED]
    mine = crop_request(track_id=theirs.track_id)
    (ack,) = ingest.upload([mine], token)
    assert ack.status == REJECTED
    assert "track_id" in ack.message
    assert list(Detection.objects.values_list("id", flat=True)) == [theirs.detection_id]
    assert stored_keys(objects) == [Detection.objects.get().object_key]
    assert delayed_ids(enqueued) == [[theirs.detection_id]]


def test_an_oversized_message_fails_the_stream(
    start_ingest: Callable[..., Ingest], objects: ObjectStore, token: str
) -> None:
    ingest = start_ingest(objects, max_message_bytes=64 * 1024)
    huge = crop_request(jpeg=b"\xff\xd8\xff" + bytes(100 * 1024))
    with pytest.raises(grpc.RpcError) as raised:
        ingest.upload([huge], token)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert Detection.objects.count() == 0
    assert stored_keys(objects) == []


def test_the_pixel_bound_of_a_crop_is_the_servers_setting(
    start_ingest: Callable[..., Ingest], objects: ObjectStore, token: str
) -> None:
    ingest = start_ingest(objects, max_crop_pixels=64 * 48)
    small, large = crop_request(jpeg=encode(64, 48)), crop_request(jpeg=encode(65, 48))
    assert [a.status for a in ingest.upload([small, large], token)] == [STORED, REJECTED]
    assert list(Detection.objects.values_list("id", flat=True)) == [small.detection_id]


def test_undecodable_requests_end_their_streams_and_leave_nothing_running(
    transactional_db: None, enqueued: mock.MagicMock, objects: ObjectStore, token: str
) -> None:
    # Found by fuzzing: grpcio itself answered bytes that do not parse (INTERNAL, "Exception
    # deserializing request!") and then, in a race with the method's own end, sent a second
    # status that never completed: the call stayed in the server for good, and the server
    # could no longer stop (`serve` waits for its calls on SIGTERM).
    server, port = create_server("127.0.0.1:0", IngestDeps(objects=objects))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        for method in ("UploadCrops", "UploadRecords") * 10:
            raw = channel.stream_stream(f"/{SERVICE_NAME}/{method}", request_serializer=None)
            with pytest.raises(grpc.RpcError) as raised:
                list(
                    raw(iter([b":"]), timeout=10, metadata=(("authorization", f"Bearer {token}"),))
                )
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "does not decode" in (raised.value.details() or "")
        # The server still serves, and then stops at once: no call was left behind.
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        assert [a.status for a in Ingest(stub, channel).upload([crop_request()], token)] == [STORED]
    finally:
        channel.close()
        stopped = server.stop(grace=0).wait(10)
    assert stopped


class UnavailableStore:
    """An object store whose server is down: every write fails as transient."""

    def __init__(self, real: ObjectStore) -> None:
        self._real = real

    def put(self, *args: object, **kwargs: object) -> None:
        raise ObjectStoreUnavailable("connection refused")

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_an_object_store_outage_asks_for_a_retry_and_records_nothing(
    start_ingest: Callable[..., Ingest],
    objects: ObjectStore,
    token: str,
    enqueued: mock.MagicMock,
) -> None:
    down = start_ingest(UnavailableStore(objects))
    request = crop_request()
    (ack,) = down.upload([request], token)
    assert ack.status == RETRY_LATER
    assert Detection.objects.count() == 0
    enqueued.delay.assert_not_called()
    # Once the store is back, the edge's unchanged retry is stored.
    (ack,) = start_ingest(objects).upload([request], token)
    assert ack.status == STORED


def test_a_second_token_of_the_same_device_works_too(ingest: Ingest, device: Device) -> None:
    first, second = issue_token(device.id), issue_token(device.id)
    assert ingest.upload([crop_request()], first)[0].status == STORED
    assert ingest.upload([crop_request()], second)[0].status == STORED


@pytest.fixture
def health(ingest: Ingest) -> Iterator[health_pb2_grpc.HealthStub]:
    yield health_pb2_grpc.HealthStub(ingest.channel)


@pytest.mark.parametrize("service", ["", SERVICE_NAME])
def test_probes_see_the_service_serving_without_credentials(
    health: health_pb2_grpc.HealthStub, service: str
) -> None:
    answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_health_service_names_the_ingest_service() -> None:
    assert SERVICE_NAME == "sightline.ingest.v1.IngestService"


def test_a_repeat_of_another_devices_detection_id_is_rejected(
    ingest: Ingest, token: str, objects: ObjectStore, enqueued: mock.MagicMock
) -> None:
    other = Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    theirs = crop_request(device_id=other.id)
    assert [a.status for a in ingest.upload([theirs], issue_token(other.id))] == [STORED]
    enqueued.reset_mock()
    mine = crop_request(detection_id=theirs.detection_id)
    (ack,) = ingest.upload([mine], token)
    assert ack.status == REJECTED
    assert other.id not in ack.message
    assert list(Detection.objects.values_list("device_id", flat=True)) == [other.id]
    enqueued.delay.assert_not_called()
    # The owner's repeat is still a duplicate.
    assert [a.status for a in ingest.upload([theirs], issue_token(other.id))] == [DUPLICATE]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DataError("value too long for type character varying(64)"), REJECTED),
        (IntegrityError("violates check constraint"), REJECTED),
        (OperationalError("server closed the connection unexpectedly"), RETRY_LATER),
        (ProgrammingError('relation "detections_detection" does not exist'), RETRY_LATER),
    ],
    ids=["data error", "integrity error", "connection lost", "missing table"],
)
def test_database_errors_are_classified_per_crop(
    ingest: Ingest, token: str, error: Exception, status: int
) -> None:
    # Before, every database error asked for a retry, so a crop the database refused for its
    # content came back forever and held up the device's crop lane. The error fails the whole
    # transaction of crops stored together; each crop then gets its own outcome.
    first, second = crop_request(), crop_request(OBJECTS[1])
    fails_once = failing_first(error, servicer.record_detection)
    with (
        mock.patch("cloud.ingest.servicer.record_detection", fails_once),
        mock.patch("cloud.ingest.servicer.record_detections", side_effect=error),
    ):
        answered = ingest.upload([first, second], token)
    assert [(a.detection_id, a.status) for a in answered] == [
        (first.detection_id, status),
        (second.detection_id, STORED),
    ]
    assert str(error) not in answered[0].message


def test_one_device_cannot_take_every_upload_slot(
    start_ingest: Callable[..., Ingest], objects: ObjectStore, token: str
) -> None:
    # Before, slots were counted for the server only: a device with a valid token could open
    # max_streams streams and hold them (nothing ends an idle stream on the server), and every
    # other device of the fleet was refused with RESOURCE_EXHAUSTED.
    ingest = start_ingest(objects, max_streams=4, max_streams_per_device=2)
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    release = threading.Event()
    held = []
    for item in OBJECTS[:2]:

        def hold(item: object = item) -> Iterator[ingest_pb2.UploadCropsRequest]:
            yield crop_request(item)  # type: ignore[arg-type]
            release.wait(20)

        call = ingest.stub.UploadCrops(
            hold(), timeout=30, metadata=(("authorization", f"Bearer {token}"),)
        )
        responses = iter(call)
        assert next(responses).status == STORED
        held.append(responses)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            ingest.upload_records([event_request(1)], token)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "gate-01" in (refused.value.details() or "")
        other = crop_request(OBJECTS[2], device_id="gate-02")
        assert [a.status for a in ingest.upload([other], issue_token("gate-02"))] == [STORED]
    finally:
        release.set()
    for responses in held:
        assert list(responses) == []
    # Its streams ended, the device gets its slots back.
    assert [a.status for a in ingest.upload_records([event_request(1)], token)] == [STORED]


def test_probes_answer_while_every_upload_slot_is_taken(
    start_ingest: Callable[..., Ingest], objects: ObjectStore, token: str
) -> None:
    # Before, one limit (grpc's maximum_concurrent_rpcs) covered uploads and health checks, so
    # a busy server failed its probes and got restarted or taken out of the load balancer.
    ingest = start_ingest(objects, max_streams=2)
    release = threading.Event()
    held = []
    for item in OBJECTS[:2]:

        def send(item: object = item) -> Iterator[ingest_pb2.UploadCropsRequest]:
            yield crop_request(item)  # type: ignore[arg-type]
            release.wait(20)

        call = ingest.stub.UploadCrops(
            send(), timeout=30, metadata=(("authorization", f"Bearer {token}"),)
        )
        responses = iter(call)
        assert next(responses).status == STORED  # the stream holds its slot now
        held.append((call, responses))

    with pytest.raises(grpc.RpcError) as refused:
        ingest.upload([crop_request(OBJECTS[2])], token)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as refused:
        ingest.upload_records([event_request(1)], token)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    probe = health_pb2_grpc.HealthStub(ingest.channel)
    for service in ("", SERVICE_NAME):
        answer = probe.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    release.set()
    for _call, responses in held:
        assert list(responses) == []
    # The slots are free again.
    assert [a.status for a in ingest.upload([crop_request(OBJECTS[2])], token)] == [STORED]
