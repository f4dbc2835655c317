"""Read-side queries over detections, shared by the search views and the API to come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from cloud.detections.models import Detection
from cloud.fleet.models import Camera


@dataclass(frozen=True)
class DetectionFilter:
    """Which detections to list; a None field does not filter. `until` is exclusive."""

    camera: Camera | None = None
    label: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def filter_detections(criteria: DetectionFilter) -> QuerySet[Detection]:
    """Detections matching `criteria`, newest first (served by the camera/label/ts indexes)."""
    detections = Detection.objects.select_related("camera", "device").order_by("-ts", "-id")
    if criteria.camera is not None:
        detections = detections.filter(camera=criteria.camera)
    if criteria.label:
        detections = detections.filter(label=criteria.label)
    if criteria.since is not None:
        detections = detections.filter(ts__gte=criteria.since)
    if criteria.until is not None:
        detections = detections.filter(ts__lt=criteria.until)
    return detections
