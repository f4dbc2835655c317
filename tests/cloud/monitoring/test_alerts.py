"""Alerts: offline, lagging and dropping, raised by one pass and resolved when they clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.fleet.models import Device, DeviceHealth, DeviceStatus
from cloud.fleet.registry import ensure_site
from cloud.monitoring.alerts import DeviceView, RecentSample, assess, evaluate_alerts
from cloud.monitoring.config import MonitoringSettings
from cloud.monitoring.models import Alert, AlertKind
from tests.cloud.monitoring.samples import stored

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = MonitoringSettings(heartbeat_s=5, alert_window_s=60)


def sample(ago_s: float, **figures: float) -> RecentSample:
    values: dict[str, float] = {
        "interval_s": 5.0,
        "fps_ratio": 1.0,
        "outbox_rows": 0,
        "dropped_total": 0,
        "dead_letters_total": 0,
    }
    values.update(figures)
    return RecentSample(received_at=NOW - timedelta(seconds=ago_s), **values)  # type: ignore[arg-type]


def heartbeats(count: int, **figures: float) -> list[RecentSample]:
    """`count` heartbeats 5 s apart, the last one just now."""
    return [sample(5.0 * (count - 1 - n), **figures) for n in range(count)]


def view(recent: list[RecentSample], status: str = DeviceStatus.ONLINE) -> DeviceView:
    last = recent[-1].received_at if recent else NOW - timedelta(hours=1)
    return DeviceView(status=status, last_heard=last, recent=recent)


def test_a_steady_device_raises_nothing() -> None:
    assert assess(view(heartbeats(12)), NOW, SETTINGS) == {}


def test_a_device_never_heard_from_is_not_offline() -> None:
    never = DeviceView(status=DeviceStatus.OFFLINE, last_heard=None, recent=[])
    assert assess(never, NOW, SETTINGS) == {}


def test_offline_by_last_will_or_after_three_silent_intervals() -> None:
    assert AlertKind.OFFLINE in assess(view(heartbeats(3), DeviceStatus.OFFLINE), NOW, SETTINGS)
    # Silent for 14 s of 5 s intervals: still online; for 16 s: offline.
    quiet = [sample(14.0)]
    assert AlertKind.OFFLINE not in assess(view(quiet), NOW, SETTINGS)
    silent = [sample(16.0)]
    assert "no heartbeat for 16 s" in assess(view(silent), NOW, SETTINGS)[AlertKind.OFFLINE]
    # A device that reports a 30 s interval gets 90 s.
    slow = [sample(60.0, interval_s=30.0)]
    assert AlertKind.OFFLINE not in assess(view(slow), NOW, SETTINGS)


def test_lagging_when_a_camera_stays_below_its_rate_or_the_outbox_keeps_growing() -> None:
    assert AlertKind.LAGGING not in assess(view(heartbeats(6, fps_ratio=0.85)), NOW, SETTINGS)
    lagging = assess(view(heartbeats(6, fps_ratio=0.5)), NOW, SETTINGS)
    assert "50% of its configured rate" in lagging[AlertKind.LAGGING]
    # One slow heartbeat alone does not raise it.
    one_slow = [*heartbeats(5), sample(0.0, fps_ratio=0.1)][1:]
    assert AlertKind.LAGGING not in assess(view(one_slow), NOW, SETTINGS)
    growing = [sample(5.0 * (5 - n), outbox_rows=100 + 20 * n) for n in range(6)]
    assert "outbox grew from 100 to 200" in assess(view(growing), NOW, SETTINGS)[AlertKind.LAGGING]
    drained_once = [*growing[:-1], sample(0.0, outbox_rows=150)]
    assert AlertKind.LAGGING not in assess(view(drained_once), NOW, SETTINGS)


def test_dropping_while_the_loss_counters_rise_in_the_window() -> None:
    rising = [sample(ago, dropped_total=total) for ago, total in ((10.0, 4), (5.0, 4), (0.0, 9))]
    assert "dropped 5" in assess(view(rising), NOW, SETTINGS)[AlertKind.DROPPING]
    dead = [sample(5.0, dead_letters_total=1), sample(0.0, dead_letters_total=2)]
    assert "dead-lettered 1" in assess(view(dead), NOW, SETTINGS)[AlertKind.DROPPING]
    flat = heartbeats(6, dropped_total=9, dead_letters_total=2)
    assert AlertKind.DROPPING not in assess(view(flat), NOW, SETTINGS)
    reset = [sample(5.0, dropped_total=9), sample(0.0, dropped_total=0)]  # a new outbox
    assert AlertKind.DROPPING not in assess(view(reset), NOW, SETTINGS)


@pytest.mark.django_db
def test_the_pass_raises_each_alert_once_and_resolves_it_when_it_clears() -> None:
    for device_id in ("cam-a", "cam-b", "cam-c", "cam-new"):
        Device.objects.create(
            site=ensure_site("default"),
            id=device_id,
            hardware_profile="x86-cpu",
            status=DeviceStatus.ONLINE,
            last_seen=NOW,
        )
    for n in range(6):
        at = NOW - timedelta(seconds=5 * (5 - n))
        stored("cam-a", n + 1, at)  # steady
        stored("cam-b", n + 1, at, fps_ratio=0.4, dropped_total=n)  # lagging and dropping
    DeviceHealth.objects.bulk_create(
        DeviceHealth(device_id=device_id, seq=6, session_seq=1, sampled_at=NOW, received_at=at,
                     outbox_rows=0, outbox_bytes=0, outbox_dropped_total=0,
                     tracks_interrupted_total=0, disk_free_bytes=0)
        for device_id, at in (("cam-a", NOW), ("cam-b", NOW), ("cam-c", NOW - timedelta(minutes=5)))
    )  # fmt: skip
    Device.objects.filter(pk="cam-c").update(last_seen=NOW - timedelta(minutes=5))
    Device.objects.filter(pk="cam-new").update(last_seen=None, status=DeviceStatus.OFFLINE)

    assert evaluate_alerts(NOW, SETTINGS) == (3, 0)
    open_alerts = set(Alert.objects.filter(resolved_at=None).values_list("device_id", "kind"))
    assert open_alerts == {("cam-b", "lagging"), ("cam-b", "dropping"), ("cam-c", "offline")}
    assert evaluate_alerts(NOW + timedelta(seconds=1), SETTINGS) == (0, 0)  # still open, once

    # cam-c comes back, cam-b recovers (no more drops, its rate back).
    later = NOW + timedelta(seconds=65)
    for n in range(6):
        at = later - timedelta(seconds=5 * (5 - n))
        stored("cam-b", 10 + n, at, fps_ratio=1.0, dropped_total=5)
        stored("cam-c", 10 + n, at)
        stored("cam-a", 10 + n, at)
    DeviceHealth.objects.update(received_at=later)
    assert evaluate_alerts(later, SETTINGS) == (0, 3)
    assert not Alert.objects.filter(resolved_at=None).exists()
    assert set(Alert.objects.values_list("resolved_at", flat=True)) == {later}
