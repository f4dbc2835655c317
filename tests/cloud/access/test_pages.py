"""Roles and scopes on the existing pages: who may read and who may act, per page."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cloud.access.models import Role
from cloud.fleet.models import CameraGroup, Site
from tests.cloud.access.fleet import Fleet, scoped_fleet
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(db: None) -> Fleet:
    return scoped_fleet()


def logged_in(
    client: Client,
    username: str,
    role: Role = Role.VIEWER,
    *,
    all_sites: bool = True,
    sites: Iterable[Site] = (),
    groups: Iterable[CameraGroup] = (),
) -> Client:
    user = make_user(username, role, all_sites=all_sites, sites=sites, groups=groups)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/enrolments/"),
        ("post", "/enrolments/"),
        ("get", "/models/upload/"),
        ("get", "/rollouts/new/"),
        ("post", "/rollouts/new/"),
        ("post", "/rollouts/any/act/"),
        ("post", "/devices/gate-01/revoke/"),
    ],
)
def test_viewers_and_labelers_may_not_manage_the_fleet(
    client: Client, fleet: Fleet, method: str, url: str
) -> None:
    for name, role in (("viewer", Role.VIEWER), ("labeler", Role.LABELER)):
        logged_in(client, name, role)
        response = getattr(client, method)(url)
        assert response.status_code == 403, (name, url)
        assert b"This needs the operator role." in response.content


def test_viewers_read_the_devices_they_may_see(client: Client, fleet: Fleet) -> None:
    logged_in(client, "door", all_sites=False, groups=[fleet.entrances])
    page = client.get("/devices/").content.decode()
    assert "gate-01" in page
    assert "dock-01" not in page
    device = client.get("/devices/gate-01/")
    assert device.status_code == 200
    assert [camera.edge_id for camera, _figures in device.context["cameras"]] == ["lobby"]
    assert b"Revoke" not in device.content
    assert client.get("/devices/dock-01/").status_code == 404
    assert client.get("/devices/dock-01/series.json", {"metric": "fps"}).status_code == 404


def test_viewers_of_every_site_read_the_fleet_wide_pages(client: Client, fleet: Fleet) -> None:
    logged_in(client, "viewer")
    assert b'href="/models/"' in client.get("/").content
    for url in ("/models/", "/rollouts/", "/models/devices/gate-01/"):
        assert client.get(url).status_code == 200, url
    assert b"Start a rollout" not in client.get("/rollouts/").content


def test_scoped_viewers_do_not_see_fleet_wide_pages(client: Client, fleet: Fleet) -> None:
    logged_in(client, "door", all_sites=False, groups=[fleet.entrances])
    assert b'href="/models/"' not in client.get("/").content
    for url in ("/models/", "/rollouts/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"needs access to every site" in response.content
    assert client.get("/models/devices/gate-01/").status_code == 200
    assert client.get("/models/devices/dock-01/").status_code == 404


def test_an_operator_of_one_site_acts_on_its_devices_only(client: Client, fleet: Fleet) -> None:
    logged_in(client, "hq-ops", Role.OPERATOR, all_sites=False, sites=[fleet.hq])
    assert b"Revoke" in client.get("/devices/gate-01/").content
    assert client.get("/models/devices/gate-01/").status_code == 200
    assert client.get("/models/devices/dock-01/").status_code == 404
    assert client.post("/devices/dock-01/revoke/").status_code == 404
    for url in ("/enrolments/", "/models/", "/rollouts/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"needs access to every site" in response.content


def test_operators_of_every_site_manage_the_fleet(client: Client, fleet: Fleet) -> None:
    logged_in(client, "ops", Role.OPERATOR)
    for url in ("/enrolments/", "/models/", "/models/upload/", "/rollouts/", "/rollouts/new/"):
        assert client.get(url).status_code == 200, url


def test_a_user_with_no_grants_sees_no_device(client: Client, fleet: Fleet) -> None:
    logged_in(client, "new", all_sites=False)
    assert client.get("/devices/").context["rows"] == []
    assert client.get("/devices/gate-01/").status_code == 404


def test_admins_edit_a_user_s_role_and_grants_on_the_admin_site(
    client: Client, fleet: Fleet
) -> None:
    door = make_user("door", all_sites=False, groups=[fleet.entrances])
    client.force_login(User.objects.create_superuser("root"))
    page = client.get(f"/admin/auth/user/{door.pk}/change/").content.decode()
    assert 'name="access-0-role"' in page
    assert 'name="access-0-groups"' in page
