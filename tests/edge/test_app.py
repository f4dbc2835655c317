"""The composition root: cameras on threads sharing one detector, failure policy, stopping.

Runs the real model on real footage (skips when the model is not built, fails under CI).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge import app
from edge.config import EdgeConfig
from edge.delivery import CountingDelivery
from edge.detectors.base import ModelSettings
from edge.detectors.model import load_model_spec
from edge.journal import Journal
from edge.records import CameraEvent, Crop, ModelRef, TrackSummary
from edge.transport.heartbeat import CameraSample
from tests.edge.nanodet import MANIFEST, built_model
from tests.footage.clips import clip_path, image_folder

pytestmark = pytest.mark.slow


class RecordingDelivery(CountingDelivery):
    """Counts like CountingDelivery and remembers the crops, events and lifecycle calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.crops: list[Crop] = []
        self.tracks: list[TrackSummary] = []
        self.events: list[CameraEvent] = []

    def start(self) -> None:
        self.calls.append("start")

    def crop(self, crop: Crop) -> None:
        super().crop(crop)
        self.crops.append(crop)

    def track(self, summary: TrackSummary) -> None:
        super().track(summary)
        self.tracks.append(summary)

    def event(self, event: CameraEvent) -> None:
        super().event(event)
        self.events.append(event)

    def final_summaries(self) -> list[TrackSummary]:
        return [s for s in self.tracks if s.ended]

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        self.calls.append("drain")
        return True

    def close(self) -> None:
        self.calls.append("close")


def config(*cameras: dict[str, Any], journal: Path | None = None) -> EdgeConfig:
    built_model()
    return EdgeConfig.model_validate(
        {
            "device": {"id": "dev-1"},
            "detector": {"type": "ort", "model": {"manifest": str(MANIFEST)}},
            "cameras": list(cameras),
            "journal": {"path": journal},
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


def test_a_corrupt_camera_fails_alone_and_is_reported_while_the_others_run_on(
    tmp_path: Path,
) -> None:
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    delivery = RecordingDelivery()
    summary = app.run(
        config(camera("good", clip_path("vtest-10s.avi")), camera("bad", corrupt)),
        delivery=delivery,
    )
    assert summary.failed_cameras == ("bad",)
    assert summary.exit_code == 1
    assert summary.frames_decoded == 100  # the healthy camera read its whole clip
    (failed,) = [e for e in delivery.events if e.name == "camera.failed"]
    assert failed.camera_id == "bad"
    assert "cannot open video file" in failed.message
    assert delivery.calls[-1] == "close"


def test_an_image_folder_is_a_camera_and_a_corrupt_image_fails_only_its_folder(
    tmp_path: Path,
) -> None:
    image_folder(tmp_path / "snapshots", 20)
    image_folder(tmp_path / "broken", 2)
    (tmp_path / "broken" / "img-001.png").write_bytes(b"not a png")
    delivery = RecordingDelivery()
    summary = app.run(
        config(camera("snapshots", tmp_path / "snapshots"), camera("broken", tmp_path / "broken")),
        delivery=delivery,
    )
    assert summary.failed_cameras == ("broken",)
    assert summary.frames == 20 + 1  # every snapshot, and the broken folder's good image
    assert {crop.camera_id for crop in delivery.crops} == {"snapshots"}
    (failed,) = [e for e in delivery.events if e.name == "camera.failed"]
    assert "image img-001.png" in failed.message


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


def test_a_start_ends_the_tracks_a_dead_process_left_and_counts_them(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    left = TrackSummary(
        track_id="0190c0de-0000-7000-8000-000000000001",
        camera_id="a",
        label="person",
        first_seen=datetime(2026, 1, 1, tzinfo=UTC),
        last_seen=datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
        best_detection_id="0190c0de-0000-7000-8000-000000000002",
        best_score=0.7,
        box_count=30,
        ended=False,
    )
    dead = Journal(journal)
    dead.camera("a", None).save([left], [], None)
    dead.close()  # the agent was killed with this track in progress
    delivery = RecordingDelivery()
    summary = app.run(
        config(camera("a", clip_path("vtest-3s.avi")), journal=journal),
        delivery=delivery,
        max_frames=3,
    )
    assert summary.exit_code == 0
    assert summary.tracks_interrupted == 1
    # Before anything of this run: its final summary, with what was known, and one event.
    assert delivery.tracks[0] == replace(left, ended=True)
    (event,) = [e for e in delivery.events if e.name == "tracks.interrupted"]
    assert (event.camera_id, dict(event.attributes)) == ("a", {"count": "1", "camera": "a"})
    assert Journal(journal).tracks_interrupted_total() == 1


def test_a_restarted_agent_resumes_a_file_where_it_stopped(tmp_path: Path) -> None:
    clip = camera("a", clip_path("vtest-10s.avi"))  # 100 frames, every one processed
    whole = RecordingDelivery()
    uninterrupted = app.run(config(clip, journal=tmp_path / "whole.sqlite"), delivery=whole)
    assert uninterrupted.frames == 100

    stop = threading.Event()
    live_at_stop: list[TrackSummary] = []

    class StopMidway(RecordingDelivery):
        def crop(self, crop: Crop) -> None:
            super().crop(crop)
            if len(self.crops) == 12:  # on frame 64 of 100
                stop.set()

        def track(self, summary: TrackSummary) -> None:
            super().track(summary)
            if stop.is_set() and summary.ended:
                live_at_stop.append(summary)

    journal = tmp_path / "journal.sqlite"
    first, second = StopMidway(), RecordingDelivery()
    before = app.run(config(clip, journal=journal), delivery=first, stop=stop)
    after = app.run(config(clip, journal=journal), delivery=second)
    assert 0 < before.frames < 100
    # Every frame processed once: the frame counts add up, and so do the detections (the
    # detector's output on a frame does not depend on what came before).
    assert before.frames + after.frames == 100
    assert before.frames_decoded + after.frames_decoded == 100
    assert before.detections + after.detections == uninterrupted.detections
    # The same tracks but for the split, the tracker's tolerance: a track live at the stop was
    # ended there, and its object, still in view, becomes a new track after the restart once
    # the fresh tracker confirms it (min_hits detections of new_track_score). The matched
    # detections may differ either way, since what a track matches depends on its history
    # (the colours it learnt, the tracks it lost). Measured: 16 tracks and 826 matched
    # detections in one run; 11 + 11 tracks (9 live at the stop) and 831 matched in two.
    assert live_at_stop
    tracks = before.tracks + after.tracks
    assert uninterrupted.tracks <= tracks <= uninterrupted.tracks + len(live_at_stop)
    split_tracked = before.tracked + after.tracked
    assert abs(uninterrupted.tracked - split_tracked) <= 0.1 * uninterrupted.tracked
    # Every track of both runs got its crops and its final summary, and none was interrupted.
    for run, delivery in ((before, first), (after, second)):
        assert len(delivery.final_summaries()) == run.tracks
        assert {c.track_id for c in delivery.crops} == {s.track_id for s in delivery.tracks}
        assert run.tracks_interrupted == 0
    # A third start finds the file done: nothing is processed or sent again.
    third = RecordingDelivery()
    done = app.run(config(clip, journal=journal), delivery=third)
    assert (done.frames, done.frames_decoded, third.crops, third.tracks) == (0, 0, [], [])


def test_a_changed_file_is_read_from_its_start(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    shutil.copyfile(clip_path("vtest-3s.avi"), video)
    settings = config(camera("a", video), journal=tmp_path / "journal.sqlite")
    assert app.run(settings, delivery=RecordingDelivery(), max_frames=10).frames == 10
    assert app.run(settings, delivery=RecordingDelivery(), max_frames=10).frames_decoded == 10
    shutil.copyfile(clip_path("vtest-3s.avi"), video)  # rewritten: another modification time
    again = app.run(settings, delivery=RecordingDelivery())
    assert (again.frames, again.frames_decoded) == (30, 30)


def test_the_heartbeat_sees_each_camera_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    samples: list[list[CameraSample]] = []

    class SamplingDelivery(RecordingDelivery):
        """Samples the cameras provider the app hands to the delivery, as the heartbeat does."""

        def __init__(self, cameras: Callable[[], Sequence[CameraSample]]) -> None:
            super().__init__()
            self.cameras = cameras

        def crop(self, crop: Crop) -> None:
            super().crop(crop)
            samples.append(list(self.cameras()))

    errors: list[Callable[[], tuple[int, str]]] = []
    cameras: list[Callable[[], Sequence[CameraSample]]] = []

    def build(
        config: EdgeConfig, model: ModelRef, **providers: Callable[[], Any]
    ) -> SamplingDelivery:
        errors.append(providers["errors"])
        cameras.append(providers["cameras"])
        return SamplingDelivery(providers["cameras"])

    monkeypatch.setattr(app, "build_delivery", build)
    summary = app.run(config(camera("a", clip_path("vtest-3s.avi"))), max_frames=20)
    assert summary.exit_code == 0
    assert samples, "no crop was made"
    (first,) = samples[0]
    assert (first.camera_id, first.connected) == ("a", True)  # a file: connected while decoding
    assert 0 < first.frames <= first.frames_decoded
    assert first.detections > 0
    spec = load_model_spec(ModelSettings(manifest=MANIFEST))  # what the camera runs
    assert (first.model_name, first.model_version) == (spec.name, spec.version)
    assert first.model_sha256 == spec.sha256
    # Each sample takes the detector call times since the one before. A crop is cut while
    # its frame is processed: after the frame's detector call, before its count.
    assert len(first.detector_latencies_ms) == first.frames + 1
    assert all(ms > 0 for ms in first.detector_latencies_ms)
    # Taken once each: with a last sample after the run, every frame's call was taken.
    samples.append(list(cameras[0]()))
    taken = sum(len(sample.detector_latencies_ms) for (sample,) in samples)
    assert taken == summary.frames == 20
    assert first.target_fps == 0.0  # fps null: every frame, no target rate
    assert errors[0]() == (0, "")  # a clean run logged no error
