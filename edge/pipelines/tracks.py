"""`TrackLedger`: the per-track state of one camera, from track updates to crops and summaries.

Every pipeline backend feeds it the same `TrackUpdate`s (the Python pipeline from its tracker, a
DeepStream pipeline from its tracker's metadata) and it does the rest, one state per track:

- identity: a track gets its UUIDv7 `track_id` when the tracker confirms it (its first update);
- first seen (the capture time of its first detection, `age - 1` frames before confirmation),
  last seen (its latest matched frame), box count and label;
- its best views (`edge.crops.selector.BestCrops`) and, when they are due (the first soon after
  confirmation, then only better ones), the `Crop` records: each crop is cut here, JPEG-encoded
  and given its detection id (UUIDv7) once;
- its best crop sent so far, named by every `TrackSummary`: an interim one at its first crop
  and at each interval, a final one (`ended`) when the track ends;
- its path (box centres on matched frames, `edge.pipelines.path.TrackPath`), in every summary,
  and the downscaled whole frame of each emission's best crop (its `context_jpeg`);
- when `CropSettings.faces` is set, the person's face in each crop being sent
  (`edge.crops.faces`), found on the crop's raw pixels.

Everything goes to the sink in a fixed order per frame: the crops first, then the final
summaries, then the interim ones, because a summary names its best crop (docs/architecture.md,
"Identity and idempotency"). Then, when a `TrackJournal` is given, one journal write records what
changed (tracks confirmed, their latest interim summaries, tracks ended) with the frame's
position, so that a crash cuts no track short silently and a restart resumes after that frame
(`edge.journal`). Frames that change nothing are not written.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from uuid6 import uuid7

from edge.crops.faces import FaceFinder
from edge.crops.image import Image, encode_jpeg
from edge.crops.selector import BestCrops, Candidate, CropSettings, Emission
from edge.pipelines.base import PipelineSink, TrackJournal
from edge.pipelines.path import TrackPath
from edge.records import Crop, ModelRef, TrackSummary
from edge.tracking.base import TrackState, TrackUpdate

logger = logging.getLogger(__name__)

# Capture times of recent frames, to date a track's first detection (which precedes its
# confirmation by `min_hits - 1` frames). Far more than any sensible min_hits.
_RECENT_FRAMES = 64
# The states in which an update carries a detection of this frame (not a prediction).
MATCHED = frozenset({TrackState.NEW, TrackState.UPDATED})


class Emitted(NamedTuple):
    """What one call handed on: tracks confirmed and crops given to the sink."""

    tracks: int
    crops: int


@dataclass(slots=True)
class _Track:
    track_id: str
    first_seen: datetime
    last_seen: datetime
    crops: BestCrops
    path: TrackPath
    label: str = ""
    box_count: int = 0
    best_detection_id: str = ""
    best_score: float = 0.0


class TrackLedger:
    """The tracks of ONE camera; not thread-safe (one camera thread calls it, like its tracker)."""

    def __init__(
        self,
        settings: CropSettings,
        *,
        camera_id: str,
        model: ModelRef,
        sink: PipelineSink,
        journal: TrackJournal | None = None,
    ) -> None:
        """`model` is named in every crop; `sink` receives the crops and summaries; `journal`
        (optional) records the tracks in progress and the position."""
        self._settings = settings
        self._camera_id = camera_id
        self._model = model
        self._sink = sink
        self._journal = journal
        self._tracks: dict[int, _Track] = {}
        self._recent: deque[datetime] = deque(maxlen=_RECENT_FRAMES)
        self._position: int | None = None
        # Loaded once per camera, only when asked for: off, faces cost nothing.
        self._faces = FaceFinder(settings.faces) if settings.faces is not None else None

    def use_model(self, model: ModelRef) -> None:
        """Name `model` in the crops cut from now on (the camera's detector was swapped)."""
        self._model = model

    def observe(
        self,
        frame: Image,
        frame_time: datetime,
        updates: Sequence[TrackUpdate],
        position: int | None = None,
    ) -> Emitted:
        """Take one processed frame's track updates (all of them, in the tracker's order) and
        hand the crops and summaries due now to the sink.

        Call it for every processed frame, also without updates, so that first-seen times are
        right. `frame` is the BGR frame the updates were computed on; `frame_time` its capture
        time (timezone-aware); `position` its index in the source, for the journal.
        """
        self._recent.append(frame_time)
        self._position = position
        return self._apply(updates, frame, frame_time)

    def end(self, updates: Sequence[TrackUpdate]) -> Emitted:
        """Take the ENDED updates of the tracker's `flush` (the stream is over) and hand the
        last crops and the final summaries to the sink; the journal records the position of
        the last frame observed even when no track was live."""
        if any(update.state is not TrackState.ENDED for update in updates):
            raise ValueError("end() takes the ENDED updates of Tracker.flush only")
        if not self._recent:
            return Emitted(0, 0)
        return self._apply(updates, None, self._recent[-1], final=True)

    def _apply(
        self,
        updates: Sequence[TrackUpdate],
        frame: Image | None,
        frame_time: datetime,
        *,
        final: bool = False,
    ) -> Emitted:
        confirmed: list[_Track] = []
        crops: list[Crop] = []
        ended: list[_Track] = []
        interim: list[_Track] = []
        for update in updates:
            track = self._tracks.get(update.track_number)
            if track is None:
                track = self._tracks[update.track_number] = self._confirm(update)
                confirmed.append(track)
            if frame is not None and update.state in MATCHED:
                track.last_seen = frame_time
                track.crops.consider(frame, frame_time, update)
                height, width = frame.shape[:2]
                box = update.box
                track.path.add(
                    frame_time, (box.x1 + box.x2) / (2 * width), (box.y1 + box.y2) / (2 * height)
                )
            track.box_count = update.hits
            track.label = update.label
            due = track.crops.due(update)
            if due is None:
                continue
            crops += [
                self._cut(track, rank, candidate) for rank, candidate in enumerate(due.candidates)
            ]
            if due.reason is Emission.END:
                ended.append(self._tracks.pop(update.track_number))
            else:
                interim.append(track)
            logger.debug(
                "track %s: %d crop(s) emitted (%s)",
                track.track_id,
                len(due.candidates),
                due.reason.value,
                extra={"camera_id": self._camera_id, "track_id": track.track_id},
            )
        for crop in crops:
            self._sink.crop(crop)
        for track in ended:
            self._sink.track(self._summary(track, ended=True))
        summaries = [self._summary(track, ended=False) for track in interim]
        for summary in summaries:
            self._sink.track(summary)
        self._record(confirmed, summaries, ended, final=final)
        return Emitted(len(confirmed), len(crops))

    def _record(
        self,
        confirmed: list[_Track],
        summaries: list[TrackSummary],
        ended: list[_Track],
        *,
        final: bool,
    ) -> None:
        """One journal write of what this frame changed, after the sink has it all."""
        if self._journal is None:
            return
        latest = {track.track_id: self._summary(track, ended=False) for track in confirmed}
        latest |= {summary.track_id: summary for summary in summaries}
        gone = [track.track_id for track in ended]
        for track_id in gone:
            latest.pop(track_id, None)
        if latest or gone or final:
            self._journal.save(list(latest.values()), gone, self._position)

    def _confirm(self, update: TrackUpdate) -> _Track:
        # The first detection was `age - 1` frames before this one (or before the oldest
        # remembered, for an absurd min_hits).
        first_seen = self._recent[-min(update.age, len(self._recent))]
        track = _Track(
            track_id=str(uuid7()),
            first_seen=first_seen,
            last_seen=first_seen,
            crops=BestCrops(self._settings, window_start=update.timestamp),
            path=TrackPath(self._settings.path_points),
        )
        logger.debug(
            "track %s confirmed (tracker number %d)",
            track.track_id,
            update.track_number,
            extra={
                "camera_id": self._camera_id,
                "track_id": track.track_id,
                "track_number": update.track_number,
            },
        )
        return track

    def _cut(self, track: _Track, rank: int, candidate: Candidate) -> Crop:
        """The crop record of a candidate: JPEG-encoded, with its detection id made here, once,
        and the person's face when the face finder is on (only crops being sent pay for it)."""
        face = (
            self._faces.find(candidate.pixels, candidate.box, candidate.crop_box)
            if self._faces is not None and self._faces.wants(track.label)
            else None
        )
        crop = Crop(
            detection_id=str(uuid7()),
            track_id=track.track_id,
            camera_id=self._camera_id,
            frame_time=candidate.frame_time,
            box=candidate.box,
            crop_box=candidate.crop_box,
            frame_size=candidate.frame_size,
            label=track.label,
            score=candidate.score,
            jpeg=encode_jpeg(candidate.pixels, self._settings.jpeg_quality),
            model=self._model,
            # One context frame per emission: the best view's is the one the track page shows.
            context_jpeg=b""
            if rank > 0 or candidate.context is None
            else encode_jpeg(candidate.context, self._settings.context_jpeg_quality),
            face=face,
        )
        if rank == 0:
            # Handed-over views always beat the best one sent before (`BestCrops`).
            track.best_detection_id = crop.detection_id
            track.best_score = crop.score
        return crop

    def _summary(self, track: _Track, *, ended: bool) -> TrackSummary:
        return TrackSummary(
            track_id=track.track_id,
            camera_id=self._camera_id,
            label=track.label,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            best_detection_id=track.best_detection_id,
            best_score=track.best_score,
            box_count=track.box_count,
            ended=ended,
            path=track.path.points(),
        )
