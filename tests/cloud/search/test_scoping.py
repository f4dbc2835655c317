"""A viewer scoped to a camera group never sees another group's crops: not in the grid, not
among similar objects, not through a camera filter, not by a detection's URL.

Written against the URL names and the crops' object keys (every result shows its crop), so
the checks hold whatever the pages' layout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup
from tests.cloud.search.data import SearchData, track_id
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


@pytest.fixture
def two_groups(search_data: SearchData) -> dict[str, Detection]:
    """Crops of the lobby (group entrances) and the yard (group outside), with vectors that
    put a yard crop nearest to the lobby's query crop."""
    rows = {
        "query": search_data.add([1, 0, 0, 0], ts=at(0)),
        "lobby": search_data.add([0.5, 0.5, 0, 0], ts=at(1)),
        "yard": search_data.add(
            [1, 0.05, 0, 0], camera_id="yard", track_id=track_id("yard/1"), ts=at(2)
        ),
    }
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(Camera.objects.get(device_id="gate-01", edge_id="lobby"))
    outside = CameraGroup.objects.create(site_id="hq", name="outside")
    outside.cameras.add(Camera.objects.get(device_id="gate-01", edge_id="yard"))
    return rows


@pytest.fixture
def door_viewer(client: Client, two_groups: dict[str, Detection]) -> Client:
    entrances = CameraGroup.objects.get(name="entrances")
    client.force_login(make_user("door", all_sites=False, groups=[entrances]))
    return client


def test_the_grid_shows_only_the_group_s_crops(
    door_viewer: Client, two_groups: dict[str, Detection]
) -> None:
    html = door_viewer.get(reverse("search:detections")).content.decode()
    assert two_groups["query"].object_key in html
    assert two_groups["lobby"].object_key in html
    assert two_groups["yard"].object_key not in html
    assert two_groups["yard"].id not in html


def test_a_camera_filter_cannot_reach_another_group(
    door_viewer: Client, two_groups: dict[str, Detection]
) -> None:
    yard = Camera.objects.get(edge_id="yard")
    response = door_viewer.get(reverse("search:detections"), {"camera": [str(yard.pk)]})
    assert response.status_code in (200, 400)
    html = response.content.decode()
    assert two_groups["yard"].object_key not in html
    assert f'value="{yard.pk}"' not in html


def test_similar_objects_leave_out_other_groups(
    door_viewer: Client, two_groups: dict[str, Detection]
) -> None:
    url = reverse("search:similar", args=[two_groups["query"].id])
    html = door_viewer.get(url).content.decode()
    assert two_groups["lobby"].object_key in html
    assert two_groups["yard"].object_key not in html
    assert two_groups["yard"].id not in html


def test_another_group_s_detection_is_not_found(
    door_viewer: Client, two_groups: dict[str, Detection]
) -> None:
    url = reverse("search:similar", args=[two_groups["yard"].id])
    response = door_viewer.get(url)
    assert response.status_code == 404
    assert two_groups["yard"].object_key not in response.content.decode()


def test_a_user_with_no_grants_sees_no_crop(
    client: Client, two_groups: dict[str, Detection]
) -> None:
    client.force_login(make_user("new", all_sites=False))
    html = client.get(reverse("search:detections")).content.decode()
    for row in two_groups.values():
        assert row.object_key not in html
    url = reverse("search:similar", args=[two_groups["query"].id])
    assert client.get(url).status_code == 404


def test_a_viewer_of_every_site_sees_both_groups(
    client: Client, two_groups: dict[str, Detection]
) -> None:
    client.force_login(make_user("everywhere"))
    html = client.get(reverse("search:detections")).content.decode()
    for row in two_groups.values():
        assert row.object_key in html
    similar = client.get(reverse("search:similar", args=[two_groups["query"].id]))
    assert two_groups["yard"].object_key in similar.content.decode()
