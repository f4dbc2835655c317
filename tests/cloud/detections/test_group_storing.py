"""Groups in one transaction (`record_detections`, `record_track_summaries`) and the
statements an item costs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cloud.detections.models import Detection, Track
from cloud.detections.services import (
    NewDetection,
    NewTrackSummary,
    NotAllNew,
    record_detection,
    record_detections,
    record_track_summaries,
)
from cloud.errors import InvalidInput
from cloud.fleet.models import Camera, Device
from cloud.lib.objectstore import ObjectStore, ObjectStoreUnavailable

MakeDetection = Callable[..., NewDetection]


def fresh(make_detection: MakeDetection, **changes: object) -> NewDetection:
    return make_detection(id=str(uuid.uuid4()), **changes)


def stored_keys(objects: ObjectStore) -> list[str]:
    return sorted(objects.list("crops/"))


@pytest.fixture
def puts() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(4) as pool:
        yield pool


def test_a_group_is_stored_with_its_tracks_in_one_go(
    provisioned_device: Device,
    make_detection: MakeDetection,
    objects: ObjectStore,
    puts: ThreadPoolExecutor,
) -> None:
    existing = make_detection(score=0.6)
    record_detection(existing, objects)
    new_track = str(uuid.uuid4())
    group = [
        fresh(make_detection, score=0.5, ts=existing.ts - timedelta(seconds=3)),
        fresh(make_detection, score=0.9, ts=existing.ts + timedelta(seconds=1), label="bicycle"),
        fresh(make_detection, track_id=new_track, score=0.7),
        fresh(make_detection, track_id=new_track, score=0.8, label="dog"),
        fresh(make_detection, track_id=new_track, score=0.8),
    ]
    record_detections(group, objects, puts)
    assert Detection.objects.count() == 6
    assert stored_keys(objects) == sorted(Detection.objects.values_list("object_key", flat=True))
    for detection in group:
        assert objects.get(Detection.objects.get(pk=detection.id).object_key) == detection.jpeg
    track = Track.objects.get(pk=existing.track_id)
    # The existing track widened both ways and took the group's best crop and its label.
    assert (track.first_seen, track.last_seen) == (group[0].ts, group[1].ts)
    assert (track.best_detection_id, track.label) == (group[1].id, "bicycle")
    created = Track.objects.get(pk=new_track)
    # Ties keep the earlier crop.
    assert (created.best_detection_id, created.label) == (group[3].id, "dog")
    assert created.camera.edge_id == "lobby"


def test_a_group_keeps_a_better_stored_best_crop(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    best = make_detection(score=0.95)
    record_detection(best, objects)
    record_detections([fresh(make_detection, score=0.5), fresh(make_detection)], objects)
    assert Track.objects.get().best_detection_id == best.id


@pytest.mark.parametrize(
    "odd_one",
    ["stored already", "twice in the group", "breaks a rule", "another camera's track"],
)
def test_a_group_with_one_odd_crop_stores_nothing(
    provisioned_device: Device,
    make_detection: MakeDetection,
    objects: ObjectStore,
    puts: ThreadPoolExecutor,
    odd_one: str,
) -> None:
    stored = make_detection()
    record_detection(stored, objects)
    before = (stored_keys(objects), Track.objects.count(), Camera.objects.count())
    fine = [fresh(make_detection, track_id=str(uuid.uuid4()), camera_id="yard") for _ in range(3)]
    odd = {
        "stored already": stored,
        "twice in the group": fine[0],
        "breaks a rule": fresh(make_detection, label="per\x00son"),
        "another camera's track": fresh(make_detection, camera_id="yard"),
    }[odd_one]
    with pytest.raises(NotAllNew):
        record_detections([*fine, odd], objects, puts)
    # Nothing of the group: no row, no object, no track or camera made on first sight.
    assert list(Detection.objects.values_list("id", flat=True)) == [stored.id]
    assert (stored_keys(objects), Track.objects.count(), Camera.objects.count()) == before


def test_a_failed_put_leaves_no_row_of_the_group(
    provisioned_device: Device,
    make_detection: MakeDetection,
    objects: ObjectStore,
    puts: ThreadPoolExecutor,
) -> None:
    group = [fresh(make_detection) for _ in range(4)]
    calls: list[str] = []

    def put(key: str, data: bytes, **kwargs: object) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise ObjectStoreUnavailable("connection refused")
        objects.put(key, data, **kwargs)  # type: ignore[arg-type]

    flaky = mock.Mock(spec=ObjectStore, put=put)
    with pytest.raises(ObjectStoreUnavailable):
        record_detections(group, flaky, puts)
    assert len(calls) == 4  # every put had ended before the rollback
    assert not Detection.objects.exists()
    assert not Track.objects.exists()


def test_a_crop_costs_few_statements(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    # Before, a crop on an existing track took 11 statements (a device lookup, get_or_create
    # of camera and track, a lookup and a savepoint pair around the insert, the best score, the
    # track's update). Now: camera, track lock, best score, insert, track update.
    record_detection(make_detection(), objects)
    later = make_detection().ts + timedelta(seconds=1)
    with CaptureQueriesContext(connection) as single:
        record_detection(fresh(make_detection, score=0.9, ts=later), objects)
    assert len(single.captured_queries) <= 5 + 2  # and the transaction's begin and commit
    group = [fresh(make_detection, ts=later + timedelta(seconds=i)) for i in range(16)]
    with CaptureQueriesContext(connection) as grouped:
        record_detections(group, objects)
    assert len(grouped.captured_queries) <= 5 + 2


def summary(
    detection: NewDetection, start_s: float, end_s: float, **changes: object
) -> NewTrackSummary:
    fields: dict[str, Any] = {
        "camera_id": detection.camera_id,
        "track_id": detection.track_id,
        "label": "person",
        "first_seen": detection.ts + timedelta(seconds=start_s),
        "last_seen": detection.ts + timedelta(seconds=end_s),
    }
    return NewTrackSummary(**(fields | changes))


def test_summaries_stored_together_answer_as_if_stored_one_by_one(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    known = make_detection()
    record_detection(known, objects)  # its track spans [0, 0]
    new = make_detection(track_id=str(uuid.uuid4()))
    summaries = [
        summary(known, 0, 0),  # says nothing new
        summary(known, 0, 5),  # widens
        summary(new, 1, 2, label="dog"),  # creates, with its label
        summary(new, 1, 2),  # a repeat
        summary(new, 0, 3, label="cat"),  # widens; the label stays
        summary(known, 1, 4),  # inside the widened span
    ]
    with CaptureQueriesContext(connection) as statements:
        outcomes = record_track_summaries(known.device_id, summaries)
    assert outcomes == [False, True, True, False, True, False]
    tracks = {t.id: t for t in Track.objects.all()}
    assert (tracks[known.track_id].first_seen, tracks[known.track_id].last_seen) == (
        known.ts,
        known.ts + timedelta(seconds=5),
    )
    created = tracks[new.track_id]
    assert (created.label, created.first_seen, created.last_seen) == (
        "dog",
        new.ts,
        new.ts + timedelta(seconds=3),
    )
    # Camera, lock, insert of the new track, update of the widened one, begin and commit.
    assert len(statements.captured_queries) <= 6


def test_a_summary_of_another_cameras_track_stores_none_of_its_group(
    provisioned_device: Device, make_detection: MakeDetection, objects: ObjectStore
) -> None:
    known = make_detection()
    record_detection(known, objects)
    new = make_detection(track_id=str(uuid.uuid4()))
    with pytest.raises(InvalidInput, match="belongs to another camera"):
        record_track_summaries(
            known.device_id, [summary(new, 0, 1), summary(known, 0, 9, camera_id="yard")]
        )
    assert list(Track.objects.values_list("id", flat=True)) == [known.track_id]
