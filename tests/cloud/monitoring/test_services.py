"""Heartbeats stored in batches, and a device's health over a window (the rollout gate's seam)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device, DeviceHealth
from cloud.fleet.registry import ensure_site
from cloud.monitoring.models import HeartbeatSample
from cloud.monitoring.services import (
    ArrivedHeartbeat,
    Window,
    counter_increase,
    record_heartbeats,
    window_stats,
    windows_stats,
)
from tests.cloud.monitoring.samples import camera, camera_heartbeat, stored

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def arrived(device_id: str, seq: int, **fields: object) -> ArrivedHeartbeat:
    at = T0 + timedelta(seconds=5 * seq)
    return ArrivedHeartbeat(device_id, camera_heartbeat(seq, at, **fields), at)


def test_a_batch_stores_every_good_heartbeat_and_refuses_the_others_alone(
    provisioned_device: Device,
) -> None:
    Device.objects.create(site=ensure_site("default"), id="gate-02", hardware_profile="x86-cpu")
    outcomes = record_heartbeats(
        [
            arrived("gate-01", 1),
            arrived("gate-02", 1, errors_total=2, temperature_celsius=64.5),
            arrived("ghost", 1),
            arrived("gate-01", 2, interval_s=float("inf")),
            arrived("gate-01", 3),
            arrived("gate-01", 1),  # the same heartbeat again, in the same batch
        ]
    )
    assert outcomes[:2] == [True, True]
    assert isinstance(outcomes[2], NotFound)
    assert isinstance(outcomes[3], InvalidInput) and "interval_s" in str(outcomes[3])
    assert outcomes[4:] == [True, False]
    assert sorted(HeartbeatSample.objects.values_list("device_id", "seq")) == [
        ("gate-01", 1),
        ("gate-01", 3),
        ("gate-02", 1),
    ]
    # The latest of each device is the one with the highest seq, whatever the order.
    latest = dict(DeviceHealth.objects.values_list("device_id", "seq"))
    assert latest == {"gate-01": 3, "gate-02": 1}
    other = HeartbeatSample.objects.get(device_id="gate-02")
    assert (other.errors_total, other.temperature_celsius) == (2, 64.5)
    # Delivered again later (QoS 1): nothing changes.
    assert record_heartbeats([arrived("gate-01", 3), arrived("gate-02", 1)]) == [False, False]
    assert HeartbeatSample.objects.count() == 3


def test_a_sample_keeps_the_slowest_camera_and_each_camera_s_figures(
    provisioned_device: Device,
) -> None:
    cameras = (
        camera("lobby", infer_fps=5.0, latency_p95_ms=30.0, detections=4),
        camera("gate", infer_fps=2.0, target_fps=4.0, latency_p95_ms=80.0, detections=6),
        camera("yard", infer_fps=1.0, target_fps=0.0, latency_p50_ms=None, latency_p95_ms=None),
    )
    (outcome,) = record_heartbeats([arrived("gate-01", 1, cameras=cameras)])
    assert outcome is True
    sample = HeartbeatSample.objects.get()
    assert sample.infer_fps == pytest.approx(8.0 / 3)
    assert sample.fps_ratio == 0.5  # gate: 2 of 4; yard has no target
    assert sample.latency_p95_ms == 80.0
    assert sample.detections == 20
    assert sample.cameras["yard"] == [25.0, 1.0, 0.0, None, None, 10]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"cameras": (camera(infer_fps=-1.0),)}, "cameras.infer_fps"),
        ({"cameras": (camera(latency_p95_ms=float("nan")),)}, "cameras.latency_p95_ms"),
        ({"cameras": (camera(camera_id="a/b"),)}, "cameras.camera_id"),
        ({"cameras": (camera(), camera())}, "each camera"),
        ({"cameras": tuple(camera(f"c{i}") for i in range(65))}, "at most 64"),
        ({"last_error": "x" * 4097}, "last_error"),
        ({"errors_total": 2**63}, "errors_total"),
    ],
)
def test_it_refuses_figures_the_store_or_the_charts_cannot_hold(
    provisioned_device: Device, change: dict[str, object], problem: str
) -> None:
    (outcome,) = record_heartbeats([arrived("gate-01", 1, **change)])
    assert isinstance(outcome, InvalidInput)
    assert problem in str(outcome)
    assert not HeartbeatSample.objects.exists()
    assert not DeviceHealth.objects.exists()


def test_window_stats_sum_up_the_heartbeats_received_in_the_window(
    provisioned_device: Device,
) -> None:
    stored("gate-01", 1, T0 - timedelta(seconds=1), infer_fps=1.0)  # before the window
    stored("gate-01", 2, T0, infer_fps=4.0, latency_p95_ms=20.0, errors_total=3, detections=10)
    stored("gate-01", 3, T0 + timedelta(seconds=5), infer_fps=5.0, latency_p95_ms=40.0,
           errors_total=5, detections=20)  # fmt: skip
    # The agent restarted: its error count starts again.
    stored("gate-01", 4, T0 + timedelta(seconds=10), infer_fps=None, latency_p95_ms=None,
           errors_total=1, detections=0)  # fmt: skip
    stored("gate-01", 5, T0 + timedelta(seconds=60), infer_fps=9.0)  # at the end: not in it
    stats = window_stats("gate-01", T0, T0 + timedelta(seconds=60))
    assert stats.sample_count == 3
    assert stats.mean_fps == pytest.approx(4.5)
    assert stats.latency_p95_ms == pytest.approx(30.0)
    assert stats.errors == 3  # 3 -> 5, then 1 after the restart
    assert stats.detections_per_minute == pytest.approx(30 * 60 / 15)


def test_window_stats_of_a_quiet_window_know_nothing(provisioned_device: Device) -> None:
    stats = window_stats("gate-01", T0, T0 + timedelta(minutes=5))
    assert (stats.sample_count, stats.mean_fps, stats.latency_p95_ms) == (0, None, None)
    assert (stats.errors, stats.detections_per_minute) == (0, None)
    with pytest.raises(InvalidInput, match="end must be after start"):
        window_stats("gate-01", T0, T0)


def test_many_windows_are_read_in_one_query(provisioned_device: Device) -> None:
    """Each window counts only its own samples, also when windows of one device overlap, of
    several devices share a span, or of a device see nothing."""
    Device.objects.create(id="gate-02", site=provisioned_device.site, hardware_profile="x86-cpu")
    for n in range(12):  # one a minute, from T0
        stored("gate-01", n + 1, T0 + timedelta(minutes=n), infer_fps=float(n))
        stored("gate-02", n + 1, T0 + timedelta(minutes=n), infer_fps=10.0)
    minute = timedelta(minutes=1)
    windows = [
        Window("gate-01", T0, T0 + 4 * minute),
        Window("gate-01", T0 + 2 * minute, T0 + 12 * minute),
        Window("gate-02", T0, T0 + 4 * minute),
        Window("gate-02", T0 + 20 * minute, T0 + 30 * minute),
    ]
    with CaptureQueriesContext(connection) as queries:
        stats = windows_stats(windows)
    assert len(queries) == 1
    assert [item.sample_count for item in stats] == [4, 10, 4, 0]
    assert [item.mean_fps for item in stats] == [1.5, 6.5, 10.0, None]
    assert stats[0] == window_stats("gate-01", T0, T0 + 4 * minute)
    assert windows_stats([]) == []


@pytest.mark.parametrize(
    ("values", "increase"),
    [([], 0), ([4], 0), ([1, 2, 5], 4), ([5, 2, 3], 3), ([0, 0], 0)],
)
def test_counter_increase_counts_from_zero_after_a_reset(values: list[int], increase: int) -> None:
    assert counter_increase(values) == increase
