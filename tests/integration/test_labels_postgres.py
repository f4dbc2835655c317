"""Marks on real PostgreSQL, where actions of several users race: batches of one label follow
each other (its row is locked), so the history always chains and an action is undone once."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cloud.ingest.processes import run_cloud
from tests.integration.test_cloud_postgres import migrated_database, on

pytestmark = pytest.mark.integration
__all__ = ["migrated_database"]

RACE = textwrap.dedent(
    """
    import json
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from django.contrib.auth.models import User
    from django.db import connection

    from cloud import backends
    from cloud.detections.services import NewDetection, record_detection
    from cloud.errors import InvalidInput
    from cloud.fleet.services import provision_device
    from cloud.labels.marks import UndoRefused, apply_marks, undo
    from cloud.labels.matching import labelled_crops
    from cloud.labels.models import Label, Mark, MarkEvent, Value
    from cloud.labels.services import create_label

    provision_device("gate-01", hardware_profile="x86-cpu")
    objects = backends.object_store()
    objects.ensure_bucket()
    ids = [f"01935f1e-7c4a-7d2e-9b1a-00000000000{i}" for i in range(4)]
    for i, pk in enumerate(ids):
        record_detection(NewDetection(
            id=pk, device_id="gate-01", camera_id="lobby",
            track_id=f"01935f1e-6b00-7c3d-8e4f-00000000000{i}",
            ts=datetime(2026, 11, 21, 9, 30, i, tzinfo=UTC),
            x_min=0.5, y_min=0.3, x_max=0.6, y_max=0.5, frame_width=768, frame_height=576,
            label="person", score=0.8, model_name="nanodet-g", model_version="1.0.0",
            jpeg=b"\\xff\\xd8\\xff",
        ), objects)
    users = [User.objects.create_user(f"user{n}") for n in range(8)]

    def once(work):
        try:
            return work()
        finally:
            connection.close()

    def name(n):
        try:
            return create_label(["Van", "van", "VAN", " van "][n % 4], users[n]).name
        except InvalidInput:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda n: once(lambda: name(n)), range(8)))
    label = Label.objects.get()
    values = [Value.POSITIVE, Value.NEGATIVE, None]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(
            lambda n: once(lambda: apply_marks(
                label, {pk: values[(n + i) % 3] for i, pk in enumerate(ids)}, users[n]
            )),
            range(8),
        ))
    chains = {}
    for pk in ids:
        events = MarkEvent.objects.filter(detection_id=pk).order_by("id")
        mark = Mark.objects.filter(detection_id=pk).first()
        chains[pk] = {
            "chained": all(a.after == b.before for a, b in zip(events, events[1:])),
            "first_before": events[0].before if events else "",
            "last_after": events.last().after if events else "",
            "mark": mark.value if mark else "",
        }
    batch = apply_marks(label, {pk: Value.POSITIVE for pk in ids}, users[0])

    def undo_it(n):
        try:
            undo(batch, users[n])
            return "undone"
        except UndoRefused as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=8) as pool:
        undone = list(pool.map(lambda n: once(lambda: undo_it(n)), range(8)))
    print(json.dumps({
        "made": made,
        "chains": chains,
        "undone": undone,
        "undo_batches": MarkEvent.objects.filter(undoes=batch).values("batch").distinct().count(),
        "labelled": sorted(labelled_crops([label.pk]).values_list("pk", flat=True)),
        "positives": sorted(
            Mark.objects.filter(value=Value.POSITIVE).values_list("detection_id", flat=True)
        ),
    }))
    """
)


def test_racing_actions_on_one_label_keep_its_history_whole(
    migrated_database: str, tmp_path: Path
) -> None:
    env = on(migrated_database, tmp_path / "objects")
    outcome = json.loads(run_cloud(env, "shell", "--no-imports", "-c", RACE))
    assert len([name for name in outcome["made"] if name is not None]) == 1
    for chain in outcome["chains"].values():
        assert chain["chained"] and chain["first_before"] == ""
        assert chain["last_after"] == chain["mark"]
    assert sorted(outcome["undone"]).count("undone") == 1
    assert outcome["undone"].count("This action was undone already.") == 7
    assert outcome["undo_batches"] == 1
    assert outcome["labelled"] == outcome["positives"]
