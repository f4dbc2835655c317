"""The composition root: cameras on threads sharing one detector, failure policy, stopping.

Runs the real model on real footage (skips when the model is not built, fails under CI).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from edge import app
from edge.config import EdgeConfig
from edge.delivery import CountingDelivery
from edge.records import CameraEvent, Crop
from tests.edge.nanodet import MANIFEST, built_model
from tests.footage.clips import clip_path

pytestmark = pytest.mark.slow


class RecordingDelivery(CountingDelivery):
    """Counts like CountingDelivery and remembers the crops, events and lifecycle calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.crops: list[Crop] = []
        self.events: list[CameraEvent] = []

    def start(self) -> None:
        self.calls.append("start")

    def crop(self, crop: Crop) -> None:
        super().crop(crop)
        self.crops.append(crop)

    def event(self, event: CameraEvent) -> None:
        super().event(event)
        self.events.append(event)

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        self.calls.append("drain")
        return True

    def close(self) -> None:
        self.calls.append("close")


def config(*cameras: dict[str, Any]) -> EdgeConfig:
    built_model()
    return EdgeConfig.model_validate(
        {
            "device": {"id": "dev-1"},
            "detector": {"type": "ort", "model": {"manifest": str(MANIFEST)}},
            "cameras": list(cameras),
        }
    )


def camera(camera_id: str, path: Path, fps: float | None = None) -> dict[str, Any]:
    return {"id": camera_id, "source": {"url": str(path), "fps": fps}}


def test_a_run_over_a_clip_reports_what_it_did() -> None:
    delivery = RecordingDelivery()
    summary = app.run(config(camera("a", clip_path("vtest-3s.avi"))), delivery=delivery)
    assert summary.exit_code == 0
    assert (summary.frames, summary.frames_decoded) == (30, 30)
    assert summary.tracks >= 3
    assert summary.detections > summary.tracks
    assert summary.crops_queued == len(delivery.crops)
    assert len({crop.track_id for crop in delivery.crops}) == summary.tracks
    assert summary.crops_sent == 0
    assert summary.seconds > 0
    assert delivery.calls == ["start", "drain", "close"]


def test_cameras_run_side_by_side_on_one_detector() -> None:
    delivery = RecordingDelivery()
    summary = app.run(
        config(
            camera("people", clip_path("vtest-3s.avi")),
            camera("city", clip_path("city-negative-3s.avi"), fps=5),
        ),
        delivery=delivery,
        max_frames=10,
    )
    assert summary.exit_code == 0
    assert summary.frames == 20
    assert summary.frames_decoded == 10 + 46  # the 25 fps clip sampled to 5 fps
    assert {crop.camera_id for crop in delivery.crops} == {"people"}


def test_a_corrupt_camera_stops_the_agent_and_is_reported(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    delivery = RecordingDelivery()
    summary = app.run(
        config(camera("good", clip_path("vtest-10s.avi")), camera("bad", corrupt)),
        delivery=delivery,
    )
    assert summary.failed_cameras == ("bad",)
    assert summary.exit_code == 1
    assert summary.frames < 100  # the stop event ended the healthy camera early
    (failed,) = [e for e in delivery.events if e.name == "camera.failed"]
    assert failed.camera_id == "bad"
    assert "cannot open video file" in failed.message
    assert delivery.calls[-1] == "close"


def test_setting_the_stop_event_ends_the_run_with_tracks_flushed() -> None:
    stop = threading.Event()

    class StopSoonAfterStart(RecordingDelivery):
        def start(self) -> None:
            super().start()
            self.timer = threading.Timer(1.5, stop.set)
            self.timer.start()

    delivery = StopSoonAfterStart()
    summary = app.run(config(camera("a", clip_path("vtest-10s.avi"))), delivery=delivery, stop=stop)
    delivery.timer.cancel()
    assert summary.exit_code == 0
    assert 0 < summary.frames < 100
    assert summary.tracks > 0
    # Every live track was ended and cropped.
    assert len({crop.track_id for crop in delivery.crops}) == summary.tracks


def test_crops_reach_an_ingest_server_and_are_counted_as_sent(tmp_path: Path) -> None:
    from tests.edge.transport.fake_ingest import TOKEN, FakeIngest, create_server

    ingest = FakeIngest()
    server, port = create_server(ingest)
    try:
        settings = config(camera("a", clip_path("vtest-3s.avi"))).model_dump()
        settings["delivery"] = {
            "outbox": {"path": tmp_path / "outbox.sqlite"},
            "uplink": {"target": f"127.0.0.1:{port}", "token": TOKEN, "deadline_s": 5},
            "drain_timeout_s": 10,
        }
        summary = app.run(EdgeConfig.model_validate(settings), max_frames=10)
    finally:
        server.stop(grace=None)
    assert summary.exit_code == 0
    assert summary.crops_queued > 0
    assert summary.crops_sent == summary.crops_queued == len(ingest.stored)
    assert max(ingest.store_count.values()) == 1
    for request in ingest.stored.values():
        assert (request.device_id, request.camera_id) == ("dev-1", "a")
        assert request.model.name == "nanodet-g"
        assert 0.0 <= request.box.x_min <= request.box.x_max <= 1.0
