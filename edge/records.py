"""What the edge produces: crops, track summaries and camera events, plus the model reference.

Pipelines make these records and hand them to a `PipelineSink`; the delivery layer turns them into
protobuf (`edge.wire`) and spools them. Each concept has this one record along the whole path, and
its field names are the wire contract's (`sightline.ingest.v1.UploadCropsRequest`,
`sightline.device.v1.TrackSummary`, `sightline.device.v1.Event`, `sightline.common.v1.ModelRef`).
Times are timezone-aware UTC datetimes; boxes are in pixels of the decoded frame (only `edge.wire`
normalises them).

Identity (docs/architecture.md, "Identity and idempotency"): `Crop.detection_id` is made once,
when the crop is cut, and `track_id` once, when the tracker confirms the track; both are UUIDv7
and never change, so every retry of either message carries the same id.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from edge.geometry import Box, FrameSize, PixelRect


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The detector model that produced a detection (registry name and version)."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class FaceView:
    """A person's face the edge found in a crop being sent (`edge.crops.faces`), frame pixels."""

    box: Box
    landmarks: tuple[float, ...]
    """Right eye, left eye, nose tip, right and left mouth corners: ten values x, y."""
    score: float
    """Face detector confidence, in [0, 1]."""
    image_rect: PixelRect
    """The region `jpeg` shows: the face box plus a margin."""
    jpeg: bytes
    """The face region at the frame's full resolution."""


@dataclass(frozen=True, slots=True)
class Crop:
    """A crop of a tracked object, ready to upload."""

    detection_id: str
    """UUIDv7 made when the crop was cut; the same on every retry."""
    track_id: str
    """UUIDv7 made when the track was confirmed; the same in its `TrackSummary`."""
    camera_id: str
    frame_time: datetime
    """Capture time of the frame the crop was cut from."""
    box: Box
    """The detection box, frame pixels."""
    crop_box: PixelRect
    """The region the JPEG shows (the box plus context), frame pixels."""
    frame_size: FrameSize
    """Size of the frame the boxes refer to."""
    label: str
    """The track's majority label when the crop was emitted."""
    score: float
    """Detector confidence of the detection, in [0, 1]."""
    jpeg: bytes
    model: ModelRef
    context_jpeg: bytes = b""
    """The whole frame, downscaled, JPEG: only on the best crop of an emission, else empty."""
    face: FaceView | None = None
    """The person's face, when the face finder is on and found one; else None."""


@dataclass(frozen=True, slots=True)
class PathPoint:
    """The centre of a track's box on one frame, in normalised frame coordinates ([0, 1],
    origin top-left), as on the wire (`sightline.device.v1.PathPoint`)."""

    time: datetime
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """What is known about one track; each supersedes the previous one of the same track."""

    track_id: str
    camera_id: str
    label: str
    first_seen: datetime
    last_seen: datetime
    best_detection_id: str
    """The best crop sent for the track so far; empty when none was."""
    best_score: float
    box_count: int
    """Frames on which the tracker matched a detection to the track."""
    ended: bool
    path: tuple[PathPoint, ...] = ()
    """Where the object went so far, oldest first, a bounded sample (`edge.pipelines.path`);
    empty when unknown (a summary recovered from the journal)."""


class EventSeverity(enum.Enum):
    """How much an operator should care (mirrors the wire enum)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """Something that happened to a camera (connected, disconnected, failed)."""

    name: str
    """Dotted stable name: `camera.connected`, `camera.disconnected`, `camera.failed`,
    `tracks.interrupted` (`edge.journal`)."""
    severity: EventSeverity
    camera_id: str
    time: datetime
    message: str
    """For people; never holds credentials."""
    attributes: Mapping[str, str] = field(default_factory=dict)
