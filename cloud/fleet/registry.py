"""What operators may do to the fleet registry: sites, devices' registry data, cameras, camera
groups and tags, and the one query that filters the fleet (the devices page and
``python -m cloud devices list`` both use it).

Every function validates its input and raises `InvalidInput` (bad value) or `NotFound`
(unknown reference), so the web app and the commands report the same errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q, QuerySet

from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import (
    Camera,
    CameraGroup,
    Device,
    DeviceHealth,
    DeviceStatus,
    HardwareProfile,
    Site,
    Tag,
)

logger = logging.getLogger(__name__)

LAGGING_AFTER: Final = timedelta(seconds=60)
"""An online device without a heartbeat for this long is lagging: six of the edge's default
10 s heartbeats (edge.transport.mqtt) went missing."""
LAGGING_BACKLOG_ROWS: Final = 100
"""An online device whose outbox holds this many rows is lagging: it is not keeping up."""


class Health(StrEnum):
    """How a device is doing, from its status message and its latest heartbeat."""

    ONLINE = "online"
    LAGGING = "lagging"
    OFFLINE = "offline"


def clean(instance: Model, what: str, *, exclude: Sequence[str] = ()) -> None:
    """Run the model's field checks; `InvalidInput` naming `what` and each field that failed.

    Uniqueness and constraints are left to the write, which checks them without a race."""
    try:
        instance.full_clean(
            exclude=list(exclude), validate_unique=False, validate_constraints=False
        )
    except ValidationError as err:
        details = "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in err.message_dict.items()
        )
        raise InvalidInput(f"{what}: {details}") from err


def save_site(site_id: str, *, name: str = "") -> bool:
    """Create the site, or rename an existing one; return whether it was created."""
    clean(Site(id=site_id, name=name), f"site {site_id!r}")
    _, created = Site.objects.update_or_create(pk=site_id, defaults={"name": name})
    logger.info("site %s %s", site_id, "added" if created else "renamed")
    return created


def ensure_site(site_id: str) -> Site:
    """The site, created (unnamed) when new; `InvalidInput` for an id outside the grammar."""
    clean(Site(id=site_id), f"site {site_id!r}")
    site, created = Site.objects.get_or_create(pk=site_id)
    if created:
        logger.info("site %s added", site_id)
    return site


def get_site(site_id: str) -> Site:
    """The site; `NotFound` when there is none."""
    try:
        return Site.objects.get(pk=site_id)
    except Site.DoesNotExist:
        raise NotFound(f"site {site_id!r} does not exist: add it first") from None


def get_device(device_id: str) -> Device:
    """The device with its site and latest heartbeat; `NotFound` when it was never
    provisioned."""
    try:
        return Device.objects.select_related("site", "health").get(pk=device_id)
    except Device.DoesNotExist:
        raise NotFound(f"device {device_id!r} is not provisioned") from None


def edit_device(
    device_id: str, *, name: str | None = None, hardware_profile: str | None = None
) -> Device:
    """Change a device's display name or hardware profile (None leaves a field as it is).

    The site is not editable: the device's broker account and topics are bound to it, so a
    device moves by enrolling again at the new site.
    """
    device = get_device(device_id)
    if name is not None:
        device.name = name
    if hardware_profile is not None:
        device.hardware_profile = hardware_profile
    clean(device, f"device {device_id!r}")
    device.save(update_fields=["name", "hardware_profile"])
    return device


def make_tags(names: Iterable[str]) -> list[Tag]:
    """The tags of these names, made when new; `InvalidInput` for a name outside the grammar."""
    tags = [Tag(id=name) for name in dict.fromkeys(names)]
    for tag in tags:
        clean(tag, f"tag {tag.id!r}")
    Tag.objects.bulk_create(tags, ignore_conflicts=True)
    return tags


def tag_devices(device_ids: Sequence[str], tags: Sequence[str], *, remove: bool = False) -> int:
    """Add `tags` to the devices (made when new), or with `remove` take them off; return how
    many devices there were. Every device must exist, or nothing changes."""
    with transaction.atomic():
        devices = list(Device.objects.filter(pk__in=device_ids))
        missing = sorted(set(device_ids) - {device.id for device in devices})
        if missing:
            raise NotFound(f"devices not provisioned: {', '.join(missing)}")
        rows = make_tags(tags) if not remove else list(Tag.objects.filter(pk__in=tags))
        for device in devices:
            if remove:
                device.tags.remove(*rows)
            else:
                device.tags.add(*rows)
    return len(devices)


def set_tags(device: Device, tags: Sequence[str]) -> None:
    """Give the device exactly these tags (made when new)."""
    device.tags.set(make_tags(tags))


def add_camera(device_id: str, camera_id: str, *, name: str = "") -> bool:
    """Register a camera of a device (or rename it); return whether it was new.

    Cameras also appear on their own with a device's first upload from them
    (`cloud.detections`); registering one first lets it be grouped before it uploads.
    """
    device = get_device(device_id)
    clean(Camera(device=device, edge_id=camera_id, name=name), f"camera {camera_id!r}")
    _, created = Camera.objects.update_or_create(
        device=device, edge_id=camera_id, defaults={"name": name}
    )
    return created


def save_group(site_id: str, name: str) -> bool:
    """Create a camera group at a site; return whether it was new."""
    site = get_site(site_id)
    clean(CameraGroup(site=site, name=name), f"group {name!r}")
    _, created = CameraGroup.objects.get_or_create(site=site, name=name)
    return created


def get_group(site_id: str, name: str) -> CameraGroup:
    """The camera group; `NotFound` when there is none."""
    try:
        return CameraGroup.objects.select_related("site").get(site_id=site_id, name=name)
    except CameraGroup.DoesNotExist:
        raise NotFound(f"no camera group {name!r} at site {site_id!r}") from None


def assign_cameras(
    site_id: str, name: str, cameras: Sequence[tuple[str, str]], *, remove: bool = False
) -> int:
    """Put cameras, each as (device id, camera id), into a group (or with `remove` take them
    out); return how many. Each must be a camera of a device at the group's site, or nothing
    changes."""
    group = get_group(site_id, name)
    wanted = Q(pk__in=[])
    for device_id, camera_id in cameras:
        wanted |= Q(device_id=device_id, edge_id=camera_id)
    found = {
        (c.device_id, c.edge_id): c for c in Camera.objects.filter(wanted).select_related("device")
    }
    missing = [f"{d}/{c}" for d, c in cameras if (d, c) not in found]
    if missing:
        raise NotFound(f"cameras not registered: {', '.join(missing)}")
    elsewhere = [f"{d}/{c}" for (d, c), cam in found.items() if cam.device.site_id != site_id]
    if elsewhere:
        raise InvalidInput(f"cameras not at site {site_id!r}: {', '.join(elsewhere)}")
    if remove:
        group.cameras.remove(*found.values())
    else:
        group.cameras.add(*found.values())
    return len(found)


@dataclass(frozen=True, kw_only=True)
class DeviceFilter:
    """Which devices to list; an empty field does not filter."""

    site: str = ""
    group: str = ""
    """A camera group's name: devices with a camera in a group of that name."""
    hardware: str = ""
    agent_version: str = ""
    tag: str = ""
    health: str = ""

    def __post_init__(self) -> None:
        if self.hardware and self.hardware not in HardwareProfile.values:
            raise InvalidInput(
                f"hardware {self.hardware!r}: use one of {', '.join(HardwareProfile.values)}"
            )
        if self.health and self.health not in Health.__members__.values():
            raise InvalidInput(f"health {self.health!r}: use one of {', '.join(Health)}")


def _fresh(now: datetime) -> Q:
    return Q(
        health__received_at__gte=now - LAGGING_AFTER,
        health__outbox_rows__lt=LAGGING_BACKLOG_ROWS,
    )


def find_devices(where: DeviceFilter, *, now: datetime) -> QuerySet[Device]:
    """The devices `where` selects, ordered by site and id, with site and latest heartbeat
    joined and tags prefetched."""
    devices = Device.objects.select_related("site", "health").prefetch_related("tags")
    if where.site:
        devices = devices.filter(site_id=where.site)
    if where.group:
        # A subquery, not a join: a device with two cameras in the group is listed once.
        in_group = Camera.objects.filter(groups__name=where.group).values("device_id")
        devices = devices.filter(pk__in=in_group)
    if where.hardware:
        devices = devices.filter(hardware_profile=where.hardware)
    if where.agent_version:
        devices = devices.filter(agent_version=where.agent_version)
    if where.tag:
        devices = devices.filter(tags__id=where.tag)
    online = Q(status=DeviceStatus.ONLINE)
    if where.health == Health.OFFLINE:
        devices = devices.exclude(online)
    elif where.health == Health.ONLINE:
        devices = devices.filter(online & _fresh(now))
    elif where.health == Health.LAGGING:
        devices = devices.filter(online).exclude(_fresh(now))
    return devices.order_by("site_id", "id")


def health_of(device: Device, health: DeviceHealth | None, *, now: datetime) -> Health:
    """The device's health as `find_devices` filters it."""
    if device.status != DeviceStatus.ONLINE:
        return Health.OFFLINE
    if (
        health is None
        or health.received_at < now - LAGGING_AFTER
        or health.outbox_rows >= LAGGING_BACKLOG_ROWS
    ):
        return Health.LAGGING
    return Health.ONLINE
