"""The models and `record_detection` on real PostgreSQL, through `python -m cloud`.

Each test gets its own database (`postgres_database`), where the deployment's own entry points
(`migrate`, `shell`) run exactly as in production, and racing uploads hit PostgreSQL's real
locking.
"""

from __future__ import annotations

import json
import textwrap

import psycopg
import pytest

from tests.cloud.ingest.processes import cloud_env, run_cloud

pytestmark = pytest.mark.integration

# Eight threads upload the same detection at once, as retries from a flapping link would; then
# eight threads upload different detections of one new track, racing for its best crop.
RACE = textwrap.dedent(
    """
    import json
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace
    from datetime import UTC, datetime

    from django.db import connection

    from cloud.detections.models import Detection, Track
    from cloud.detections.services import NewDetection, record_detection
    from cloud.fleet.models import Device

    Device.objects.create(id="gate-01", hardware_profile="x86-cpu")
    detection = NewDetection(
        id="01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b", device_id="gate-01", camera_id="lobby",
        track_key="lobby/3f2a9c/17", ts=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        x1=412.0, y1=180.5, x2=468.0, y2=331.0, frame_width=768, frame_height=576,
        label="person", score=0.82, object_key="crops/gate-01/lobby/x.jpg",
        model_name="nanodet-g", model_version="1.0.0",
    )

    def upload(_: int) -> bool:
        try:
            return record_detection(detection)
        finally:
            connection.close()

    def upload_other(i: int) -> bool:
        try:
            return record_detection(replace(
                detection, id=f"01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a{i:02x}",
                track_key="lobby/3f2a9c/18", score=0.5 + i / 100,
            ))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(upload, range(8)))
        others = list(pool.map(upload_other, range(8)))
    print(json.dumps({
        "created": created,
        "others": others,
        "detections": Detection.objects.count(),
        "best": dict(Track.objects.values_list("edge_id", "best_detection_id")),
    }))
    """
)


@pytest.fixture
def migrated_database(postgres_database: str) -> str:
    """This test's database (see tests/conftest.py), migrated by `python -m cloud migrate`."""
    run_cloud(on(postgres_database), "migrate", "--noinput")
    return postgres_database


def on(database_url: str) -> dict[str, str]:
    """The cloud's environment on `database_url`."""
    return cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": database_url})


def test_it_records_racing_uploads_once_and_keeps_the_best_crop(migrated_database: str) -> None:
    outcome = json.loads(run_cloud(on(migrated_database), "shell", "--no-imports", "-c", RACE))
    assert sorted(outcome["created"]) == [False] * 7 + [True]
    assert outcome["others"] == [True] * 8
    assert outcome["detections"] == 9
    assert outcome["best"] == {
        "lobby/3f2a9c/17": "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b",
        "lobby/3f2a9c/18": "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a07",
    }


def test_it_creates_the_indexes_the_search_filters_use(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'detections_detection'"
        ).fetchall()
    assert {"detections_camera_ts", "detections_label_ts", "detections_ts"} <= {r[0] for r in rows}
