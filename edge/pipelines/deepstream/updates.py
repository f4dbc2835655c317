"""nvtracker's objects of one camera, frame by frame, as the agent's `TrackUpdate`s.

nvtracker reports only targets it confirmed (after `probationAge`) and, by default, none in
shadow tracking; it says nothing when a target is dropped. So the states are derived here: an
id seen for the first time is NEW, seen again UPDATED; an id missing from a frame is LOST (its
last box) until it has been missing for `lost_frames` frames (nvtracker's own shadow age) and
is then ENDED, as it is when the stream ends (`flush`). Track numbers count from 1 per camera,
as the `Tracker` contract says; nvtracker's 64-bit ids are not shown further.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from edge.crops.image import Image
from edge.errors import ConfigError
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.deepstream.meta import FrameObjects, TrackedObject
from edge.pipelines.tracks import MATCHED, TrackLedger
from edge.tracking.base import TrackState, TrackUpdate


@dataclass(slots=True)
class _Target:
    number: int
    last: TrackedObject
    first_frame: int
    last_frame: int
    hits: int


class TrackBook:
    """The tracks of ONE camera's nvtracker output; not thread-safe (one probe calls it)."""

    def __init__(self, lost_frames: int, confirmed_after: int = 0) -> None:
        """`lost_frames`: frames an unseen target stays LOST before it ENDs; `confirmed_after`:
        frames nvtracker held a target on probation before reporting it (its `probationAge`),
        counted into `age` and `hits` so that the first sighting is dated right."""
        self._lost_frames = lost_frames
        self._probation = confirmed_after
        self._targets: dict[int, _Target] = {}
        self._next_number = 1

    def update(
        self, objects: Sequence[TrackedObject], frame_index: int, timestamp: float
    ) -> list[TrackUpdate]:
        """One update per live or just-ended track for one frame (see `Tracker.update`)."""
        updates = []
        seen = set()
        for obj in objects:
            seen.add(obj.object_id)
            target = self._targets.get(obj.object_id)
            if target is None:
                target = _Target(
                    self._next_number, obj, frame_index - self._probation, 0, self._probation
                )
                self._next_number += 1
                self._targets[obj.object_id] = target
                state = TrackState.NEW
            else:
                state = TrackState.UPDATED
            target.last, target.last_frame = obj, frame_index
            target.hits += 1
            updates.append(self._report(target, state, frame_index, timestamp))
        for object_id, target in list(self._targets.items()):
            if object_id in seen:
                continue
            if frame_index - target.last_frame > self._lost_frames:
                del self._targets[object_id]
                updates.append(self._report(target, TrackState.ENDED, frame_index, timestamp))
            else:
                updates.append(self._report(target, TrackState.LOST, frame_index, timestamp))
        return updates

    def flush(self, frame_index: int, timestamp: float) -> list[TrackUpdate]:
        """End every live track (the stream is over)."""
        ended = [
            self._report(target, TrackState.ENDED, frame_index, timestamp)
            for target in self._targets.values()
        ]
        self._targets.clear()
        return ended

    @staticmethod
    def _report(
        target: _Target, state: TrackState, frame_index: int, timestamp: float
    ) -> TrackUpdate:
        last = target.last
        return TrackUpdate(
            track_number=target.number,
            state=state,
            box=last.box,
            score=last.score,
            class_id=last.class_id,
            label=last.label,
            frame_index=frame_index,
            timestamp=timestamp,
            age=frame_index - target.first_frame + 1,
            hits=target.hits,
        )


class CameraFeed:
    """One camera's side of the DeepStream pipeline after the probe: its label filter, its
    `TrackBook` and its `TrackLedger`, with its counters. Not thread-safe (the probe calls it)."""

    def __init__(
        self,
        camera: CameraSettings,
        ledger: TrackLedger,
        book: TrackBook,
        labels: tuple[str, ...],
        started_at: datetime,
    ) -> None:
        """`labels`: the model's classes; `started_at`: when the pipeline started (stream
        time 0). Raises ConfigError when the camera asks for a class the model lacks."""
        unknown = sorted(set(camera.labels) - set(labels))
        if unknown:
            raise ConfigError(f"camera {camera.id}: labels {unknown} are not classes of the model")
        self._wanted = {labels.index(label) for label in camera.labels} or None
        self._ledger = ledger
        self._book = book
        self._started_at = started_at
        self._last: tuple[int, float] | None = None
        self.stats = PipelineStats()

    def observe(self, frame: FrameObjects, image: Image) -> None:
        """Hand one frame's tracked objects (and its BGR pixels, for crops) to the ledger."""
        objects = [o for o in frame.objects if self._wanted is None or o.class_id in self._wanted]
        timestamp = frame.pts_ns / 1e9
        updates = self._book.update(objects, frame.frame_num, timestamp)
        frame_time = self._started_at + timedelta(seconds=timestamp)
        emitted = self._ledger.observe(image, frame_time, updates, position=frame.frame_num)
        self._last = (frame.frame_num, timestamp)
        stats = self.stats
        self.stats = replace(
            stats,
            frames_decoded=stats.frames_decoded + 1,
            frames=stats.frames + 1,
            detections=stats.detections + len(objects),
            tracked=stats.tracked + sum(u.state in MATCHED for u in updates),
            tracks=stats.tracks + emitted.tracks,
            crops=stats.crops + emitted.crops,
        )

    def finish(self) -> None:
        """End every live track (end of stream or stop): their last crops and summaries go
        out."""
        if self._last is None:
            return
        frame_num, timestamp = self._last
        emitted = self._ledger.end(self._book.flush(frame_num, timestamp))
        self.stats = replace(self.stats, crops=self.stats.crops + emitted.crops)
