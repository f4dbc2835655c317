"""A `PipelineSink` for tests that keeps everything it is given, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.records import CameraEvent, Crop, TrackSummary


@dataclass
class RecordingSink:
    crops: list[Crop] = field(default_factory=list)
    tracks: list[TrackSummary] = field(default_factory=list)
    events: list[CameraEvent] = field(default_factory=list)
    order: list[Crop | TrackSummary] = field(default_factory=list)
    """Crops and summaries in the order they arrived."""

    def crop(self, crop: Crop) -> None:
        self.crops.append(crop)
        self.order.append(crop)

    def track(self, summary: TrackSummary) -> None:
        self.tracks.append(summary)
        self.order.append(summary)

    def event(self, event: CameraEvent) -> None:
        self.events.append(event)
