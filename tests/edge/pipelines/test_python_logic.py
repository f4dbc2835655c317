"""PythonPipeline's own logic on a fake source and a fake detector: no model, no footage.

The scene (320x240 at 10 fps): a person walks right through all 30 frames; a car drives left
through frames 5-14 and its track ends mid-stream (lost-track buffer 0.5 s). The detector sees
exactly the sprites. tests/edge/pipelines/test_python.py runs the same pipeline on real footage
with the real model.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest

from edge.crops.selector import CropSettings
from edge.detectors.fake import FakeDetector, raw_detections
from edge.errors import ConfigError, SourceError
from edge.geometry import Box
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.python import PythonPipeline
from edge.records import Crop, ModelRef, TrackSummary
from edge.sources.base import SourceSettings
from edge.sources.fake import FakeSource, Sprite
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from models.detection import RawDetections
from tests.edge.sinks import RecordingSink

FRAMES = 30
PERSON = Sprite(Box(20, 60, 60, 160), velocity=(4, 0), color=(90, 160, 220))
CAR = Sprite(
    Box(200, 150, 280, 200), velocity=(-3, 0), color=(200, 60, 60), first_frame=5, last_frame=14
)
# (sprite, class id in the fake model's labels ("person", "car"), score)
SEEN = ((PERSON, 0, 0.9), (CAR, 1, 0.8))


def seeing(frames: int = FRAMES) -> Iterator[RawDetections]:
    """What the detector finds on each frame: every sprite in view, exactly."""
    for index in range(frames):
        yield raw_detections(
            [(box, score, cls) for sprite, cls, score in SEEN if (box := sprite.box(index))]
        )


@dataclass
class Run:
    pipeline: PythonPipeline
    source: FakeSource
    detector: FakeDetector
    sink: RecordingSink

    def stats(self) -> PipelineStats:
        return self.pipeline.stats()

    def summary_of(self, label: str) -> TrackSummary:
        (summary,) = [s for s in self.sink.tracks if s.label == label and s.ended]
        return summary

    def final_summaries(self) -> list[TrackSummary]:
        return [s for s in self.sink.tracks if s.ended]


def scene(
    *,
    labels: tuple[str, ...] = (),
    crops: CropSettings | None = None,
    max_frames: int | None = None,
    fail_after: int | None = None,
    script: Iterator[RawDetections] | None = None,
) -> Run:
    source = FakeSource(frames=FRAMES, sprites=[PERSON, CAR], fail_after=fail_after)
    detector = FakeDetector(script or seeing())
    camera = CameraSettings(id="cam-1", source=SourceSettings(url="synthetic"), labels=labels)
    sink = RecordingSink()
    pipeline = PythonPipeline(
        camera,
        source=source,
        detector=detector,
        tracker=ByteTrackTracker(ByteTrackSettings(lost_track_buffer_s=0.5), camera_id="cam-1"),
        crops=crops or CropSettings(),
        sink=sink,
        max_frames=max_frames,
    )
    return Run(pipeline, source, detector, sink)


def at(run: Run, index: int) -> datetime:
    return run.source.started_at + timedelta(seconds=index / 10)


def test_each_confirmed_track_gives_a_crop_and_a_final_summary() -> None:
    run = scene()
    stats = run.pipeline.run(threading.Event())
    person, car = run.summary_of("person"), run.summary_of("car")
    assert run.final_summaries() == [car, person]  # the car's track ends first, mid-stream
    assert (person.first_seen, person.last_seen, person.box_count) == (at(run, 0), at(run, 29), 30)
    assert (car.first_seen, car.last_seen, car.box_count) == (at(run, 5), at(run, 14), 10)
    assert person.track_id != car.track_id
    assert all(uuid.UUID(s.track_id).version == 7 for s in run.sink.tracks)
    by_track = {crop.track_id: crop for crop in run.sink.crops}
    assert len(by_track) == len(run.sink.crops) == 2
    for summary in (person, car):
        crop = by_track[summary.track_id]
        assert uuid.UUID(crop.detection_id).version == 7
        assert (summary.best_detection_id, summary.best_score) == (crop.detection_id, crop.score)
        assert (crop.label, crop.camera_id, crop.model) == (
            summary.label,
            "cam-1",
            ModelRef("fake", "1"),
        )
        assert crop.frame_size == (320, 240)
        assert summary.first_seen <= crop.frame_time <= summary.last_seen
        rect = crop.crop_box
        assert rect.x1 <= crop.box.x1 <= crop.box.x2 <= rect.x2
        assert rect.y1 <= crop.box.y1 <= crop.box.y2 <= rect.y2
        image = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        assert image.shape == (rect.y2 - rect.y1, rect.x2 - rect.x1, 3)
    assert stats == run.stats()
    assert (stats.frames, stats.frames_decoded) == (30, 30)
    assert stats.detections == 30 + 10
    # Matched on every frame but the one before confirmation (min_hits 2).
    assert stats.tracked == 29 + 9
    assert (stats.tracks, stats.crops) == (2, 2)
    assert stats.seconds > 0


def test_crops_reach_the_sink_before_the_summaries_that_name_them() -> None:
    run = scene(crops=CropSettings(top_k=2, emit_interval_s=1.0))
    run.pipeline.run(threading.Event())
    sent: set[str] = set()
    for item in run.sink.order:
        if isinstance(item, Crop):
            sent.add(item.detection_id)
        else:
            assert item.best_detection_id in sent
    assert len(run.sink.tracks) > 2


def test_tracks_show_early_then_get_an_interim_summary_every_interval() -> None:
    run = scene(crops=CropSettings(emit_interval_s=1.0))
    stats = run.pipeline.run(threading.Event())
    person, car = run.summary_of("person"), run.summary_of("car")
    interim = [s for s in run.sink.tracks if not s.ended]
    # The person (confirmed at 0.1 s): its first crop 0.5 s later (0.6 s), then windows end at
    # 1.1 s and 2.1 s. The car (confirmed at 0.6 s): its first crop at 1.1 s, a window ended
    # while it was lost (1.6 s). Each with an interim summary.
    assert [s.track_id for s in interim] == [
        person.track_id,
        person.track_id,
        car.track_id,
        car.track_id,
        person.track_id,
    ]
    assert [s.last_seen for s in interim] == [at(run, i) for i in (6, 11, 11, 14, 21)]
    # Every interim summary precedes the final one of its track and names the same crop.
    position = run.sink.tracks.index
    assert all(position(s) < position(run.summary_of(s.label)) for s in interim)
    assert all(s.best_detection_id == run.summary_of(s.label).best_detection_id for s in interim)
    # The sprites look the same on every frame: no later view is better than the first crop.
    per_track = Counter(crop.track_id for crop in run.sink.crops)
    assert per_track == {person.track_id: 1, car.track_id: 1}
    assert stats.crops == 2


def test_a_label_filter_keeps_only_those_classes() -> None:
    run = scene(labels=("car",))
    stats = run.pipeline.run(threading.Event())
    assert {s.label for s in run.sink.tracks} == {"car"}
    assert (stats.detections, stats.tracks, stats.crops) == (10, 1, 1)


def test_an_unknown_label_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"labels \['persn'\] are not classes of the detector"):
        scene(labels=("person", "persn"))


def test_max_frames_ends_the_run_and_every_track() -> None:
    run = scene(max_frames=8)
    stats = run.pipeline.run(threading.Event())
    assert stats.frames == run.detector.calls == 8
    assert {s.label for s in run.final_summaries()} == {"person", "car"}
    assert len(run.sink.crops) == len(run.final_summaries()) == stats.tracks == 2


def test_a_failing_source_ends_the_tracks_it_showed_then_raises() -> None:
    run = scene(fail_after=10)
    with pytest.raises(SourceError, match="fails after 10 frames"):
        run.pipeline.run(threading.Event())
    assert run.stats().frames == 10
    assert {s.label for s in run.final_summaries()} == {"person", "car"}
    assert len(run.sink.crops) == len(run.final_summaries()) == run.stats().tracks == 2
    assert run.stats().seconds > 0


def test_stop_ends_the_run_and_every_track() -> None:
    stop = threading.Event()

    def stopping_after_12_frames() -> Iterator[RawDetections]:
        for index, detections in enumerate(seeing()):
            if index == 12:
                stop.set()  # during frame 12: the source then yields no more
            yield detections

    run = scene(script=stopping_after_12_frames())
    stats = run.pipeline.run(stop)
    assert stats.frames == 13
    assert [s.label for s in run.final_summaries()] == ["person", "car"]


def test_nothing_seen_means_nothing_sent() -> None:
    run = scene(script=iter([]))
    stats = run.pipeline.run(threading.Event())
    assert (stats.frames, stats.detections, stats.tracks, stats.crops) == (30, 0, 0, 0)
    assert run.sink.order == []


def test_an_unexpected_error_ends_every_track_then_propagates() -> None:
    def failing_on_frame_12() -> Iterator[RawDetections]:
        for index, detections in enumerate(seeing()):
            if index == 12:
                raise RuntimeError("the runtime broke")
            yield detections

    run = scene(script=failing_on_frame_12())
    with pytest.raises(RuntimeError, match="the runtime broke"):
        run.pipeline.run(threading.Event())
    assert run.stats().frames == 12
    # Both tracks in view were ended: their crops and final summaries reached the sink.
    assert {s.label for s in run.sink.tracks if s.ended} == {"person", "car"}
    assert {c.track_id for c in run.sink.crops} == {s.track_id for s in run.sink.tracks}
    assert run.stats().seconds > 0
