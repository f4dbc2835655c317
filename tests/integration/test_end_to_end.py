"""Recorded video in, searchable objects out: the whole path on the real services.

The edge agent (`python -m edge run`, a real process) runs NanoDet-g on ten seconds of vtest.avi,
speaks MQTT v5 to Mosquitto as its ACL-confined device account and uploads crops to
`python -m cloud ingest_grpc`; the MQTT bridge, a Celery worker of the `embed` queue and Celery
beat run as deployed, on PostgreSQL, S3 (SeaweedFS), Redis and Weaviate. Each id the edge made
is then looked up in every store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import psycopg
import pytest
from minio import Minio
from weaviate import WeaviateClient
from weaviate.classes.query import Filter

from cloud.lib.vectorstore import object_uuid
from tests.cloud.ingest.processes import Background, device_cloud, run_cloud
from tests.edge.agent_log import SPOOLED
from tests.footage.clips import clip_path
from tests.integration.agent import AGENT, agent_config, agent_env
from tests.integration.rows import wait_for_detections
from tests.services.contract import MqttBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env(storage_env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    return device_cloud(storage_env, mqtt_broker, mqtt_site)


def run_edge(
    work: Path, broker: MqttBroker, site: str, ingest_port: int, token: str
) -> tuple[dict[str, int], dict[str, str]]:
    """Run the agent to the end of the clip; return its summary and its crops' ids -> labels."""
    camera = {"id": "lobby", "source": {"url": str(clip_path("vtest-10s.avi")), "fps": None}}
    config = agent_config(work, broker, site, ingest_port, [camera])
    result = subprocess.run(
        [sys.executable, *AGENT, str(config)],
        env=agent_env(token, broker.device.password),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary, {crop: label for crop, label, _ in SPOOLED.findall(result.stderr)}


def test_every_crop_the_edge_made_is_searchable_exactly_once(
    env: dict[str, str],
    worker: Background,
    beat: Background,
    ingest_server: tuple[Background, int],
    bridge: Background,
    tmp_path: Path,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    s3_client: Minio,
    s3_bucket: str,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
) -> None:
    token = run_cloud(env, "device_token", mqtt_broker.device.username).strip()
    summary, labels = run_edge(tmp_path, mqtt_broker, mqtt_site, ingest_server[1], token)
    assert summary["crops_sent"] == summary["crops_queued"] == len(labels) > 0
    assert Counter(labels.values())["person"] >= 3
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    wait_for_detections(database_url, "embedded_at IS NOT NULL", len(labels), timeout_s=180)

    # Database: one row per edge id, nothing else; the bridge recorded the device and tracks.
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, object_key, label, context_key FROM detections_detection"
        ).fetchall()
        device = conn.execute(
            "SELECT status, agent_version FROM fleet_device WHERE id = %s",
            (mqtt_broker.device.username,),
        ).fetchone()
        tracks_with_best = conn.execute(
            "SELECT count(*) FROM detections_track WHERE best_detection_id IS NOT NULL"
        ).fetchone()
        tracks_with_path = conn.execute(
            "SELECT count(*) FROM detections_track WHERE jsonb_array_length(path) > 0"
        ).fetchone()
    assert sorted(row[0] for row in rows) == sorted(labels)
    assert {row[0]: row[2] for row in rows} == labels
    assert device is not None
    assert device[0] == "offline"  # the agent said goodbye when the clip ended
    assert device[1]
    assert tracks_with_best is not None
    assert tracks_with_best[0] == summary["tracks"]
    # Every track's final summary carried its path (box centres across the frame).
    assert tracks_with_path == tracks_with_best

    # Health history: the agent's heartbeats, each camera's figures as it measured them.
    with psycopg.connect(database_url) as conn:
        samples = conn.execute(
            "SELECT cameras->'lobby', latency_p95_ms, detections FROM monitoring_heartbeatsample"
        ).fetchall()
    busy = [sample for sample in samples if sample[1] is not None]
    assert busy, samples  # heartbeats while the detector ran
    for (_, _, target_fps, p50, p95, detections), latency, total in busy:
        assert target_fps == 0  # fps null: every frame, no target rate
        assert 0 < p50 <= p95 == pytest.approx(latency, abs=0.01)
        assert detections == total
    # An agent's first heartbeat has no interval to rate; the later ones do.
    assert any(lobby[1] > 0 for lobby, _, _ in busy), busy
    assert sum(sample[2] for sample in samples) <= summary["detections"]

    # Object store: exactly the rows' keys (crops and context frames), each naming its id.
    keys = sorted(o.object_name or "" for o in s3_client.list_objects(s3_bucket, recursive=True))
    contexts = sorted(row[3] for row in rows if row[3])
    assert keys == sorted([row[1] for row in rows] + contexts)
    assert all(key.endswith(f"/{detection_id}.jpg") for detection_id, key, _, _ in rows)
    # A context frame with each track's first crop at least: the whole 768 x 576 frame, 640 wide.
    assert len(contexts) >= summary["tracks"]
    context = s3_client.get_object(s3_bucket, contexts[0]).read()
    frame = cv2.imdecode(np.frombuffer(context, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (480, 640, 3)

    # Vector store: one object per id, under the uuid derived from it.
    collection = weaviate_client.collections.get(weaviate_collection)
    stored = [str(o.uuid) for o in collection.iterator(include_vector=False)]
    assert sorted(stored) == sorted(str(object_uuid(i)) for i in labels)

    # Similar search for a person: its nearest neighbours are mostly people.
    people = [i for i, label in labels.items() if label == "person"]
    hits_per_query: list[str] = []
    for query_id in people[:5]:
        query = collection.query.fetch_object_by_id(object_uuid(query_id), include_vector=True)
        assert query is not None
        result = collection.query.near_vector(
            query.vector["default"],
            limit=5,
            filters=Filter.by_id().not_equal(object_uuid(query_id)),
            return_properties=["label"],
        )
        hits_per_query.extend(str(o.properties["label"]) for o in result.objects)
    share = Counter(hits_per_query)["person"] / len(hits_per_query)
    assert share >= 0.6, Counter(hits_per_query)
