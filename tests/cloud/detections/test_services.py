from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.detections.models import Detection, Track
from cloud.detections.services import NewDetection, record_detection, record_track_summary
from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Camera, Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore import ObjectStore

MakeDetection = Callable[..., NewDetection]
SECOND_ID = "01935f1e-7d00-7a11-8c22-0d3e4f5a6b7c"
ULID = "01JD8X3V9N6Q2R4T5W7Y8Z0A1B"
OTHER_TRACK = "01935f1e-6b00-7c3d-8e4f-000000000002"


def stored_keys(objects: ObjectStore) -> list[str]:
    return sorted(objects.list("crops/"))


def test_it_records_a_detection_with_its_camera_and_track(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    detection = make_detection()
    assert record_detection(detection, objects).created is True
    row = Detection.objects.select_related("camera", "track").get(pk=detection.id)
    assert (row.camera.device_id, row.camera.edge_id) == ("gate-01", "lobby")
    assert row.track_id == row.track.id == detection.track_id
    # Stored as the wire sends it: normalised, with the frame size to get pixels back.
    assert (row.x_min, row.y_min, row.x_max, row.y_max) == (
        detection.x_min,
        detection.y_min,
        detection.x_max,
        detection.y_max,
    )
    assert (row.frame_width, row.frame_height) == (768, 576)
    pixels = (
        row.x_min * row.frame_width,
        row.y_min * row.frame_height,
        row.x_max * row.frame_width,
        row.y_max * row.frame_height,
    )
    assert pixels == pytest.approx((412.0, 180.5, 468.0, 331.0))
    assert row.object_key == f"crops/gate-01/lobby/2026/11/21/{detection.id}.jpg"
    assert objects.get(row.object_key) == detection.jpeg
    assert objects.stat(row.object_key).content_type == "image/jpeg"
    assert row.embedded_at is None
    assert row.track.best_detection_id == detection.id


def test_it_records_a_retried_upload_once(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    first = make_detection()
    assert record_detection(first, objects).created is True
    # A retry after a lost ack carries the same id; even a different payload must not add a
    # row, nor replace the stored crop.
    retry = make_detection(score=0.99, jpeg=b"\xff\xd8\xff another crop")
    assert record_detection(retry, objects).created is False
    assert Detection.objects.count() == 1
    assert Detection.objects.get().score == pytest.approx(0.82)
    assert Track.objects.count() == Camera.objects.count() == 1
    assert objects.get(Detection.objects.get().object_key) == first.jpeg


def test_a_repeat_says_whether_the_detection_still_needs_its_embedding(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    assert record_detection(make_detection(), objects).needs_embedding is True
    assert record_detection(make_detection(), objects).needs_embedding is True
    Detection.objects.update(embedded_at=make_detection().ts)
    assert record_detection(make_detection(), objects).needs_embedding is False


def test_a_repeat_on_another_track_changes_nothing(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    record_detection(make_detection(), objects)
    moved = make_detection(camera_id="yard", track_id=OTHER_TRACK)
    assert record_detection(moved, objects).created is False
    assert list(Track.objects.values_list("id", flat=True)) == [make_detection().track_id]
    assert list(Camera.objects.values_list("edge_id", flat=True)) == ["lobby"]


def test_it_accepts_ulid_ids(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    assert record_detection(make_detection(id=ULID), objects).created is True
    assert Detection.objects.filter(pk=ULID).exists()


def test_it_keeps_the_highest_scoring_detection_as_the_tracks_best(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    first = make_detection()
    better = make_detection(id=SECOND_ID, score=0.91, ts=first.ts + timedelta(seconds=2))
    worse = make_detection(id=ULID, score=0.4, ts=first.ts - timedelta(seconds=1))
    for detection in (first, better, worse):
        record_detection(detection, objects)
    track = Track.objects.get()
    assert track.best_detection_id == SECOND_ID
    assert track.first_seen == worse.ts
    assert track.last_seen == better.ts
    assert track.detections.count() == 3


def test_it_keeps_tracks_of_different_cameras_apart(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    record_detection(make_detection(), objects)
    record_detection(make_detection(id=SECOND_ID, camera_id="yard", track_id=OTHER_TRACK), objects)
    assert sorted(Camera.objects.values_list("edge_id", flat=True)) == ["lobby", "yard"]
    assert Track.objects.count() == 2


@pytest.mark.parametrize(
    "changes",
    [{"camera_id": "yard"}, {"device_id": "gate-02"}],
    ids=["another camera", "another device"],
)
def test_a_device_cannot_add_to_a_track_of_another_camera(
    provisioned_device: Device,
    make_detection: MakeDetection,
    objects: ObjectStore,
    changes: dict[str, str],
) -> None:
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    record_detection(make_detection(), objects)
    with pytest.raises(InvalidInput, match=r"track_id: .* belongs to another camera"):
        record_detection(make_detection(id=SECOND_ID, **changes), objects)
    assert list(Detection.objects.values_list("id", flat=True)) == [make_detection().id]
    assert list(Camera.objects.values_list("device_id", "edge_id")) == [("gate-01", "lobby")]
    assert stored_keys(objects) == [Detection.objects.get().object_key]


@pytest.mark.django_db
def test_it_refuses_detections_from_an_unprovisioned_device(
    make_detection: MakeDetection, objects: ObjectStore
) -> None:
    with pytest.raises(NotFound):
        record_detection(make_detection(device_id="ghost"), objects)
    assert not Camera.objects.exists()
    assert stored_keys(objects) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": ""}, "label"),
        ({"label": "x" * 65}, "label"),
        ({"model_name": ""}, "model_name"),
        ({"model_version": "1" * 65}, "model_version"),
        ({"ts": datetime(2026, 11, 21, 9, 30)}, "ts"),
        ({"ts": datetime(1969, 12, 31, 23, 59, tzinfo=UTC)}, "ts"),
        ({"ts": datetime(2200, 1, 1, tzinfo=UTC)}, "ts"),
        ({"label": "per\x00son"}, "label: must not contain NUL"),
        ({"model_name": "nano\x00det"}, "model_name: must not contain NUL"),
        ({"model_version": "1\x00"}, "model_version: must not contain NUL"),
    ],
)
def test_it_rejects_detections_that_break_the_domain_rules(
    provisioned_device: Device,
    make_detection: MakeDetection,
    objects: ObjectStore,
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        record_detection(make_detection(**changes), objects)
    assert not Detection.objects.exists()
    assert not Track.objects.exists()
    assert stored_keys(objects) == []


def test_a_summary_cannot_claim_a_track_of_another_device(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    detection = make_detection()
    record_detection(detection, objects)
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    with pytest.raises(InvalidInput, match="belongs to another camera"):
        record_track_summary(
            "gate-02",
            camera_id="lobby",
            track_id=detection.track_id,
            label="car",
            first_seen=detection.ts - timedelta(minutes=5),
            last_seen=detection.ts,
        )
    track = Track.objects.get()
    assert (track.camera.device_id, track.label, track.first_seen) == (
        "gate-01",
        "person",
        detection.ts,
    )


def test_another_devices_detection_id_is_refused_not_a_duplicate(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    mine = make_detection()
    record_detection(mine, objects)
    # gate-02 sends gate-01's detection id (a bug or a probe) on a track of its own: it is not
    # told that the crop is stored, and nothing of its payload is kept.
    theirs = make_detection(device_id="gate-02", camera_id="yard", track_id=OTHER_TRACK)
    with pytest.raises(InvalidInput, match=r"^detection_id: ") as refused:
        record_detection(theirs, objects)
    assert "gate-01" not in str(refused.value)
    assert "lobby" not in str(refused.value)
    assert list(Detection.objects.values_list("id", "device_id")) == [(mine.id, "gate-01")]
    assert list(Camera.objects.values_list("device_id", "edge_id")) == [("gate-01", "lobby")]
    assert list(Track.objects.values_list("id", flat=True)) == [mine.track_id]
    # The owner's own repeat is still a duplicate.
    assert record_detection(mine, objects).created is False


def summarise(detection: NewDetection, **changes: object) -> bool:
    arguments: dict[str, Any] = {
        "camera_id": detection.camera_id,
        "track_id": detection.track_id,
        "label": "person",
        "first_seen": detection.ts,
        "last_seen": detection.ts + timedelta(seconds=5),
    }
    return record_track_summary(detection.device_id, **(arguments | changes))


def test_a_summary_says_whether_it_changed_the_track(
    provisioned_device: Device, make_detection: MakeDetection
) -> None:
    detection = make_detection()
    assert summarise(detection) is True
    # A repeat, and an older summary after a newer one: the track says all they say already.
    assert summarise(detection) is False
    assert summarise(detection, last_seen=detection.ts + timedelta(seconds=2)) is False
    assert summarise(detection, last_seen=detection.ts + timedelta(seconds=9)) is True
    assert Track.objects.get().last_seen == detection.ts + timedelta(seconds=9)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"label": "per\x00son"}, "label: must not contain NUL"),
        ({"label": "p" * 65}, "label"),
        ({"first_seen": datetime(1969, 1, 1, tzinfo=UTC)}, "first_seen"),
        ({"last_seen": datetime(2200, 1, 1, tzinfo=UTC)}, "last_seen"),
    ],
)
def test_it_rejects_summaries_the_store_cannot_hold(
    provisioned_device: Device,
    make_detection: MakeDetection,
    changes: dict[str, object],
    problem: str,
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        summarise(make_detection(), **changes)
    assert not Track.objects.exists()
