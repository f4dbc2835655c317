"""The pipeline contract: a camera's settings in; crops, track summaries and events out.

Pipelines (`python.py`, `deepstream/`) turn video into the records of
`edge.records` and hand them to a `PipelineSink`; nothing past the sink sees frames, tensors or
tracker internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from edge.pipelines.motion_gate import MotionGateSettings
from edge.records import CameraEvent, Crop, TrackSummary
from edge.sources.base import SourceSettings
from sightline.names import Name


class CameraSettings(BaseModel):
    """One camera: where its video comes from and what to look for in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name = Field(
        description="Camera id, unique on the device (letters, digits, _ . -; at most 64). Sent "
        "with every crop and part of the cloud's object keys.",
    )
    source: SourceSettings = Field(description="The camera's video source.")
    labels: tuple[str, ...] = Field(
        default=(),
        description="Detector labels to track, for example [person, car]; empty tracks every "
        "class the model knows.",
    )
    motion: MotionGateSettings = Field(
        default_factory=MotionGateSettings,
        description="Motion gating: skip the detector on frames where nothing moves.",
    )


class PipelineSink(Protocol):
    """Where pipelines put their output (the delivery layer, or a counter in tests).

    Thread-safety: every camera thread calls the same sink, so implementations must be
    thread-safe. Calls should return quickly (spool, do not send): they run between frames.
    Delivery problems are the sink's business and are not raised to the pipeline.
    """

    def crop(self, crop: Crop) -> None:
        """Accept a crop for delivery."""

    def track(self, summary: TrackSummary) -> None:
        """Accept a track summary for delivery."""

    def event(self, event: CameraEvent) -> None:
        """Accept a camera event for delivery."""


class TrackJournal(Protocol):
    """Where a pipeline records its tracks in progress and its position in a file, so that a
    crash loses nothing silently and a restart resumes (`edge.journal.CameraJournal`).

    Thread-safety: each camera has its own; its camera thread calls it.
    """

    @property
    def resume_after(self) -> int | None:
        """Index of the last frame of the camera's file whose effects were handed on by a
        previous run; None to start from the first frame."""

    def save(
        self, tracks: Sequence[TrackSummary], ended: Sequence[str], position: int | None
    ) -> None:
        """Record durably, in one write: `tracks` confirmed or updated (each its latest summary,
        not ended), the ids of tracks whose final summary the sink has, and `position`, the
        index of the frame all of it follows from. Call it after handing the records on."""


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters of one camera's pipeline since it started."""

    frames_decoded: int = 0
    """Frames read from the source, sampled out or not (a resumed file: from where it resumed)."""
    frames: int = 0
    """Frames run through the detector."""
    gated: int = 0
    """Frames the motion gate kept from the detector (and the tracker): nothing new moved."""
    dropped: int = 0
    """Frames decoded but dropped before the detector because the camera fell behind (live
    sources only; files wait instead)."""
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
