"""Devices the caller may see (`cloud.access.scope`), with their visible cameras."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router, Schema

from cloud.access import scope
from cloud.api.pages import PageQuery, page_of
from cloud.fleet.models import Device

router = Router(tags=["devices"])


class CameraOut(Schema):
    """A camera: `id` is what the detections' `camera` filter takes."""

    id: int
    edge_id: str
    name: str


class DeviceOut(Schema):
    """An edge device and its cameras (those the caller may see)."""

    id: str
    name: str
    site: str
    hardware_profile: str
    status: str
    agent_version: str
    last_seen: datetime | None
    cameras: list[CameraOut]


class DevicePage(Schema):
    """A page of devices, by site and id."""

    items: list[DeviceOut]
    page: int
    has_next: bool


@router.get("", response=DevicePage)
def devices(request: HttpRequest, query: Query[PageQuery]) -> DevicePage:
    """The devices the caller may see, by site and id."""
    cameras = Prefetch("cameras", queryset=scope.visible_cameras(request.user))
    rows = scope.visible_devices(
        request.user, Device.objects.prefetch_related(cameras).order_by("site_id", "id")
    )
    found, has_next = page_of(rows, query)
    return DevicePage(
        items=[
            DeviceOut(
                id=device.id,
                name=device.name,
                site=device.site_id,
                hardware_profile=device.hardware_profile,
                status=device.status,
                agent_version=device.agent_version,
                last_seen=device.last_seen,
                cameras=[
                    CameraOut(id=camera.pk, edge_id=camera.edge_id, name=camera.name)
                    for camera in device.cameras.all()
                ],
            )
            for device in found
        ],
        page=query.page,
        has_next=has_next,
    )
