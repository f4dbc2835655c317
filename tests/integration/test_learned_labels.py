"""A learned label in the real embed worker: PostgreSQL, S3 (SeaweedFS), Weaviate, Redis.

Real vtest.avi crops are stored as ingest stores them and embedded by the worker: the parked
van in six frames (two tracks) and the three walkers (three tracks). The van crops are marked
positive for "parked van" and the walkers negative; the worker trains the label's classifier
and backfills its scores. Then new crops arrive (the van in two later frames, a walker) and
the worker, embedding them, applies the learned label to the van's only: `Score` rows of
source ``classifier`` with the classifier's version. An alert on the label, made before the new
crops came, fires from those learned scores: one event per new van crop, none for the walker.
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

# Stores the first crops and has them embedded; marks them and has the worker train and
# backfill; then stores the new crops and queues them. Prints the ids: {name: [ids]} per phase.
SCRIPT = textwrap.dedent(
    """
    import json, time
    from django.utils import timezone
    from cloud import backends
    from cloud.detections.models import Detection
    from cloud.detections.services import record_detection
    from cloud.embeddings.tasks import embed_detections
    from cloud.ingest.crops import parse_upload
    from cloud.labels.models import Label, Mark
    from cloud.learned.models import Backfill
    from cloud.learned.tasks import queue_training
    from cloud.access.models import Role
    from cloud.alerts.models import Alert
    from tests.users import make_user
    from tests.cloud.ingest.footage import OBJECTS, VtestObject
    from tests.cloud.ingest.uploads import crop_request

    def store(plan):
        stored = {{}}
        for name, frames, track in plan:
            base = next(o for o in OBJECTS if o.name == name)
            for frame in frames:
                item = VtestObject(name, base.label, frame, base.box)
                request = crop_request(item, device_id="{device}", track_id=track)
                detection = parse_upload(request)
                record_detection(detection, backends.object_store())
                stored.setdefault(name, []).append(detection.id)
        embed_detections.delay([i for ids in stored.values() for i in ids])
        return stored

    def wait(done, what):
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    first = store({first!r})
    wait(lambda: Detection.objects.filter(embedded_at__isnull=False).count() == 12, "embedded")
    label = Label.objects.create(name="parked van")
    for name, ids in first.items():
        value = "positive" if name == "van" else "negative"
        for i in ids:
            Mark.objects.create(label=label, detection_id=i, value=value, at=timezone.now())
    queue_training(label.pk, delay_s=0)
    wait(lambda: Backfill.objects.filter(finished_at__isnull=False).exists(), "backfilled")
    Alert.objects.create(
        owner=make_user("ana", Role.LABELER), name="van is back", kind="label", label=label,
        threshold=0.5, mqtt=True, min_interval_s=0,
    )
    print(json.dumps([first, store({new!r})]))
    """
)

FIRST = [
    ("van", [0, 3, 6], "01930000-0000-7000-8000-000000000001"),
    ("van", [9, 12, 15], "01930000-0000-7000-8000-000000000002"),
    ("man-on-grass", [0, 3], "01930000-0000-7000-8000-000000000003"),
    ("man-on-road", [0, 3], "01930000-0000-7000-8000-000000000004"),
    ("woman", [0, 3], "01930000-0000-7000-8000-000000000005"),
]
NEW = [
    ("van", [40, 60], "01930000-0000-7000-8000-000000000006"),
    ("woman", [0], "01930000-0000-7000-8000-000000000007"),
]


@pytest.fixture
def env(storage_env: dict[str, str]) -> dict[str, str]:
    env = cloud_env(storage_env)
    run_cloud(env, "provision_device", DEVICE, "--hardware", "x86-cpu", "--site", "hq")
    return env


def classifier_scores(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT detection_id, version FROM labels_score WHERE source = 'classifier'"
        ).fetchall()
    return {str(detection): int(version) for detection, version in rows}


def test_the_embed_worker_applies_a_learned_label_to_new_crops(
    env: dict[str, str], worker: Background
) -> None:
    script = SCRIPT.format(device=DEVICE, first=FIRST, new=NEW)
    first, new = json.loads(run_cloud(env, "shell", "--no-imports", "-c", script))
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    wait_for_detections(database_url, "embedded_at IS NOT NULL", 15, timeout_s=30)

    scores = classifier_scores(database_url)
    # The backfill scored the marked van crops; the worker scored the van's new crops with
    # version 1 as it embedded them, and not the walker's.
    assert set(scores) == {*first["van"], *new["van"]}
    assert set(scores.values()) == {1}
    with psycopg.connect(database_url, autocommit=True) as conn:
        events = conn.execute("SELECT detection_id FROM alerts_alertevent").fetchall()
    assert sorted(str(detection) for (detection,) in events) == sorted(new["van"])
