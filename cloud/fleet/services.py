"""What the ingest edges (MQTT bridge, gRPC servicers) may do to fleet state.

Plain functions over primitives: callers never touch the ORM, and every function is safe to call
again with the same message, because MQTT QoS 1 and the edge outbox both redeliver.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from cloud.errors import InvalidInput, NotFound
from cloud.fleet import registry
from cloud.fleet.models import (
    CAMERA_HEALTH_FIELDS,
    DEFAULT_SITE,
    LANE_FIELDS,
    Device,
    DeviceEvent,
    DeviceHealth,
    DeviceStatus,
)
from cloud.validators import require_bigint, require_free_text, require_text, require_time

logger = logging.getLogger(__name__)


def provision_device(
    device_id: str,
    *,
    hardware_profile: str,
    name: str = "",
    site: str = "",
    tags: Sequence[str] = (),
) -> bool:
    """Create the device if it is new (return True); an existing device is left as it is.

    The one way a device comes to exist: enrolment (`cloud.fleet.enrolment`) and the
    ``provision_device`` command both call it. A blank `site` is the edge's default site; a new
    site is added (unnamed). Raises `InvalidInput` for an id, site, tag or hardware profile the
    fleet cannot hold.
    """
    site = site or DEFAULT_SITE
    device = Device(id=device_id, name=name, site_id=site, hardware_profile=hardware_profile)
    try:
        device.full_clean(exclude=["site"], validate_unique=False)
    except ValidationError as err:
        raise InvalidInput(f"cannot provision {device_id!r}: {err.messages}") from err
    with transaction.atomic():
        _, created = Device.objects.get_or_create(
            pk=device_id,
            defaults={
                "name": name,
                "site": registry.ensure_site(site),
                "hardware_profile": hardware_profile,
            },
        )
        if created and tags:
            registry.tag_devices([device_id], tags)
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
    """The id of the site a device is registered at; `NotFound` for an unknown device."""
    site = Device.objects.filter(pk=device_id).values_list("site_id", flat=True).first()
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
    require_bigint(seq, "session_seq")
    require_time(ts, "ts")
    require_text(agent_version, Device, "agent_version", blank=True)
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


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """A device event (`sightline.device.v1.Event`), wire-checked.

    `seq` is the message key's, `severity` the wire enum's name, `camera_id` empty for
    device-wide events; `message` and `attributes` are for display only.
    """

    seq: int
    kind: str
    ts: datetime
    severity: str
    camera_id: str
    message: str
    attributes: Mapping[str, str]


MAX_EVENT_MESSAGE: Final = 4096
"""Characters of an event's message; a longer one is refused, so the edge shortens its own."""
MAX_EVENT_ATTRIBUTES: Final = 32
MAX_ATTRIBUTE_KEY: Final = 64
MAX_ATTRIBUTE_VALUE: Final = 1024


def record_event(device_id: str, event: NewEvent) -> bool:
    """Store a device event once per (device, seq); return whether this call stored it.

    Raises `InvalidInput` for an event the store could not hold as it is (texts too long or
    holding NUL characters, too many or too large attributes, times or seq out of range), and
    `NotFound` for an unknown device. The message and attributes are display-only, but bounded
    all the same: an event is a row of the event log, not a place for a device to dump data.
    """
    require_bigint(event.seq, "seq", minimum=1)
    require_time(event.ts, "ts")
    require_text(event.kind, DeviceEvent, "kind")
    require_free_text(event.severity, "severity", 32)
    require_free_text(event.camera_id, "camera_id", 64)
    require_free_text(event.message, "message", MAX_EVENT_MESSAGE)
    if len(event.attributes) > MAX_EVENT_ATTRIBUTES:
        raise InvalidInput(f"attributes: at most {MAX_EVENT_ATTRIBUTES} entries")
    for key, value in event.attributes.items():
        require_free_text(key, "attributes key", MAX_ATTRIBUTE_KEY)
        require_free_text(value, f"attributes[{key!r}]", MAX_ATTRIBUTE_VALUE)
    payload = {
        "severity": event.severity,
        "camera_id": event.camera_id,
        "message": event.message,
        "attributes": dict(event.attributes),
    }
    ensure_device_exists(device_id)
    _, created = DeviceEvent.objects.get_or_create(
        device_id=device_id,
        seq=event.seq,
        defaults={"kind": event.kind, "payload": payload, "ts": event.ts},
    )
    if not created:
        logger.debug("ignored repeated event %d of device %s", event.seq, device_id)
    return created


@dataclass(frozen=True, kw_only=True)
class LaneCounts:
    """One outbox lane of a heartbeat (`sightline.device.v1.LaneMetrics`), wire-checked."""

    kind: str
    rows: int
    bytes: int
    dropped_total: int
    dead_letters_total: int
    delivered_total: int
    error: str


@dataclass(frozen=True, kw_only=True)
class CameraFigures:
    """One camera of a heartbeat (`sightline.device.v1.CameraMetrics`), wire-checked: how it
    ran over the heartbeat's interval. (The model it runs is the reported state's business.)"""

    camera_id: str
    connected: bool
    decode_fps: float
    infer_fps: float
    target_fps: float
    """The configured detection rate; 0 for every frame the source delivers."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    """Detector call time over the interval; None when no frame was run."""
    detections: int
    """Detections in the interval."""
    frames_gated_total: int = 0
    """Frames the motion gate kept from the detector, since the agent started."""
    frames_dropped_total: int = 0
    """Frames dropped because the camera fell behind, since the agent started."""


@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """A device's health sample (`sightline.device.v1.Metrics`), wire-checked."""

    seq: int
    session_seq: int
    sampled_at: datetime
    outbox_rows: int
    outbox_bytes: int
    outbox_dropped_total: int
    tracks_interrupted_total: int
    disk_free_bytes: int
    lanes: Sequence[LaneCounts]
    interval_s: float = 0.0
    """Seconds the per-interval figures cover; 0 for an agent's first sample."""
    errors_total: int = 0
    last_error: str = ""
    temperature_celsius: float | None = None
    cameras: Sequence[CameraFigures] = ()


MAX_LANES: Final = 8
MAX_LANE_ERROR: Final = 4096
"""Characters of a lane's error; a longer one is refused, so the edge shortens its own."""


def provisioned(device_ids: Iterable[str]) -> set[str]:
    """Those of `device_ids` that name provisioned devices (one query)."""
    return set(Device.objects.filter(pk__in=set(device_ids)).values_list("pk", flat=True))


def check_heartbeat(heartbeat: Heartbeat, received_at: datetime) -> dict[str, Any]:
    """The `DeviceHealth` fields of a heartbeat; `InvalidInput` for what the store cannot
    hold."""
    require_bigint(heartbeat.seq, "seq", minimum=1)
    require_time(heartbeat.sampled_at, "time")
    require_time(received_at, "received_at")
    counters = {
        "session_seq": heartbeat.session_seq,
        "outbox_rows": heartbeat.outbox_rows,
        "outbox_bytes": heartbeat.outbox_bytes,
        "outbox_dropped_total": heartbeat.outbox_dropped_total,
        "tracks_interrupted_total": heartbeat.tracks_interrupted_total,
        "disk_free_bytes": heartbeat.disk_free_bytes,
    }
    for name, value in counters.items():
        require_bigint(value, name)
    return {
        **counters,
        "seq": heartbeat.seq,
        "sampled_at": heartbeat.sampled_at,
        "received_at": received_at,
        "lanes": _lanes(heartbeat.lanes),
        "cameras": _cameras(heartbeat.cameras),
    }


def keep_latest_heartbeats(heartbeats: Mapping[str, dict[str, Any]]) -> set[str]:
    """Keep each heartbeat (`check_heartbeat`'s fields, by provisioned device id) as its
    device's latest unless a later one is stored; return the devices whose latest it became.

    "Later" is by the message key's seq, which grows with every message of the device, so a
    heartbeat delivered late (a redelivered one) cannot hide a newer count. Call it inside a
    transaction: the devices' rows are locked (in id order, so that two bridges cannot
    deadlock) while they are compared and written, and the writes are one INSERT ... ON
    CONFLICT UPDATE for the whole batch.
    """
    current = dict(
        DeviceHealth.objects.select_for_update()
        .filter(device_id__in=list(heartbeats))
        .order_by("device_id")
        .values_list("device_id", "seq")
    )
    newer = {
        device_id: fields
        for device_id, fields in heartbeats.items()
        if device_id not in current or current[device_id] < fields["seq"]
    }
    if newer:
        DeviceHealth.objects.bulk_create(
            [DeviceHealth(device_id=device_id, **fields) for device_id, fields in newer.items()],
            update_conflicts=True,
            unique_fields=["device"],
            update_fields=[*_HEALTH_FIELDS],
        )
    return set(newer)


_HEALTH_FIELDS: Final = (
    "seq",
    "session_seq",
    "sampled_at",
    "received_at",
    "outbox_rows",
    "outbox_bytes",
    "outbox_dropped_total",
    "tracks_interrupted_total",
    "disk_free_bytes",
    "lanes",
    "cameras",
)


def _cameras(cameras: Sequence[CameraFigures]) -> dict[str, dict[str, Any]]:
    """`DeviceHealth.cameras`: each camera's state and counters (`CAMERA_HEALTH_FIELDS`); the
    figures themselves are checked with the sample (`cloud.monitoring.samples`)."""
    rows = {}
    for camera in cameras:
        row = {name: getattr(camera, name) for name in CAMERA_HEALTH_FIELDS}
        for name in ("frames_gated_total", "frames_dropped_total"):
            require_bigint(row[name], f"cameras.{name}")
        rows[camera.camera_id] = row
    return rows


def _lanes(lanes: Sequence[LaneCounts]) -> list[dict[str, Any]]:
    if len(lanes) > MAX_LANES:
        raise InvalidInput(f"lanes: at most {MAX_LANES}")
    if len({lane.kind for lane in lanes}) != len(lanes):
        raise InvalidInput("lanes: each kind at most once")
    rows = []
    for lane in lanes:
        require_free_text(lane.kind, "lanes.kind", 64)
        require_free_text(lane.error, "lanes.error", MAX_LANE_ERROR)
        row = {name: getattr(lane, name) for name in LANE_FIELDS}
        for name, value in row.items():
            if isinstance(value, int):
                require_bigint(value, f"lanes.{name}")
        rows.append(row)
    return rows
