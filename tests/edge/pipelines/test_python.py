"""The Python pipeline end to end on real footage with the real NanoDet-g model.

Skips when the model is not built (fails under CI). vtest-3s: 30 frames of pedestrians at 10 fps;
city-negative-3s: 75 frames of a city clip with nothing to detect.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.crops.selector import CropSettings
from edge.detectors.base import Detector
from edge.detectors.registry import create_detector
from edge.errors import ConfigError, SourceError
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.motion_gate import MotionGateSettings
from edge.pipelines.python import PythonPipeline
from edge.records import TrackSummary
from edge.sources.base import Frame, SourceSettings, VideoSource
from edge.sources.capture import CaptureSource
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from tests.edge.nanodet import detector_settings
from tests.edge.sinks import RecordingSink
from tests.footage.clips import clip_path

pytestmark = pytest.mark.slow


@dataclass
class Run:
    sink: RecordingSink
    stats: PipelineStats
    source: VideoSource


@pytest.fixture(scope="module")
def detector() -> Detector:
    return create_detector(detector_settings(threads=2))


def run_clip(
    detector: Detector,
    clip: str | Path,
    *,
    labels: tuple[str, ...] = (),
    crops: CropSettings | None = None,
    max_frames: int | None = None,
    sink: RecordingSink | None = None,
) -> Run:
    """Run a clip (a name from tests.footage.clips, or a path) at its full frame rate."""
    video = clip if isinstance(clip, Path) else clip_path(clip)
    settings = SourceSettings(url=str(video), fps=None)
    camera = CameraSettings(id="cam-1", source=settings, labels=labels)
    source = CaptureSource(camera.source, camera_id=camera.id)
    sink = sink or RecordingSink()
    pipeline = PythonPipeline(
        camera,
        source=source,
        detector=detector,
        tracker=ByteTrackTracker(ByteTrackSettings(), camera_id=camera.id),
        crops=crops or CropSettings(),
        sink=sink,
        max_frames=max_frames,
    )
    return Run(sink, pipeline.run(threading.Event()), source)


@pytest.fixture(scope="module")
def vtest(detector: Detector) -> Run:
    return run_clip(detector, "vtest-3s.avi")


def final_summaries(run: Run) -> list[TrackSummary]:
    return [s for s in run.sink.tracks if s.ended]


def test_vtest_gives_person_tracks_each_with_a_summary(vtest: Run) -> None:
    summaries = final_summaries(vtest)
    assert vtest.stats.frames == vtest.stats.frames_decoded == 30
    assert vtest.stats.tracks == len(summaries)
    people = [s for s in summaries if s.label == "person"]
    assert len(people) >= 3
    assert len({s.track_id for s in summaries}) == len(summaries)
    # Besides: an interim summary with each track's first crop (3 s < emit_interval_s).
    interim = [s for s in vtest.sink.tracks if not s.ended]
    assert len(interim) <= len(summaries)
    assert {s.track_id for s in interim} <= {s.track_id for s in summaries}
    for summary in vtest.sink.tracks:
        assert uuid.UUID(summary.track_id).version == 7
        assert summary.first_seen <= summary.last_seen
        assert summary.last_seen - summary.first_seen <= timedelta(seconds=3)
        assert 2 <= summary.box_count <= 30


def test_vtest_crops_decode_and_match_their_tracks(vtest: Run) -> None:
    crops = vtest.sink.crops
    assert len(crops) == vtest.stats.crops
    by_track = {s.track_id: s for s in final_summaries(vtest)}
    # Each track has a crop; a second one only when a better view came after its first.
    assert {crop.track_id for crop in crops} == set(by_track)
    assert len(crops) <= 2 * len(by_track)
    last_crop = {crop.track_id: crop for crop in crops}
    for crop in crops:
        assert uuid.UUID(crop.detection_id).version == 7
        summary = by_track[crop.track_id]
        # The final summary names the track's best crop sent: its last one.
        best = last_crop[crop.track_id]
        assert (summary.best_detection_id, summary.best_score) == (best.detection_id, best.score)
        assert crop.label == summary.label
        assert (crop.model.name, crop.model.version) == ("nanodet-g", "1")
        assert (crop.frame_size.width, crop.frame_size.height) == (768, 576)
        start = vtest.source.started_at
        assert start <= crop.frame_time <= start + timedelta(seconds=3)
        image = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        rect = crop.crop_box
        assert image.shape == (rect.y2 - rect.y1, rect.x2 - rect.x1, 3)
        assert rect.x1 <= crop.box.x1 <= crop.box.x2 <= rect.x2
        assert rect.y1 <= crop.box.y1 <= crop.box.y2 <= rect.y2
        assert 0.0 < crop.score <= 1.0


def test_the_negative_clip_gives_almost_no_person_crops(detector: Detector) -> None:
    run = run_clip(detector, "city-negative-3s.avi")
    assert run.stats.frames == 75
    assert run.stats.detections > 0  # low-score noise reaches the tracker...
    # ...but does not become tracks: measured 0 person crops (and 0 tracks) here.
    assert sum(crop.label == "person" for crop in run.sink.crops) <= 1


def test_a_label_filter_keeps_only_those_classes(detector: Detector) -> None:
    run = run_clip(detector, "vtest-3s.avi", labels=("car",), max_frames=10)
    assert run.stats.frames == 10
    assert run.sink.tracks
    assert {s.label for s in run.sink.tracks} == {"car"}


def test_an_unknown_label_is_a_config_error(detector: Detector) -> None:
    with pytest.raises(ConfigError, match=r"labels \['persn'\] are not classes of the detector"):
        run_clip(detector, "vtest-3s.avi", labels=("person", "persn"))


def test_max_frames_ends_the_run_and_every_track(detector: Detector) -> None:
    run = run_clip(detector, "vtest-3s.avi", max_frames=5)
    assert run.stats.frames == 5
    assert run.sink.tracks and all(s.ended for s in run.sink.tracks)
    assert len(run.sink.crops) == len(run.sink.tracks)


def test_long_tracks_get_interval_crops_and_interim_summaries(detector: Detector) -> None:
    run = run_clip(detector, "vtest-3s.avi", crops=CropSettings(emit_interval_s=1.0))
    interim = [s for s in run.sink.tracks if not s.ended]
    assert interim
    final = {s.track_id: s for s in run.sink.tracks if s.ended}
    for summary in interim:
        # Every interim summary precedes the final one of its track.
        assert summary.track_id in final
        assert summary.last_seen <= final[summary.track_id].last_seen
    per_track = {c.track_id for c in run.sink.crops}
    assert len(run.sink.crops) > len(per_track)  # several crops for some tracks


def test_a_truncated_file_fails_after_ending_the_tracks_it_showed(
    detector: Detector, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(clip_path("vtest-3s.avi").read_bytes()[:300_000])  # 5 frames decode
    sink = RecordingSink()
    with pytest.raises(SourceError, match="truncated or corrupt"):
        run_clip(detector, truncated, sink=sink)
    assert sink.tracks and all(s.ended for s in sink.tracks)
    assert len(sink.crops) == len(sink.tracks)


class StillSource:
    """One real frame repeated at 10 fps: a scene where nothing moves, people standing in it."""

    def __init__(self, image: np.ndarray, count: int) -> None:
        self._image = image
        self._count = count
        self.started_at = datetime(2026, 1, 1, tzinfo=UTC)

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        for index in range(self._count):
            yield Frame(self._image.copy(), index, index / 10)


def gated_run(detector: Detector, source: VideoSource) -> Run:
    camera = CameraSettings(
        id="cam-1",
        source=SourceSettings(url="gated", fps=None),
        motion=MotionGateSettings(enabled=True),
    )
    sink = RecordingSink()
    pipeline = PythonPipeline(
        camera,
        source=source,
        detector=detector,
        tracker=ByteTrackTracker(ByteTrackSettings(), camera_id=camera.id),
        crops=CropSettings(),
        sink=sink,
    )
    return Run(sink, pipeline.run(threading.Event()), source)


def test_the_motion_gate_skips_the_detector_on_a_still_scene_and_keeps_its_tracks(
    detector: Detector, vtest_frames: list[np.ndarray]
) -> None:
    run = gated_run(detector, StillSource(vtest_frames[0], 60))
    # The first frame, then once per idle interval (5 s), which confirms the standing people.
    assert (run.stats.frames, run.stats.gated, run.stats.frames_decoded) == (2, 58, 60)
    people = [s for s in final_summaries(run) if s.label == "person"]
    assert len(people) >= 2
    assert run.stats.tracks == len(final_summaries(run))


def test_the_motion_gate_runs_the_detector_on_moving_people(vtest: Run, detector: Detector) -> None:
    settings = SourceSettings(url=str(clip_path("vtest-3s.avi")), fps=None)
    run = gated_run(detector, CaptureSource(settings, camera_id="cam-1"))
    assert run.stats.frames + run.stats.gated == run.stats.frames_decoded == 30
    # Walking people: about every other frame (track_interval_s 0.2 s at 10 fps), more when
    # someone enters.
    assert 12 <= run.stats.frames <= 24
    people = [s for s in final_summaries(run) if s.label == "person"]
    assert len(people) >= len([s for s in final_summaries(vtest) if s.label == "person"]) - 1
