"""The Python pipeline for one camera: decode -> sample -> detect -> track -> best crops -> sink.

Everything runs on the camera's own thread, in frame order; only the detector is shared between
cameras (its `detect` is thread-safe). Per frame: the source decodes into a reused buffer, the
`Preprocessor` writes the tensor into a reused buffer, the detector returns model-input boxes that
are mapped back to the frame, the tracker updates, and the crop selector keeps copies of the best
views. Per-frame detail is logged at DEBUG only.

Identity (DESIGN.md): a track gets its UUIDv7 here when the tracker confirms it; a crop's
detection id is the UUIDv7 the crop selector made when it cut the crop (`BestCrop.crop_id`), so
each id is made once, where the thing it names is created.

When the source ends, `max_frames` is reached or `stop` is set, every live track is ended, so the
crops and summaries of tracks still in view are emitted rather than lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from uuid6 import uuid7

from edge.crops.selector import BestCrop, BestCropSelector, EmitReason
from edge.detectors.base import Detector
from edge.detectors.postprocess import RawDetections, to_detections
from edge.detectors.preprocess import Preprocessor
from edge.errors import ConfigError, SourceError
from edge.geometry import FrameSize
from edge.pipelines.base import CameraSettings, PipelineSink, PipelineStats
from edge.records import Crop, ModelRef, TrackSummary
from edge.sources.base import Frame, Image, VideoSource
from edge.tracking.base import Tracker, TrackState, TrackUpdate

logger = logging.getLogger(__name__)

# Capture times of recent processed frames, to date a track's first detection (which precedes
# its confirmation by `min_hits - 1` frames). Far more than any sensible min_hits.
_RECENT_FRAMES = 64
# The states in which an update carries a detection of this frame (not a prediction).
_MATCHED = frozenset({TrackState.NEW, TrackState.UPDATED})


@dataclass(slots=True)
class _Track:
    track_id: str
    first_seen: datetime
    last_seen: datetime
    label: str
    box_count: int = 0
    best_quality: float = -1.0
    best_detection_id: str = ""
    best_score: float = 0.0


class PythonPipeline:
    """Runs one camera; see the module docstring. Not thread-safe: one thread calls `run`."""

    def __init__(
        self,
        camera: CameraSettings,
        *,
        source: VideoSource,
        detector: Detector,
        tracker: Tracker,
        selector: BestCropSelector,
        sink: PipelineSink,
        max_frames: int | None = None,
    ) -> None:
        """Raises ConfigError when `camera.labels` names a class the model does not have."""
        self._camera = camera
        self._source = source
        self._detector = detector
        self._tracker = tracker
        self._selector = selector
        self._sink = sink
        self._max_frames = max_frames
        spec = detector.spec
        self._labels = spec.labels
        self._model = ModelRef(spec.name, spec.version)
        self._wanted = self._class_ids(camera, spec.labels)
        self._preprocess = Preprocessor(spec)
        self._tracks: dict[int, _Track] = {}
        self._recent: deque[float] = deque(maxlen=_RECENT_FRAMES)
        self._frame_size = FrameSize(0, 0)
        self._processed = 0
        self._last: Frame | None = None
        self._stats = PipelineStats()
        self._stats_lock = threading.Lock()
        self._log_extra = {"camera_id": camera.id}

    @staticmethod
    def _class_ids(camera: CameraSettings, labels: tuple[str, ...]) -> npt.NDArray[np.int64] | None:
        if not camera.labels:
            return None
        unknown = sorted(set(camera.labels) - set(labels))
        if unknown:
            raise ConfigError(
                f"camera {camera.id}: labels {unknown} are not classes of the detector model "
                f"(it knows: {', '.join(labels)})"
            )
        return np.asarray([labels.index(label) for label in camera.labels], dtype=np.int64)

    def stats(self) -> PipelineStats:
        """A snapshot of the counters; callable from any thread."""
        with self._stats_lock:
            return self._stats

    def _count(self, *, tracks: int = 0, crops: int = 0) -> None:
        with self._stats_lock:
            stats = self._stats
            self._stats = replace(stats, tracks=stats.tracks + tracks, crops=stats.crops + crops)

    def run(self, stop: threading.Event) -> PipelineStats:
        """Process frames until the source ends, `max_frames` frames were processed or `stop`
        is set; then end every track. Raises SourceError when the source fails (after ending
        the tracks seen so far: their crops are already cut)."""
        started = time.perf_counter()
        try:
            self._consume(stop)
        except SourceError:
            self._finish()
            raise
        else:
            self._finish()
        finally:
            with self._stats_lock:
                self._stats = replace(self._stats, seconds=time.perf_counter() - started)
        return self.stats()

    def _consume(self, stop: threading.Event) -> None:
        with closing(self._source.frames(stop)) as frames:
            for frame in frames:
                self._process(frame, self._processed)
                self._last = frame
                self._processed += 1
                if self._max_frames is not None and self._processed >= self._max_frames:
                    return

    def _process(self, frame: Frame, index: int) -> None:
        height, width = frame.image.shape[:2]
        self._frame_size = FrameSize(width, height)
        self._recent.append(frame.timestamp)
        tensor, transform = self._preprocess(frame.image)
        raw = self._keep_wanted(self._detector.detect(tensor))
        detections = to_detections(raw, transform, self._labels)
        updates = self._tracker.update(detections, index, frame.timestamp)
        self._emit(frame.image, updates, index)
        with self._stats_lock:
            stats = self._stats
            self._stats = replace(
                stats,
                frames_decoded=frame.index + 1,
                frames=stats.frames + 1,
                detections=stats.detections + len(detections),
                tracked=stats.tracked + sum(update.state in _MATCHED for update in updates),
            )
        logger.debug(
            "camera %s frame %d: %d detections, %d track updates",
            self._camera.id, frame.index, len(detections), len(updates), extra=self._log_extra,
        )  # fmt: skip

    def _keep_wanted(self, raw: RawDetections) -> RawDetections:
        if self._wanted is None or len(raw) == 0:
            return raw
        mask = np.isin(raw.class_ids, self._wanted)
        return RawDetections(raw.boxes[mask], raw.scores[mask], raw.class_ids[mask])

    def _finish(self) -> None:
        """End every live track, as of the last frame processed."""
        if self._last is None:
            return
        # The next index and the last timestamp: flushing happens "after" the last frame.
        updates = self._tracker.flush(self._processed, self._last.timestamp)
        self._emit(self._last.image, updates, self._processed)

    def _emit(self, image: Image, updates: list[TrackUpdate], index: int) -> None:
        """Book-keep the updates, then send the crops that are due and the summaries after them
        (a summary names its best crop, so the crop goes first)."""
        for update in updates:
            self._observe(update, index)
        crops = self._selector.observe(image, updates)
        for crop in crops:
            self._send_crop(crop)
        summarise = {c.track_number for c in crops if c.reason is EmitReason.INTERVAL}
        for update in updates:
            if update.state is TrackState.ENDED:
                self._send_summary(update.track_number, ended=True)
                summarise.discard(update.track_number)
        for track_number in sorted(summarise):
            self._send_summary(track_number, ended=False)

    def _observe(self, update: TrackUpdate, index: int) -> None:
        track = self._tracks.get(update.track_number)
        if track is None:
            # Confirmed now; its first detection was `age - 1` processed frames ago.
            first = self._wall_time(self._recent_timestamp(index - update.age + 1, index))
            track = self._tracks[update.track_number] = _Track(str(uuid7()), first, first, "")
            self._count(tracks=1)
        if update.state in _MATCHED:
            track.last_seen = self._wall_time(update.timestamp)
        track.box_count = update.hits
        track.label = update.label

    def _recent_timestamp(self, wanted: int, current: int) -> float:
        """Timestamp of processed frame `wanted` (or the oldest one remembered)."""
        back = min(current - wanted, len(self._recent) - 1)
        return self._recent[-1 - back] if back >= 0 else self._recent[-1]

    def _wall_time(self, timestamp: float) -> datetime:
        return self._source.started_at + timedelta(seconds=timestamp)

    def _send_crop(self, crop: BestCrop) -> None:
        track = self._tracks[crop.track_number]
        if crop.rank == 0 and crop.quality > track.best_quality:
            track.best_quality = crop.quality
            track.best_detection_id = crop.crop_id
            track.best_score = crop.score
        self._sink.crop(
            Crop(
                detection_id=crop.crop_id,
                track_id=track.track_id,
                camera_id=self._camera.id,
                frame_time=self._wall_time(crop.timestamp),
                box=crop.box,
                crop_box=crop.crop_rect,
                frame_size=self._frame_size,
                label=crop.label,
                score=crop.score,
                jpeg=crop.jpeg,
                model=self._model,
            )
        )
        self._count(crops=1)

    def _send_summary(self, track_number: int, *, ended: bool) -> None:
        track = self._tracks.pop(track_number) if ended else self._tracks[track_number]
        self._sink.track(
            TrackSummary(
                track_id=track.track_id,
                camera_id=self._camera.id,
                label=track.label,
                first_seen=track.first_seen,
                last_seen=track.last_seen,
                best_detection_id=track.best_detection_id,
                best_score=track.best_score,
                box_count=track.box_count,
                ended=ended,
            )
        )
