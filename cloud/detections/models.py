"""Tracks and detections as uploaded by edge devices, keyed by the ids the edge made for them.

Boxes are stored as the wire sends them (`sightline.ingest.v1.BoundingBox`): normalised frame
coordinates in [0, 1] (origin at the top-left corner, x to the right, y down), with the frame
size in pixels beside them, so overlays scale to a thumbnail of any size and pixels are one
multiplication away.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from cloud.fleet.models import Camera, Device
from cloud.validators import validate_detection_id, validate_uuid


def box_and_score_constraints(prefix: str) -> tuple[models.CheckConstraint, ...]:
    """The database's checks of a model with a normalised box (`x_min` .. `y_max` in [0, 1],
    min <= max) and a detector `score` in [0, 1], named `<prefix>_box_normalised` and
    `<prefix>_score_unit_range`."""
    return (
        models.CheckConstraint(
            condition=Q(
                x_min__gte=0,
                x_min__lte=F("x_max"),
                x_max__lte=1,
                y_min__gte=0,
                y_min__lte=F("y_max"),
                y_max__lte=1,
            ),
            name=f"{prefix}_box_normalised",
        ),
        models.CheckConstraint(
            condition=Q(score__gte=0, score__lte=1), name=f"{prefix}_score_unit_range"
        ),
    )


class Track(models.Model):
    """One object followed across frames by a camera's tracker."""

    # The edge's track id (UUIDv7, made when the track starts): unique across devices and agent
    # restarts, so it is the key, and `Detection.track_id` is the id the edge sent. A device can
    # only ever add to tracks of its own cameras (`cloud.detections.services`).
    id = models.CharField(primary_key=True, max_length=36, validators=[validate_uuid])
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="tracks")
    label = models.CharField(max_length=64)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    # The highest-scoring detection so far: the crop shown for the track in search results.
    best_detection = models.ForeignKey(
        "Detection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    path = models.JSONField(
        default=list,
        blank=True,
        help_text="Where the object went: [unix seconds, x, y] per point, oldest first, x and y "
        "the box centre in normalised frame coordinates; from the latest track summary.",
    )

    class Meta:
        ordering = ("-last_seen",)
        indexes = (
            # The search grid lists tracks newest first, by camera and/or class or unfiltered
            # (cloud.search.criteria); the time range is a range of this column.
            models.Index(fields=["-last_seen", "-id"], name="tracks_last_seen"),
            models.Index(fields=["camera", "-last_seen"], name="tracks_camera_last_seen"),
            models.Index(fields=["label", "-last_seen"], name="tracks_label_last_seen"),
            # The duration filter, and the longest duration (one index probe), which bounds a
            # time range's scan of the last_seen index from above (cloud.search.criteria).
            models.Index(F("last_seen") - F("first_seen"), name="tracks_duration"),
        )

    def __str__(self) -> str:
        return f"{self.label} {self.id}"

    @property
    def duration_s(self) -> float:
        """How long the track was seen: last seen minus first seen, in seconds."""
        return (self.last_seen - self.first_seen).total_seconds()


class Detection(models.Model):
    """One crop of a tracked object, identified by the id the edge gave it when it was made."""

    # The edge-made UUIDv7/ULID: the idempotency key shared with the object store key and the
    # vector store object id, so a retried upload can never create a second row.
    id = models.CharField(primary_key=True, max_length=36, validators=[validate_detection_id])
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="detections")
    # No separate index: the (camera, ts) index below starts with camera.
    camera = models.ForeignKey(
        Camera, on_delete=models.CASCADE, related_name="detections", db_index=False
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="detections")
    ts = models.DateTimeField(help_text="Capture time of the frame, as the device's clock says.")
    x_min = models.FloatField(help_text="Left edge, as a fraction of the frame width.")
    y_min = models.FloatField(help_text="Top edge, as a fraction of the frame height.")
    x_max = models.FloatField(help_text="Right edge, as a fraction of the frame width.")
    y_max = models.FloatField(help_text="Bottom edge, as a fraction of the frame height.")
    frame_width = models.PositiveIntegerField(help_text="Width in pixels of the frame.")
    frame_height = models.PositiveIntegerField(help_text="Height in pixels of the frame.")
    label = models.CharField(max_length=64)
    score = models.FloatField(help_text="Detector confidence in [0, 1].")
    object_key = models.CharField(max_length=512, help_text="Object-store key of the JPEG crop.")
    context_key = models.CharField(
        max_length=512,
        blank=True,
        default="",
        help_text="Object-store key of the downscaled whole frame the crop was cut from; empty "
        "when the edge sent none.",
    )
    face_key = models.CharField(
        max_length=512,
        blank=True,
        default="",
        help_text="Object-store key of the face the edge found in the crop (a JPEG at the "
        "frame's resolution); empty when it sent none.",
    )
    edge_face = models.JSONField(
        null=True,
        blank=True,
        help_text="Where that face is: `cloud.detections.services.EdgeFace.geometry`; null "
        "when the edge sent none.",
    )
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=64)
    embedded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the crop's embedding reached the vector store."
    )
    # Counted before each run, so that a run that killed its worker counts too: a crop that
    # keeps failing is given up after a few runs instead of being redelivered forever.
    embed_attempts = models.PositiveIntegerField(
        default=0, help_text="Embed runs started for this crop (cloud.embeddings.services)."
    )
    embed_error = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="Why the crop will never be embedded (unreadable, or too many failed runs); "
        "empty while it still may be.",
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-ts",)
        indexes = (
            # The search page filters by camera and/or label and always sorts newest first.
            models.Index(fields=["camera", "-ts"], name="detections_camera_ts"),
            models.Index(fields=["label", "-ts"], name="detections_label_ts"),
            models.Index(fields=["-ts"], name="detections_ts"),
            # The sweeper's query: crops still waiting for a vector, oldest first. Partial, so
            # it stays as small as the backlog.
            models.Index(
                fields=["received_at"],
                condition=Q(embedded_at__isnull=True, embed_error=""),
                name="detections_embed_pending",
            ),
        )
        constraints = box_and_score_constraints("detections")

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} {self.id}"
