"""`PythonPipeline` with decoding ahead: a live camera that falls behind drops frames and counts
them in `PipelineStats.dropped`; a file processes every frame."""

from __future__ import annotations

import threading
import time

from edge.crops.selector import CropSettings
from edge.detectors.fake import FakeDetector, raw_detections
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.python import PythonPipeline
from edge.sources.base import SourceSettings
from edge.sources.fake import FakeSource
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from models.detection import FloatArray, RawDetections
from tests.edge.sinks import RecordingSink

FRAMES = 30


class SlowDetector(FakeDetector):
    """Sees nothing, taking 20 ms a frame: slower than the source delivers."""

    def detect(self, tensor: FloatArray) -> RawDetections:
        time.sleep(0.02)
        return super().detect(tensor)


def run(url: str) -> PipelineStats:
    camera = CameraSettings(id="cam-1", source=SourceSettings(url=url))
    pipeline = PythonPipeline(
        camera,
        # Not paced: frames arrive as fast as they are drawn, far faster than the detector.
        source=FakeSource(frames=FRAMES),
        detector=SlowDetector(raw_detections([]) for _ in range(FRAMES)),
        tracker=ByteTrackTracker(ByteTrackSettings(), camera_id="cam-1"),
        crops=CropSettings(),
        sink=RecordingSink(),
    )
    return pipeline.run(threading.Event())


def test_a_live_camera_that_falls_behind_drops_frames_and_counts_them() -> None:
    stats = run("rtsp://camera.local/stream")
    assert stats.frames_decoded == FRAMES
    assert stats.dropped > 0
    assert stats.frames + stats.dropped == FRAMES


def test_a_file_runs_every_frame_however_slow_the_detector() -> None:
    stats = run("clip.avi")
    assert (stats.frames, stats.dropped, stats.frames_decoded) == (FRAMES, 0, FRAMES)
