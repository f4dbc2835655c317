"""Recording detections uploaded by edge devices.

The gRPC ingest servicer calls `record_detection` after it stored the crop in the object store;
it never touches the ORM itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from cloud.detections.models import Detection, Track
from cloud.errors import InvalidInput
from cloud.fleet.models import Camera
from cloud.fleet.services import ensure_device_exists
from cloud.validators import (
    require,
    require_aware,
    require_text,
    validate_detection_id,
    validate_edge_name,
    validate_track_key,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NewDetection:
    """A detection as the edge reports it.

    The box is in frame pixels of the source video (origin top-left, x right, y down) and must
    lie inside the frame: the edge clips boxes before it sends them.
    """

    id: str
    device_id: str
    camera_id: str
    track_key: str
    ts: datetime
    x1: float
    y1: float
    x2: float
    y2: float
    frame_width: int
    frame_height: int
    label: str
    score: float
    object_key: str
    model_name: str
    model_version: str


def record_detection(detection: NewDetection) -> bool:
    """Store a detection once; return True if this call created it, False if it existed.

    The edge-made id is the primary key, so a retried upload (or two racing ones) leaves one
    row and the first payload wins. The camera and the track are created on first sight; the
    device must already be provisioned (`NotFound` otherwise). The track's time span and its
    best (highest-scoring) detection are updated under a row lock, so concurrent uploads for one
    track cannot lose an update.
    """
    _validate(detection)
    with transaction.atomic():
        if Detection.objects.filter(pk=detection.id).exists():
            logger.debug("detection %s already recorded", detection.id)
            return False
        camera, track, _ = _locked_track(
            detection.device_id,
            detection.camera_id,
            detection.track_key,
            label=detection.label,
            first_seen=detection.ts,
            last_seen=detection.ts,
        )
        row, created = Detection.objects.get_or_create(
            id=detection.id,
            defaults={
                "track": track,
                "camera": camera,
                "device_id": detection.device_id,
                "ts": detection.ts,
                "x1": detection.x1,
                "y1": detection.y1,
                "x2": detection.x2,
                "y2": detection.y2,
                "frame_width": detection.frame_width,
                "frame_height": detection.frame_height,
                "label": detection.label,
                "score": detection.score,
                "object_key": detection.object_key,
                "model_name": detection.model_name,
                "model_version": detection.model_version,
            },
        )
        if not created:
            # A concurrent upload of the same id committed between the check above and here.
            return False
        _extend_track(track, row)
    logger.debug(
        "recorded detection %s on track %s",
        detection.id,
        detection.track_key,
        extra={"device_id": detection.device_id, "camera_id": detection.camera_id},
    )
    return True


def _extend_track(track: Track, detection: Detection) -> None:
    track.first_seen = min(track.first_seen, detection.ts)
    track.last_seen = max(track.last_seen, detection.ts)
    best_score = None
    if track.best_detection_id is not None:
        best_score = Detection.objects.values_list("score", flat=True).get(
            pk=track.best_detection_id
        )
    # Ties keep the earlier crop, so the shown crop does not flicker between equal scores.
    if best_score is None or detection.score > best_score:
        track.best_detection = detection
        track.label = detection.label
    track.save(update_fields=["first_seen", "last_seen", "best_detection", "label"])


def _validate(detection: NewDetection) -> None:
    require(validate_detection_id, detection.id, "id")
    require(validate_edge_name, detection.device_id, "device_id")
    require(validate_edge_name, detection.camera_id, "camera_id")
    require(validate_track_key, detection.track_key, "track_key")
    require_aware(detection.ts, "ts")
    for field in ("label", "object_key", "model_name", "model_version"):
        require_text(getattr(detection, field), Detection, field)
    if detection.frame_width <= 0 or detection.frame_height <= 0:
        raise InvalidInput("frame size: must be positive")
    # Written as "not (a <= b)" so that NaN fails too.
    if not (0 <= detection.x1 <= detection.x2 <= detection.frame_width):
        raise InvalidInput("x1, x2: need 0 <= x1 <= x2 <= frame_width")
    if not (0 <= detection.y1 <= detection.y2 <= detection.frame_height):
        raise InvalidInput("y1, y2: need 0 <= y1 <= y2 <= frame_height")
    if not (0 <= detection.score <= 1):
        raise InvalidInput("score: must lie in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class TrackSummary:
    """A device's summary of one track (`sightline.device.v1.TrackSummary`)."""

    device_id: str
    camera_id: str
    track_id: str
    label: str
    first_seen: datetime
    last_seen: datetime


def record_track_summary(summary: TrackSummary) -> bool:
    """Create the track or widen its time span; return True if the track was created.

    Summaries repeat and may arrive before or after the track's crops, so the span only ever
    grows and a repeat changes nothing. The label is taken only when the summary creates the
    track: after that, the best uploaded crop sets it (`record_detection`), and two writers
    taking turns would make it flicker.
    """
    require(validate_edge_name, summary.camera_id, "camera_id")
    require(validate_track_key, summary.track_id, "track_id")
    require_text(summary.label, Track, "label")
    require_aware(summary.first_seen, "first_seen")
    require_aware(summary.last_seen, "last_seen")
    if summary.first_seen > summary.last_seen:
        raise InvalidInput("first_seen: must not be after last_seen")
    with transaction.atomic():
        _, track, created = _locked_track(
            summary.device_id,
            summary.camera_id,
            summary.track_id,
            label=summary.label,
            first_seen=summary.first_seen,
            last_seen=summary.last_seen,
        )
        if not created and (
            summary.first_seen < track.first_seen or summary.last_seen > track.last_seen
        ):
            track.first_seen = min(track.first_seen, summary.first_seen)
            track.last_seen = max(track.last_seen, summary.last_seen)
            track.save(update_fields=["first_seen", "last_seen"])
    return created


def _locked_track(
    device_id: str,
    camera_id: str,
    track_key: str,
    *,
    label: str,
    first_seen: datetime,
    last_seen: datetime,
) -> tuple[Camera, Track, bool]:
    """Inside a transaction: the camera and the row-locked track, created on first sight.

    The lock serialises concurrent writers of one track (uploads and summaries of the same
    track arrive on different connections). Returns (camera, track, track was created).
    """
    ensure_device_exists(device_id)
    camera, _ = Camera.objects.get_or_create(device_id=device_id, edge_id=camera_id)
    track, created = Track.objects.select_for_update().get_or_create(
        camera=camera,
        edge_id=track_key,
        defaults={"label": label, "first_seen": first_seen, "last_seen": last_seen},
    )
    return camera, track, created
