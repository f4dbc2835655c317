"""The orphan sweep: crop objects whose row never committed are deleted, and nothing else."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from pytest_django.fixtures import Settings

from cloud import backends
from cloud.detections.models import Detection
from cloud.detections.orphans import OrphanSweepSettings, sweep_orphan_crops
from cloud.detections.services import NewDetection, record_detection
from cloud.detections.tasks import sweep_orphan_crops as sweep_task
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore, crop_key

SWEEP = OrphanSweepSettings(interval_s=3600, grace_s=900, days=3)
NOW = datetime.now(UTC)


def orphan(objects: ObjectStore, tmp_path: Path, detection: NewDetection, age: timedelta) -> str:
    """Write the crop's object as ingest does, but no row: a crash before the commit."""
    key = crop_key(detection.device_id, detection.camera_id, detection.ts, detection.id)
    objects.put(key, detection.jpeg, content_type="image/jpeg")
    written = (NOW - age).timestamp()
    os.utime(tmp_path / "objects" / "objects" / f"{key}@data", (written, written))
    return key


@pytest.fixture
def fresh(
    provisioned_device: Device, make_detection: Callable[..., NewDetection]
) -> Callable[..., NewDetection]:
    """Detections captured `hours_ago` with ids of their own."""
    count = 0

    def make(hours_ago: float = 1.0, **changes: object) -> NewDetection:
        nonlocal count
        count += 1
        return make_detection(
            id=f"01935f1e-7c4a-7d2e-9b1a-{count:012d}",
            ts=NOW - timedelta(hours=hours_ago),
            **changes,
        )

    return make


def test_it_deletes_old_crop_objects_without_a_row_and_keeps_the_rest(
    fresh: Callable[..., NewDetection], objects: ObjectStore, tmp_path: Path
) -> None:
    stored = fresh()
    record_detection(stored, objects)  # its row also makes the camera known
    old_orphan = orphan(objects, tmp_path, fresh(), timedelta(hours=2))
    young_orphan = orphan(objects, tmp_path, fresh(), timedelta(minutes=5))
    report = sweep_orphan_crops(objects, SWEEP, now=NOW)
    assert report.deleted == [old_orphan]
    assert report.restored == []
    assert not objects.exists(old_orphan)
    assert objects.exists(young_orphan)
    assert objects.exists(Detection.objects.get(pk=stored.id).object_key)


def test_it_looks_only_at_the_recent_days_of_known_cameras(
    fresh: Callable[..., NewDetection], objects: ObjectStore, tmp_path: Path
) -> None:
    record_detection(fresh(), objects)
    long_ago = orphan(objects, tmp_path, fresh(hours_ago=24 * 5), timedelta(days=5))
    unknown_camera = orphan(objects, tmp_path, fresh(camera_id="yard"), timedelta(hours=2))
    assert sweep_orphan_crops(objects, SWEEP, now=NOW).deleted == []
    assert objects.exists(long_ago)
    assert objects.exists(unknown_camera)


def test_an_orphan_whose_row_commits_during_the_sweep_is_put_back(
    fresh: Callable[..., NewDetection], objects: ObjectStore, tmp_path: Path
) -> None:
    # The edge re-sends the crop while the sweep deletes its object: ingest inserts the row,
    # puts the object (before the sweep's delete) and commits after the sweep looked for rows.
    record_detection(fresh(), objects)
    late = fresh()
    key = orphan(objects, tmp_path, late, timedelta(hours=2))
    delete = objects.delete

    def delete_while_the_row_commits(deleted: str) -> None:
        delete(deleted)
        # The re-sent crop's put landed just before the delete: only its commit is late.
        assert record_detection(late, mock.Mock(spec=ObjectStore)).created

    with mock.patch.object(objects, "delete", side_effect=delete_while_the_row_commits):
        report = sweep_orphan_crops(objects, SWEEP, now=NOW)
    assert (report.deleted, report.restored) == ([], [key])
    assert objects.get(key) == late.jpeg


def test_the_beat_task_sweeps_the_configured_store(
    fresh: Callable[..., NewDetection],
    objects: ObjectStore,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.ORPHAN_SWEEP = {"interval_s": 60, "grace_s": 600, "days": 2}
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    record_detection(fresh(), objects)
    key = orphan(objects, tmp_path, fresh(), timedelta(minutes=11))
    assert sweep_task() == 1
    assert not objects.exists(key)
