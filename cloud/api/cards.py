"""The shapes search results take in the API: a crop (`DetectionOut`) and a sighting
(`TrackOut`), each made from the `cloud.search.results.CropCard` the pages show."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Schema

from cloud.detections.models import Detection, Track
from cloud.search.results import CropCard


class Box(Schema):
    """A box as fractions of the frame's width and height, from its top-left corner."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float


class DetectionOut(Schema):
    """One detection: a crop of one object in one frame."""

    id: str
    track_id: str
    camera: int = Field(description="The camera's id in the API (the `camera` filter's).")
    camera_name: str
    device_id: str
    ts: datetime = Field(description="Capture time, as the device's clock says.")
    label: str
    score: float
    box: Box
    frame_width: int
    frame_height: int
    crop_url: str = Field(description="Signed URL of the crop JPEG; it expires within an hour.")
    similarity: float | None = Field(
        None, description="Cosine similarity with the query, in [-1, 1] (similar searches only)."
    )


class TrackSummary(Schema):
    """One sighting: a track of one object on one camera."""

    id: str
    camera: int = Field(description="The camera's id in the API (the `camera` filter's).")
    camera_name: str
    site: str
    device_id: str
    label: str
    first_seen: datetime
    last_seen: datetime
    duration_s: float = Field(description="Last seen minus first seen, in seconds.")


class TrackOut(TrackSummary):
    """One sighting, shown by one of its crops."""

    similarity: float | None = Field(
        None,
        description="Similar searches: cosine similarity of the track's best-matching crop "
        "with the query, in [-1, 1]; the crop shown is that crop.",
    )
    crop: DetectionOut = Field(
        description="The track's best crop, or in similar searches its crop closest to the query."
    )


def box_of(detection: Detection) -> Box:
    """The detection's box."""
    return Box(
        x_min=detection.x_min, y_min=detection.y_min, x_max=detection.x_max, y_max=detection.y_max
    )


def detection_out(request: HttpRequest, card: CropCard) -> DetectionOut:
    """A card's crop (its camera joined, as every `cloud.search.results` card has it)."""
    detection = card.detection
    return DetectionOut(
        id=detection.id,
        track_id=detection.track_id,
        camera=detection.camera_id,
        camera_name=str(detection.camera),
        device_id=detection.device_id,
        ts=detection.ts,
        label=detection.label,
        score=detection.score,
        box=box_of(detection),
        frame_width=detection.frame_width,
        frame_height=detection.frame_height,
        # The local store signs paths of this site; S3 URLs are absolute already.
        crop_url=request.build_absolute_uri(card.image_url),
        similarity=card.similarity,
    )


def summary(track: Track) -> TrackSummary:
    """A track's own fields (its camera and device joined)."""
    return TrackSummary(
        id=track.id,
        camera=track.camera_id,
        camera_name=str(track.camera),
        site=track.camera.device.site_id,
        device_id=track.camera.device_id,
        label=track.label,
        first_seen=track.first_seen,
        last_seen=track.last_seen,
        duration_s=(track.last_seen - track.first_seen).total_seconds(),
    )


def track_out(request: HttpRequest, card: CropCard) -> TrackOut:
    """A card as a sighting."""
    return TrackOut(
        **summary(card.track).model_dump(),
        similarity=card.similarity,
        crop=detection_out(request, card),
    )
