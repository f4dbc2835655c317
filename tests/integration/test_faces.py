"""The `faces` crop analyser in a real embed worker: PostgreSQL, S3 (SeaweedFS), Weaviate, Redis.

Person crops of a real photo (three people on a sofa) are stored as ingest stores them, one
embed task is queued, and the worker's analyser writes one `Face` row and one vector in the
`<collection>Face` Weaviate collection per face (analysing again overwrites: unit-tested).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import psycopg
import pytest
from weaviate import WeaviateClient

from tests.cloud.ingest.processes import Background, cloud_env, run_cloud
from tests.integration.rows import wait_for_detections

pytestmark = [pytest.mark.integration]

DEVICE = "gate-01"

STORE_SOFA = textwrap.dedent(
    """
    import dataclasses, json
    from cloud import backends
    from tests.cloud.conftest import PEDESTRIAN
    from tests.cloud.faces.photos import store_person_crops
    from tests.footage.photos import SOFA, photo

    def make(**changes):
        return dataclasses.replace(PEDESTRIAN, device_id="{device}", **changes)

    rows = store_person_crops(photo(SOFA), "lobby", make, backends.object_store())
    print(json.dumps([row.id for row in rows]))
    """
)

QUEUE = "from cloud.embeddings.tasks import embed_detections\nembed_detections.delay({ids!r})\n"


@pytest.fixture
def face_collection(weaviate_client: WeaviateClient, weaviate_collection: str) -> Iterator[str]:
    """The test's face collection (its collection name + "Face"), deleted before and after."""
    name = f"{weaviate_collection}Face"
    weaviate_client.collections.delete(name)
    yield name
    weaviate_client.collections.delete(name)


@pytest.fixture
def env(storage_env: dict[str, str], face_collection: str) -> dict[str, str]:
    # After the face collection's clean-up: the worker makes it when it starts.
    env = cloud_env({**storage_env, "SIGHTLINE_CLOUD_CROP_ANALYSERS": "faces"})
    run_cloud(env, "provision_device", DEVICE, "--hardware", "x86-cpu", "--site", "hq")
    return env


def face_rows(database_url: str) -> list[tuple[str, float]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT detection_id, score FROM faces_face ORDER BY 1").fetchall()
    return [(str(row[0]), float(row[1])) for row in rows]


def face_vector_ids(client: WeaviateClient, collection: str) -> set[str]:
    objects = client.collections.get(collection).iterator(include_vector=False)
    return {str(item.properties["detection_id"]) for item in objects}


def test_the_embed_worker_stores_the_faces_of_person_crops(
    env: dict[str, str],
    worker: Background,
    face_collection: str,
    weaviate_client: WeaviateClient,
) -> None:
    store = STORE_SOFA.format(device=DEVICE)
    ids: list[str] = json.loads(run_cloud(env, "shell", "--no-imports", "-c", store))
    assert len(ids) == 3
    run_cloud(env, "shell", "--no-imports", "-c", QUEUE.format(ids=ids))
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    wait_for_detections(database_url, "embedded_at IS NOT NULL", len(ids), timeout_s=60)

    faces = face_rows(database_url)
    assert sorted(detection for detection, _ in faces) == sorted(ids)
    assert all(score >= 0.8 for _, score in faces)
    assert face_vector_ids(weaviate_client, face_collection) == set(ids)
