"""Similarity suggestions for new crops in a real embed worker: PostgreSQL, S3 (SeaweedFS),
Weaviate, Redis.

A pedestrian crop of vtest.avi is stored and embedded, then marked positive for a label; the
same pedestrian one frame later arrives as a new crop of another sighting, and the worker's
`VECTOR_CONSUMERS` entry (`cloud.labels.suggestions:score_new_crops`) gives it a similarity
score for the label while it embeds it.
"""

from __future__ import annotations

import json
import textwrap

import psycopg
import pytest

from tests.cloud.ingest.processes import Background, cloud_env, run_cloud
from tests.integration.rows import wait_for_detections

pytestmark = [pytest.mark.integration]

DEVICE = "gate-01"

# One crop of the pedestrian in frame `frame` of vtest.avi, stored as ingest stores it, its
# embedding queued; before it, with `positive` set, a label made and that crop marked positive.
STORE_AND_QUEUE = textwrap.dedent(
    """
    import dataclasses, json, uuid
    import cv2
    from cloud import backends
    from cloud.access.models import Role
    from cloud.detections.services import record_detection
    from cloud.embeddings.tasks import embed_detections
    from cloud.labels.marks import apply_marks
    from cloud.labels.models import Label, Value
    from tests.cloud.conftest import PEDESTRIAN
    from tests.footage.clips import VTEST, source
    from tests.users import make_user

    positive = {positive!r}
    if positive:
        label = Label.objects.create(name="Man in a dark coat")
        apply_marks(label, {{positive: Value.POSITIVE}}, make_user("labeler", Role.LABELER))
    capture = cv2.VideoCapture(str(source(VTEST)))
    capture.set(cv2.CAP_PROP_POS_FRAMES, {frame})
    ok, image = capture.read()
    ok, jpeg = cv2.imencode(".jpg", image[180:331, 412:468])
    crop = dataclasses.replace(
        PEDESTRIAN, device_id="{device}", id=str(uuid.uuid4()), track_id=str(uuid.uuid4()),
        jpeg=bytes(jpeg),
    )
    record_detection(crop, backends.object_store())
    embed_detections.delay([crop.id])
    print(json.dumps(crop.id))
    """
)


@pytest.fixture
def env(storage_env: dict[str, str]) -> dict[str, str]:
    env = cloud_env({**storage_env, "SIGHTLINE_CLOUD_CROP_ANALYSERS": "none"})
    run_cloud(env, "provision_device", DEVICE, "--hardware", "x86-cpu", "--site", "hq")
    return env


def store_and_queue(env: dict[str, str], frame: int, positive: str | None = None) -> str:
    script = STORE_AND_QUEUE.format(frame=frame, device=DEVICE, positive=positive)
    detection_id: str = json.loads(run_cloud(env, "shell", "--no-imports", "-c", script))
    return detection_id


def test_a_new_crop_like_a_positive_gets_a_similarity_suggestion_from_the_worker(
    env: dict[str, str], worker: Background
) -> None:
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    positive = store_and_queue(env, 120)
    wait_for_detections(database_url, "embedded_at IS NOT NULL", 1, timeout_s=60)
    new = store_and_queue(env, 121, positive=positive)
    wait_for_detections(database_url, "embedded_at IS NOT NULL", 2, timeout_s=60)
    with psycopg.connect(database_url, autocommit=True) as conn:
        scores = conn.execute(
            "SELECT detection_id, source, confidence FROM labels_score"
        ).fetchall()
    assert [(detection, source) for detection, source, _ in scores] == [(new, "similarity")]
    assert 0.5 < scores[0][2] <= 1.0
