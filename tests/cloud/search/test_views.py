from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cloud.detections.services import NewDetection, record_detection
from cloud.fleet.models import Camera, Device

MakeDetection = Callable[..., NewDetection]


@pytest.fixture
def operator_client(client: Client, db: None) -> Client:
    client.force_login(User.objects.create_user("operator"))
    return client


@pytest.fixture
def recorded(provisioned_device: Device, make_detection: MakeDetection) -> list[NewDetection]:
    base = make_detection()
    detections = [
        base,
        make_detection(
            id="01935f1e-7d00-7a11-8c22-0d3e4f5a6b7c",
            label="car",
            score=0.67,
            track_key="lobby/3f2a9c/18",
            ts=base.ts + timedelta(minutes=5),
        ),
        make_detection(
            id="01935f1e-7e00-7b22-9d33-1e4f5a6b7c8d",
            camera_id="yard",
            track_key="yard/3f2a9c/2",
            ts=base.ts + timedelta(minutes=10),
        ),
    ]
    for detection in detections:
        record_detection(detection)
    return detections


def listed_ids(client: Client, query: dict[str, str]) -> list[str]:
    response = client.get("/", query)
    assert response.status_code == 200
    page = response.context["page"]
    return [] if page is None else [row.id for row in page.object_list]


def test_it_lists_detections_newest_first(
    operator_client: Client, recorded: list[NewDetection]
) -> None:
    assert listed_ids(operator_client, {}) == [d.id for d in reversed(recorded)]


def test_it_filters_by_label(operator_client: Client, recorded: list[NewDetection]) -> None:
    assert listed_ids(operator_client, {"label": "car"}) == [recorded[1].id]


def test_it_filters_by_camera(operator_client: Client, recorded: list[NewDetection]) -> None:
    yard = Camera.objects.get(edge_id="yard")
    assert listed_ids(operator_client, {"camera": str(yard.pk)}) == [recorded[2].id]


def test_it_filters_by_time_range(operator_client: Client, recorded: list[NewDetection]) -> None:
    since = (recorded[0].ts + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    until = (recorded[0].ts + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M")
    assert listed_ids(operator_client, {"since": since, "until": until}) == [recorded[1].id]


def test_it_shows_errors_instead_of_unfiltered_results(
    operator_client: Client, recorded: list[NewDetection]
) -> None:
    response = operator_client.get("/", {"since": "2026-11-22T00:00", "until": "2026-11-21T00:00"})
    assert response.context["page"] is None
    assert b"must come before" in response.content
