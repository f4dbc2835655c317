"""What the ingest edges (MQTT bridge, gRPC servicers) may do to fleet state.

Plain functions over primitives: callers never touch the ORM, and every function is safe to call
again with the same message, because MQTT QoS 1 and the edge outbox both redeliver.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device, DeviceEvent, DeviceStatus
from cloud.validators import require_aware, require_text

logger = logging.getLogger(__name__)


def provision_device(
    device_id: str, *, hardware_profile: str, name: str = "", site: str = ""
) -> bool:
    """Create the device if it is new (return True); an existing device is left as it is.

    Raises `InvalidInput` for an id or hardware profile the fleet cannot hold.
    """
    device = Device(id=device_id, name=name, site=site, hardware_profile=hardware_profile)
    try:
        device.full_clean(validate_unique=False)
    except ValidationError as err:
        raise InvalidInput(f"cannot provision {device_id!r}: {err.messages}") from err
    _, created = Device.objects.get_or_create(
        pk=device_id, defaults={"name": name, "site": site, "hardware_profile": hardware_profile}
    )
    if created:
        logger.info("provisioned device %s", device_id, extra={"device_id": device_id})
    return created


def ensure_device_exists(device_id: str) -> None:
    """Raise `NotFound` unless the device was provisioned.

    Devices are never created from their own messages: a device exists because an operator
    provisioned it (and, later, gave it credentials).
    """
    if not Device.objects.filter(pk=device_id).exists():
        raise NotFound(f"device {device_id!r} is not provisioned")


def device_site(device_id: str) -> str:
    """The site a device was registered with ('' when none); `NotFound` for an unknown one."""
    site = Device.objects.filter(pk=device_id).values_list("site", flat=True).first()
    if site is None:
        raise NotFound(f"device {device_id!r} is not provisioned")
    return site


def record_device_status(
    device_id: str,
    *,
    status: DeviceStatus,
    seq: int,
    ts: datetime,
    agent_version: str = "",
) -> bool:
    """Apply a birth (online) or last-will (offline) message; return whether it was applied.

    A device's birth and last-will messages of one session carry the same `seq`, and later
    sessions carry larger ones. A message is applied when its `seq` is newer than the stored one,
    or when it is the offline message of the current online session. Anything else is a stale
    or repeated delivery (retained messages are replayed on every bridge reconnect) and is
    ignored. The check and the write are one UPDATE, so concurrent bridge workers cannot
    reorder them. `ts` (the device's clock) becomes `last_seen` for online messages only: the
    last will was written when the session began, not when the device went away.
    """
    require_aware(ts, "ts")
    newer = Q(status_seq__isnull=True) | Q(status_seq__lt=seq)
    if status == DeviceStatus.OFFLINE:
        newer |= Q(status_seq=seq, status=DeviceStatus.ONLINE)
    changes: dict[str, Any] = {"status": status, "status_seq": seq}
    if status == DeviceStatus.ONLINE:
        changes["last_seen"] = ts
        if agent_version:
            changes["agent_version"] = agent_version
    if Device.objects.filter(newer, pk=device_id).update(**changes):
        logger.info(
            "device %s is %s (session %d)", device_id, status, seq, extra={"device_id": device_id}
        )
        return True
    ensure_device_exists(device_id)
    logger.debug("ignored stale %s status of device %s (session %d)", status, device_id, seq)
    return False


def record_event(
    device_id: str, *, seq: int, kind: str, payload: Mapping[str, Any], ts: datetime
) -> bool:
    """Store a device event once per (device, seq); return whether this call stored it."""
    require_aware(ts, "ts")
    require_text(kind, DeviceEvent, "kind")
    if seq < 0:
        raise InvalidInput("seq: must not be negative")
    ensure_device_exists(device_id)
    _, created = DeviceEvent.objects.get_or_create(
        device_id=device_id, seq=seq, defaults={"kind": kind, "payload": dict(payload), "ts": ts}
    )
    if not created:
        logger.debug("ignored repeated event %d of device %s", seq, device_id)
    return created
