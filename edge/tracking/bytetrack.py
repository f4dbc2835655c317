"""ByteTrack (Zhang et al., ECCV 2022) for one camera: `ByteTrackSettings` and `ByteTrackTracker`.

The algorithm follows the reference `yolox/tracker/byte_tracker.py`:

1. Every track's Kalman state is predicted one frame ahead.
2. Confirmed tracks (live and lost) are matched to the high-score detections by IoU fused with the
   detection score.
3. Live tracks left over are matched to the low-score detections by IoU alone: this is ByteTrack's
   idea, an occluded person's weak detection keeps its track instead of being thrown away.
4. Unconfirmed tracks are matched to the remaining high-score detections; a miss drops them.
5. Remaining high-score detections above `new_track_score` start unconfirmed tracks.
6. Lost tracks older than `lost_track_buffer_s` end.

Differences from the reference, on purpose: a track is reported (and gets its id) only once it
has `min_hits` consecutive hits, also on the first frame of a stream, so ghosts never get a number;
the lost buffer is in seconds, not frames, so it means the same at any sampled frame rate; the
reference's `remove_duplicate_stracks` is left out, because it drops a lost track whose predicted
box overlaps a live one, which is exactly a person walking behind another (the case the lost
buffer exists for); a lost object that reappears is matched by stage 1 before any birth.

Additions, when `update` is given the frame (issue 12, "tracks you can trust"; without the frame
the tracker is the reference's): in stages 1 and 3 the colour distance of box and track
(`appearance.py`) is added to the cost, so that between overlapping boxes the one that looks like
the track wins, and a lost track is refused a box whose colours differ beyond `appearance_gate`
(boxes are no evidence there: whoever appears near its drifting prediction overlaps it); stage 2
stays by box alone, a weak box being mostly a partly hidden person. A track learns its colours
only from boxes that overlap no other, so it never learns the person it crosses. And a lost track
whose prediction reaches the frame's edge ends there (`end_at_border`): it walked out, and whoever
enters at that edge is someone else. On the vtest ground truth these cut the identity switches
from 11 to 4 at every frame (tests/bench/bench_tracking.py).

Why our own code rather than a library: `supervision.ByteTrack` is deprecated since supervision 0.28
and gone in 0.31; the versions that have it pull matplotlib, requests, tqdm and either
`opencv-python` (a GUI build that clashes with our `opencv-python-headless`, both install `cv2`) or
PyAV. Its successor, the `trackers` package, requires `opencv-python` and supervision too. The parts
that are libraries here are the assignment solver (`lapx`, see `matching.py`) and numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.geometry import Box
from edge.sources.base import Image
from edge.tracking import appearance, kalman
from edge.tracking.base import DetectionLike, TrackState, TrackUpdate
from edge.tracking.matching import FloatArray, assign, fused_cost, iou_matrix

logger = logging.getLogger(__name__)


class ByteTrackSettings(BaseModel):
    """Tuning of the ByteTrack tracker; defaults suit CCTV pedestrians and vehicles at 5-30 fps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bytetrack"] = Field(default="bytetrack", description="Tracker backend key.")
    high_score: float = Field(
        default=0.45,
        gt=0,
        le=1,
        description="Detections at or above this score take part in the first association.",
    )
    low_score: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Detections between this and high_score can only extend live tracks; "
        "lower ones are ignored. The detector must pass detections down to this score.",
    )
    new_track_score: float = Field(
        default=0.55,
        gt=0,
        le=1,
        description="An unmatched detection starts a track only at or above this score.",
    )
    match_iou: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Least IoU x score for a confirmed track to take a high-score detection.",
    )
    low_match_iou: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Least IoU for a live track to take a low-score detection.",
    )
    unconfirmed_match_iou: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Least IoU x score for an unconfirmed track to take a detection.",
    )
    min_hits: int = Field(
        default=2,
        ge=1,
        description="Consecutive matched frames before a track is confirmed and reported.",
    )
    lost_track_buffer_s: float = Field(
        default=2.0,
        ge=0,
        description="Seconds a confirmed track may go unmatched (occlusion) before it ends.",
    )
    end_at_border: bool = Field(
        default=True,
        description="A lost track whose predicted box reaches the frame's edge has walked out of "
        "view: it ends there instead of waiting out the lost buffer, in which whoever enters at "
        "that edge would take it over. Needs the frame (the python pipeline passes it).",
    )
    appearance_gate: float | None = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Largest colour-histogram (Hellinger) distance at which a lost track may "
        "take a high-score detection again; a pair that differs more is refused however well "
        "the boxes overlap. null: boxes alone, as in the reference. Needs the frame (the python "
        "pipeline passes it).",
    )
    appearance_weight: float = Field(
        default=0.5,
        ge=0,
        description="Colour distance times this is added to the matching cost, so that between "
        "overlapping boxes the one that looks like the track wins.",
    )
    appearance_momentum: float = Field(
        default=0.9,
        ge=0,
        lt=1,
        description="Share of a track's colour descriptor kept at each clean match (the rest "
        "comes from the new box): a slow average, robust to one bad box.",
    )

    @model_validator(mode="after")
    def _check_score_order(self) -> ByteTrackSettings:
        if not self.low_score < self.high_score <= self.new_track_score:
            raise ValueError("need low_score < high_score <= new_track_score")
        return self


@dataclass(slots=True)
class _ClassVote:
    count: int = 0
    score_sum: float = 0.0


@dataclass(slots=True, eq=False)  # identity semantics: tracks go in sets and `in` checks
class _Track:
    motion: kalman.KalmanState
    box: FloatArray
    """Last matched detection (x1, y1, x2, y2)."""
    score: float
    first_frame: int
    last_seen: float
    votes: dict[int, _ClassVote] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    hits: int = 0
    number: int | None = None
    lost: bool = False
    appearance: FloatArray | None = None
    """Running average of the colour descriptors of its clean matches (`appearance.describe`);
    None until the first clean match of a frame with pixels."""

    @classmethod
    def start(
        cls, detection: DetectionLike, box: FloatArray, frame_index: int, timestamp: float
    ) -> _Track:
        track = cls(
            motion=kalman.initiate(kalman.xyxy_to_xyah(box)),
            box=box,
            score=detection.score,
            first_frame=frame_index,
            last_seen=timestamp,
        )
        track.record(detection, box, timestamp)
        return track

    def add(self, detection: DetectionLike, box: FloatArray, timestamp: float) -> None:
        self.motion = kalman.update(self.motion, kalman.xyxy_to_xyah(box))
        self.record(detection, box, timestamp)

    def record(self, detection: DetectionLike, box: FloatArray, timestamp: float) -> None:
        self.box = box
        self.score = detection.score
        self.last_seen = timestamp
        self.hits += 1
        self.lost = False
        vote = self.votes.setdefault(detection.class_id, _ClassVote())
        vote.count += 1
        vote.score_sum += detection.score
        self.labels[detection.class_id] = detection.label

    def learn(self, descriptor: FloatArray, momentum: float) -> None:
        """Fold a clean match's colour descriptor into the track's (renormalised to unit length,
        so that `appearance.distance` stays a Hellinger distance)."""
        if not descriptor.any():
            return
        if self.appearance is None:
            self.appearance = descriptor
            return
        mixed = momentum * self.appearance + (1.0 - momentum) * descriptor
        self.appearance = mixed / np.linalg.norm(mixed)

    def predicted_box(self) -> FloatArray:
        return kalman.xyah_to_xyxy(self.motion.mean[:4])

    def majority_class(self) -> int:
        return max(self.votes, key=lambda cls: (self.votes[cls].count, self.votes[cls].score_sum))


@dataclass(slots=True)
class _StageResult:
    pairs: list[tuple[_Track, int]]
    tracks_left: list[_Track]
    dets_left: list[int]


class ByteTrackTracker:
    """ByteTrack over one camera's detections; implements `edge.tracking.base.Tracker`."""

    def __init__(self, settings: ByteTrackSettings, *, camera_id: str = "") -> None:
        self._settings = settings
        self._camera_id = camera_id
        self._confirmed: list[_Track] = []
        self._unconfirmed: list[_Track] = []
        self._next_id = 1
        self._last_frame: int | None = None

    def update(
        self,
        detections: Sequence[DetectionLike],
        frame_index: int,
        timestamp: float,
        image: Image | None = None,
    ) -> list[TrackUpdate]:
        """Advance one frame; see `Tracker.update`."""
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame_index {frame_index} does not follow {self._last_frame}")
        # Frames the pipeline sampled but kept from the tracker (motion gating) still pass for
        # the motion model: predicting once per skipped frame is what the tracker would have
        # done had it seen them without a match, so a moving track's velocity stays per frame
        # and its prediction lands where the person is after the gap.
        steps = 1 if self._last_frame is None else frame_index - self._last_frame
        self._last_frame = frame_index
        for track in (*self._confirmed, *self._unconfirmed):
            if track.lost:
                # As in the reference: a lost box keeps drifting but stops growing or shrinking.
                track.motion.mean[7] = 0.0
            for _ in range(steps):
                track.motion = kalman.predict(track.motion)

        matched, births = self._associate(detections, frame_index, timestamp, image)
        # Unconfirmed tracks die on their first miss, so their `hits` count consecutive frames.
        candidates = [t for t in self._unconfirmed if t in matched] + births
        newly_confirmed = [t for t in candidates if t.hits >= self._settings.min_hits]
        self._unconfirmed = [t for t in candidates if t.hits < self._settings.min_hits]
        for track in newly_confirmed:
            track.number = self._next_id
            self._next_id += 1
            self._log("track %d confirmed", track)
        self._confirmed.extend(newly_confirmed)

        ended = self._ended(timestamp, image)
        self._confirmed = [t for t in self._confirmed if t not in ended]
        updates = []
        for track in self._confirmed:
            state = TrackState.UPDATED if track in matched else TrackState.LOST
            if track in newly_confirmed:
                state = TrackState.NEW
            updates.append(self._report(track, state, frame_index, timestamp))
        updates += [self._report(t, TrackState.ENDED, frame_index, timestamp) for t in ended]
        return sorted(updates, key=lambda u: u.track_number)

    def _associate(
        self,
        detections: Sequence[DetectionLike],
        frame_index: int,
        timestamp: float,
        image: Image | None,
    ) -> tuple[set[_Track], list[_Track]]:
        """Run the three association stages; return the matched tracks and the new tracks."""
        settings = self._settings
        boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in detections], dtype=np.float64)
        boxes = boxes.reshape(-1, 4)
        scores = np.array([d.score for d in detections], dtype=np.float64)
        high = [i for i, s in enumerate(scores) if s >= settings.high_score]
        low = [i for i, s in enumerate(scores) if settings.low_score <= s < settings.high_score]
        looks = _Looks.of(image, boxes, high, settings)

        # Stage 1: confirmed tracks, live or lost, against high-score detections.
        first = _match(self._confirmed, high, boxes, scores, settings.match_iou, looks, fuse=True)
        # Stage 2: live tracks still unmatched against low-score detections. By box alone: a
        # weak detection is mostly a partly hidden person, whose visible colours are not theirs.
        live_left = [t for t in first.tracks_left if not t.lost]
        second = _match(live_left, low, boxes, scores, settings.low_match_iou, None, fuse=False)
        # Stage 3: unconfirmed tracks against the high-score detections nobody took.
        third = _match(
            self._unconfirmed,
            first.dets_left,
            boxes,
            scores,
            settings.unconfirmed_match_iou,
            looks,
            fuse=True,
        )
        matched: set[_Track] = set()
        for track, det in (*first.pairs, *second.pairs, *third.pairs):
            track.add(detections[det], boxes[det], timestamp)
            if looks is not None and det in looks.clean:
                track.learn(looks.descriptors[det], settings.appearance_momentum)
            matched.add(track)
        for track in second.tracks_left:
            track.lost = True
        births = []
        for det in third.dets_left:
            if scores[det] >= settings.new_track_score:
                births.append(_Track.start(detections[det], boxes[det], frame_index, timestamp))
                if looks is not None and det in looks.clean:
                    births[-1].learn(looks.descriptors[det], settings.appearance_momentum)
        return matched, births

    def flush(self, frame_index: int, timestamp: float) -> list[TrackUpdate]:
        """End every live track; see `Tracker.flush`."""
        ended = [self._report(t, TrackState.ENDED, frame_index, timestamp) for t in self._confirmed]
        self._confirmed = []
        self._unconfirmed = []
        return ended

    def _ended(self, timestamp: float, image: Image | None) -> set[_Track]:
        """Lost tracks unmatched for longer than the lost-track buffer, or gone out of view."""
        buffer_s = self._settings.lost_track_buffer_s
        ended = {t for t in self._confirmed if t.lost and timestamp - t.last_seen > buffer_s}
        if image is not None and self._settings.end_at_border:
            height, width = image.shape[:2]
            ended |= {t for t in self._confirmed if t.lost and _at_border(t, width, height)}
        for track in ended:
            self._log("track %d ended", track)
        return ended

    def _log(self, message: str, track: _Track) -> None:
        # Per-track life events are per-frame detail: DEBUG, with the identifiers in `extra` so
        # that JSON log lines can be filtered by camera and track.
        logger.debug(
            message,
            track.number,
            extra={"camera_id": self._camera_id, "track_number": track.number},
        )

    def _report(
        self, track: _Track, state: TrackState, frame_index: int, timestamp: float
    ) -> TrackUpdate:
        assert track.number is not None, "only confirmed tracks are reported"
        box = track.predicted_box() if state is TrackState.LOST else track.box
        class_id = track.majority_class()
        return TrackUpdate(
            track_number=track.number,
            state=state,
            box=Box(*(float(v) for v in box)),
            score=track.score,
            class_id=class_id,
            label=track.labels[class_id],
            frame_index=frame_index,
            timestamp=timestamp,
            age=frame_index - track.first_frame + 1,
            hits=track.hits,
        )


_REFUSED = 1e6
"""Cost of a pair that must not match: far above any cost limit (the solver wants finite costs)."""


@dataclass(slots=True)
class _Looks:
    """The colour side of one frame's association (`appearance.py`)."""

    descriptors: FloatArray
    """One row per detection; zero rows for those not described (low-score ones)."""
    clean: set[int]
    """Described detections that overlap no other detection: only these teach a track its
    colours, so that a track never learns the person it is crossing."""
    gate: float
    weight: float

    @classmethod
    def of(
        cls, image: Image | None, boxes: FloatArray, high: list[int], settings: ByteTrackSettings
    ) -> _Looks | None:
        if image is None or settings.appearance_gate is None:
            return None
        descriptors = np.zeros((len(boxes), appearance.SIZE), dtype=np.float64)
        descriptors[high] = appearance.describe(image, boxes[high])
        # Only confident boxes crowd one: weak boxes are mostly fragments of the same person.
        overlap = iou_matrix(boxes[high], boxes[high])
        np.fill_diagonal(overlap, 0.0)
        crowded = overlap.max(axis=1, initial=0.0) > 0.0
        clean = {det for det, busy in zip(high, crowded, strict=True) if not busy}
        return cls(descriptors, clean, settings.appearance_gate, settings.appearance_weight)

    def cost(self, tracks: Sequence[_Track], dets: Sequence[int]) -> FloatArray:
        """Weighted colour distance per pair; refused pairs at `_REFUSED`."""
        known = np.array([t.appearance is not None for t in tracks], dtype=bool)
        learned = np.zeros((len(tracks), appearance.SIZE), dtype=np.float64)
        for row, track in enumerate(tracks):
            if track.appearance is not None:
                learned[row] = track.appearance
        dist = appearance.distance(learned, self.descriptors[list(dets)])
        # A track that has not learned its colours yet (or a box too thin to describe) ranks as
        # the worst acceptable look, not as a perfect one: else a newborn outbids an old track.
        described = np.asarray(self.descriptors[list(dets)].any(axis=1), dtype=bool)
        dist[~(known[:, None] & described[None, :])] = self.gate
        # Colour refuses a pair only for a lost track, where boxes are no evidence (whoever
        # appears near its drifting prediction overlaps it). A live track is only ranked: the
        # light on a person changes along a walk, and a person half hidden behind another shows
        # the other's colours in their own box; a refusal there would only split the track.
        lost = np.array([t.lost for t in tracks], dtype=bool)[:, None]
        return np.where(lost & (dist > self.gate), _REFUSED, self.weight * dist)


def _at_border(track: _Track, width: int, height: int) -> bool:
    """Whether a track's predicted box touches or crosses the edge of a `width` x `height` frame."""
    x1, y1, x2, y2 = track.predicted_box()
    return bool(x1 <= 0 or y1 <= 0 or x2 >= width - 1 or y2 >= height - 1)


def _match(
    tracks: Sequence[_Track],
    dets: Sequence[int],
    boxes: FloatArray,
    scores: FloatArray,
    min_iou: float,
    looks: _Looks | None,
    *,
    fuse: bool,
) -> _StageResult:
    """Assign `tracks` (by predicted box) to the detections indexed by `dets`, plus the colour
    distance where `looks` is given."""
    track_boxes = np.array([t.predicted_box() for t in tracks]).reshape(-1, 4)
    iou = iou_matrix(track_boxes, boxes[list(dets)])
    cost = fused_cost(iou, scores[list(dets)]) if fuse else 1.0 - iou
    limit = 1.0 - min_iou
    if looks is not None:
        # The box gate stays the reference's: colour can only refuse or rank a pair, never let
        # boxes that hardly overlap match.
        cost = np.where(cost > limit, _REFUSED, cost + looks.cost(tracks, dets))
        limit += looks.weight * looks.gate
    result = assign(cost, cost_limit=limit)
    return _StageResult(
        pairs=[(tracks[row], dets[col]) for row, col in result.pairs],
        tracks_left=[tracks[row] for row in result.unmatched_rows],
        dets_left=[dets[col] for col in result.unmatched_cols],
    )
