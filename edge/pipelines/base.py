"""The pipeline contract: a camera's settings in; crops, track summaries and events out.

Pipelines (`python.py` now, a DeepStream pipeline later) turn video into these dataclasses and
hand them to a `PipelineSink`; nothing past the sink sees frames, tensors or tracker internals.
Times are timezone-aware UTC datetimes; boxes are in pixels of the decoded frame (the transport
normalises them for the wire).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from edge.geometry import Box, PixelRect
from edge.sources.base import SourceSettings


class CameraSettings(BaseModel):
    """One camera: where its video comes from and what to look for in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Camera id, unique on the device (letters, digits, _ . -; at most 64). Sent "
        "with every crop and part of the cloud's object keys.",
    )
    source: SourceSettings = Field(description="The camera's video source.")
    labels: tuple[str, ...] = Field(
        default=(),
        description="Detector labels to track, for example [person, car]; empty tracks every "
        "class the model knows.",
    )


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The detector model that produced a detection (registry name and version)."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class CropReady:
    """A crop of a tracked object, ready to upload."""

    detection_id: str
    """UUIDv7 made when the crop was created; the same on every retry (DESIGN.md, identity)."""
    track_id: str
    """UUIDv7 made when the track was confirmed; the same in its `TrackSummary`."""
    camera_id: str
    frame_time: datetime
    """Capture time of the frame the crop was cut from."""
    box: Box
    """The detection box, frame pixels."""
    crop_box: PixelRect
    """The region the JPEG shows (the box plus context), frame pixels."""
    frame_width: int
    frame_height: int
    label: str
    """The track's majority label when the crop was emitted."""
    score: float
    jpeg: bytes
    model: ModelRef


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


class EventSeverity(enum.Enum):
    """How much an operator should care (mirrors the wire enum)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """Something that happened to a camera (connected, disconnected, failed)."""

    name: str
    """Dotted stable name: `camera.connected`, `camera.disconnected`, `camera.failed`."""
    severity: EventSeverity
    camera_id: str
    time: datetime
    message: str
    """For people; never holds credentials."""
    attributes: Mapping[str, str] = field(default_factory=dict)


class PipelineSink(Protocol):
    """Where pipelines put their output (the delivery layer, or a counter in tests).

    Thread-safety: every camera thread calls the same sink, so implementations must be
    thread-safe. Calls should return quickly (spool, do not send): they run between frames.
    Delivery problems are the sink's business and are not raised to the pipeline.
    """

    def crop(self, crop: CropReady) -> None:
        """Accept a crop for delivery."""

    def track(self, summary: TrackSummary) -> None:
        """Accept a track summary for delivery."""

    def event(self, event: CameraEvent) -> None:
        """Accept a camera event for delivery."""


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters of one camera's pipeline since it started."""

    frames_decoded: int = 0
    """Frames read from the source, sampled out or not."""
    frames: int = 0
    """Frames run through the detector."""
    detections: int = 0
    """Detections passed to the tracker (after the label filter), down to its low score."""
    tracked: int = 0
    """Detections matched to a confirmed track: the objects a person would count."""
    tracks: int = 0
    """Tracks confirmed."""
    crops: int = 0
    """Crops handed to the sink."""
    seconds: float = 0.0
    """Wall-clock time spent in the frame loop."""
