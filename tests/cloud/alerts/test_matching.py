"""Matching new crops against alerts: labels' scores, saved searches, scope, once per crop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from cloud.access.models import Role
from cloud.alerts.matching import match_new_crops
from cloud.alerts.models import Alert, AlertEvent, Delivery
from cloud.attributes.models import DetectionColours
from cloud.detections.models import Detection
from cloud.fleet.models import CameraGroup
from cloud.labels.models import Label, Score
from tests.cloud.alerts.conftest import AddCrop, unit
from tests.users import make_user

pytestmark = pytest.mark.django_db

Capture = Callable[..., object]


def _score(label: Label, crop: Detection, confidence: float, source: str) -> None:
    Score.objects.create(
        label=label,
        detection=crop,
        track_id=crop.track_id,
        source=source,
        confidence=confidence,
        updated_at=timezone.now(),
    )


def _made_before_the_crops() -> None:
    """Date the alerts an hour back: only crops received after an alert was made match."""
    Alert.objects.update(created_at=timezone.now() - timedelta(hours=1))


def _vectors(count: int) -> np.ndarray:
    return np.stack([unit(1, 0, 0, 0)] * count)


def test_a_label_alert_matches_new_crops_scored_at_or_above_its_threshold(
    owner: User, add_crop: AddCrop, queued: list[int], django_capture_on_commit_callbacks: Capture
) -> None:
    van, staff = Label.objects.create(name="van"), Label.objects.create(name="staff")
    alert = Alert.objects.create(
        owner=owner, name="vans", kind="label", label=van, threshold=0.8, webhook_url="http://x/"
    )
    learned, similar, low, other = (add_crop() for _ in range(4))
    _score(van, learned, 0.93, Score.Source.CLASSIFIER)
    _score(van, similar, 0.80, Score.Source.SIMILARITY)
    _score(van, low, 0.79, Score.Source.CLASSIFIER)
    _score(staff, other, 0.99, Score.Source.CLASSIFIER)

    with django_capture_on_commit_callbacks(execute=True):
        match_new_crops([learned, similar, low, other], _vectors(4))

    events = {e.detection_id: e for e in AlertEvent.objects.filter(alert=alert)}
    assert set(events) == {learned.id, similar.id}
    assert events[learned.id].score == pytest.approx(0.93)
    assert events[learned.id].track_id == learned.track_id
    # Both within the default minute: the first is sent, the second suppressed and counted.
    assert [events[learned.id].webhook, events[similar.id].webhook] == [Delivery.PENDING, ""]
    assert events[similar.id].suppressed
    assert queued == [events[learned.id].pk]


def test_a_retried_batch_records_and_sends_each_match_once(
    owner: User, add_crop: AddCrop, queued: list[int], django_capture_on_commit_callbacks: Capture
) -> None:
    van = Label.objects.create(name="van")
    Alert.objects.create(
        owner=owner, name="vans", kind="label", label=van, min_interval_s=0, mqtt=True,
        webhook_url="https://hooks.example/van",
    )  # fmt: skip
    crop = add_crop()
    _score(van, crop, 0.95, Score.Source.CLASSIFIER)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            match_new_crops([crop], _vectors(1))

    (event,) = AlertEvent.objects.all()
    assert (event.webhook, event.mqtt) == (Delivery.PENDING, Delivery.PENDING)
    assert queued == [event.pk]


def test_crops_received_before_the_alert_was_made_never_match(
    owner: User, add_crop: AddCrop, queued: list[int]
) -> None:
    van = Label.objects.create(name="van")
    old = add_crop()
    Detection.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=1))
    old.refresh_from_db()
    _score(van, old, 0.99, Score.Source.CLASSIFIER)
    Alert.objects.create(owner=owner, name="vans", kind="label", label=van)

    match_new_crops([old], _vectors(1))  # a reembed of an old crop

    assert not AlertEvent.objects.exists()


def test_a_crop_on_a_camera_the_owner_cannot_see_never_matches(
    add_crop: AddCrop, queued: list[int]
) -> None:
    lobby, yard = add_crop(camera_id="lobby"), add_crop(camera_id="yard")
    group = CameraGroup.objects.create(site=lobby.camera.device.site, name="inside")
    group.cameras.add(lobby.camera)
    scoped = make_user("bo", Role.LABELER, all_sites=False, groups=[group])
    everyone = make_user("cy", Role.LABELER)
    for owner in (scoped, everyone):
        Alert.objects.create(
            owner=owner, name="people", kind="search", filters={"label": ["person"]}
        )
    _made_before_the_crops()  # the group needed the camera the first crop made

    match_new_crops([lobby, yard], _vectors(2))

    seen = set(AlertEvent.objects.values_list("alert__owner__username", "detection_id"))
    assert seen == {("bo", lobby.id), ("cy", lobby.id), ("cy", yard.id)}


def test_a_saved_search_needs_its_text_its_filters_and_its_example_to_hold(
    owner: User, add_crop: AddCrop, queued: list[int], settings: Any
) -> None:
    red, blue, far = add_crop(), add_crop(), add_crop()
    car = add_crop(label="car")
    for crop, colour in ((red, "red"), (blue, "blue"), (far, "red"), (car, "red")):
        DetectionColours.objects.create(
            detection=crop, colour=colour, colour_share=0.6, upper=colour, upper_share=0.7
        )
    Alert.objects.create(
        owner=owner,
        name="red jackets",
        kind="search",
        text="person in a red jacket",
        understood={
            "terms": [{"source": "class", "name": "person"}],
            "colours": [{"part": "upper", "colour": "red"}],
        },
        example_vector=unit(1, 0, 0, 0).tobytes(),
        example_collection=settings.VECTOR_STORE["collection"],
        threshold=0.9,
        filters={"camera": [str(red.camera_id)]},
    )
    vectors = np.stack([unit(1, 0.1, 0, 0), unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(1, 0, 0, 0)])
    _made_before_the_crops()

    match_new_crops([red, blue, far, car], vectors)

    (event,) = AlertEvent.objects.all()
    assert event.detection_id == red.id
    assert event.score == pytest.approx(float(unit(1, 0.1, 0, 0)[0]), abs=1e-6)


def test_an_example_of_another_embedding_matches_nothing(
    owner: User, add_crop: AddCrop, queued: list[int]
) -> None:
    crop = add_crop()
    Alert.objects.create(
        owner=owner, name="old vectors", kind="search", example_vector=unit(1, 0, 0, 0).tobytes(),
        example_collection="DetectionV2", threshold=0.5,
    )  # fmt: skip
    _made_before_the_crops()

    match_new_crops([crop], _vectors(1))

    assert not AlertEvent.objects.exists()


def test_disabled_alerts_and_stale_filters_match_nothing(
    owner: User, add_crop: AddCrop, queued: list[int]
) -> None:
    crop = add_crop()
    Alert.objects.create(owner=owner, name="off", kind="search", enabled=False)
    Alert.objects.create(owner=owner, name="gone", kind="search", filters={"camera": ["999"]})
    _made_before_the_crops()

    match_new_crops([crop], _vectors(1))

    assert not AlertEvent.objects.exists()
