"""Alerts: a device offline, lagging or dropping data, raised and resolved by one periodic pass.

`evaluate_alerts(now)` (Celery beat, every `alert_interval_s`) reads each device's status, its
last heartbeat and the heartbeats of the last `alert_window_s`, decides with `assess` which
conditions hold, opens an `Alert` for each new one and resolves each open one that cleared.
The rules:

- **offline**: its last status said OFFLINE (the broker published its last will, or it shut
  down cleanly), or it sent no heartbeat for `offline_after_intervals` of its heartbeat
  intervals (the interval its heartbeats report, else the fleet's `heartbeat_s`). A device
  never heard from is not offline: it was only provisioned.
- **lagging**: a camera ran its detector, averaged over the window, below `lagging_fps_ratio`
  of its configured rate; or the outbox grew in each of the last `outbox_growth_samples`
  heartbeats, by `outbox_growth_rows` or more: the device spools faster than it delivers.
- **dropping**: its outbox dropped or dead-lettered rows within the window (the counters rose).

Every rule looks at a window, so a condition clears only when a whole window shows it gone,
and one slow heartbeat neither raises nor clears anything alone. A pass is one query per table
whatever the fleet's size, and safe to run twice at once: at most one alert per device and
kind is open (a partial unique constraint), so a second pass's duplicate is refused and skipped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.db import IntegrityError, transaction

from cloud.fleet.models import Device, DeviceStatus
from cloud.monitoring.config import MonitoringSettings
from cloud.monitoring.models import Alert, AlertKind, HeartbeatSample

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecentSample:
    """What the rules read of one heartbeat."""

    received_at: datetime
    interval_s: float
    fps_ratio: float | None
    outbox_rows: int
    dropped_total: int
    dead_letters_total: int


@dataclass(frozen=True, slots=True)
class DeviceView:
    """One device as the rules see it at `now`."""

    status: str
    last_heard: datetime | None
    """The later of its last birth and its last heartbeat (cloud clock); None if never."""
    recent: Sequence[RecentSample]
    """Its heartbeats of the window, oldest first."""


def assess(device: DeviceView, now: datetime, settings: MonitoringSettings) -> dict[AlertKind, str]:
    """The conditions that hold for `device` at `now`, each with what was seen."""
    found: dict[AlertKind, str] = {}
    if offline := _offline(device, now, settings):
        found[AlertKind.OFFLINE] = offline
    if lagging := _lagging(device.recent, settings):
        found[AlertKind.LAGGING] = lagging
    if dropping := _dropping(device.recent, settings):
        found[AlertKind.DROPPING] = dropping
    return found


def _offline(device: DeviceView, now: datetime, settings: MonitoringSettings) -> str | None:
    if device.last_heard is None:
        return None
    if device.status == DeviceStatus.OFFLINE:
        return f"disconnected (last will or shutdown); last heard {device.last_heard:%H:%M:%S}"
    reported = [s.interval_s for s in device.recent if s.interval_s > 0]
    interval = reported[-1] if reported else settings.heartbeat_s
    silent = (now - device.last_heard).total_seconds()
    if silent > settings.offline_after_intervals * interval:
        return f"no heartbeat for {silent:.0f} s (heartbeat every {interval:.0f} s)"
    return None


def _lagging(recent: Sequence[RecentSample], settings: MonitoringSettings) -> str | None:
    ratios = [s.fps_ratio for s in recent if s.fps_ratio is not None]
    if len(ratios) >= 2:
        mean = sum(ratios) / len(ratios)
        if mean < settings.lagging_fps_ratio:
            return f"a camera runs its detector at {mean:.0%} of its configured rate"
    last = list(recent[-settings.outbox_growth_samples :])
    if len(last) == settings.outbox_growth_samples:
        rows = [s.outbox_rows for s in last]
        rising = all(after > before for before, after in pairwise(rows))
        if rising and rows[-1] - rows[0] >= settings.outbox_growth_rows:
            return f"outbox grew from {rows[0]} to {rows[-1]} rows in {len(rows)} heartbeats"
    return None


def _dropping(recent: Sequence[RecentSample], settings: MonitoringSettings) -> str | None:
    if len(recent) < 2:
        return None
    first, last = recent[0], recent[-1]
    dropped = last.dropped_total - first.dropped_total
    dead = last.dead_letters_total - first.dead_letters_total
    # A counter that fell was reset (a new outbox): that is no loss seen here.
    if dropped > 0 or dead > 0:
        return (
            f"outbox dropped {max(dropped, 0)} and dead-lettered {max(dead, 0)} rows in the "
            f"last {settings.alert_window_s} s"
        )
    return None


def evaluate_alerts(now: datetime, settings: MonitoringSettings) -> tuple[int, int]:
    """Raise the alerts whose condition holds and resolve those that cleared; return (raised,
    resolved)."""
    views = _device_views(now, settings)
    open_alerts = {
        (alert.device_id, AlertKind(alert.kind)): alert
        for alert in Alert.objects.filter(resolved_at__isnull=True)
    }
    found = {
        (device_id, kind): detail
        for device_id, view in views.items()
        for kind, detail in assess(view, now, settings).items()
    }
    cleared = [alert.pk for key, alert in open_alerts.items() if key not in found]
    resolved = Alert.objects.filter(pk__in=cleared, resolved_at__isnull=True).update(
        resolved_at=now
    )
    raised = _raise(
        Alert(device_id=device_id, kind=kind, detail=detail[:500], raised_at=now)
        for (device_id, kind), detail in found.items()
        if (device_id, kind) not in open_alerts
    )
    if raised or resolved:
        logger.info("alerts: %d raised, %d resolved", raised, resolved)
    return raised, resolved


def _raise(alerts: Iterable[Alert]) -> int:
    raised = 0
    for alert in alerts:
        try:
            with transaction.atomic():
                alert.save()
        except IntegrityError:
            # Another pass raised it meanwhile (the one-open-per-kind constraint).
            continue
        logger.warning(
            "device %s is %s: %s", alert.device_id, alert.kind, alert.detail,
            extra={"device_id": alert.device_id},
        )  # fmt: skip
        raised += 1
    return raised


def _device_views(now: datetime, settings: MonitoringSettings) -> dict[str, DeviceView]:
    recent: dict[str, list[RecentSample]] = defaultdict(list)
    samples = (
        HeartbeatSample.objects.filter(
            received_at__gte=now - timedelta(seconds=settings.alert_window_s),
            received_at__lte=now,
        )
        .order_by("received_at", "seq")
        .values_list(
            "device_id",
            "received_at",
            "interval_s",
            "fps_ratio",
            "outbox_rows",
            "dropped_total",
            "dead_letters_total",
        )
    )
    for device_id, at, interval_s, ratio, outbox, dropped, dead in samples.iterator(5000):
        recent[device_id].append(RecentSample(at, interval_s, ratio, outbox, dropped, dead))
    views = {}
    devices = Device.objects.values_list("id", "status", "last_seen", "health__received_at")
    for device_id, status, last_seen, heartbeat_at in devices.iterator(chunk_size=5000):
        heard = [t for t in (last_seen, heartbeat_at) if t is not None]
        views[device_id] = DeviceView(status, max(heard, default=None), recent[device_id])
    return views
