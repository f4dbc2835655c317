"""Health you can see: `/metrics`, `/healthz` and `/readyz` of the agent (`edge.health`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge import app
from edge.config import EdgeConfig
from edge.delivery import DeliverySettings, OutboxDelivery
from edge.health.collector import AgentCollector
from edge.health.state import AgentHealth, CameraHealth, CameraState
from edge.pipelines.base import PipelineStats
from edge.pipelines.latency import LatencyWindow
from edge.records import ModelRef
from edge.transport.outbox import OutboxSettings
from tests.edge.http_probe import free_port, health, scrape
from tests.edge.nanodet import MANIFEST, built_model
from tests.footage.clips import clip_path


def camera(camera_id: str, state: CameraState, frames: int = 0) -> CameraHealth:
    return CameraHealth(
        camera_id, state, PipelineStats(frames=frames, seconds=2.0), LatencyWindow().histogram()
    )


def test_the_agent_is_live_unless_every_camera_failed_or_delivery_stopped() -> None:
    one_failed = AgentHealth([camera("a", CameraState.FAILED), camera("b", CameraState.RECOVERING)])
    assert one_failed.problems() == []
    # Reconnecting is the watchdog's job, not a failure; but nothing delivers frames now.
    assert one_failed.not_ready() == ["no camera is delivering frames"]
    all_failed = AgentHealth([camera("a", CameraState.FAILED)], delivery_failures=["ACL denied"])
    assert all_failed.problems() == ["every camera failed", "delivery stopped: ACL denied"]
    serving = AgentHealth([camera("a", CameraState.CONNECTED), camera("b", CameraState.FAILED)])
    assert serving.problems() == serving.not_ready() == []
    stopping = AgentHealth([camera("a", CameraState.CONNECTED)], stopping=True)
    assert (stopping.problems(), stopping.not_ready()) == ([], ["stopping"])


def test_latency_buckets_count_each_call_once_with_its_bound_inclusive() -> None:
    window = LatencyWindow()
    for seconds in (0.004, 0.005, 0.03, 9.0):
        window.add(seconds)
    assert len(window.take()) == 4
    histogram = window.histogram()  # taking the heartbeat's times leaves the histogram
    assert histogram.counts == (2, 0, 0, 1, 0, 0, 0, 0, 0, 1)
    assert histogram.sum_s == pytest.approx(9.039)


def test_fps_is_the_rate_since_the_previous_scrape_a_second_or_more_before() -> None:
    now = [100.0]
    frames = [20]

    def snapshot() -> AgentHealth:
        return AgentHealth([camera("a", CameraState.CONNECTED, frames=frames[0])])

    collector = AgentCollector(snapshot, clock=lambda: now[0])

    def fps() -> float:
        (family,) = [m for m in collector.collect() if m.name == "sightline_edge_camera_fps"]
        return float(family.samples[0].value)

    assert fps() == 10.0  # first scrape: 20 frames over the camera's 2 s
    now[0], frames[0] = 102.0, 30
    assert fps() == 5.0
    now[0], frames[0] = 102.5, 40
    assert fps() == 5.0  # too soon for a new rate: the last one again
    now[0] = 103.0
    assert fps() == 10.0


class HeldDrain(OutboxDelivery):
    """Spools into a real outbox; its drain waits until the test has looked at the agent."""

    def __init__(self, outbox: Path) -> None:
        super().__init__(
            DeliverySettings(outbox=OutboxSettings(path=outbox)),
            device_id="dev-1",
            site="default",
            hardware_profile="x86-cpu",
            camera_models=[("a", ModelRef("m", "1"))],
        )
        self.draining = threading.Event()
        self.release = threading.Event()

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        self.draining.set()
        self.release.wait(30)
        return True


@pytest.mark.slow
def test_a_running_agent_serves_its_counters_and_turns_unhealthy_when_its_camera_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built_model()
    truncated = tmp_path / "truncated.avi"  # decodes for a while, then fails for good
    truncated.write_bytes(clip_path("vtest-3s.avi").read_bytes()[:300_000])
    port = free_port()
    config = EdgeConfig.model_validate(
        {
            "device": {"id": "dev-1"},
            "detector": {"type": "ort", "model": {"manifest": str(MANIFEST)}},
            "cameras": [{"id": "a", "source": {"url": str(truncated), "realtime": True}}],
            "metrics": {"enabled": True, "port": port},
        }
    )
    delivery = HeldDrain(tmp_path / "outbox.sqlite")
    result: list[app.RunSummary] = []
    runner = threading.Thread(target=lambda: result.append(app.run(config, delivery=delivery)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        status, body = 0, {}
        while time.monotonic() < deadline and not delivery.draining.is_set():
            try:
                status, body = health(port)
            except OSError:  # not listening yet: the model is loading
                time.sleep(0.05)
                continue
            if body["cameras"] == {"a": "connected"}:
                break
            time.sleep(0.05)
        assert (status, body["cameras"], body["reasons"]) == (200, {"a": "connected"}, [])
        assert health(port, "/readyz")[0] == 200

        assert delivery.draining.wait(30)  # the camera failed; the agent drains
        status, body = health(port)
        assert (status, body["status"], body["reasons"]) == (
            503,
            "unhealthy",
            ["every camera failed"],
        )
        assert body["cameras"] == {"a": "failed"}
        assert health(port, "/readyz")[0] == 503
        metrics = scrape(port)
    finally:
        delivery.release.set()
        runner.join(60)
    (summary,) = result
    assert summary.failed_cameras == ("a",)
    failed = [r for r in caplog.records if getattr(r, "event", None) == "camera.failed"]
    assert [getattr(r, "camera_id", None) for r in failed] == ["a"]

    def value(name: str, **labels: str) -> float:
        return metrics[("sightline_edge_" + name, tuple(sorted(labels.items())))]

    # The same counters the run summary adds up (one camera: equal).
    assert value("frames_decoded_total", camera="a") == summary.frames_decoded > 0
    assert value("frames_processed_total", camera="a") == summary.frames > 0
    assert value("detections_total", camera="a") == summary.detections
    assert value("tracks_total", camera="a") == summary.tracks
    assert value("detector_latency_seconds_count", camera="a") == summary.frames
    assert value("detector_latency_seconds_bucket", camera="a", le="+Inf") == summary.frames
    assert value("frames_dropped_total", camera="a") == 0  # a file waits, never drops
    assert value("camera_connected", camera="a") == 0
    assert value("camera_state", camera="a", state="failed") == 1
    assert value("camera_state", camera="a", state="connected") == 0
    assert (value("healthy"), value("ready")) == (0, 0)
    # No uplink: every crop is still spooled in its lane, and nothing was lost.
    assert value("outbox_rows", lane="crop") == summary.crops_queued > 0
    assert value("outbox_dropped_total", lane="crop") == 0
    assert metrics[("process_resident_memory_bytes", ())] > 50e6
