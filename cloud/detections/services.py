"""Recording what edge devices report about tracked objects: crops and track summaries.

The ingest edges check the wire contract (ids, boxes, required fields: `cloud.ingest.crops`,
`cloud.ingest.device_messages`) and call these functions with the result; the domain's rules
are checked here, once: the device is provisioned (`NotFound` otherwise), texts fit their
columns and hold no NUL, times carry a time zone, lie in the range the stores hold and are in
order, a track stays with the camera that started it and a detection id with the device that
stored it (`InvalidInput` otherwise). Callers never touch the ORM.

Tracks and detections are keyed by the ids the edge made for them, so every function here is
safe to call again with the same report (docs/architecture.md, "Identity and idempotency").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from cloud.detections.models import Detection, Track
from cloud.errors import InvalidInput
from cloud.fleet.models import Camera
from cloud.fleet.services import ensure_device_exists
from cloud.lib.objectstore import ObjectStore, crop_key
from cloud.validators import require_text, require_time

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NewDetection:
    """A crop as the edge reports it (`sightline.ingest.v1.UploadCropsRequest`), wire-checked.

    The box is in normalised frame coordinates, as on the wire and as stored: x_min <= x_max and
    y_min <= y_max, all in [0, 1] (origin top-left, x right, y down), with the frame size in
    pixels beside it. `track_id` is the edge's track id, `jpeg` the crop itself.
    """

    id: str
    device_id: str
    camera_id: str
    track_id: str
    ts: datetime
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    frame_width: int
    frame_height: int
    label: str
    score: float
    model_name: str
    model_version: str
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True)
class StoredCrop:
    """The outcome of `record_detection`."""

    created: bool
    """True when this call stored the detection; False for a repeat of a stored one."""
    needs_embedding: bool
    """True unless the detection's vector is already in the vector store."""


def record_detection(detection: NewDetection, objects: ObjectStore) -> StoredCrop:
    """Store a detection's JPEG in `objects` and its row, once per detection id.

    The domain's rules (module docstring) are checked first; the camera and the track are
    created on first sight. The one existence check is the row's get-or-create on the edge-made
    id, in a transaction under the track's row lock, and the JPEG is put after it and before
    the commit, so

    - a committed row always names a stored object;
    - a refused detection (`InvalidInput`, `NotFound`) or a repeat of a stored one writes no
      object, and a repeat changes nothing at all: the first payload wins, JPEG included, also
      when two uploads of one id race (the second insert waits for the first to commit, then
      finds its row);
    - a repeat is a duplicate only for the device that stored the id; another device's is
      refused (`InvalidInput`), so no device learns about another one's crops;
    - a transient failure (object store or database) leaves no row, and at worst an object
      that the edge's unchanged retry overwrites.

    The track's time span and its best (highest-scoring) detection are updated under the same
    lock, so concurrent uploads for one track cannot lose an update. The price is that an
    upload holds its track's lock for one object put; uploads of other tracks do not wait.
    """
    require_time(detection.ts, "ts")
    for name in ("label", "model_name", "model_version"):
        require_text(getattr(detection, name), Detection, name)
    key = crop_key(detection.device_id, detection.camera_id, detection.ts, detection.id)
    with transaction.atomic():
        camera, track, _ = _locked_track(
            detection.device_id,
            detection.camera_id,
            detection.track_id,
            detection.label,
            (detection.ts, detection.ts),
        )
        row, created = Detection.objects.get_or_create(
            id=detection.id,
            defaults={
                "track": track,
                "camera": camera,
                "device_id": detection.device_id,
                "ts": detection.ts,
                "x_min": detection.x_min,
                "y_min": detection.y_min,
                "x_max": detection.x_max,
                "y_max": detection.y_max,
                "frame_width": detection.frame_width,
                "frame_height": detection.frame_height,
                "label": detection.label,
                "score": detection.score,
                "object_key": key,
                "model_name": detection.model_name,
                "model_version": detection.model_version,
            },
        )
        if not created:
            if row.device_id != detection.device_id:
                # Ids are global, so another device's repeat is no duplicate of its own: it
                # must learn nothing of the stored crop (not even that it is stored), and the
                # exception undoes what it added on first sight.
                raise InvalidInput(f"detection_id: {detection.id} cannot be used")
            # Undo what the repeat may have added on first sight (a camera or a track of a
            # payload that differs from the stored one), so that it changes nothing.
            transaction.set_rollback(True)
            logger.debug("detection %s already recorded", detection.id)
            return StoredCrop(created=False, needs_embedding=row.embedded_at is None)
        objects.put(key, detection.jpeg, content_type="image/jpeg")
        _extend_track(track, row)
    logger.debug(
        "recorded detection %s on track %s",
        detection.id,
        detection.track_id,
        extra={"device_id": detection.device_id, "camera_id": detection.camera_id},
    )
    return StoredCrop(created=True, needs_embedding=True)


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


def record_track_summary(
    device_id: str,
    *,
    camera_id: str,
    track_id: str,
    label: str,
    first_seen: datetime,
    last_seen: datetime,
) -> bool:
    """Create the track or widen its time span; return False if the track already said so.

    The arguments are those of a `sightline.device.v1.TrackSummary`, wire-checked. Summaries
    repeat and may arrive before or after the track's crops, so the span only ever grows and a
    repeat changes nothing: a repeat (and a summary that an earlier one superseded) returns
    False, which the ingest answers as a duplicate. The label is taken only when the summary
    creates the track: after that, the best uploaded crop sets it (`record_detection`), and two
    writers taking turns would make it flicker.
    """
    require_text(label, Track, "label")
    require_time(first_seen, "first_seen")
    require_time(last_seen, "last_seen")
    if first_seen > last_seen:
        raise InvalidInput("first_seen: must not be after last_seen")
    with transaction.atomic():
        _, track, created = _locked_track(
            device_id, camera_id, track_id, label, (first_seen, last_seen)
        )
        if created:
            return True
        if first_seen >= track.first_seen and last_seen <= track.last_seen:
            return False
        track.first_seen = min(track.first_seen, first_seen)
        track.last_seen = max(track.last_seen, last_seen)
        track.save(update_fields=["first_seen", "last_seen"])
    return True


def _locked_track(
    device_id: str, camera_id: str, track_id: str, label: str, seen: tuple[datetime, datetime]
) -> tuple[Camera, Track, bool]:
    """Inside a transaction: the camera and the row-locked track, created on first sight.

    A track created here gets `label` and the time span `seen` (first, last). The lock
    serialises concurrent writers of one track (uploads and summaries of the same track arrive
    on different connections). Track ids are global, so a track found under another camera (of
    this device or another one) is refused: a device adds only to its own cameras' tracks.
    Returns (camera, track, track was created).
    """
    ensure_device_exists(device_id)
    camera, _ = Camera.objects.get_or_create(device_id=device_id, edge_id=camera_id)
    track, created = Track.objects.select_for_update().get_or_create(
        pk=track_id,
        defaults={"camera": camera, "label": label, "first_seen": seen[0], "last_seen": seen[1]},
    )
    if track.camera_id != camera.pk:
        # The message says nothing about whose track it is.
        raise InvalidInput(f"track_id: {track_id} belongs to another camera")
    return camera, track, created
