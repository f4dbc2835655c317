"""The Python pipeline for one camera: decode -> sample -> detect -> track -> track ledger -> sink.

Decoding and sampling run on the camera's reader thread (`edge.sources.decode_ahead`), a couple
of frames ahead; everything after runs on the camera's own thread, in frame order. A live
camera that falls behind drops its oldest waiting frame (`PipelineStats.dropped`); a file waits.
Only the detector is shared between cameras (its `detect` is thread-safe). The detector comes
through a `ModelSlot` (`edge.deploy.swap`), asked before each frame, so a deployed model takes
over between two frames without a frame skipped; the tracker and its tracks carry on across the
swap.

Per frame: the source decodes into a reused buffer, the `Preprocessor` writes the tensor into a
reused buffer, the detector returns model-input boxes that are mapped back to the frame, the
tracker updates, and the `TrackLedger` (`tracks.py`, shared with every pipeline backend) keeps
each track's state and best views and hands crops and summaries to the sink. Per-frame detail
is logged at DEBUG only.

With motion gating on for the camera (`CameraSettings.motion`, `motion_gate.py`), a frame where
nothing new moves skips the detector and the tracker (`PipelineStats.gated` counts them); the
tracker ages tracks only on its updates, so the tracks carry on to the next detector frame.

With a `TrackJournal` (`edge.journal`), the ledger records the tracks in progress and the
position of each frame whose records it handed on, so that a crash is bounded and counted and a
restart resumes a file where it stopped (the source is opened at `journal.resume_after`).

When the source ends, `max_frames` is reached or `stop` is set, every live track is ended, so the
crops and summaries of tracks still in view are emitted rather than lost; on any exception too
(a failing source, a detector or tracker bug), before it propagates.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from edge.crops.selector import CropSettings
from edge.deploy.swap import LoadedModel, ModelSlot
from edge.detectors.base import Detector
from edge.detectors.preprocess import Preprocessor
from edge.errors import ConfigError
from edge.pipelines.base import CameraSettings, PipelineSink, PipelineStats, TrackJournal
from edge.pipelines.latency import LatencyWindow
from edge.pipelines.motion_gate import MotionGate
from edge.pipelines.tracks import MATCHED, TrackLedger
from edge.records import ModelRef
from edge.sources.base import Frame, VideoSource
from edge.sources.decode_ahead import DecodeAhead
from edge.tracking.base import Tracker, TrackState
from models.detection import RawDetections, to_detections

logger = logging.getLogger(__name__)


class PythonPipelineSettings(BaseModel):
    """Decode, detector and tracker in the agent's own process, one thread per camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["python"] = Field(default="python", description="Pipeline backend key.")


class PythonPipeline:
    """Runs one camera; see the module docstring. Not thread-safe: one thread calls `run`."""

    def __init__(
        self,
        camera: CameraSettings,
        *,
        source: VideoSource,
        detector: Detector | ModelSlot,
        tracker: Tracker,
        crops: CropSettings,
        sink: PipelineSink,
        max_frames: int | None = None,
        journal: TrackJournal | None = None,
    ) -> None:
        """Raises ConfigError when `camera.labels` names a class the model does not have.
        `source` must start after `journal.resume_after` when a journal is given. A bare
        `detector` runs for good; a `ModelSlot` may hand over another one between frames."""
        self._camera = camera
        self._source = source
        if isinstance(detector, ModelSlot):
            self._slot = detector
        else:
            spec = detector.spec
            ref = ModelRef(spec.name, spec.version)
            self._slot = ModelSlot(LoadedModel(detector, ref, spec.sha256))
        self._model = self._slot.current
        self._tracker = tracker
        self._max_frames = max_frames
        spec = self._model.detector.spec
        self._labels = spec.labels
        self._wanted = self._class_ids(camera, spec.labels)
        self._preprocess = Preprocessor(spec)
        self._ledger = TrackLedger(
            crops, camera_id=camera.id, model=self._model.ref, sink=sink, journal=journal
        )
        resume_after = journal.resume_after if journal is not None else None
        self._first_index = 0 if resume_after is None else resume_after + 1
        self._processed = 0
        self._last_timestamp: float | None = None
        self._stats = PipelineStats()
        self._stats_lock = threading.Lock()
        self.detector_latency = LatencyWindow()
        """Each frame's detector call time, for the heartbeat."""
        self._log_extra = {"camera_id": camera.id}
        self._gate = MotionGate(camera.motion) if camera.motion.enabled else None

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

    def run(self, stop: threading.Event) -> PipelineStats:
        """Process frames until the source ends, `max_frames` frames were processed or `stop`
        is set; then end every track. Raises SourceError when the source fails, and whatever
        else a component raised, after ending the tracks seen so far (their crops are cut)."""
        started = time.perf_counter()
        try:
            self._consume(stop)
        except BaseException:
            # Any exception, a bug's too: the tracks seen so far would otherwise be lost
            # silently (docs/architecture.md, "Errors").
            self._finish_despite_failure()
            raise
        else:
            self._finish()
        finally:
            with self._stats_lock:
                self._stats = replace(self._stats, seconds=time.perf_counter() - started)
        return self.stats()

    def _consume(self, stop: threading.Event) -> None:
        source = DecodeAhead(
            self._source,
            camera_id=self._camera.id,
            live=self._camera.source.live,
            on_drop=self._count_drop,
        )
        with closing(source.frames(stop)) as frames:
            for frame in frames:
                self._process(frame, self._processed)
                self._last_timestamp = frame.timestamp
                self._processed += 1
                if self._max_frames is not None and self._processed >= self._max_frames:
                    return

    def _count_drop(self) -> None:
        """A live frame dropped by the decode-ahead queue (called on the reader thread)."""
        with self._stats_lock:
            self._stats = replace(self._stats, dropped=self._stats.dropped + 1)

    def _use(self, model: LoadedModel, frame: Frame) -> None:
        """Run `model` from this frame on (the deployer checked its labels: `swap_check`)."""
        spec = model.detector.spec
        self._model, self._labels = model, spec.labels
        self._wanted = self._class_ids(self._camera, spec.labels)
        self._preprocess = Preprocessor(spec)
        self._ledger.use_model(model.ref)
        logger.info(
            "camera %s: model %s %s takes over at frame %d",
            self._camera.id, model.ref.name, model.ref.version, frame.index,
            extra=self._log_extra,
        )  # fmt: skip

    def _process(self, frame: Frame, index: int) -> None:
        model = self._slot.take(frame.index)
        if model is not self._model:
            self._use(model, frame)
        if self._gate is not None and not self._gate.should_detect(frame.image, frame.timestamp):
            # Neither detector nor tracker: the tracker only ages tracks on its updates.
            with self._stats_lock:
                stats = self._stats
                self._stats = replace(
                    stats,
                    frames_decoded=frame.index + 1 - self._first_index,
                    gated=stats.gated + 1,
                )
            return
        tensor, transform = self._preprocess(frame.image)
        started = time.perf_counter()
        raw = model.detector.detect(tensor)
        self.detector_latency.add(time.perf_counter() - started)
        raw = self._keep_wanted(raw)
        detections = to_detections(raw, transform, self._labels)
        updates = self._tracker.update(detections, index, frame.timestamp, frame.image)
        if self._gate is not None:
            alive = [update.box for update in updates if update.state is not TrackState.ENDED]
            self._gate.detected(frame.timestamp, alive)
        emitted = self._ledger.observe(
            frame.image, self._wall_time(frame.timestamp), updates, position=frame.index
        )
        with self._stats_lock:
            stats = self._stats
            self._stats = replace(
                stats,
                frames_decoded=frame.index + 1 - self._first_index,
                frames=stats.frames + 1,
                detections=stats.detections + len(detections),
                tracked=stats.tracked + sum(update.state in MATCHED for update in updates),
                tracks=stats.tracks + emitted.tracks,
                crops=stats.crops + emitted.crops,
            )
        logger.debug(
            "camera %s frame %d: %d detections, %d track updates (model %s %s)",
            self._camera.id, frame.index, len(detections), len(updates), model.ref.name,
            model.ref.version, extra=self._log_extra,
        )  # fmt: skip

    def _keep_wanted(self, raw: RawDetections) -> RawDetections:
        if self._wanted is None or len(raw) == 0:
            return raw
        mask = np.isin(raw.class_ids, self._wanted)
        return RawDetections(raw.boxes[mask], raw.scores[mask], raw.class_ids[mask])

    def _finish(self) -> None:
        """End every live track, as of the last frame processed."""
        if self._last_timestamp is None:
            return
        # The next index and the last timestamp: flushing happens "after" the last frame.
        emitted = self._ledger.end(self._tracker.flush(self._processed, self._last_timestamp))
        with self._stats_lock:
            stats = self._stats
            self._stats = replace(
                stats, tracks=stats.tracks + emitted.tracks, crops=stats.crops + emitted.crops
            )

    def _finish_despite_failure(self) -> None:
        """`_finish` after a failure; a second failure is logged, not raised over the first."""
        try:
            self._finish()
        except Exception:
            # The original exception propagates; tracks not ended here stay in the journal,
            # which ends them on the next start.
            logger.exception(
                "camera %s: ending the live tracks failed too", self._camera.id,
                extra=self._log_extra,
            )  # fmt: skip

    def _wall_time(self, timestamp: float) -> datetime:
        return self._source.started_at + timedelta(seconds=timestamp)
