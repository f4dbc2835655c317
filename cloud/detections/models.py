"""Tracks and detections as uploaded by edge devices.

Coordinates are frame pixels of the source video (x to the right, y down, origin at the top-left
corner), with the frame size stored beside them so that crops and overlays can be scaled.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from cloud.fleet.models import Camera, Device
from cloud.validators import validate_detection_id, validate_track_key


class Track(models.Model):
    """One object followed across frames by a camera's tracker."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="tracks")
    # The edge's key, e.g. "<camera>/<session>/<track number>"; unique per camera because
    # tracker numbers restart with every agent session.
    edge_id = models.CharField(max_length=260, validators=[validate_track_key])
    label = models.CharField(max_length=64)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    # The highest-scoring detection so far: the crop shown for the track in search results.
    best_detection = models.ForeignKey(
        "Detection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-last_seen",)
        constraints = (
            models.UniqueConstraint(
                fields=["camera", "edge_id"], name="detections_track_unique_edge_id"
            ),
        )

    def __str__(self) -> str:
        return f"{self.label} {self.edge_id}"


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
    x1 = models.FloatField(help_text="Left edge in frame pixels.")
    y1 = models.FloatField(help_text="Top edge in frame pixels.")
    x2 = models.FloatField(help_text="Right edge in frame pixels.")
    y2 = models.FloatField(help_text="Bottom edge in frame pixels.")
    frame_width = models.PositiveIntegerField()
    frame_height = models.PositiveIntegerField()
    label = models.CharField(max_length=64)
    score = models.FloatField(help_text="Detector confidence in [0, 1].")
    object_key = models.CharField(max_length=512, help_text="Object-store key of the JPEG crop.")
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=64)
    embedded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the crop's embedding reached the vector store."
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-ts",)
        indexes = (
            # The search page filters by camera and/or label and always sorts newest first.
            models.Index(fields=["camera", "-ts"], name="detections_camera_ts"),
            models.Index(fields=["label", "-ts"], name="detections_label_ts"),
            models.Index(fields=["-ts"], name="detections_ts"),
        )
        constraints = (
            models.CheckConstraint(
                condition=Q(x1__lte=F("x2"), y1__lte=F("y2")), name="detections_bbox_ordered"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=1), name="detections_score_unit_range"
            ),
        )

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} {self.id}"
