"""The heartbeat's Metrics: per-lane outbox state and losses, their sums, host figures, and the
providers the app passes in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from edge.errors import TransportError
from edge.transport.heartbeat import CameraSample, HeartbeatSampler, percentile
from edge.transport.lane import BatchResult, Lane, Outcome
from edge.transport.outbox import Kind, Outbox, OutboxSettings, Row, SpoolBounds
from edge.transport.sender import Sender, SenderSettings
from sightline.backoff import BackoffSettings

FAST = SenderSettings(idle_poll_s=0.02, backoff=BackoffSettings(initial_s=0.02, max_s=0.1))
REVOKED = TransportError("UploadCrops to ingest:50051 failed: UNAUTHENTICATED", permanent=True)


class AnsweringLane:
    """Delivers every row, or fails every batch with `error`."""

    def __init__(self, error: TransportError | None = None) -> None:
        self.error = error

    def ready(self) -> bool:
        return True

    def send_batch(self, rows: Sequence[Row]) -> BatchResult:
        outcome = Outcome.UNACKED if self.error else Outcome.DELIVERED
        return BatchResult({row.id: outcome for row in rows}, error=self.error)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    bounds = SpoolBounds(max_rows=3, max_bytes=1000)
    with Outbox(OutboxSettings(path=tmp_path / "o.sqlite3", record=bounds, crop=bounds)) as box:
        yield box


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_lanes_report_waiting_rows_losses_deliveries_and_the_error_that_stopped_them(
    outbox: Outbox, stop: threading.Event
) -> None:
    for n in range(3):
        outbox.put("event", f"dev:{n}", b"e" * 10)
    lanes: dict[Kind, Lane] = {"record": AnsweringLane(), "crop": AnsweringLane(REVOKED)}
    sender = Sender(outbox, lanes, stop, FAST)
    sender.start()
    wait_until(lambda: outbox.depth("record") == 0)
    for n in range(5):
        outbox.put("crop", f"c{n}", b"jpeg" * 25)  # two dropped by the 3-row bound
    sender.wake()
    wait_until(lambda: "crop" in sender.failures())
    (dead,) = outbox.peek("crop", 1)
    outbox.dead_letter([dead.id], "refused")
    metrics = HeartbeatSampler(outbox, sender, tracks_interrupted=lambda: 4)()
    record, crop = metrics.lanes
    assert (record.kind, record.rows, record.bytes, record.delivered_total) == ("record", 0, 0, 3)
    assert (record.dropped_total, record.dead_letters_total, record.error) == (0, 0, "")
    assert (crop.kind, crop.rows, crop.bytes) == ("crop", 2, 200)
    assert (crop.dropped_total, crop.dead_letters_total, crop.delivered_total) == (2, 1, 0)
    assert crop.error == str(REVOKED)
    assert (metrics.outbox_rows, metrics.outbox_bytes, metrics.outbox_dropped_total) == (2, 200, 2)
    assert metrics.tracks_interrupted_total == 4
    assert metrics.disk_free_bytes > 0
    assert metrics.memory_used_bytes > 0  # /proc on Linux
    assert metrics.memory_available_bytes > 0
    assert 0.0 <= metrics.cpu_percent <= 100.0


def test_a_kind_without_a_lane_says_its_rows_only_pile_up(outbox: Outbox) -> None:
    sender = Sender(outbox, {}, threading.Event(), FAST)
    outbox.put("track", "dev:1", b"t")
    metrics = HeartbeatSampler(outbox, sender)()
    assert [lane.error for lane in metrics.lanes] == ["no lane configured: rows stay spooled"] * 2
    assert metrics.lanes[0].rows == 1
    assert metrics.tracks_interrupted_total == 0  # the default provider
    assert list(metrics.cameras) == []


def test_cameras_report_their_state_totals_and_rates_since_the_last_sample(
    outbox: Outbox,
) -> None:
    samples = [CameraSample("lobby", True, frames_decoded=100, frames=50, detections=7)]
    sampler = HeartbeatSampler(
        outbox, Sender(outbox, {}, threading.Event()), cameras=lambda: samples
    )
    (first,) = sampler().cameras
    assert (first.camera_id, first.connected, first.detections_total) == ("lobby", True, 7)
    assert (first.decode_fps, first.infer_fps) == (0.0, 0.0)  # no interval yet
    time.sleep(0.5)
    samples[0] = CameraSample(
        "lobby", False, frames_decoded=110, frames=55, detections=9, gated=40, dropped=15
    )
    (second,) = sampler().cameras
    assert not second.connected
    # Totals since the camera started, as /metrics reports them.
    assert (second.frames_gated_total, second.frames_dropped_total) == (40, 15)
    assert second.decode_fps == pytest.approx(20.0, rel=0.3)
    assert second.infer_fps == pytest.approx(10.0, rel=0.3)
    assert second.detections_total == 9


def test_cameras_report_their_model_latency_and_detections_over_the_interval(
    outbox: Outbox,
) -> None:
    model: dict[str, Any] = {"model_name": "nanodet-g", "model_version": "1", "target_fps": 5.0}
    model["model_sha256"] = "ab" * 32
    samples = [CameraSample("lobby", True, 10, 10, 7, **model, detector_latencies_ms=(5.0,))]
    sampler = HeartbeatSampler(
        outbox, Sender(outbox, {}, threading.Event()), cameras=lambda: samples
    )
    first = sampler()
    assert first.interval_s == 0.0  # nothing to cover yet
    (camera,) = first.cameras
    assert (camera.model.name, camera.model.version) == ("nanodet-g", "1")
    assert camera.model_sha256 == "ab" * 32
    assert camera.target_fps == 5.0
    assert camera.detections == 0
    time.sleep(0.2)
    latencies = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 200.0)
    samples[0] = CameraSample("lobby", True, 30, 30, 19, **model, detector_latencies_ms=latencies)
    second = sampler()
    assert second.interval_s == pytest.approx(0.2, abs=0.1)
    (camera,) = second.cameras
    assert camera.detections == 12
    assert camera.detector_latency_p50_ms == pytest.approx(60.0)
    assert camera.detector_latency_p95_ms == pytest.approx(150.0)  # between 100 and 200
    samples[0] = CameraSample("lobby", False, 30, 30, 19, **model)
    (idle,) = sampler().cameras
    # No frame through the detector: no latency, rather than a latency of 0.
    assert not idle.HasField("detector_latency_p50_ms")
    assert not idle.HasField("detector_latency_p95_ms")
    assert idle.detections == 0


def test_errors_and_temperature_come_from_their_providers(outbox: Outbox) -> None:
    sender = Sender(outbox, {}, threading.Event())
    metrics = HeartbeatSampler(
        outbox, sender, errors=lambda: (3, "camera lobby failed"), temperature=lambda: 71.5
    )()
    assert (metrics.errors_total, metrics.last_error) == (3, "camera lobby failed")
    assert metrics.temperature_celsius == 71.5
    unknown = HeartbeatSampler(outbox, sender, temperature=lambda: None)()
    assert not unknown.HasField("temperature_celsius")  # absent, not 0 degrees
    assert (unknown.errors_total, unknown.last_error) == (0, "")


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [((7.0,), 95, 7.0), ((1.0, 2.0), 50, 1.5), ((3.0, 1.0, 2.0), 50, 2.0), ((1.0, 2.0), 100, 2.0)],
)
def test_percentile_interpolates_between_ranks_as_numpy_does(
    values: tuple[float, ...], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)
