"""Roles and scopes: who is which role, and which cameras and devices each user sees."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import Http404

from cloud.access import scope
from cloud.access.models import Role
from cloud.access.roles import check_role, has_role, role_of
from cloud.fleet.models import Device
from cloud.search.criteria import SearchCriteria
from tests.cloud.access.fleet import Fleet, scoped_fleet
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(db: None) -> Fleet:
    return scoped_fleet()


def test_roles_are_ordered_viewer_labeler_operator_admin() -> None:
    assert [role.rank for role in Role] == [0, 1, 2, 3]
    assert list(Role) == [Role.VIEWER, Role.LABELER, Role.OPERATOR, Role.ADMIN]


def test_each_role_includes_the_ones_below_it() -> None:
    labeler = make_user("lab", Role.LABELER)
    assert has_role(labeler, Role.VIEWER)
    assert has_role(labeler, Role.LABELER)
    assert not has_role(labeler, Role.OPERATOR)


def test_superusers_are_admins_and_users_without_access_are_viewers() -> None:
    root = User.objects.create_superuser("root")
    plain = User.objects.create_user("plain")
    assert role_of(root) == Role.ADMIN
    assert role_of(plain) == Role.VIEWER
    assert role_of(AnonymousUser()) is None


def test_an_inactive_user_has_no_role() -> None:
    user = make_user("gone", Role.ADMIN)
    user.is_active = False
    assert role_of(user) is None
    assert not has_role(user, Role.VIEWER)


def test_check_role_refuses_with_the_role_it_needs() -> None:
    with pytest.raises(PermissionDenied, match="operator role"):
        check_role(make_user("viewer"), Role.OPERATOR)


def test_fleet_wide_actions_need_every_site(fleet: Fleet) -> None:
    scoped = make_user("site-ops", Role.OPERATOR, all_sites=False, sites=[fleet.hq])
    with pytest.raises(PermissionDenied, match="every site"):
        check_role(scoped, Role.OPERATOR, fleet_wide=True)
    check_role(make_user("ops", Role.OPERATOR), Role.OPERATOR, fleet_wide=True)


def test_a_user_with_no_grants_sees_nothing(fleet: Fleet) -> None:
    nobody = User.objects.create_user("new")
    assert scope.visible_camera_ids(nobody) == frozenset()
    assert not scope.visible_devices(nobody, Device.objects.all()).exists()
    assert _cameras(None, nobody) == frozenset()


def test_admins_and_all_sites_users_see_every_camera(fleet: Fleet) -> None:
    for user in (
        User.objects.create_superuser("root"),
        make_user("admin", Role.ADMIN, all_sites=False),
        make_user("everywhere"),
    ):
        assert scope.visible_camera_ids(user) is None
        assert _cameras({fleet.dock.pk}, user) == {fleet.dock.pk}


def test_a_site_grant_shows_every_camera_of_the_site(fleet: Fleet) -> None:
    user = make_user("hq", all_sites=False, sites=[fleet.hq])
    assert scope.visible_camera_ids(user) == {fleet.lobby.pk, fleet.yard.pk}
    devices = scope.visible_devices(user, Device.objects.all())
    assert list(devices.values_list("id", flat=True)) == ["gate-01"]


def test_a_group_grant_shows_only_the_group_s_cameras(fleet: Fleet) -> None:
    user = make_user("door", all_sites=False, groups=[fleet.entrances])
    assert scope.visible_camera_ids(user) == {fleet.lobby.pk}
    assert _cameras(None, user) == {fleet.lobby.pk}
    assert _cameras({fleet.yard.pk, fleet.lobby.pk}, user) == {fleet.lobby.pk}
    assert _cameras({fleet.yard.pk}, user) == frozenset()


def _cameras(picked: set[int] | None, user: User) -> frozenset[int] | None:
    """The cameras a search by `user` that picked `picked` (None: all) looks at."""
    chosen = None if picked is None else frozenset(picked)
    return SearchCriteria(
        camera_ids=chosen, visible_camera_ids=scope.visible_camera_ids(user)
    ).cameras


def test_site_and_group_grants_add_up(fleet: Fleet) -> None:
    user = make_user("mixed", all_sites=False, sites=[fleet.depot], groups=[fleet.outside])
    assert scope.visible_camera_ids(user) == {fleet.yard.pk, fleet.dock.pk}
    devices = scope.visible_devices(user, Device.objects.all()).order_by("id")
    assert list(devices.values_list("id", flat=True)) == ["dock-01", "gate-01"]


def test_a_device_out_of_scope_is_not_found(fleet: Fleet) -> None:
    user = make_user("door", all_sites=False, groups=[fleet.entrances])
    scope.require_visible_device(user, "gate-01")
    with pytest.raises(Http404):
        scope.require_visible_device(user, "dock-01")
