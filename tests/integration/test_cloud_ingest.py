"""Crops uploaded over gRPC end up exactly once in PostgreSQL, S3 and Weaviate.

Everything runs as deployed: `python -m cloud ingest_grpc` and a Celery worker of the `embed`
queue are real processes on the services from `tests/services/manage.py up`, with settings from
the environment, and the test acts as an edge device. Each test has its own database, bucket,
Weaviate collection and Redis key prefix.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from minio import Minio
from weaviate import WeaviateClient

from cloud.lib.vectorstore import object_uuid
from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.cloud.ingest.processes import (
    Background,
    cloud_env,
    run_cloud,
)
from tests.cloud.ingest.uploads import Ingest, crop_request, event_request, track_request
from tests.cloud.lib.jpeg_samples import declaring

pytestmark = pytest.mark.integration

DEVICE = "gate-01"
STORED = ingest_pb2.ACK_STATUS_STORED
DUPLICATE = ingest_pb2.ACK_STATUS_DUPLICATE
REJECTED = ingest_pb2.ACK_STATUS_REJECTED_INVALID
RETRY_LATER = ingest_pb2.ACK_STATUS_RETRY_LATER


@pytest.fixture
def env(storage_env: dict[str, str]) -> dict[str, str]:
    """The cloud's environment on this test's database, bucket, collection and key prefix."""
    env = cloud_env(storage_env)
    run_cloud(env, "provision_device", DEVICE, "--hardware", "x86-cpu")
    return env


@pytest.fixture
def token(env: dict[str, str]) -> str:
    """A device token, issued with the operator's command."""
    return run_cloud(env, "device_token", DEVICE).strip()


def wait_until_embedded(database_url: str, ids: list[str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM detections_detection "
                "WHERE id = ANY(%s) AND embedded_at IS NOT NULL",
                (ids,),
            ).fetchone()
            if row is not None and row[0] == len(ids):
                return
            time.sleep(0.5)
    raise AssertionError(f"{ids} not all embedded within {timeout_s} s")


def test_uploaded_crops_are_stored_and_embedded_exactly_once(
    env: dict[str, str],
    token: str,
    worker: Background,
    edge: Ingest,
    s3_client: Minio,
    s3_bucket: str,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
) -> None:
    health = health_pb2_grpc.HealthStub(edge.channel)
    check = health_pb2.HealthCheckRequest(service="sightline.ingest.v1.IngestService")
    assert health.Check(check, timeout=10).status == health_pb2.HealthCheckResponse.SERVING

    requests = [crop_request(item, device_id=DEVICE) for item in OBJECTS[:4]]
    ids = [r.detection_id for r in requests]
    assert [a.status for a in edge.upload(requests, token)] == [STORED] * 4
    wait_until_embedded(env["SIGHTLINE_CLOUD_DATABASE_URL"], ids)

    # The edge lost the acks and sends everything again, on a new stream.
    assert [a.status for a in edge.upload(requests, token)] == [DUPLICATE] * 4

    with psycopg.connect(env["SIGHTLINE_CLOUD_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT id, object_key FROM detections_detection ORDER BY id"
        ).fetchall()
    assert sorted(ids) == [row[0] for row in rows]
    keys = sorted(o.object_name or "" for o in s3_client.list_objects(s3_bucket, recursive=True))
    assert keys == sorted(row[1] for row in rows)
    for request in requests:
        key = next(k for k in keys if k.endswith(f"/{request.detection_id}.jpg"))
        assert s3_client.get_object(s3_bucket, key).read() == request.jpeg

    collection = weaviate_client.collections.get(weaviate_collection)
    assert collection.aggregate.over_all(total_count=True).total_count == 4
    stored = {str(o.uuid) for o in collection.iterator()}
    assert stored == {str(object_uuid(i)) for i in ids}


def test_the_server_refuses_a_wrong_token_and_stops_gracefully(
    env: dict[str, str], token: str, ingest_server: tuple[Background, int], edge: Ingest
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        edge.upload([crop_request(device_id=DEVICE)], token + "x")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    process, _ = ingest_server
    assert process.stop() == 0
    assert "ingest server stopped" in process.output()


def test_items_the_database_would_refuse_stall_nothing(
    env: dict[str, str], token: str, edge: Ingest, s3_client: Minio, s3_bucket: str
) -> None:
    # Before, a crop the database refused for its content (a NUL in a text) was answered
    # RETRY_LATER, so the edge sent it again forever and backed off its whole crop lane.
    hostile_crops = [
        crop_request(device_id=DEVICE, label="per\x00son"),
        crop_request(device_id=DEVICE, model=model_pb2.ModelRef(name="nano\x00det", version="1")),
        crop_request(device_id=DEVICE, frame_time=Timestamp(seconds=253_402_300_799)),
        crop_request(device_id=DEVICE, frame_time=Timestamp(seconds=2**40)),
    ]
    good_crop = crop_request(device_id=DEVICE)
    crop_acks = edge.upload([*hostile_crops, good_crop], token)
    assert [a.status for a in crop_acks] == [REJECTED] * len(hostile_crops) + [STORED]

    hostile_records = [
        event_request(1, device_id=DEVICE, message="lost\x00"),
        event_request(2, device_id=DEVICE, attributes={"reason": "\x00"}),
        event_request(3, device_id=DEVICE, name="camera\x00.lost"),
        event_request(2**63, device_id=DEVICE),
        event_request(2**64 - 1, device_id=DEVICE),
        event_request(4, device_id=DEVICE, time=Timestamp(seconds=253_402_300_799)),
        event_request(5, device_id=DEVICE, time=Timestamp(seconds=-62_135_596_800)),
        event_request(6, device_id=DEVICE, attributes={f"k{i}": "v" * 1024 for i in range(64)}),
        track_request(7, str(uuid.uuid4()), device_id=DEVICE, label="p\x00"),
        track_request(8, str(uuid.uuid4()), device_id=DEVICE, label="p" * 65),
    ]
    good_records = [
        event_request(20, device_id=DEVICE),
        track_request(21, good_crop.track_id, device_id=DEVICE),
    ]
    record_acks = edge.upload_records([*hostile_records, *good_records], token)
    assert [a.status for a in record_acks] == [REJECTED] * len(hostile_records) + [STORED] * 2

    with psycopg.connect(env["SIGHTLINE_CLOUD_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT id FROM detections_detection").fetchall() == [
            (good_crop.detection_id,)
        ]
        assert conn.execute("SELECT seq FROM fleet_deviceevent").fetchall() == [(20,)]
        assert conn.execute("SELECT id FROM detections_track").fetchall() == [(good_crop.track_id,)]
    keys = [o.object_name for o in s3_client.list_objects(s3_bucket, recursive=True)]
    assert keys == [f"crops/{DEVICE}/lobby/2026/11/21/{good_crop.detection_id}.jpg"]


def test_oversized_and_malformed_crops_are_refused_and_the_server_serves_on(
    env: dict[str, str], token: str, edge: Ingest, s3_client: Minio, s3_bucket: str
) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    # A stream that stays open meanwhile, as another upload in progress.
    requests: queue.Queue[Any] = queue.Queue()
    ongoing = iter(edge.stub.UploadCrops(iter(requests.get, None), timeout=60, metadata=metadata))
    first, last = (crop_request(item, device_id=DEVICE) for item in OBJECTS[:2])
    requests.put(first)
    assert next(ongoing).status == STORED

    # Over the server's 4 MiB limit: that stream fails, before the servicer sees the crop.
    real = crop_jpeg(OBJECTS[2])
    oversized = crop_request(device_id=DEVICE, jpeg=real[:-2] + bytes(5 * 1024**2) + real[-2:])
    with pytest.raises(grpc.RpcError) as raised:
        edge.upload([oversized], token)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    # Crops that are no whole JPEG within the embedder's bound, checked without decoding.
    malformed = [
        crop_request(device_id=DEVICE, jpeg=declaring(60_000, 60_000)),
        crop_request(device_id=DEVICE, jpeg=real[: len(real) // 2]),
        crop_request(device_id=DEVICE, jpeg=b"\x89PNG\r\n\x1a\n" + bytes(64)),
    ]
    good = crop_request(OBJECTS[3], device_id=DEVICE)
    answers = edge.upload([*malformed, good], token)
    assert [a.status for a in answers] == [REJECTED] * 3 + [STORED]
    assert [a.message.split(":")[0] for a in answers[:3]] == ["jpeg"] * 3

    # The stream open all along goes on.
    requests.put(last)
    assert next(ongoing).status == STORED
    requests.put(None)
    assert list(ongoing) == []

    stored = [first, good, last]
    with psycopg.connect(env["SIGHTLINE_CLOUD_DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT id FROM detections_detection").fetchall()
    assert sorted(row[0] for row in rows) == sorted(r.detection_id for r in stored)
    names = [o.object_name or "" for o in s3_client.list_objects(s3_bucket, recursive=True)]
    assert sorted(name.rsplit("/", 1)[1] for name in names) == sorted(
        f"{r.detection_id}.jpg" for r in stored
    )


def kill_connections(database_url: str, postgres_url: str) -> None:
    """Terminate every connection to the database of `database_url` (a restart, a failover)."""
    database = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    assert killed


@pytest.mark.parametrize("kind", ["crops", "records"])
def test_a_lost_database_connection_costs_one_retry_not_the_stream(
    env: dict[str, str], token: str, edge: Ingest, postgres_url: str, kind: str
) -> None:
    # The server's connection dies mid-stream: the item that hit it is RETRY_LATER, and the
    # next item of the same stream reconnects and is stored. Before, a connection broken outside
    # a transaction stayed in place until the stream ended, failing every later record.
    # Requests as the test feeds them, one at a time; None ends the stream.
    requests: queue.Queue[Any] = queue.Queue()
    metadata = (("authorization", f"Bearer {token}"),)
    items: list[Message]
    call: Iterable[Any]
    if kind == "crops":
        items = [crop_request(item, device_id=DEVICE) for item in OBJECTS[:3]]
        call = edge.stub.UploadCrops(iter(requests.get, None), timeout=60, metadata=metadata)
    else:
        items = [event_request(seq, device_id=DEVICE) for seq in (1, 2, 3)]
        call = edge.stub.UploadRecords(iter(requests.get, None), timeout=60, metadata=metadata)
    acks: Iterator[Any] = iter(call)
    first, second, third = items
    requests.put(first)
    assert next(acks).status == STORED

    kill_connections(env["SIGHTLINE_CLOUD_DATABASE_URL"], postgres_url)
    requests.put(second)
    assert next(acks).status == RETRY_LATER
    requests.put(third)
    assert next(acks).status == STORED
    requests.put(second)  # the edge's retry
    assert next(acks).status == STORED
    requests.put(None)
    assert list(acks) == []
