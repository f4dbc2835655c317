"""What a user may see: the cameras of the sites and camera groups granted to them.

Admins (superusers included) and users granted all sites see every camera; a user with no
grants sees nothing. Search narrows every query to `visible_camera_ids` (the database query
and the vector store's `Filters.camera_ids` alike), so a result, a similar object or a crop
URL of a camera the user may not see is never made. Device pages follow the cameras: a user
sees a device with a visible camera, or at a granted site.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from cloud.access.models import Access
from cloud.access.roles import User, scoped_access, sees_everything
from cloud.fleet.models import Camera, Device

__all__ = [
    "require_visible_device",
    "sees_everything",
    "visible_camera_ids",
    "visible_cameras",
    "visible_devices",
]


def _camera_condition(access: Access) -> Q:
    if access.pk is None:
        return Q(pk__in=[])
    # Subqueries, not joins: a camera in two granted groups is still one row.
    in_groups = Camera.objects.filter(groups__in=access.groups.all()).values("pk")
    return Q(device__site__in=access.sites.all()) | Q(pk__in=in_groups)


def visible_cameras(user: User) -> QuerySet[Camera]:
    """The cameras the user may see, as a query (for form choices and joins)."""
    access = scoped_access(user)
    if access is None:
        return Camera.objects.all()
    return Camera.objects.filter(_camera_condition(access))


def visible_camera_ids(user: User) -> frozenset[int] | None:
    """The primary keys of the cameras the user may see; None when they see every camera."""
    access = scoped_access(user)
    if access is None:
        return None
    return frozenset(Camera.objects.filter(_camera_condition(access)).values_list("pk", flat=True))


def visible_devices(user: User, devices: QuerySet[Device]) -> QuerySet[Device]:
    """`devices` cut down to those the user may see."""
    access = scoped_access(user)
    if access is None:
        return devices
    if access.pk is None:
        return devices.none()
    with_cameras = Camera.objects.filter(_camera_condition(access)).values("device_id")
    return devices.filter(Q(site__in=access.sites.all()) | Q(pk__in=with_cameras))


def require_visible_device(user: User, device_id: str) -> None:
    """Raise Http404, as for a device that does not exist, unless the user may see it: a
    403 would tell them the id is taken."""
    if not visible_devices(user, Device.objects.filter(pk=device_id)).exists():
        raise Http404(f"no device {device_id!r}")
