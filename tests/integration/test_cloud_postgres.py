"""The models, their migrations and `record_detection` on real PostgreSQL, via `python -m cloud`.

Each test gets its own database (`postgres_database`, or `migrated_postgres_database`: a copy of
one migrated by `python -m cloud migrate` once per run), where the deployment's own entry points
(`migrate`, `shell`) run exactly as in production, and racing uploads hit PostgreSQL's real
locking.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import psycopg
import pytest

from tests.cloud.detections.legacy_rows import MIGRATE_LEGACY_ROWS, assert_migrated
from tests.cloud.ingest.processes import cloud_env, run_cloud

pytestmark = pytest.mark.integration

# Eight threads upload the same detection at once, as retries from a flapping link would, each
# with its own JPEG; then eight threads upload different detections of one new track, racing
# for its best crop.
RACE = textwrap.dedent(
    """
    import json
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace
    from datetime import UTC, datetime

    from django.db import connection

    from cloud import backends
    from cloud.detections.models import Detection, Track
    from cloud.detections.services import NewDetection, record_detection
    from cloud.fleet.services import provision_device

    provision_device("gate-01", hardware_profile="x86-cpu")
    objects = backends.object_store()
    objects.ensure_bucket()
    detection = NewDetection(
        id="01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b", device_id="gate-01", camera_id="lobby",
        track_id="01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e17",
        ts=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        x_min=0.53, y_min=0.31, x_max=0.61, y_max=0.57, frame_width=768, frame_height=576,
        label="person", score=0.82, model_name="nanodet-g", model_version="1.0.0",
        jpeg=b"\\xff\\xd8\\xff",
    )

    def upload(i: int) -> bool:
        try:
            jpeg = detection.jpeg + bytes([i])
            return record_detection(replace(detection, jpeg=jpeg), objects).created
        finally:
            connection.close()

    def upload_other(i: int) -> bool:
        try:
            return record_detection(replace(
                detection, id=f"01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a{i:02x}",
                track_id="01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e18", score=0.5 + i / 100,
            ), objects).created
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(upload, range(8)))
        others = list(pool.map(upload_other, range(8)))
    print(json.dumps({
        "created": created,
        "others": others,
        "detections": Detection.objects.count(),
        "best": dict(Track.objects.values_list("id", "best_detection_id")),
        "jpeg": list(objects.get(Detection.objects.get(pk=detection.id).object_key)),
        "objects": len(list(objects.list("crops/"))),
    }))
    """
)


# Eight threads store groups of crops at once, every group spread over the same four tracks
# (new at first) in its own order, as streams of one camera's crops would, and four threads
# store groups of summaries of the same tracks: no group may deadlock or lose another's update
# of a track's span or best crop.
RACE_GROUPS = textwrap.dedent(
    """
    import json, random
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from cloud import backends
    from cloud.detections.labels import track_labels
    from cloud.detections.models import Detection, Track
    from cloud.detections.services import (
        NewDetection, NewTrackSummary, record_detections, record_track_summaries,
    )
    from cloud.fleet.services import provision_device

    provision_device("gate-01", hardware_profile="x86-cpu")
    objects = backends.object_store()
    objects.ensure_bucket()
    tracks = [f"01935f1e-6b00-7c3d-8e4f-00000000000{t}" for t in range(4)]
    start = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

    def group(g: int) -> list[NewDetection]:
        order = random.Random(g).sample(range(8), 8)
        return [
            NewDetection(
                id=f"01935f1e-7c4a-7d2e-9b1a-0000000000{g}{i}", device_id="gate-01",
                camera_id="lobby", track_id=tracks[i % 4],
                ts=start + timedelta(seconds=g * 8 + i),
                x_min=0.53, y_min=0.31, x_max=0.61, y_max=0.57, frame_width=768,
                frame_height=576, label="person", score=(g * 8 + i) / 100,
                model_name="nanodet-g", model_version="1.0.0", jpeg=b"\\xff\\xd8\\xff",
            )
            for i in order
        ]

    def store(g: int) -> None:
        try:
            record_detections(group(g), objects, ThreadPoolExecutor(4))
        finally:
            connection.close()

    def summarise(g: int) -> None:
        try:
            record_track_summaries("gate-01", [
                NewTrackSummary(
                    camera_id="lobby", track_id=track, label="person",
                    first_seen=start - timedelta(seconds=g + 1), last_seen=start,
                )
                for track in random.Random(g).sample(tracks, 4)
            ])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda g: store(g) if g < 8 else summarise(g - 8), range(12)))
    print(json.dumps({
        "detections": Detection.objects.count(),
        "objects": len(list(objects.list("crops/"))),
        "tracks": {
            t.id: [t.best_detection_id, t.first_seen.isoformat(), t.last_seen.isoformat()]
            for t in Track.objects.all()
        },
    }))
    """
)


@pytest.fixture
def migrated_database(migrated_postgres_database: str) -> str:
    """This test's database, a copy of the run's database migrated by `python -m cloud migrate`
    (see tests/conftest.py)."""
    return migrated_postgres_database


def on(database_url: str, objects: Path | None = None) -> dict[str, str]:
    """The cloud's environment on `database_url`, with a local object store in `objects`."""
    variables = {"SIGHTLINE_CLOUD_DATABASE_URL": database_url}
    if objects is not None:
        variables["SIGHTLINE_CLOUD_OBJECT_STORE_ROOT"] = str(objects)
    return cloud_env(variables)


def test_it_records_racing_uploads_once_and_keeps_the_best_crop(
    migrated_database: str, tmp_path: Path
) -> None:
    env = on(migrated_database, tmp_path / "objects")
    outcome = json.loads(run_cloud(env, "shell", "--no-imports", "-c", RACE))
    assert sorted(outcome["created"]) == [False] * 7 + [True]
    # The first payload wins, JPEG included: the stored crop is the one of the upload that
    # created the row.
    assert outcome["jpeg"] == [0xFF, 0xD8, 0xFF, outcome["created"].index(True)]
    assert outcome["others"] == [True] * 8
    assert outcome["detections"] == outcome["objects"] == 9
    assert outcome["best"] == {
        "01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e17": "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b",
        "01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e18": "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a07",
    }


def test_the_migrations_key_legacy_tracks_by_the_edges_track_id(postgres_database: str) -> None:
    outcome = run_cloud(on(postgres_database), "shell", "--no-imports", "-c", MIGRATE_LEGACY_ROWS)
    assert_migrated(json.loads(outcome))


def test_it_creates_the_indexes_the_search_filters_use(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'detections_detection'"
        ).fetchall()
        tracks = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'detections_track'"
        ).fetchall()
    assert {"detections_camera_ts", "detections_label_ts", "detections_ts"} <= {r[0] for r in rows}
    assert {
        "tracks_last_seen",
        "tracks_camera_last_seen",
        "tracks_label_last_seen",
        "tracks_duration",
    } <= {r[0] for r in tracks}


# A crop with its context frame, a summary with its path, and the track grid's filters, whose
# time arithmetic (durations, the longest-duration bound) PostgreSQL evaluates itself.
TRACK_GRID = textwrap.dedent(
    """
    import json
    from datetime import UTC, datetime, timedelta

    from cloud import backends
    from cloud.detections.labels import track_labels
    from cloud.detections.models import Detection, Track
    from cloud.detections.services import (
        NewDetection, PathPoint, record_detection, record_track_summary,
    )
    from cloud.fleet.services import provision_device
    from cloud.search.criteria import Order, SearchCriteria

    provision_device("gate-01", hardware_profile="x86-cpu")
    objects = backends.object_store()
    objects.ensure_bucket()
    start = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    tracks = []
    for n, seconds in enumerate((5, 120, 600)):
        track = f"01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e{n:02d}"
        tracks.append(track)
        first = start + timedelta(minutes=20 * n)
        record_detection(NewDetection(
            id=f"01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a{n:02d}", device_id="gate-01",
            camera_id="lobby", track_id=track, ts=first, x_min=0.5, y_min=0.3, x_max=0.6,
            y_max=0.6, frame_width=768, frame_height=576, label="person", score=0.8,
            model_name="nanodet-g", model_version="1", jpeg=b"\\xff\\xd8crop\\xff\\xd9",
            context_jpeg=b"\\xff\\xd8scene\\xff\\xd9",
        ), objects)
        record_track_summary(
            "gate-01", camera_id="lobby", track_id=track, label="person", first_seen=first,
            last_seen=first + timedelta(seconds=seconds),
            path=[PathPoint(first, 0.1, 0.2), PathPoint(first + timedelta(seconds=seconds), 0.9,
                                                       0.8)],
        )

    def ids(criteria, order=Order.NEWEST):
        return [tracks.index(t.pk) for t in criteria.tracks(order)]

    detection = Detection.objects.get(track_id=tracks[0])
    print(json.dumps({
        "context": objects.get(detection.context_key).decode("latin-1"),
        "path": Track.objects.get(pk=tracks[1]).path,
        "all": ids(SearchCriteria()),
        "oldest": ids(SearchCriteria(), Order.OLDEST),
        "long": ids(SearchCriteria(min_duration=timedelta(minutes=2))),
        "short": ids(SearchCriteria(max_duration=timedelta(minutes=2))),
        # Track 1 runs 09:50-09:52: a range from 09:51 finds it, and the one after it.
        "range": ids(SearchCriteria(since=start + timedelta(minutes=21),
                                    until=start + timedelta(minutes=45))),
        "labels": track_labels(),
        "no labels": track_labels([12345]),
    }))
    """
)


def test_the_track_grid_filters_and_the_new_extras_on_postgres(
    migrated_database: str, tmp_path: Path
) -> None:
    env = on(migrated_database, tmp_path / "objects")
    outcome = json.loads(run_cloud(env, "shell", "--no-imports", "-c", TRACK_GRID))
    assert outcome["context"] == "\xff\xd8scene\xff\xd9"
    start = 1795253400.0 + 20 * 60  # 2026-11-21 09:50 UTC
    assert outcome["path"] == [[start, 0.1, 0.2], [start + 120, 0.9, 0.8]]
    assert outcome["all"] == [2, 1, 0]
    assert outcome["oldest"] == [0, 1, 2]
    assert outcome["long"] == [2, 1]
    assert outcome["short"] == [1, 0]
    assert outcome["range"] == [2, 1]
    assert (outcome["labels"], outcome["no labels"]) == (["person"], [])


def test_racing_groups_of_crops_and_summaries_neither_deadlock_nor_lose_an_update(
    migrated_database: str, tmp_path: Path
) -> None:
    env = on(migrated_database, tmp_path / "objects")
    outcome = json.loads(run_cloud(env, "shell", "--no-imports", "-c", RACE_GROUPS))
    assert outcome["detections"] == outcome["objects"] == 64
    # Track t holds crops i = t and t + 4 of every group g (score and second g * 8 + i): the
    # best and the end of the span are group 7's crop t + 4. The summaries start them all up to
    # 4 s before the first crop.
    assert outcome["tracks"] == {
        f"01935f1e-6b00-7c3d-8e4f-00000000000{t}": [
            f"01935f1e-7c4a-7d2e-9b1a-00000000007{t + 4}",
            "2026-11-21T09:29:56+00:00",
            f"2026-11-21T09:31:{t:02d}+00:00",
        ]
        for t in range(4)
    }
