"""Retention: old samples folded into per-bucket roll-ups, expired roll-ups deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.fleet.models import Device
from cloud.fleet.registry import ensure_site
from cloud.monitoring.config import MonitoringSettings
from cloud.monitoring.models import HealthRollup, HeartbeatSample
from cloud.monitoring.rollup import bucket_start, roll_up
from tests.cloud.monitoring.samples import stored

NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
SETTINGS = MonitoringSettings(raw_retention_h=1, rollup_s=300, rollup_retention_days=2)


def test_buckets_start_on_whole_multiples_of_their_length() -> None:
    assert bucket_start(datetime(2026, 11, 27, 9, 7, 59, tzinfo=UTC), 300) == datetime(
        2026, 11, 27, 9, 5, tzinfo=UTC
    )


@pytest.mark.django_db
def test_aged_samples_become_one_rollup_per_device_and_bucket() -> None:
    Device.objects.create(site=ensure_site("default"), id="cam-a", hardware_profile="x86-cpu")
    old = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # two hours ago: past the raw retention
    stored("cam-a", 1, old, infer_fps=4.0, fps_ratio=0.8, latency_p95_ms=30.0, detections=5,
           dropped_total=2, disk_free_bytes=500, temperature_celsius=50.0)  # fmt: skip
    stored("cam-a", 2, old + timedelta(seconds=5), infer_fps=6.0, fps_ratio=0.6,
           latency_p95_ms=90.0, detections=7, dropped_total=3, disk_free_bytes=400)  # fmt: skip
    stored("cam-a", 3, old + timedelta(seconds=300), infer_fps=None, fps_ratio=None)
    recent = stored("cam-a", 4, NOW - timedelta(minutes=10))

    assert roll_up(NOW, SETTINGS) == (3, 0)
    assert list(HeartbeatSample.objects.values_list("pk", flat=True)) == [recent.pk]
    first, second = HealthRollup.objects.order_by("bucket_start")
    assert (first.bucket_start, first.samples) == (old, 2)
    assert first.infer_fps == pytest.approx(5.0)
    assert (first.fps_ratio, first.latency_p95_ms, first.detections) == (0.6, 90.0, 12)
    assert (first.dropped_total, first.disk_free_bytes, first.temperature_celsius) == (3, 400, 50.0)
    assert (second.bucket_start, second.samples, second.infer_fps) == (
        old + timedelta(seconds=300), 1, None,
    )  # fmt: skip
    # Nothing left to fold; a second pass changes nothing.
    assert roll_up(NOW, SETTINGS) == (0, 0)
    assert HealthRollup.objects.count() == 2
    # Three days later every roll-up is past its two days: the recent sample is rolled up,
    # and all three roll-ups expire.
    assert roll_up(NOW + timedelta(days=3), SETTINGS) == (1, 3)
    assert not HealthRollup.objects.exists()
    assert not HeartbeatSample.objects.exists()


@pytest.mark.django_db
def test_a_long_backlog_is_folded_over_several_passes() -> None:
    Device.objects.create(site=ensure_site("default"), id="cam-a", hardware_profile="x86-cpu")
    start = NOW - timedelta(hours=5)
    for n in range(40):
        stored("cam-a", n + 1, start + timedelta(minutes=5 * n))
    folded, _ = roll_up(NOW, SETTINGS, max_buckets=12)
    assert folded == 12
    while roll_up(NOW, SETTINGS, max_buckets=12)[0]:
        pass
    # Everything older than the retention (cut at a bucket edge) is rolled up, the rest raw.
    cutoff = bucket_start(NOW - timedelta(hours=1), 300)
    assert not HeartbeatSample.objects.filter(received_at__lt=cutoff).exists()
    assert HealthRollup.objects.count() + HeartbeatSample.objects.count() == 40
