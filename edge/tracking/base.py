"""The tracker contract: detections of one camera in, per-track updates out.

Everything a pipeline needs to know about tracking is here; backends (`bytetrack.py`) implement
it, and the DeepStream pipeline converts nvtracker's metadata into these same dataclasses
(`edge.pipelines.deepstream.updates`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.geometry import Box, PixelBox
from edge.sources.base import Image


class DetectionLike(PixelBox, Protocol):
    """What the tracker reads from a detection: a box in frame pixels, a score and a class.

    `models.detection.Detection` satisfies it; any object with these attributes does.
    """

    @property
    def score(self) -> float:
        """Detector confidence in [0, 1]."""

    @property
    def class_id(self) -> int:
        """Index into the model's label list."""

    @property
    def label(self) -> str:
        """Human-readable class name."""


class TrackState(enum.Enum):
    """Where a track is in its life, as reported on one frame."""

    NEW = "new"
    """Confirmed on this frame (enough consecutive hits); the first update a consumer sees."""
    UPDATED = "updated"
    """Matched a detection on this frame."""
    LOST = "lost"
    """Not matched on this frame but still inside the lost-track buffer; `box` is a prediction."""
    ENDED = "ended"
    """Gone for longer than the lost-track buffer (or the stream ended); the last update."""


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """One confirmed track as seen on one frame."""

    track_number: int
    """The tracker's own number for the track: unique among the tracks of one tracker instance
    (one camera, one run), starting at 1. Not the track's id: pipelines give each confirmed
    track a UUIDv7 `track_id` (see `edge.records`)."""
    state: TrackState
    box: Box
    """NEW/UPDATED: the matched detection's box (real pixels, safe to crop). LOST: the motion
    model's prediction. ENDED: the last matched detection's box."""
    score: float
    """Score of the detection matched on this frame, or of the last matched one."""
    class_id: int
    """The track's majority class over all its matched detections (not this frame's class)."""
    label: str
    """Label of `class_id`."""
    frame_index: int
    timestamp: float
    """Seconds, as given to `Tracker.update` (stream time or wall-clock; the tracker only
    subtracts timestamps)."""
    age: int
    """Frames since the track's first detection, counting this one (1 on the first frame)."""
    hits: int
    """Frames on which the track was matched to a detection, this one included."""


class Tracker(Protocol):
    """Multi-object tracker for ONE camera.

    Coordinates: boxes in and out are in frame pixels of the decoded frame (not model-input
    pixels); the caller undoes any letterbox before calling.

    Thread-safety: none. A tracker holds per-camera state; create one per camera and call it from
    that camera's thread only.

    Classes: association ignores the class (detectors flip between similar classes, car/truck, from
    frame to frame); each track reports its majority class, counted over its matched detections,
    with ties going to the higher summed score.

    Confirmation: a detection becomes a reported track only after it was matched on several
    consecutive frames, so a single-frame ghost never produces an update. Track numbers are assigned
    at confirmation.
    """

    def update(
        self,
        detections: Sequence[DetectionLike],
        frame_index: int,
        timestamp: float,
        image: Image | None = None,
    ) -> list[TrackUpdate]:
        """Advance one frame and return one update per confirmed track that is alive or just ended.

        Call it for every processed frame in order, with an empty sequence when nothing was
        detected, so that the motion model and the lost-track buffer advance. `frame_index` must
        increase; `timestamp` (seconds) must not decrease. `image` is the decoded frame (BGR, the
        pixels the boxes are in): with it a tracker may use what the boxes look like and where
        the frame ends; without it, it tracks by boxes alone.
        """

    def flush(self, frame_index: int, timestamp: float) -> list[TrackUpdate]:
        """End every live track (the stream is over) and return their ENDED updates."""
