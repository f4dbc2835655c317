from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from cloud.detections.models import Detection, Track
from cloud.detections.services import NewDetection, record_detection
from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Camera, Device

MakeDetection = Callable[..., NewDetection]
SECOND_ID = "01935f1e-7d00-7a11-8c22-0d3e4f5a6b7c"
ULID = "01JD8X3V9N6Q2R4T5W7Y8Z0A1B"


def test_it_records_a_detection_with_its_camera_and_track(
    provisioned_device: Device, make_detection: MakeDetection
) -> None:
    detection = make_detection()
    assert record_detection(detection) is True
    row = Detection.objects.select_related("camera", "track").get(pk=detection.id)
    assert (row.camera.device_id, row.camera.edge_id) == ("gate-01", "lobby")
    assert row.track.edge_id == "lobby/3f2a9c/17"
    assert (row.x1, row.y1, row.x2, row.y2) == (412.0, 180.5, 468.0, 331.0)
    assert (row.frame_width, row.frame_height) == (768, 576)
    assert row.object_key == detection.object_key
    assert row.embedded_at is None
    assert row.track.best_detection_id == detection.id


def test_it_records_a_retried_upload_once(
    provisioned_device: Device, make_detection: MakeDetection
) -> None:
    assert record_detection(make_detection()) is True
    # A retry after a lost ack carries the same id; even a different payload must not add a row.
    assert record_detection(make_detection(score=0.99)) is False
    assert Detection.objects.count() == 1
    assert Detection.objects.get().score == pytest.approx(0.82)
    assert Track.objects.count() == Camera.objects.count() == 1


def test_it_accepts_ulid_ids(provisioned_device: Device, make_detection: MakeDetection) -> None:
    assert record_detection(make_detection(id=ULID)) is True
    assert Detection.objects.filter(pk=ULID).exists()


def test_it_keeps_the_highest_scoring_detection_as_the_tracks_best(
    provisioned_device: Device, make_detection: MakeDetection
) -> None:
    first = make_detection()
    better = make_detection(id=SECOND_ID, score=0.91, ts=first.ts + timedelta(seconds=2))
    worse = make_detection(id=ULID, score=0.4, ts=first.ts - timedelta(seconds=1))
    for detection in (first, better, worse):
        record_detection(detection)
    track = Track.objects.get()
    assert track.best_detection_id == SECOND_ID
    assert track.first_seen == worse.ts
    assert track.last_seen == better.ts
    assert track.detections.count() == 3


def test_it_keeps_tracks_of_different_cameras_apart(
    provisioned_device: Device, make_detection: MakeDetection
) -> None:
    record_detection(make_detection())
    record_detection(make_detection(id=SECOND_ID, camera_id="yard", track_key="yard/3f2a9c/17"))
    assert sorted(Camera.objects.values_list("edge_id", flat=True)) == ["lobby", "yard"]
    assert Track.objects.count() == 2


@pytest.mark.django_db
def test_it_refuses_detections_from_an_unprovisioned_device(make_detection: MakeDetection) -> None:
    with pytest.raises(NotFound):
        record_detection(make_detection(device_id="ghost"))
    assert not Camera.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "01935F1E-7C4A-7D2E-9B1A-3C5D7E9F1A2B"}, "id"),
        ({"camera_id": "../etc"}, "camera_id"),
        ({"track_key": "lobby//17"}, "track_key"),
        ({"x1": 500.0}, "x1, x2"),
        ({"y2": 600.0}, "y1, y2"),
        ({"x2": float("nan")}, "x1, x2"),
        ({"score": 1.5}, "score"),
        ({"label": ""}, "label"),
        ({"frame_width": 0}, "frame size"),
    ],
)
def test_it_rejects_detections_that_break_the_contract(
    provisioned_device: Device,
    make_detection: MakeDetection,
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        record_detection(make_detection(**changes))
    assert not Detection.objects.exists()
