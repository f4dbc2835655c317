"""`track_labels`: the classes the tracks have, each once, optionally of some cameras."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from cloud.detections.labels import track_labels
from cloud.detections.models import Track
from cloud.detections.services import NewDetection, record_detection
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore


def test_each_class_once_sorted_and_only_of_the_cameras_asked(
    provisioned_device: Device, make_detection: Callable[..., NewDetection], objects: ObjectStore
) -> None:
    assert track_labels() == []
    for n, (camera, label) in enumerate(
        [("lobby", "person"), ("lobby", "car"), ("yard", "person"), ("yard", "bicycle")] * 2
    ):
        detection = make_detection(
            id=str(uuid.UUID(int=n + 1)),
            track_id=str(uuid.UUID(int=1000 + n)),
            camera_id=camera,
            label=label,
            ts=make_detection().ts + timedelta(seconds=n),
        )
        record_detection(detection, objects)
    assert track_labels() == ["bicycle", "car", "person"]
    lobby = Track.objects.filter(camera__edge_id="lobby").values_list("camera_id", flat=True)[0]
    assert track_labels({lobby}) == ["car", "person"]
    assert track_labels(set()) == []
