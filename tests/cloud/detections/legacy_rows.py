"""Rows stored under detections migration 0001, and what 0002 and 0003 make of them.

`MIGRATE_LEGACY_ROWS`, run by ``python -m cloud shell -c`` on a fresh database, migrates to
0001, stores three tracks the way 0001 keyed them (by camera and `edge_id`), migrates to the
latest state and prints the stored tracks and detections as JSON; `assert_migrated` checks
them. The SQLite and the PostgreSQL tests share it, because the two databases change a
primary key's type in different ways.
"""

from __future__ import annotations

import importlib
import textwrap
import uuid
from typing import Any

import pytest

UUID_TRACK = "01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e0f"
LEGACY_KEY = "lobby/3f2a9c/17"

MIGRATE_LEGACY_ROWS = textwrap.dedent(
    f"""
    import json
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    call_command("migrate", "detections", "0001_initial", verbosity=0)
    state = MigrationExecutor(connection).loader.project_state(("detections", "0001_initial"))
    model = state.apps.get_model
    device = model("fleet", "Device").objects.create(id="gate-01", hardware_profile="x86-cpu")
    lobby = model("fleet", "Camera").objects.create(device=device, edge_id="lobby")
    yard = model("fleet", "Camera").objects.create(device=device, edge_id="yard")
    seen = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    # A track of today's edge, one of an agent before track UUIDs, and the same UUID once more
    # under another camera (0001 allowed it: edge ids were unique per camera only).
    for n, (camera, edge_id) in enumerate(
        [(lobby, "{UUID_TRACK}"), (lobby, "{LEGACY_KEY}"), (yard, "{UUID_TRACK}")]
    ):
        track = model("detections", "Track").objects.create(
            camera=camera, edge_id=edge_id, label="person", first_seen=seen, last_seen=seen
        )
        track.best_detection = model("detections", "Detection").objects.create(
            id=f"01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2{{n}}", track=track, camera=camera,
            device=device, ts=seen, x1=384.0, y1=144.0 + n, x2=768.0, y2=576.0,
            frame_width=768, frame_height=576, label="person", score=0.8,
            object_key=f"crops/{{n}}.jpg", model_name="nanodet-g", model_version="1",
        )
        track.save()

    call_command("migrate", verbosity=0)
    from cloud.detections.models import Detection, Track

    print(json.dumps({{
        "tracks": sorted(Track.objects.values_list("id", "camera__edge_id", "best_detection_id")),
        "detections": sorted(
            Detection.objects.values_list("id", "track_id", "x_min", "y_min", "x_max", "y_max")
        ),
    }}))
    """
)


def assert_migrated(outcome: dict[str, Any]) -> None:
    """Check what `MIGRATE_LEGACY_ROWS` printed."""
    namespace = importlib.import_module(
        "cloud.detections.migrations.0002_track_id_and_normalised_box"
    ).LEGACY_TRACKS
    # The UUID kept by the track that had it first; the others get ids derived from their keys.
    legacy = str(uuid.uuid5(namespace, f"gate-01/lobby/{LEGACY_KEY}"))
    reused = str(uuid.uuid5(namespace, f"gate-01/yard/{UUID_TRACK}"))
    detection = "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2{}".format
    assert sorted(map(tuple, outcome["tracks"])) == sorted(
        [
            (UUID_TRACK, "lobby", detection(0)),
            (legacy, "lobby", detection(1)),
            (reused, "yard", detection(2)),
        ]
    )
    assert [(row[0], row[1]) for row in outcome["detections"]] == [
        (detection(0), UUID_TRACK),
        (detection(1), legacy),
        (detection(2), reused),
    ]
    boxes = [row[2:] for row in outcome["detections"]]
    assert boxes == [pytest.approx([0.5, (144 + n) / 576, 1.0, 1.0]) for n in range(3)]
