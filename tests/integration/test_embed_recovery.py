"""Crops reach the vector store despite a killed worker or a lost task, on the real services.

A Celery worker of the `embed` queue (solo pool, late acks, as deployed and as the demo runs it)
and Celery beat run against Redis, PostgreSQL, S3 (SeaweedFS) and Weaviate. The crops are real
vtest.avi crops stored the way ingest stores them (`record_detection`), by a
``python -m cloud shell`` in the test's environment.
"""

from __future__ import annotations

import json
import statistics
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from weaviate import WeaviateClient

from tests.cloud.ingest.processes import Background, celery_worker, cloud_env, run_cloud
from tests.integration.rows import wait_for_detections

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICE = "gate-01"

STORE_CROPS = textwrap.dedent(
    """
    import json, uuid
    from datetime import UTC, datetime
    from cloud import backends
    from cloud.detections.services import NewDetection, record_detection
    from tests.cloud.ingest.footage import FRAME_HEIGHT, FRAME_WIDTH, OBJECTS, crop_jpeg

    ids, now = [], datetime.now(UTC)
    for copy in range({copies}):
        for item in OBJECTS:
            x1, y1, x2, y2 = item.box
            detection = NewDetection(
                id=str(uuid.uuid4()), device_id="{device}", camera_id="lobby",
                track_id=str(uuid.uuid4()), ts=now, x_min=x1 / FRAME_WIDTH,
                y_min=y1 / FRAME_HEIGHT, x_max=x2 / FRAME_WIDTH, y_max=y2 / FRAME_HEIGHT,
                frame_width=FRAME_WIDTH, frame_height=FRAME_HEIGHT, label=item.label,
                score=0.8, model_name="nanodet-g", model_version="1", jpeg=crop_jpeg(item),
            )
            assert record_detection(detection, backends.object_store()).created
            ids.append(detection.id)
    print(json.dumps(ids))
    """
)

QUEUE_ONE_TASK = textwrap.dedent(
    """
    import json
    from cloud.embeddings.tasks import embed_detections
    embed_detections.delay(json.loads(open({path!r}).read()))
    """
)

# Queue one crop at a time on an idle worker and time it from `delay` to `embedded_at` (both
# clocks are this machine's).
TIME_LONE_CROPS = textwrap.dedent(
    """
    import json, time
    from datetime import UTC, datetime
    from cloud.detections.models import Detection
    from cloud.embeddings.tasks import embed_detections

    latencies = []
    for detection_id in json.loads(open({path!r}).read()):
        queued = datetime.now(UTC)
        embed_detections.delay([detection_id])
        while (row := Detection.objects.get(pk=detection_id)).embedded_at is None:
            time.sleep(0.002)
        latencies.append((row.embedded_at - queued).total_seconds())
    print(json.dumps(latencies))
    """
)


@pytest.fixture
def env(storage_env: dict[str, str], settings: dict[str, str]) -> dict[str, str]:
    env = cloud_env({**storage_env, **settings})
    run_cloud(env, "provision_device", DEVICE, "--hardware", "x86-cpu", "--site", "hq")
    return env


@pytest.fixture
def settings() -> dict[str, str]:
    """More cloud settings for one test (parametrize `settings` to set them)."""
    return {}


def store_crops(env: dict[str, str], copies: int) -> list[str]:
    """Store `copies` x 8 crops as ingest does, queuing no embed task; return their ids."""
    ids: list[str] = json.loads(
        run_cloud(
            env, "shell", "--no-imports", "-c", STORE_CROPS.format(copies=copies, device=DEVICE)
        )
    )
    return ids


def attempts_of_embedded(database_url: str) -> list[int]:
    """The embed run count of each embedded detection."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT embed_attempts FROM detections_detection WHERE embedded_at IS NOT NULL"
        ).fetchall()
    return [int(row[0]) for row in rows]


def vector_count(client: WeaviateClient, collection: str) -> int:
    return sum(1 for _ in client.collections.get(collection).iterator(include_vector=False))


@pytest.mark.parametrize(
    "settings",
    [
        {
            "SIGHTLINE_CLOUD_CELERY_TASK_SOFT_TIME_LIMIT": "8",
            "SIGHTLINE_CLOUD_CELERY_TASK_TIME_LIMIT": "10",
            "SIGHTLINE_CLOUD_CELERY_VISIBILITY_TIMEOUT": "15",
        }
    ],
)
def test_the_task_of_a_killed_worker_runs_again_soon_after_the_time_limit(
    env: dict[str, str],
    tmp_path: Path,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
) -> None:
    ids = store_crops(env, copies=32)  # 256 crops: one task takes seconds, time to kill it
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    worker = Background(celery_worker("embed"), env, tmp_path / "worker.log")
    try:
        worker.wait_for(r"ready\.")
        run_cloud(
            env,
            "shell",
            "--no-imports",
            "-c",
            QUEUE_ONE_TASK.format(path=str(tmp_path / "ids.json")),
        )
        # The run started (it counts first): kill it mid-batch.
        wait_for_detections(database_url, "embed_attempts > 0", len(ids), 30, poll_s=0.05)
    finally:
        worker.kill()
    killed = time.monotonic()
    assert attempts_of_embedded(database_url) == []
    restarted = Background(celery_worker("embed"), env, tmp_path / "restarted.log")
    try:
        # Redis hands the unacknowledged task out again once the visibility timeout (15 s)
        # has passed, checked every 10 s by the worker; before, that took an hour.
        wait_for_detections(database_url, "embedded_at IS NOT NULL", len(ids), timeout_s=90)
    finally:
        restarted.stop()
    recovered_s = time.monotonic() - killed
    assert recovered_s < 15 + 10 + 30, recovered_s
    # The run that died counted once; the redelivered run embedded each crop alone.
    assert set(attempts_of_embedded(database_url)) == {2}
    assert vector_count(weaviate_client, weaviate_collection) == len(ids)


@pytest.mark.parametrize(
    "settings",
    [{"SIGHTLINE_CLOUD_EMBED_SWEEP_INTERVAL_S": "1", "SIGHTLINE_CLOUD_EMBED_SWEEP_GRACE_S": "3"}],
)
def test_beat_sweeps_up_crops_whose_task_was_never_queued(
    env: dict[str, str],
    worker: Background,
    beat: Background,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
) -> None:
    # What ingest leaves when it dies between the STORED ack and queuing the embed task.
    ids = store_crops(env, copies=2)
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    took_s = wait_for_detections(database_url, "embedded_at IS NOT NULL", len(ids), 60)
    # Within grace period + beat interval of being stored, plus the run itself.
    assert took_s < 3 + 1 + 10, took_s
    assert "queued embedding again for" in worker.output()
    assert vector_count(weaviate_client, weaviate_collection) == len(ids)


def test_a_lone_crop_is_embedded_promptly(
    env: dict[str, str], worker: Background, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = store_crops(env, copies=3)
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    latencies = sorted(
        json.loads(
            run_cloud(
                env,
                "shell",
                "--no-imports",
                "-c",
                TIME_LONE_CROPS.format(path=str(tmp_path / "ids.json")),
            )
        )
    )
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    with capsys.disabled():
        print(f"\nqueue -> embedded, one crop per task: p50 {p50:.3f} s, p95 {p95:.3f} s")
    # A lone crop used to run in a batch padded to 32 crops (about 0.3 s of model time alone).
    assert p50 < 0.25, latencies
